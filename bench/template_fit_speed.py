"""The deformable template distance's cost (engine.deformation): seconds a Lake run, the blur as matrix products
against the one-channel convolution it replaced, in one process.

For each of the first ``--runs`` runs of a Lake-format folder (20-way 1-shot; its drawings framed both ways, as the
``lake`` recipe reads them), every query is fitted to every training drawing in both framings (20 x 20 x 2 pairs
of 100 Adam steps), once with the engine's blur and once with the convolution's (monkeypatched in), alternating
so that both see the same machine. Reports the seconds of each per run and per query, and how far apart the two
give the distances (the fits' rounding differs, and 100 steps amplify it) and whether each query's nearest class
is the same.

    python bench/template_fit_speed.py --runs /tmp/loao/Early_Aramaic [--count 3]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from common import emit, machine


def convolution_blur(x, sigma: float):
    """The blur as engine.deformation first had it: two one-channel convolutions (x [n, 1, H, W])."""
    import torch
    import torch.nn.functional as F

    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=x.dtype) / sigma) ** 2)
    taps = taps / taps.sum()
    x = F.conv2d(x, taps.view(1, 1, -1, 1), padding=(radius, 0))
    return F.conv2d(x, taps.view(1, 1, 1, -1), padding=(0, radius))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, required=True, help="a folder of Lake-format runs (run01, run02, ...)")
    ap.add_argument("--count", type=int, default=3, help="runs timed")
    args = ap.parse_args()

    import torch

    from engine import deformation
    from engine.challenge import load_runs
    from engine.framing import BothFramings

    runs = load_runs(args.runs, 28, BothFramings(2.0))[: args.count]
    engine_blur = deformation.blur
    seconds = {"matrix": [], "convolution": []}
    worst, same, queries = 0.0, 0, 0
    for run in runs:
        labels = torch.arange(len(run.support_x))
        got = {}
        for name, blur in (("convolution", convolution_blur), ("matrix", engine_blur)):
            deformation.blur = blur
            began = time.perf_counter()
            got[name] = deformation.TemplateDistance(run.support_x, labels, len(labels))(run.query_x)
            seconds[name].append(time.perf_counter() - began)
        deformation.blur = engine_blur
        worst = max(worst, float(((got["matrix"] - got["convolution"]).abs() / got["convolution"]).max()))
        same += int((got["matrix"].argmin(1) == got["convolution"].argmin(1)).sum())
        queries += len(run.query_x)
    per_run = {name: sum(s) / len(s) for name, s in seconds.items()}
    emit({"runs": str(args.runs), "timed": len(runs), "queries": queries,
          "task": "20-way 1-shot Lake-format runs, each query fitted to each training drawing in both framings "
                  f"({deformation.STEPS} Adam steps a pair)",
          "seconds_per_run": per_run, "seconds_per_query": {k: v * len(runs) / queries for k, v in per_run.items()},
          "speedup": per_run["convolution"] / per_run["matrix"],
          "largest_relative_difference": worst, "nearest_class_same": same / queries, "machine": machine()})


if __name__ == "__main__":
    main()
