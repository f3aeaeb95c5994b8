"""The backbone fine-tuned on a run's 20 training drawings before its queries are scored (issue #18).

For each run: a fresh copy of the checkpoint's backbone takes ``--steps`` Adam steps at ``--lr`` on the run's own
episode (two random affine distortions of every training drawing, the recipe's strength and wobble: one copy gives
each class's normalised mean, the other is scored by the nearest mean, as ``--episode-loss`` trains), then the run
is scored by the checkpoint's own rule (its views, head steps and place matching). Only the run's 20 training
drawings are used, so scoring stays inductive. ``--params`` picks what is tuned: ``all`` the backbone, ``bn`` its
one-dimensional parameters (BatchNorm's scales and shifts, and the convolutions' biases), ``last2`` its last two
blocks. ``--steps 0`` is the checkpoint's own figure.
Prints JSON: error per fold and the mean over folds, as fractions.

    python bench/lake_test_time_tuning.py --runs /tmp/loao 'DIR/lake+episode+alphabet-{}.pt' --steps 50 --lr 3e-4
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path

from common import emit, machine

ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Korean", "Latin")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pattern", help="checkpoint path with {} for the held-out alphabet")
    ap.add_argument("--runs", type=Path, required=True, help="make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--strength", type=float, default=2.0, help="the affine ranges' multiple (the recipe's 2)")
    ap.add_argument("--params", choices=("all", "bn", "last2"), default="all")
    ap.add_argument("--folds", default=",".join(ALPHABETS))
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import torch
    import torch.nn.functional as F

    from engine.algorithms.finetune import DISTANCE_SCALE
    from engine.algorithms.protonet import compute_prototypes, squared_distances
    from engine.augment import random_affine
    from engine.challenge import load_runs
    from engine.trainer import restore

    errors = {}
    for alphabet in args.folds.split(","):
        algo, config, _ = restore(args.pattern.format(alphabet))
        runs = load_runs(args.runs / alphabet, config.image_size, config.frames_ink)
        features = algo.model.features
        start = copy.deepcopy(features.state_dict())
        params = {
            "all": list(features.parameters()),
            "bn": [p for p in features.parameters() if p.dim() == 1],
            "last2": list(features[-3:].parameters()),
        }[args.params]
        generator, per_run = torch.Generator().manual_seed(0), []
        for run in runs:
            y = torch.arange(len(run.support_x))
            optimiser = torch.optim.Adam(params, args.lr)
            for _ in range(args.steps):
                a, b = (random_affine(run.support_x, generator, args.strength, config.augment_elastic) for _ in "ab")
                z = F.normalize(features(torch.cat([a, b])), dim=1) * DISTANCE_SCALE**0.5
                logits = -squared_distances(z[len(a):], compute_prototypes(z[: len(a)], y, len(y)))
                optimiser.zero_grad()
                F.cross_entropy(logits, y).backward()
                optimiser.step()
            learner = algo.adapt(run.support_x, y)
            with torch.no_grad():
                per_run.append((learner.logits(run.query_x).argmax(-1) != run.query_y).float().mean().item())
            features.load_state_dict(start)
        errors[alphabet] = statistics.fmean(per_run)
        print(f"{alphabet}: {100 * errors[alphabet]:.2f}%", file=sys.stderr, flush=True)
    emit({"steps": args.steps, "lr": args.lr, "params": args.params, "error_rate": errors,
          "mean": statistics.fmean(errors.values()), "machine": machine()})


if __name__ == "__main__":
    main()
