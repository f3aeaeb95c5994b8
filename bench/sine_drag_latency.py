"""Time from a dragged point to the redrawn curves in the Regression tab (p50 / max).

The tab (offscreen unless QT_QPA_PLATFORM says otherwise) holds a briefly
meta-trained MAML model and, with ``--baseline``, the fine-tune baseline too;
10 points are placed, then one point is moved ``--moves`` times, as a drag's
mouse moves do (``PointsPlot.move_point``, which the drag handler calls). Each
sample is the wall time from the move to the moment the re-fitted curves (all
``--steps`` steps of every model) have been handed to the plot and the plot has
repainted (``repaint()``, synchronous). The engine's share (``Adaptation.seconds``)
is reported beside it.

    QT_QPA_PLATFORM=offscreen python bench/sine_drag_latency.py --steps 10 --baseline

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from common import machine

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--baseline", action="store_true", help="adapt the baseline beside MAML on every move")
    args = parser.parse_args()

    import numpy as np
    from PySide6.QtWidgets import QApplication

    from engine import api_regression
    from engine.config import REGRESSION_DEFAULTS, TrainConfig
    from engine.trainer import run
    from gui.regression import RegressionTab

    app = QApplication([])
    folder = tempfile.mkdtemp()
    models = {}
    for kind, algo in (("maml", "maml"), ("baseline", "finetune"))[: 2 if args.baseline else 1]:
        path = os.path.join(folder, f"{algo}.pt")
        config = TrainConfig(
            dataset="sine", algo=algo, iterations=50, val_every=0, checkpoint=path, **REGRESSION_DEFAULTS
        )
        list(run(config))
        models[kind] = api_regression.load_model(path, kind)
    tab = RegressionTab()
    tab.resize(1280, 760)
    tab.show()
    tab.steps.setValue(args.steps)
    shown: list = []
    tab.curvesShown.connect(shown.append)
    for kind, model in models.items():
        tab.models[kind] = model
    rng = np.random.default_rng(0)
    tab.points_plot.set_points(np.linspace(-4.5, 4.5, 10), rng.uniform(-3, 3, 10), emit=False)

    def wait_for(count: int) -> None:
        while len(shown) < count:
            app.processEvents()
            time.sleep(0.0002)

    samples, engine = [], []
    for i in range(args.moves + 5):
        began = time.perf_counter()
        tab.points_plot.move_point(4, -0.5, 3 * np.sin(i / 5))
        wait_for(i + 1)
        tab.points_plot.repaint()
        tab.step_chart.repaint()
        if i >= 5:  # the first moves warm up the threads and the plot items
            samples.append(1000 * (time.perf_counter() - began))
            engine.append(1000 * sum(fit.seconds for _, fit in tab._last[1]))
    tab.shutdown()
    result = {
        "moves": args.moves,
        "steps": args.steps,
        "models": list(models),
        "points": 10,
        "drag_to_redraw_ms": {
            "p50": round(float(np.median(samples)), 2),
            "p90": round(float(np.percentile(samples, 90)), 2),
            "max": round(float(np.max(samples)), 2),
        },
        "engine_adapt_ms": {"p50": round(float(np.median(engine)), 2), "max": round(float(np.max(engine)), 2)},
        "platform": os.environ["QT_QPA_PLATFORM"],
        "machine": machine(),
    }
    print(
        f"drag -> redrawn curves: p50 {result['drag_to_redraw_ms']['p50']} ms, "
        f"max {result['drag_to_redraw_ms']['max']} ms "
        f"(engine {result['engine_adapt_ms']['p50']} ms p50)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
