"""Click-to-ready latency of the New classes workspace, measured through the real widget.

5-way 5-shot (the shipped sample class set), Conv-4, CPU. For each method the
Adapt button is clicked and the clock stops when the workspace reports the
adapted model ready to test (``adapted``: worker start, private model copy,
the inner steps or prototypes, the embedding projection and the hand-back to
the GUI thread). Leave-one-out accuracy (5 more adaptations) runs after that;
its completion is reported separately. A prediction is a stroke drawn on the
canvas until the probabilities arrive (``predicted``: sketch normalisation,
worker, forward pass, embedding projection). The weights do not change the
cost, so freshly initialised models are timed. Rounds alternate the methods;
medians are reported (the first, warm-up round is dropped).

Beside the click-to-ready time, each round times the engine's own ``adapt``
(no per-step views, no window: the baseline the window's overhead is read
against) and the facade's ``api.adapt`` up to ready (the same steps plus each
step's embedding view: what the views cost) on the same support set. Then the step animation's frame time: each
frame of a finished 10-step Adapt is shown again (``frameShown``: curves up to
the step, cursor, embedding, probabilities) and the chart, embedding and bars
are repainted synchronously (``QWidget.repaint``); the median and worst frame
over all frames of all rounds are reported (target <= 33 ms, 30 frames/s).

    QT_QPA_PLATFORM=offscreen python bench/adapt_latency.py [--rounds 4] [--steps 10]
"""

from __future__ import annotations

import argparse
import os
import time

from common import REPO, emit, machine, median

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=10, help="MAML inner steps [10]")
    args = ap.parse_args()

    import torch
    from PySide6.QtCore import QEventLoop, QTimer

    from engine.config import TrainConfig, from_recipe
    from engine.trainer import build_model_and_algorithm
    from gui.app import application
    from gui.workspace import NewClassesWorkspace

    application()
    names = ("maml", "protohead", "protonet")
    configs = {  # Proto-head as the window starts with it: the quick recipe (its steps refine the last block too)
        "maml": TrainConfig(algo="maml", device="cpu"),
        "protohead": from_recipe("quick", device="cpu"),
        "protonet": TrainConfig(algo="protonet", device="cpu"),
    }
    models = {name: build_model_and_algorithm(configs[name], torch.device("cpu")) for name in names}
    lrs = {"maml": 0.4, "protohead": configs["protohead"].inner_lr, "protonet": 0.4}
    current = {"algo": None}
    ws = NewClassesWorkspace(lambda: current["algo"])
    ws.steps.setValue(args.steps)
    from gui.gui_thread_gc import settle_after_startup

    settle_after_startup()  # as the window does once the engine is loaded: collections skip start-up's objects

    def wait(signal, trigger, timeout_s: float = 300.0) -> float:
        """Run ``trigger`` and the event loop until ``signal``; seconds elapsed."""
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        began = time.perf_counter()
        trigger()
        loop.exec()
        elapsed = time.perf_counter() - began
        signal.disconnect(loop.quit)
        return elapsed

    wait(ws.board.changed, lambda: ws.load_folder(str(REPO / "resources" / "sample_classes")))
    assert ws.board.shots() == [5] * 5, ws.status.text()
    times: dict[str, list[float]] = {
        f"{n}_{k}": [] for n in names for k in ("adapt", "loo", "engine", "engine_views")
    }
    times["predict"], frames = [], {n: [] for n in names}
    images, labels = ws.board.support()
    from engine import api
    from engine.adaptation import adapt_with_progress

    class _Ready(Exception):
        """Ends api.adapt once the learner is ready (leave-one-out is timed through the window)."""

    def _stop(_result) -> None:
        raise _Ready

    ws.show()
    for r in range(args.rounds + 1):
        for name in names:
            current["algo"] = models[name]
            ws.inner_lr.setValue(lrs[name])
            began = time.perf_counter()
            adapt_with_progress(models[name], images, labels, args.steps, lrs[name], leave_one_out=False)
            engine = time.perf_counter() - began
            began = time.perf_counter()
            try:  # the facade up to ready: the same steps plus each step's embedding view
                api.adapt(api.as_model(models[name]), images, labels, args.steps, lrs[name], lambda s: None, _stop)
            except _Ready:
                pass
            views = time.perf_counter() - began
            ws.canvas.clear()  # no query: nothing is predicted while the Adapt is timed
            loo_done: dict[str, float] = {}

            def mark(_value, d=loo_done) -> None:
                d.setdefault("t", time.perf_counter())

            ws.leaveOneOut.connect(mark)
            began = time.perf_counter()
            ready = wait(ws.adapted, ws.adapt_button.click)
            if "t" not in loo_done:
                wait(ws.leaveOneOut, lambda: None)
            ws.leaveOneOut.disconnect(mark)
            predict = wait(ws.predicted, lambda: ws.canvas.draw_stroke([(50, 60), (230, 80), (140, 230)]))
            if ws.player.playing:  # let the animation end before timing its frames
                wait(ws.player.finished, lambda: None)
            app = application()
            for k in range(ws.player.available + 1):
                t = time.perf_counter()
                ws.player.show(k)  # what a frame of the animation (or the slider) does
                for widget in (ws.chart, ws.embedding, ws.bars):
                    widget.repaint()
                frame = time.perf_counter() - t
                app.processEvents()
                if r:
                    frames[name].append(frame)
            if r:  # round 0 warms up (allocator, first-call costs)
                times[f"{name}_adapt"].append(ready)
                times[f"{name}_loo"].append(loo_done.get("t", time.perf_counter()) - began)
                times[f"{name}_engine"].append(engine)
                times[f"{name}_engine_views"].append(views)
                times["predict"].append(predict)
    ws.wait_for_workers()
    ms = {k: round(1000 * median(v), 1) for k, v in times.items()}
    for name in names:
        ms[f"{name}_frame"] = round(1000 * median(frames[name]), 1)
        ms[f"{name}_frame_worst"] = round(1000 * max(frames[name]), 1)
    for k, v in ms.items():
        print(f"{k:22s} {v:8.1f} ms" + (f" (median of {len(times[k])})" if k in times else ""))
    emit(
        {
            **{f"{k}_ms": v for k, v in ms.items()},
            "ways": 5,
            "shots": 5,
            "steps": args.steps,
            "rounds": args.rounds,
            **machine(),
            "load_average": os.getloadavg()[0],
        }
    )


if __name__ == "__main__":
    main()
