"""Does a long curve history slow the live plots? Redraw + repaint time against history length.

    QT_QPA_PLATFORM=offscreen python bench/redraw.py [--sizes 100,1000,10000] [--cycles 40]

For each history length N, a fresh ``gui.metrics_plot.MetricsPlot`` (900x600)
holds N iterations (and a validation point every 100), then each cycle adds one
iteration, updates the curves (``redraw_now``) and paints the widget
(``grab``: the whole repaint, as the screen would get it). Medians per cycle.
The shortest history is the same-run baseline. Last line: JSON.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import emit, machine

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--cycles", type=int, default=40)
    args = ap.parse_args()

    import numpy as np

    from gui.app import application
    from gui.metrics_plot import MetricsPlot

    app = application()
    rng = np.random.default_rng(0)
    result: dict[str, float] = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        plot = MetricsPlot()
        plot.resize(900, 600)
        plot.show()
        plot.begin_run("bench")
        for i in range(1, n + 1):
            plot.add_iteration(i, 2.0 * np.exp(-i / 300) + 0.1 * rng.random(), min(1.0, i / 500) * rng.random())
            if i % 100 == 0:
                plot.add_validation(i, 0.9, 0.01)
        plot.redraw_now()
        plot.grab()
        app.processEvents()
        times = []
        for c in range(args.cycles):
            began = time.perf_counter()
            plot.add_iteration(n + c + 1, 0.2, 0.9)
            plot.redraw_now()
            plot.grab()
            times.append(1000 * (time.perf_counter() - began))
        result[f"redraw_ms_{n}"] = round(statistics.median(times), 2)
        print(
            f"history {n:6d} iterations: {result[f'redraw_ms_{n}']:.2f} ms per update + repaint "
            f"(median of {args.cycles})"
        )
        plot.close()
        plot.deleteLater()
        app.processEvents()
    emit({**result, "cycles": args.cycles, **machine()})


if __name__ == "__main__":
    main()
