"""Lake's one-shot challenge: each query read several ways, each class scored by the reading that fits it best.

The recipe frames every drawing to its ink, its shorter side stretched up to twice (``frame_ink`` 2). Two drawers
of one character often draw it in other proportions (BENCHMARKS.md, "Where Balinese's misses rank"), so one fixed
reading may fit the query to the wrong class. Here a query is also read with other stretch caps (the training
drawings as the model reads them), each reading's scores standardised over the run's 20 classes, and a class's
score is the mean or the best over the readings: a small search for the reading that aligns the query with each
class. Each query is still scored on its own with the run's 20 training drawings (inductive).

    python bench/lake_read_alignment.py --runs /tmp/loao100 --models '/tmp/abl26/rec-s3/lake-{}.pt' \\
        --stretches 1,1.5,2,3

The last line of stdout is the JSON summary (errors as fractions).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine  # noqa: E402

from engine.algorithms.local_match import standardised  # noqa: E402

ALPHABETS = "Balinese,Early_Aramaic,Greek,Korean,Latin"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--models", required=True, help="each fold's checkpoint, '{}' for the alphabet")
    ap.add_argument("--stretches", default="1,1.5,2,3", help="the stretch caps a query is also read with")
    ap.add_argument("--folds", default=ALPHABETS)
    args = ap.parse_args()
    torch.set_num_threads(2)

    from engine.challenge import load_runs
    from engine.models import input_size
    from engine.trainer import restore

    stretches = [float(s) for s in args.stretches.split(",")]
    ways = ["own", "mean", "best", "best-1"]
    errors: dict[str, dict[str, float]] = {w: {} for w in ways}
    for alphabet in args.folds.split(","):
        algo, _, _ = restore(args.models.format(alphabet), torch.device("cpu"))
        size, own = input_size(algo.model), float(algo.config.frame_ink)
        runs = load_runs(args.runs / alphabet, size, own)
        readings = [load_runs(args.runs / alphabet, size, s) for s in stretches]
        wrong = dict.fromkeys(ways, 0)
        for i, run in enumerate(runs):
            learner = algo.adapt(run.support_x, torch.arange(len(run.support_x)))
            with torch.no_grad():
                base = standardised(learner.logits(run.query_x))
                each = torch.stack([standardised(learner.logits(r[i].query_x)) for r in readings])
            top2 = each.topk(min(2, len(each)), 0).values
            scores = {"own": base, "mean": each.mean(0), "best": each.amax(0), "best-1": top2.mean(0)}
            for w in ways:
                wrong[w] += int((scores[w].argmax(1) != run.query_y).sum())
        total = sum(len(r.query_y) for r in runs)
        for w in ways:
            errors[w][alphabet] = wrong[w] / total
        print(alphabet, {w: round(100 * errors[w][alphabet], 2) for w in ways}, file=sys.stderr, flush=True)
    print(json.dumps({
        "task": "Lake-format runs, 20-way 1-shot within one held-out alphabet",
        "protocol": "inductive: each test drawing scored on its own with the run's 20 training drawings",
        "models": args.models, "stretches": stretches,
        "errors": {w: {"mean": sum(v.values()) / len(v), **v} for w, v in errors.items()},
        "machine": machine(),
    }))


if __name__ == "__main__":
    main()
