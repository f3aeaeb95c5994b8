"""Score leave-one-alphabet-out checkpoints reading each drawing framed two ways as views (issue #18).

``lake_ensemble.py --both-framings`` lets a model read the runs framed by its ink's box and by its ink's moments and
averages the two readings' class probabilities: two adaptations, two learners. A window, an export and ``predict``
hold one learner, so the engine carries the two framings inside one (``--frame-both``, engine.framing.BothFramings):
each drawing a two-channel image (framed by its moments, then by its box) whose channels the embedding
(engine.algorithms.simpleshot.ViewMean) averages over with their test-time views, the places
(engine.algorithms.local_match.LocalMaps) matched view by view within a framing. This script reads a model trained
either way (bench lake+both, or --frame-both) as the engine's --frame-both reads: its own framing, then both. Every
quantity still comes from the training drawings and the one test drawing (inductive).

    python bench/lake_framing_views.py --runs /tmp/loao 'DIR/lake64+both-{}.pt'

Prints JSON: per fold and on the mean, the error reading the model's own framing and reading both as views, as
fractions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from common import emit, machine, read_both_ways

ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Korean", "Latin")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--folds", default=",".join(ALPHABETS), help="comma-separated alphabets")
    ap.add_argument("--views-only", action="store_true", help="score only the reading of both (not the model's own)")
    ap.add_argument("pattern", help="checkpoint path with {} for the alphabet")
    args = ap.parse_args()


    from engine.challenge import load_runs, run_challenge
    from engine.trainer import restore

    folds = []
    for alphabet in args.folds.split(","):
        algo, config, _ = restore(args.pattern.format(alphabet))
        fold: dict = {"alphabet": alphabet}
        if not args.views_only:
            runs = load_runs(args.runs / alphabet, config.image_size, algo.config.frame_ink)
            fold["error_own"] = run_challenge(algo, runs)["error_rate"]
        read_both_ways(algo)
        runs = load_runs(args.runs / alphabet, config.image_size, algo.config.frame_ink)  # (two channels each)
        fold["error_both_as_views"] = run_challenge(algo, runs)["error_rate"]
        print(fold, file=sys.stderr, flush=True)
        folds.append(fold)
    emit({"model": args.pattern, "protocol": "inductive; the two framings read as views of one drawing",
          "task": f"Lake-format runs: 20-way 1-shot within one alphabet, {len(runs)} runs per held-out alphabet",
          **({} if args.views_only else {"error_own_mean": statistics.fmean(f["error_own"] for f in folds)}),
          "error_both_as_views_mean": statistics.fmean(f["error_both_as_views"] for f in folds), "folds": folds,
          "machine": machine()})


if __name__ == "__main__":
    main()
