"""Lake's one-shot challenge: where a model's wrong answers rank, fold by fold.

For each saved fold model of ``bench/lake_ablation.py --save DIR``, every test drawing of the fold's
Lake-format runs is scored inductively, as ``omniglot-challenge`` scores it (each on its own with the run's
20 training drawings, the model's own test-time views and matching), and the rank of its true class among
the 20 is counted: top-1 is 1 - error, top-2 and top-3 say whether the misses are near ones (a character
confused with one other) or far ones. Also the share of a fold's misses that fall on its most confused pairs.

    python bench/lake_error_ranks.py --runs /tmp/loao --models '/tmp/abl18/it12k/lake+episode+alphabet-{}.pt'

The last line of stdout is the JSON summary (fractions).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

from common import emit, machine


def fold_ranks(model: str, runs_dir: Path) -> dict:
    """Top-k accuracies and the misses' spread over confused pairs for one fold's model on its runs."""
    import torch

    from engine.challenge import load_runs
    from engine.models import input_size
    from engine.trainer import restore

    algo, _, _ = restore(model, torch.device("cpu"))
    runs = load_runs(runs_dir, input_size(algo.model), algo.config.frame_ink)  # (as the model's drawings were)
    ranks, pairs = [], collections.Counter()
    for run in runs:
        learner = algo.adapt(run.support_x, torch.arange(len(run.support_x)))
        with torch.no_grad():
            logits = learner.logits(run.query_x)
        truth = logits.gather(1, run.query_y[:, None])
        ranks += (logits > truth).sum(1).add(1).tolist()
        for true, guess in zip(run.query_y.tolist(), logits.argmax(1).tolist()):
            if guess != true:
                pairs[(run.name, *sorted((true, guess)))] += 1
    n, misses = len(ranks), sum(r > 1 for r in ranks)
    return {"queries": n, **{f"top{k}": sum(r <= k for r in ranks) / n for k in (1, 2, 3, 5)},
            "mean_rank_of_misses": sum(r for r in ranks if r > 1) / max(misses, 1),
            "misses_on_pairs_missed_twice": sum(c for c in pairs.values() if c >= 2) / max(misses, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--models", required=True, help="each fold's checkpoint, '{}' for the alphabet")
    ap.add_argument("--folds", default="Balinese,Early_Aramaic,Greek,Korean,Latin")
    args = ap.parse_args()
    folds = {}
    for alphabet in args.folds.split(","):
        folds[alphabet] = fold_ranks(args.models.format(alphabet), args.runs / alphabet)
        print(json.dumps({"alphabet": alphabet, **folds[alphabet]}), file=sys.stderr, flush=True)
    emit({"models": args.models, "runs": str(args.runs), "protocol": "inductive, the models' own views and matching",
          "task": "Lake-format runs: 20-way 1-shot within one alphabet", "folds": folds, "machine": machine()})


if __name__ == "__main__":
    main()
