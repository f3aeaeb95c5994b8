"""Variants of the deformable template distance (engine.deformation), joined to the recipe's saved scores.

bench/lake_aligned_reading.py ``--save-scores`` keeps, for every stand-in run, the recipe's log-probabilities, the
distance left in each framing (each training drawing carried onto the query) and the truth. This fits the maps
again as a variant asks and joins its distance to the same log-probabilities (standardised over the query's 20
classes, or with ``--log`` its logarithm standardised as the engine joins it, subtracted at each ``--weights``), so
a variant costs its fits only:

- ``saved``: the distances kept (the recipe's own join, for the baseline row);
- ``backward``: the query carried onto each training drawing instead;
- ``both``: the two directions' distances averaged (saved and backward);
- ``lattice6``: the field on a 6x6 lattice rather than 4x4 (finer bends), carried as the recipe does;
- ``turns``: each fit started three times, from the training drawing as it is and turned :data:`TURN` degrees each
  way, the smallest distance kept (``start0``: the first start alone, the engine's own fit, for the baseline).

Each reads both framings and averages them, as the recipe does. Inductive: a query's distances come from itself and
the run's training drawings.

    python bench/lake_template_variants.py --runs /tmp/loao --scores s2.pt --variants backward,both,lattice6
    python bench/lake_template_variants.py --runs /tmp/loao --scores s2.pt --variants turns --log
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import emit, machine

#: the ``turns`` variant's starts: the drawing turned this many degrees each way (engine.deformation.turned; the
#: engine's ``--template-turn``)
TURN = 15.0


def carried(support, query, backward: bool = False, lattice: int = 4, turn: float = 0.0):
    """[Q, S] distances left, both framings averaged: each training drawing carried onto each query (or, with
    ``backward``, each query onto each training drawing), the fit started from the drawing turned ``turn``
    degrees."""
    import torch

    from engine.deformation import distance_left, pairs, turned

    first, second = pairs(support, query)
    if backward:
        first, second = second, first
    if turn:
        first = turned(first, turn)
    reads = min(query.shape[1], support.shape[1])
    return distance_left(first, second, lattice=lattice).view(reads, len(query), len(support)).mean(0).to(
        torch.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--scores", type=Path, required=True, help="lake_aligned_reading.py --save-scores' file")
    ap.add_argument("--variants", default="backward,both,lattice6")
    ap.add_argument("--weights", default="2,3,4")
    ap.add_argument("--folds", help="comma-separated alphabets (default: every fold the scores hold)")
    ap.add_argument("--stretch", type=float, default=2.0, help="the framings' stretch (the recipe's: 2)")
    ap.add_argument("--save", type=Path, help="torch.save the variants' distances here")
    ap.add_argument("--log", action="store_true", help="join the distances' logarithm, as the engine has since "
                    "session 39 (engine.algorithms.template_join.lowered), not the distances")
    args = ap.parse_args()

    import torch

    from engine.algorithms.local_match import standardised
    from engine.algorithms.template_join import lowered
    from engine.challenge import load_runs
    from engine.framing import BothFramings

    join = lowered if args.log else standardised
    saved = torch.load(args.scores, weights_only=True)
    variants, weights = args.variants.split(","), [float(w) for w in args.weights.split(",")]
    folds, kept = [], {}
    for alphabet, runs_saved in saved.items():
        if args.folds and alphabet not in args.folds.split(","):
            continue
        runs = load_runs(args.runs / alphabet, 28, BothFramings(args.stretch))
        assert len(runs) == len(runs_saved), f"{alphabet}: {len(runs)} runs here, {len(runs_saved)} saved"
        began, misses, queries, kept[alphabet] = time.perf_counter(), {}, 0, []
        for run, old in zip(runs, runs_saved):
            assert torch.equal(run.query_y, old["truth"]), f"{alphabet}: the runs differ from the saved ones"
            found = {"saved": old["residuals"].mean(0)}
            if {"backward", "both"} & set(variants):
                found["backward"] = carried(run.support_x, run.query_x, backward=True)
                found["both"] = (found["saved"] + found["backward"]) / 2
            if "lattice6" in variants:
                found["lattice6"] = carried(run.support_x, run.query_x, lattice=6)
            if "turns" in variants:
                starts = [carried(run.support_x, run.query_x, turn=d) for d in (-TURN, 0.0, TURN)]
                found["start0"] = starts[1]
                found["turns"] = torch.stack(starts).amin(0)
            kept[alphabet].append(found)
            for name, distances in found.items():
                for w in [0.0, *weights]:
                    key = f"error_{name}_{w:g}"
                    wrong = ((old["recipe"] - w * join(distances)).argmax(1) != old["truth"]).sum()
                    misses[key] = misses.get(key, 0) + int(wrong)
                alone = f"error_{name}_alone"
                misses[alone] = misses.get(alone, 0) + int((distances.argmin(1) != old["truth"]).sum())
            queries += len(run.query_y)
        fold = {"alphabet": alphabet, "seconds": time.perf_counter() - began,
                **{k: v / queries for k, v in sorted(misses.items())}}
        print(fold, file=sys.stderr, flush=True)
        folds.append(fold)
        if args.save:
            torch.save(kept, args.save)
    keys = [k for k in folds[0] if k.startswith("error_")]
    emit({"scores": str(args.scores), "runs": str(args.runs), "variants": variants, "protocol": "inductive",
          "joined": "the recipe's log-probabilities minus the weight times the distance (--log: its logarithm) "
                    "standardised over the query's classes", "log": args.log,
          "mean": {k: statistics.fmean(f[k] for f in folds) for k in keys}, "folds": folds,
          "machine": machine()})


if __name__ == "__main__":
    main()
