"""What local matching costs at scoring time: a saved model scored with no matching, the last map matched, and both
maps matched (``local_levels`` 2), on Lake-format runs.

Per run: the adaptation (the recipe's 10 steps on the 20 support drawings), a whole run's 20 queries at once, and
one query at a time with the support set's pass kept (as the window scores a drawn query). The three settings
alternate over ``--rounds`` rounds so that a slow spell of the machine falls on all of them; medians in ms.

    python bench/lake_scoring_cost.py --checkpoint /tmp/abl16/lake+composed-Latin.pt --runs /tmp/loao/Latin
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

from common import emit, machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, required=True, help="a saved SimpleShot / Proto-head model")
    ap.add_argument("--runs", type=Path, required=True, help="a folder of Lake-format runs (or all_runs.zip)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-runs", type=int, default=10)
    args = ap.parse_args()

    import torch

    from engine.challenge import load_runs
    from engine.models import reuse_support_passes
    from engine.trainer import restore

    algo, _, _ = restore(str(args.checkpoint), "cpu")
    own = algo.config
    runs = load_runs(args.runs, 28, own.frame_ink)[: args.max_runs]
    settings = {"none": dict(local_match=False), "last map": dict(local_match=True, local_levels=1),
                "both maps": dict(local_match=True, local_levels=2)}
    times: dict[str, dict[str, list[float]]] = {k: {"adapt": [], "run": [], "query": []} for k in settings}
    for round_ in range(args.rounds + 1):  # (round 0 warms up and is dropped)
        for name, change in settings.items():
            algo.config = replace(own, **change)
            for run in runs:
                began = time.perf_counter()
                learner = algo.adapt(run.support_x, torch.arange(len(run.support_x)))
                adapted = time.perf_counter()
                with torch.no_grad():
                    learner.logits(run.query_x)
                done = time.perf_counter()
                with reuse_support_passes({}), torch.no_grad():
                    learner.logits(run.query_x[:1])  # (the support pass, kept from here on)
                    singles = []
                    for query in run.query_x[1:6]:
                        t = time.perf_counter()
                        learner.logits(query[None])
                        singles.append(time.perf_counter() - t)
                if round_:
                    times[name]["adapt"].append(adapted - began)
                    times[name]["run"].append(done - adapted)
                    times[name]["query"].extend(singles)
    emit({"checkpoint": str(args.checkpoint), "runs": str(args.runs), "runs_timed": len(runs), "rounds": args.rounds,
          "task": "Lake-format runs, 20-way 1-shot; the model's own test-time views",
          "median_ms": {name: {k: 1000 * statistics.median(v) for k, v in parts.items()}
                        for name, parts in times.items()},
          "machine": machine()})


if __name__ == "__main__":
    main()
