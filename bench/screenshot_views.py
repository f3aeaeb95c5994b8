"""Open the app in a given state for a screenshot: a finished comparison, or the data browser.

Run it under the screenshot tool (Xvfb), which captures the window after
``--wait`` seconds; the script prints ``ready for the screenshot`` (in the
tool's .log file) once the view is in its final state, and stays open::

    ../shared/tools/screenshot resources/screenshots/compare.png --wait 150 -- \\
        .venv/bin/python bench/screenshot_views.py compare --algos protonet,maml,anil,moe --budget 12
    ../shared/tools/screenshot resources/screenshots/data_browser.png --title "Data browser" --wait 25 -- \\
        .venv/bin/python bench/screenshot_views.py data-browser --source omniglot --folder ../shared/datasets/omniglot

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
    parser.add_argument("view", choices=["compare", "data-browser"])
    parser.add_argument("--algos", default="protonet,maml,anil,moe", help="compare: the algorithms to tick")
    parser.add_argument("--budget", type=float, default=12.0, help="compare: training seconds per algorithm")
    parser.add_argument("--test-episodes", type=int, default=100, help="compare: shared test tasks")
    parser.add_argument("--source", default="synthetic", help="data source name (as in the Data panel)")
    parser.add_argument("--folder", default="", help="its folder, for sources read from files")
    parser.add_argument(
        "--select", type=int, default=3, help="data-browser: show the examples of this test class (row)"
    )
    args = parser.parse_args()

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
        window.tabs.setCurrentWidget(view)
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


if __name__ == "__main__":
    sys.exit(main())
