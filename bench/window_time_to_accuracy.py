"""Press Start in the real window with its default settings on Omniglot small1; time it; score the model.

    xvfb-run -a .venv/bin/python bench/window_time_to_accuracy.py [--episodes 1000]

Opens the main window (preferences in a temporary file, so the window's own
defaults: engine.config.app_defaults), selects Omniglot in
``../shared/datasets/omniglot``, waits for the data, clicks Start and stops the
clock when the run finishes: training as the window runs it (its thread count,
its processes, its own validation, the GUI thread drawing the curves). The
run's checkpoint is then scored on 5-way 1-shot episodes of the held-out test
alphabet. The last line of stdout is a JSON object (``seconds``, ``accuracy``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import OMNIGLOT_DIR, emit, machine

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1000)
    args = ap.parse_args()

    from PySide6.QtCore import QTimer

    from gui.app import application
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    app = application()
    tmp = tempfile.TemporaryDirectory()
    window = MainWindow(settings=open_settings(Path(tmp.name) / "settings.ini"))
    window.show()
    result: dict = {}

    def start_when_ready() -> None:
        if window.engine is None:
            QTimer.singleShot(50, start_when_ready)
            return
        if window.data_panel.source() != "omniglot":
            window.data_panel.set_source("omniglot", str(OMNIGLOT_DIR))
        if window.data is None or window.data.pool is None or window.data.pool.name != "omniglot":
            QTimer.singleShot(50, start_when_ready)
            return
        result["settings"] = {
            k: v
            for k, v in window.current_config().to_dict().items()
            if k in ("algo", "ways", "shots", "queries", "meta_batch", "iterations", "val_every", "outer_lr")
        }
        result["began"] = time.perf_counter()
        window.start_run()

    def on_finished(_generation, finished) -> None:
        result["seconds"] = time.perf_counter() - result["began"]
        result["finished"] = finished
        from engine.trainer import restore

        result["algo"] = restore(finished.checkpoint)[0]  # before closing: the window removes its run folder
        window.close()

    window.controller.runFinished.connect(on_finished)
    QTimer.singleShot(0, window.start_loading)
    QTimer.singleShot(0, start_when_ready)
    app.exec()

    import torch
    from common import load_pool

    from engine.tasks import TaskSampler
    from engine.trainer import evaluate

    finished, algo = result["finished"], result["algo"]
    tests = TaskSampler(load_pool("omniglot"), "test", 5, 1, 15, seed=1).fixed(args.episodes)
    acc, ci = evaluate(algo, tests, torch.device("cpu"))
    tmp.cleanup()
    print(
        f"{result['settings']}: {finished.iterations} iterations, Start to finished {result['seconds']:.1f} s; "
        f"test alphabet 5-way 1-shot {100 * acc:.1f}% +- {100 * ci:.1f}"
    )
    emit(
        {
            "seconds": round(result["seconds"], 1),
            "iterations": finished.iterations,
            "reason": finished.reason,
            "accuracy": acc,
            "ci95": ci,
            "episodes": args.episodes,
            "settings": result["settings"],
            **machine(),
        }
    )


if __name__ == "__main__":
    main()
