"""Screenshot of the New classes tab's per-class check (offscreen grab of the real workspace).

Loads a checkpoint, the sample class set (resources/sample_classes), adapts,
runs the per-class (leave-one-out) check and saves a grab of the workspace::

    QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 python bench/export_screenshot.py \\
        --checkpoint model.pt --out resources/screenshots/confusion.png

or, as a window on a virtual X screen (Xvfb), with the screenshot tool::

    ../shared/tools/screenshot resources/screenshots/confusion.png --wait 60 -- \
        python bench/export_screenshot.py --checkpoint model.pt --size 1280x780 --stay
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", default=str(REPO / "resources" / "screenshots" / "confusion.png"))
    parser.add_argument("--size", default="1400x900")
    parser.add_argument("--stay", action="store_true",
                        help="stay open after the check (for ../shared/tools/screenshot under Xvfb) instead of a grab")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.workspace import NewClassesWorkspace

    app = QApplication.instance() or QApplication(sys.argv[:1])
    ws = NewClassesWorkspace(checkpoint=args.checkpoint)
    w, h = map(int, args.size.split("x"))
    ws.resize(w, h)
    ws.show()

    def wait_until(condition, seconds: float = 120) -> None:
        loop, timer = QEventLoop(), QTimer()
        timer.timeout.connect(lambda: loop.quit() if condition() else None)
        timer.start(50)
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        timer.stop()
        if not condition():
            raise SystemExit("timed out")

    wait_until(lambda: ws._own_model is not None)
    ws.load_folder(str(REPO / "resources" / "sample_classes"))
    wait_until(lambda: ws.board.shots() == [5] * 5)
    done = []
    ws.leaveOneOut.connect(done.append)
    ws.adapt()
    wait_until(lambda: bool(done))
    ws.insight.check()
    wait_until(lambda: ws.insight.view.confusion is not None and ws.insight.check_button.isEnabled())
    app.processEvents()
    if args.stay:
        print("ready for the screenshot", flush=True)
        return app.exec()
    ws.grab().save(args.out)
    print(f"saved {args.out}")
    ws.wait_for_workers()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
