"""A newcomer's first hour, driven through the real window: screenshots of each step, and checks.

Launches the window on fresh preferences (the README's first command does the same), then, by
clicking its buttons and menus: previews a 5-way episode, trains the default recipe (shortened with
``--iterations``), starts a second run and stops it, looks at the New classes tab (which model does
it use?), pauses and resumes, points the Data panel at KMNIST without files, then back at the glyphs,
and at a folder with too few classes that is then fixed. After each step it saves
``OUT/NN-step.png`` and checks what a person would check; the last stdout line is one JSON object
(``checks``: name -> passed). Run it under Xvfb to see the real window::

    xvfb-run -a python bench/first_hour.py --out /tmp/first-hour [--iterations 200]

(``QT_QPA_PLATFORM=offscreen`` works too, with Qt's offscreen fonts.)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="first-hour")
    parser.add_argument("--iterations", type=int, default=200, help="the first run's length (the recipe: 1,000)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from gui.app import application
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    app = application()
    home = Path(tempfile.mkdtemp(prefix="meta-playground-first-hour-"))
    window = MainWindow(settings=open_settings(home / "settings.ini"))
    window.resize(1280, 800)
    window.show()
    window.start_loading()
    checks: dict[str, bool] = {}
    shots = [0]

    def wait_until(condition, seconds: float = 120.0) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            loop = QEventLoop()
            QTimer.singleShot(50, loop.quit)
            loop.exec()
        return True

    def settle(ms: int = 400) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(name: str) -> None:
        settle()
        shots[0] += 1
        window.grab().save(str(out / f"{shots[0]:02d}-{name}.png"))

    def check(name: str, ok) -> None:
        """``ok``: a bool, or a function giving one (an error counts as a failed check: older versions of the
        window lack some of what is checked, and the script also runs on them for a before/after)."""
        if callable(ok):
            try:
                ok = ok()
            except Exception as exc:  # noqa: BLE001 - reported as the check's failure
                print(f"     ({name}: {exc.__class__.__name__}: {exc})", flush=True)
                ok = False
        checks[name] = bool(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}", flush=True)

    status = lambda: window.statusBar().currentMessage()  # noqa: E731
    check("engine loads", wait_until(lambda: window.data is not None and window.data.pool is not None, 180))
    shot("launch")
    panel = window.algorithm_panel
    check("starts on the quick recipe", lambda: panel.recipe_combo.currentText() == "quick")

    panel.ways.setValue(5)
    wait_until(lambda: "5-way" in window.data_panel.episode_caption.text(), 30)
    shot("five-way-episode")
    view = window.data_panel.episode_view
    check("the 5-way preview shows every class", view.shown is not None and view.shown[0] == 5)
    if hasattr(panel, "recipe_combo"):
        panel.recipe_combo.activated.emit(panel.recipe_combo.findData("quick"))
    else:
        panel.ways.setValue(32)

    panel.iterations.setValue(args.iterations)
    panel.val_every.setValue(max(1, args.iterations // 2))
    QTest.mouseClick(window.run_controls.start_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: window.controller.state == "running", 30)
    wait_until(lambda: window.plot.current is not None and window.plot.current.train.size >= 5, 120)
    window.pause_action.trigger()
    check("pause says paused", "Paused" in status())
    window.pause_action.trigger()
    check("resume clears the paused text", "Paused" not in status())
    wait_until(lambda: window.controller.state == "idle", 900)
    shot("first-run-finished")
    first = window.checkpoint
    check("validation names its task shape", "32-way 1-shot" in window.run_controls.message.text())
    check("validation also gives 5-way 1-shot", "5-way 1-shot" in window.run_controls.message.text())

    panel.iterations.setValue(100_000)
    QTest.mouseClick(window.run_controls.start_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: window.plot.current is not None and window.plot.current.train.size >= 3, 120)
    QTest.mouseClick(window.run_controls.stop_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: window.controller.state == "idle", 60)
    shot("second-run-stopped")
    check("a stopped run keeps the finished model in use", window.checkpoint == first)
    check("and says so", "still uses the finished model" in window.run_controls.message.text())

    window.show_tab("New classes")
    choice = getattr(window.workspace, "model_choice", None)
    wait_until(lambda: choice is not None and choice.count() == 2, 30)
    shot("new-classes-model-choice")
    check("the New classes tab lists both runs", lambda: window.workspace.model_choice.count() == 2)
    window.show_tab("Meta-train")

    window.data_panel.set_source("kmnist", str(home))
    wait_until(lambda: "b00020" in window.data_panel.message.styleSheet(), 60)
    shot("kmnist-missing")
    message = window.data_panel.message
    check("the KMNIST message is readable in full", lambda: window.data_panel.message_area.height()
          >= message.heightForWidth(window.data_panel.message_area.viewport().width()))
    window.data_panel.set_source("synthetic")
    wait_until(lambda: window.data.pool is not None, 60)
    shot("back-to-glyphs")
    check("back on the glyphs, no KMNIST error is left", "KMNIST" not in status() + message.text())

    folder = home / "my-classes"
    rng = np.random.default_rng(0)
    for c in range(3):
        (folder / f"c{c}").mkdir(parents=True)
        for i in range(4):
            Image.fromarray((rng.random((28, 28)) * 255).astype("uint8")).save(folder / f"c{c}" / f"{i}.png")
    window.data_panel.set_source("folder", str(folder))
    wait_until(lambda: window.data.pool is not None or "b00020" in message.styleSheet(), 60)
    settle(800)
    shot("folder-too-few-classes")
    check("the episode preview says why there is none", lambda: view.text.startswith("No episode"))
    for c in range(3, 12):
        (folder / f"c{c}").mkdir()
        for i in range(4):
            Image.fromarray((rng.random((28, 28)) * 255).astype("uint8")).save(folder / f"c{c}" / f"{i}.png")
    window.data_panel.folder_edit.returnPressed.emit()
    wait_until(lambda: "classes for meta-training" in message.text(), 60)
    shot("folder-fixed")
    check("Enter on the fixed folder reloads it", "classes for meta-training" in message.text())

    window.close()
    QApplication.processEvents()
    print(json.dumps({"checks": checks, "passed": sum(checks.values()), "failed": len(checks) - sum(checks.values()),
                      "screenshots": str(out)}))
    app.quit()
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
