"""Score leave-one-alphabet-out checkpoints reading each drawing framed two ways as test-time views (issue #18).

``lake_ensemble.py --both-framings`` lets a model read the runs framed by its ink's box and by its ink's moments and
averages the two readings' class probabilities: two adaptations, two learners. A window, an export and ``predict``
hold one learner, so the engine would rather carry the two framings inside one: each drawing a two-channel image
(its own framing, the other), and the framings two more sets of test-time views. This script measures that form.
The embedding (engine.algorithms.simpleshot.ViewMean) is averaged over every view of both framings; the places
(engine.algorithms.local_match.LocalMaps) are matched view by view within a framing, both framings' views averaged;
the head's steps fit the averaged embedding. Every quantity still comes from the training drawings and the one test
drawing (inductive).

    python bench/lake_framing_views.py --runs /tmp/loao 'DIR/lake64+both-{}.pt'

Prints JSON: per fold and on the mean, the error reading the model's own framing and reading both as views, as
fractions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from common import emit, machine, other_framing

ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Korean", "Latin")


def patch_framing_views() -> None:
    """ViewMean and LocalMaps read a two-channel image as the same drawing framed two ways: the embedding the mean
    over the framings' views, the maps each framing's views one after the other (the views axis)."""
    import torch

    from engine.algorithms import local_match, simpleshot

    view_mean, local_maps = simpleshot.ViewMean.forward, local_match.LocalMaps.forward

    def mean_over_framings(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            return view_mean(self, x)
        return sum(view_mean(self, x[:, i : i + 1]) for i in range(x.shape[1])) / x.shape[1]

    def maps_of_framings(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            return local_maps(self, x)
        return torch.cat([local_maps(self, x[:, i : i + 1]) for i in range(x.shape[1])], 1)

    simpleshot.ViewMean.forward, local_match.LocalMaps.forward = mean_over_framings, maps_of_framings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--folds", default=",".join(ALPHABETS), help="comma-separated alphabets")
    ap.add_argument("pattern", help="checkpoint path with {} for the alphabet")
    args = ap.parse_args()

    import torch

    from engine.challenge import ChallengeRun, load_runs, run_challenge
    from engine.trainer import restore

    patch_framing_views()
    folds = []
    for alphabet in args.folds.split(","):
        algo, config, _ = restore(args.pattern.format(alphabet))
        if not config.tta:
            raise SystemExit("the framings are read as test-time views: the model needs its own (--tta)")
        runs = load_runs(args.runs / alphabet, config.image_size, config.frames_ink)
        again = load_runs(args.runs / alphabet, config.image_size, other_framing(config.frames_ink))
        both = [ChallengeRun(a.name, torch.cat([a.support_x, b.support_x], 1), torch.cat([a.query_x, b.query_x], 1),
                             a.query_y) for a, b in zip(runs, again, strict=True)]
        fold = {"alphabet": alphabet, "error_own": run_challenge(algo, runs)["error_rate"],
                "error_both_as_views": run_challenge(algo, both)["error_rate"]}
        print(fold, file=sys.stderr, flush=True)
        folds.append(fold)
    emit({"model": args.pattern, "protocol": "inductive; the two framings read as test-time views of one drawing",
          "task": f"Lake-format runs: 20-way 1-shot within one alphabet, {len(runs)} runs per held-out alphabet",
          "error_own_mean": statistics.fmean(f["error_own"] for f in folds),
          "error_both_as_views_mean": statistics.fmean(f["error_both_as_views"] for f in folds), "folds": folds,
          "machine": machine()})


if __name__ == "__main__":
    main()
