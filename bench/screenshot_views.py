"""Open the app in a given state for a screenshot: a finished comparison, or the data browser.

Run it under the screenshot tool (Xvfb), which captures the window after
``--wait`` seconds; the script prints ``ready for the screenshot`` (in the
tool's .log file) once the view is in its final state, and stays open::

    ../shared/tools/screenshot resources/screenshots/compare.png --wait 150 -- \\
        .venv/bin/python bench/screenshot_views.py compare --algos protonet,maml,anil,moe --budget 12
    ../shared/tools/screenshot resources/screenshots/data_browser.png --title "Data browser" --wait 25 -- \\
        .venv/bin/python bench/screenshot_views.py data-browser --source omniglot --folder ../shared/datasets/omniglot

``workspace`` opens the New classes workspace on its own with a checkpoint (and
optionally a second one to compare with), loads the sample class set and a
sample query, presses Adapt and saves the window itself (``QWidget.grab``, so
run it on a real display such as Xvfb) mid-animation and after the Adapt
(leave-one-out included), then quits::

    Xvfb :7 & DISPLAY=:7 .venv/bin/python bench/screenshot_views.py workspace --checkpoint PH.pt \
        [--compare MAML.pt] --out-dir /tmp/shots --name protohead

Preferences go to a temporary INI file, so the user's own settings are neither
read nor changed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("view", choices=["compare", "data-browser", "workspace"])
    parser.add_argument("--checkpoint", help="workspace: the model to adapt")
    parser.add_argument("--compare", help="workspace: a second model to adapt beside it")
    parser.add_argument("--steps", type=int, default=10, help="workspace: adaptation steps")
    parser.add_argument("--mid-step", type=int, default=4, help="workspace: the animation frame to save")
    parser.add_argument("--out-dir", default=".", help="workspace: where the PNGs go")
    parser.add_argument("--name", default="workspace", help="workspace: PNG names start with this")
    parser.add_argument("--algos", default="protonet,maml,anil,moe", help="compare: the algorithms to tick")
    parser.add_argument("--budget", type=float, default=12.0, help="compare: training seconds per algorithm")
    parser.add_argument("--test-episodes", type=int, default=100, help="compare: shared test tasks")
    parser.add_argument("--source", default="synthetic", help="data source name (as in the Data panel)")
    parser.add_argument("--folder", default="", help="its folder, for sources read from files")
    parser.add_argument(
        "--select", type=int, default=3, help="data-browser: show the examples of this test class (row)"
    )
    args = parser.parse_args()
    if args.view == "workspace":
        return workspace_shots(args)

    from PySide6.QtCore import QTimer

    from gui.app import application
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    app = application()
    settings_file = Path(tempfile.mkdtemp(prefix="meta-playground-shot-")) / "settings.ini"
    settings = open_settings(settings_file)
    settings.setValue("data/source", args.source)
    settings.setValue("data/folder", str(Path(args.folder).resolve()) if args.folder else "")
    window = MainWindow(settings=settings)
    window.resize(1280, 800)
    window.show()
    started = False

    def on_pool_ready(_pool) -> None:
        nonlocal started
        if started:
            return
        started = True
        QTimer.singleShot(300, start_compare if args.view == "compare" else open_browser)

    def start_compare() -> None:
        view = window.compare_view
        panel = window.algorithm_panel
        panel.set_values(
            {
                **panel.values(),
                "ways": 5,
                "shots": 1,
                "queries": 5,
                "meta_batch": 4,
                "iterations": 100_000,
                "time_budget": args.budget,
                "val_every": 20,
                "val_episodes": 20,
                "seed": 0,
            }
        )
        window.show_tab("Compare")
        view.set_checked(args.algos.split(","))
        view.test_episodes.setValue(args.test_episodes)
        view.controller.runFinished.connect(lambda *_: print("ready for the screenshot", flush=True))
        view.start()
        print(view.message.text(), flush=True)

    def open_browser() -> None:
        from engine.api import pool_arrays
        from gui.data_browser import open_data_browser

        browser = open_data_browser(window, window.state)
        browser.setGeometry(40, 20, 1200, 760)
        browser.select_class(pool_arrays(window.data.pool).splits["test"][args.select])
        print("ready for the screenshot", flush=True)

    def on_engine_ready() -> None:
        window.data.poolReady.connect(on_pool_ready)
        window.data.poolFailed.connect(lambda message: print(f"data: {message}", flush=True))
        if window.data.pool is not None:
            on_pool_ready(window.data.pool)

    window.engineReady.connect(on_engine_ready)
    app.aboutToQuit.connect(window.shutdown)
    QTimer.singleShot(0, window.start_loading)
    status = app.exec()
    os.remove(settings_file) if settings_file.exists() else None
    return status


def workspace_shots(args: argparse.Namespace) -> int:
    """Save the workspace mid-animation (``NAME-mid.png``) and after the Adapt (``NAME-after.png``)."""
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QTimer

    from gui.app import application
    from gui.workspace import NewClassesWorkspace

    resources = Path(__file__).resolve().parents[1] / "resources"
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = application()
    from engine.api import load_engine

    load_engine()  # as the window does at start-up (warms the optimizer, ~1.8 s at a first Adapt otherwise)
    ws = NewClassesWorkspace(checkpoint=args.checkpoint)
    ws.steps.setValue(args.steps)
    ws.resize(1260, 780)
    ws.show()
    state = {"adapted": False, "loo": 0, "wanted": 1 + bool(args.compare)}

    def save(suffix: str) -> None:
        path = out / f"{args.name}-{suffix}.png"
        ws.grab().save(str(path))
        print(f"saved {path}", flush=True)

    def maybe_adapt() -> None:
        ready = ws.current_model() is not None and not ws.board.missing() and ws.board.count == 5
        if ready and (not args.compare or ws._compare_model is not None) and not state["adapted"]:
            state["adapted"] = True
            ink = 255 - np.asarray(Image.open(sorted((resources / "sample_queries").glob("*.png"))[2]).convert("L"))
            ws.canvas.set_raster(ink)
            QTimer.singleShot(300, ws.adapt)

    def on_frame(k: int) -> None:
        if k == args.mid_step and not state.get("mid"):
            state["mid"] = True
            save("mid")

    def done(_value: object = None) -> None:
        state["loo"] += 1
        if state["loo"] == state["wanted"]:
            QTimer.singleShot(1500, lambda: (save("after"), app.quit()))

    ws.frameShown.connect(on_frame)
    ws.leaveOneOut.connect(done)
    ws.compareDone.connect(done)
    ws.board.changed.connect(maybe_adapt)
    ws.modelReady.connect(maybe_adapt)
    ws.compareModelChanged.connect(lambda _m: maybe_adapt())
    ws.failed.connect(lambda message: print(f"failed: {message}", flush=True))
    if args.compare:
        ws.load_compare_checkpoint(args.compare)
    ws.load_folder(str(resources / "sample_classes"))
    QTimer.singleShot(120_000, app.quit)
    status = app.exec()
    ws.wait_for_workers()
    return status


if __name__ == "__main__":
    sys.exit(main())
