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

    QT_QPA_PLATFORM=offscreen python bench/adapt_latency.py [--rounds 6] [--steps 10]
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

    from engine.config import TrainConfig
    from engine.trainer import build_model_and_algorithm
    from gui.app import application
    from gui.workspace import NewClassesWorkspace

    application()
    models = {
        name: build_model_and_algorithm(TrainConfig(algo=name, device="cpu"), torch.device("cpu"))
        for name in ("maml", "protonet")
    }
    current = {"algo": None}
    ws = NewClassesWorkspace(lambda: current["algo"])
    ws.steps.setValue(args.steps)

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
        k: [] for k in ("maml_adapt", "maml_loo", "protonet_adapt", "protonet_loo", "predict")
    }
    for r in range(args.rounds + 1):
        for name in ("maml", "protonet"):
            current["algo"] = models[name]
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
            if r:  # round 0 warms up (allocator, first-call costs)
                times[f"{name}_adapt"].append(ready)
                times[f"{name}_loo"].append(loo_done.get("t", time.perf_counter()) - began)
                times["predict"].append(predict)
    ws.wait_for_workers()
    ms = {k: round(1000 * median(v), 1) for k, v in times.items()}
    for k, v in ms.items():
        print(f"{k:16s} {v:8.1f} ms (median of {len(times[k])})")
    emit(
        {
            "maml_adapt_ms": ms["maml_adapt"],
            "protonet_adapt_ms": ms["protonet_adapt"],
            "predict_ms": ms["predict"],
            "maml_with_loo_ms": ms["maml_loo"],
            "protonet_with_loo_ms": ms["protonet_loo"],
            "ways": 5,
            "shots": 5,
            "maml_steps": args.steps,
            "rounds": args.rounds,
            **machine(),
            "load_average": os.getloadavg()[0],
        }
    )


if __name__ == "__main__":
    main()
