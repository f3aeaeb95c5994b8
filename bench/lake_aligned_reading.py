"""Each run's training drawings carried onto the query by a fitted map: the distance left, and the network's reading.

Two drawers' drawings of one character differ by a smooth map more than by anything else
(bench/lake_deformations.py fits such maps). Here, for each query of a Lake-format run and each of the run's 20
training drawings, the map carrying the training drawing onto the query is fitted (an affine map plus a smooth 4x4
field, its size penalised), and two things are read from it: the pixel distance left between the carried drawing and
the query (a deformable template's distance, a classifier of its own and a second opinion joined to the recipe's),
and the network's cosine between the query and the carried drawing. A query's scores depend on itself and the run's
training drawings only (inductive); BatchNorm takes the training drawings' statistics as in the recipe.

Reported per fold, on the moments-framed reading without views so that the one change is the alignment:
the plain embedding's error (the nearest training drawing by cosine), the same with each training drawing aligned
to the query first, the pixel distance left after the fit as a classifier of its own, and the recipe's own error
(its views, both framings, places matched) alone, with the aligned cosine joined at each ``--weights`` (times
JOIN_SCALE, added to its log-probabilities), and with the pixel distance left joined (standardised over the run's 20
classes for each query, subtracted at each weight; ``joined_log_residual``: its logarithm standardised, as the engine
joins it). A checkpoint whose config joins the distance (the engine's ``lake`` recipe, ``template_weight``) is read
without it, so that the recipe's reading is the network's and each join is this script's.

    python bench/lake_aligned_reading.py --runs /tmp/loao --model '/tmp/s35/fb2/lake+frameboth-{}.pt' --read-both \
        [--framings 2] [--save-scores S.pt]
    python bench/lake_aligned_reading.py --weigh S.pt [--weights 1,2]

``--framings 2`` fits each pair in both framings (the moments' and the box's) and averages the two distances left;
``--weigh`` reads the scores ``--save-scores`` kept and prints the errors of the recipe with the distance left
joined at each weight, from either framing's distance or both, without fitting again.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import emit, machine, read_both_ways
from lake_ensemble import ALPHABETS

#: the aligned cosines times this (and the weight) are added to the recipe's log-probabilities: a cosine 0.1 higher
#: is then worth a class probability e times higher at weight 1
JOIN_SCALE = 10.0


def weigh(path: Path, weights: list[float]) -> dict:
    """The errors of the recipe with the distance left joined at each of ``weights`` (from the moments' framing, the
    box's, both averaged, or both averaged and their logarithm taken, as engine.algorithms.template_join joins it),
    from the scores ``--save-scores`` kept."""
    import torch

    from engine.algorithms.local_match import standardised
    from engine.algorithms.template_join import lowered

    scores = torch.load(path, weights_only=True)
    # each reading's distances standardised over the query's classes, by which the classes are lowered
    readings = {"moments": lambda r: standardised(r[0]), "box": lambda r: standardised(r[-1]),
                "both": lambda r: standardised(r.mean(0)), "both_log": lambda r: lowered(r.mean(0))}
    folds = []
    for alphabet, runs in scores.items():
        fold, queries = {"alphabet": alphabet}, sum(len(run["truth"]) for run in runs)
        for name, pick in readings.items():
            for w in [0.0, *weights]:
                missed = sum(int(((run["recipe"] - w * pick(run["residuals"])).argmax(1)
                                  != run["truth"]).sum()) for run in runs)
                fold[f"error_{name}_{w:g}"] = missed / queries
        folds.append(fold)
    keys = [k for k in folds[0] if k.startswith("error_")]
    return {"scores": str(path), "protocol": "inductive", "joined": "the recipe's log-probabilities minus the weight "
            "times the distance left standardised over the query's 20 classes",
            "mean": {k: statistics.fmean(f[k] for f in folds) for k in keys}, "folds": folds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--model", help="checkpoint path, {} for the held-out alphabet")
    ap.add_argument("--weigh", type=Path, help="read the scores --save-scores kept and print the joined errors")
    ap.add_argument("--folds", default=",".join(ALPHABETS))
    ap.add_argument("--read-both", action="store_true", help="read as --frame-both does (common.read_both_ways)")
    ap.add_argument("--steps", type=int, default=100, help="Adam steps of each fit")
    ap.add_argument("--penalty", type=float, default=0.1, help="the fitted field's mean square's weight")
    ap.add_argument("--framings", type=int, default=1, choices=(1, 2), help="fit the maps on the moments-framed "
                    "reading (1) or on both readings, the pixel distances left averaged (2)")
    ap.add_argument("--save-scores", type=Path, help="torch.save each run's scores here (per fold: the recipe's "
                    "log-probabilities, the distances left in each framing, the cosines, the truth), to weigh again")
    ap.add_argument("--weights", default="0.5,1,1.5,2,3", help="the weights at which the distance left (standardised) "
                    "and the aligned cosines (times JOIN_SCALE) are each joined to the recipe's log-probabilities")
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    if args.weigh:
        emit(weigh(args.weigh, weights))
        return
    if not (args.runs and args.model):
        ap.error("--runs and --model are required (unless --weigh)")

    from dataclasses import replace

    import torch
    import torch.nn.functional as F
    from lake_deformations import fit_pairs, warp

    from engine.algorithms.local_match import standardised
    from engine.algorithms.template_join import lowered
    from engine.challenge import load_runs
    from engine.models import support_statistics
    from engine.trainer import restore

    folds, scores = [], {}
    for alphabet in args.folds.split(","):
        algo, config, _ = restore(args.model.format(alphabet))
        algo.config = replace(algo.config, template_weight=0.0)  # (the network's reading: the distance joined below)
        if args.read_both:
            read_both_ways(algo)
        runs = load_runs(args.runs / alphabet, config.image_size, algo.config.frame_ink)
        misses = {"plain": 0, "aligned": 0, "residual": 0, "recipe": 0, **{f"joined_{w:g}": 0 for w in weights},
                  **{f"joined_residual_{w:g}": 0 for w in weights},
                  **{f"joined_log_residual_{w:g}": 0 for w in weights}}
        began, queries, saved = time.perf_counter(), 0, []
        for run in runs:
            ways = len(run.support_x)
            support_y = torch.arange(ways)
            learner = algo.adapt(run.support_x, support_y)
            with torch.no_grad():
                recipe = learner.logits(run.query_x).log_softmax(-1)  # [Q, ways]
            q_count = len(run.query_x)
            residuals = []
            for way in range(min(args.framings, run.support_x.shape[1])):  # (0: moments-framed, 1: box-framed)
                support, query = run.support_x[:, way : way + 1], run.query_x[:, way : way + 1]
                first = support.repeat(q_count, 1, 1, 1)  # pair (i, c) at i * ways + c
                second = query.repeat_interleave(ways, 0)
                bank = fit_pairs(first, second, steps=args.steps, penalty=args.penalty)
                with torch.no_grad():
                    carried = warp(first, bank.theta, bank.field)
                    residuals.append((carried - second).square().mean((1, 2, 3)).view(q_count, ways))
                    if way:
                        continue
                    with support_statistics(ways):  # (BatchNorm from the training drawings, as the recipe scores)
                        feats = F.normalize(algo.model.features(torch.cat([support, query, carried])), dim=1)
                    s, q, c = feats[:ways], feats[ways : ways + q_count], feats[ways + q_count :]
                    plain = q @ s.T
                    aligned = (c.view(q_count, ways, -1) * q[:, None]).sum(-1)
            residual = torch.stack(residuals).mean(0)
            saved.append({"recipe": recipe, "residuals": torch.stack(residuals), "plain": plain, "aligned": aligned,
                          "truth": run.query_y})
            truth = run.query_y
            misses["plain"] += int((plain.argmax(1) != truth).sum())
            misses["aligned"] += int((aligned.argmax(1) != truth).sum())
            misses["residual"] += int((residual.argmin(1) != truth).sum())
            misses["recipe"] += int((recipe.argmax(1) != truth).sum())
            standard, low = standardised(residual), lowered(residual)
            for w in weights:
                misses[f"joined_{w:g}"] += int(((recipe + w * JOIN_SCALE * aligned).argmax(1) != truth).sum())
                misses[f"joined_residual_{w:g}"] += int(((recipe - w * standard).argmax(1) != truth).sum())
                misses[f"joined_log_residual_{w:g}"] += int(((recipe - w * low).argmax(1) != truth).sum())
            queries += q_count
        fold = {"alphabet": alphabet, "queries": queries, "seconds": time.perf_counter() - began,
                **{f"error_{k}": v / queries for k, v in misses.items()}}
        print(fold, file=sys.stderr, flush=True)
        folds.append(fold)
        scores[alphabet] = saved
        if args.save_scores:  # (after each fold: a long run's finished folds are kept)
            torch.save(scores, args.save_scores)
    keys = [k for k in folds[0] if k.startswith("error_")]
    emit({"model": args.model, "read_both": args.read_both, "steps": args.steps, "penalty": args.penalty,
          "framings": args.framings,
          "protocol": "inductive: a query's scores from itself and the run's training drawings",
          "task": f"Lake-format runs: 20-way 1-shot within one alphabet, {len(runs)} runs per held-out alphabet",
          "mean": {k: statistics.fmean(f[k] for f in folds) for k in keys}, "folds": folds, "machine": machine()})


if __name__ == "__main__":
    main()
