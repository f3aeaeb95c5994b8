"""Where each template fit should start from: the engine's template distance from more turns, and from slants.

The ``lake`` recipe fits each training drawing onto each query from three starts, the drawing as it is and turned 15
degrees each way, and keeps the smallest distance left (engine.deformation.starts): a fit by gradient steps finds the
nearer of two readings, and three starts measured better than one at every seed (session 41). This script measures
farther and other starts: turns of 30 degrees, and the drawing slanted (sheared) each way, as a drawer's slant is.

For each fold's checkpoint and each of its Lake-format runs, the network's log-probabilities are read once without
the distance, and every pair (each framing, query and training drawing) is fitted from every start through the
engine's ``distance_left``; the distances left are kept per start, so that :func:`weigh` scores any set of starts
(the smallest distance over the set, averaged over the framings, the class's nearest drawing) joined as
engine.algorithms.template_join joins it. A query's scores come from itself and its run's training drawings only:
inductive.

    python bench/lake_template_starts.py --runs /tmp/loao --model '/tmp/s41/s1/lake-{}.pt' \
        --starts 0,t15,t-15,t30,t-30,s0.25,s-0.25 [--steps 100] [--save S.pt]
    python bench/lake_template_starts.py --weigh S.pt --sets '0;0,t15,t-15;0,t15,t-15,t30,t-30'

``--fit-size 56`` fits each pair on the drawings framed at 56x56 (Lake's are 105x105) while the network reads its own
28x28, and ``--blurs`` sets the fit's coarse and fine blur (session 44: a better template alone, a worse join).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from common import emit, machine
from lake_ensemble import TEMPLATE_JOINED, add_fold_args, fold_error, network_alone, network_log_probs, over_folds


def start_map(name: str) -> list[list[float]]:
    """The affine matrix (affine_grid's convention) a start ``name`` reads a drawing through: ``0`` as it is,
    ``tD`` turned D degrees, ``sK`` slanted by K (x moves by K times y), ``zK`` scaled by K."""
    if name == "0":
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    kind, value = name[0], float(name[1:])
    if kind == "t":
        a = math.radians(value)
        return [[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]
    if kind == "s":
        return [[1.0, value, 0.0], [0.0, 1.0, 0.0]]
    if kind == "z":
        return [[1.0 / value, 0.0, 0.0], [0.0, 1.0 / value, 0.0]]
    raise ValueError(f"unknown start {name!r}: 0, tD (turn), sK (slant) or zK (scale)")


def started(images, name: str):
    """``images`` [n, 1, H, W] read through start ``name``'s map (engine.deformation.warp, no field)."""
    import torch

    from engine.deformation import LATTICE, warp

    if name == "0":
        return images
    theta = torch.tensor(start_map(name), dtype=images.dtype).repeat(len(images), 1, 1)
    return warp(images, theta, images.new_zeros(len(images), 2, LATTICE, LATTICE))


def weigh(scores: dict, sets: list[list[str]], weights: list[float]) -> dict:
    """Each set of starts' error alone and joined at each weight, per fold and on the mean of the folds."""
    import torch

    from engine.algorithms.template_join import lowered

    def distances(run: dict, chosen: list[str]) -> torch.Tensor:
        index = [scores["starts"].index(s) for s in chosen]
        return run["left"][index].amin(0).mean(0)  # [Q, S]: 1-shot, one drawing a class, in class order

    folds = []
    for alphabet, runs in scores["folds"].items():
        fold = {"alphabet": alphabet, "error_network": fold_error(runs, lambda run: run["network"])}
        for chosen in sets:
            key = "+".join(chosen)
            fold[f"error_alone_{key}"] = fold_error(runs, lambda run, chosen=chosen: -distances(run, chosen))
            for w in weights:
                fold[f"error_{key}_w{w:g}"] = fold_error(
                    runs, lambda run, chosen=chosen, w=w: run["network"] - w * lowered(distances(run, chosen)))
        folds.append(fold)
    return over_folds(folds, TEMPLATE_JOINED, steps=scores["steps"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_fold_args(ap)
    ap.add_argument("--starts", default="0,t15,t-15,t30,t-30,s0.25,s-0.25",
                    help="comma-separated starts: 0, tD (turn D degrees), sK (slant K), zK (scale K)")
    ap.add_argument("--steps", type=int, help="Adam steps a fit (default: the engine's)")
    ap.add_argument("--fit-size", type=int, help="fit each pair on the drawings framed at this side instead of the "
                    "network's own (Lake's drawings are 105x105; the network reads its own size)")
    ap.add_argument("--blurs", default=None, help="the fit's coarse and fine blur in pixels, 'A,B' (default: the "
                    "engine's)")
    ap.add_argument("--sets", default="0;0,t15,t-15", help="';'-separated sets of starts to weigh")
    ap.add_argument("--weights", default="3")
    ap.add_argument("--save", type=Path, help="torch.save the readings here after each fold")
    ap.add_argument("--weigh", type=Path, help="read what --save kept and print the joined errors, fitting nothing")
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    sets = [s.split(",") for s in args.sets.split(";")]
    import torch

    if args.weigh:
        emit(weigh(torch.load(args.weigh, weights_only=True), sets, weights))
        return
    if not (args.runs and args.model):
        ap.error("--runs and --model are required (unless --weigh)")


    from engine.challenge import load_runs
    from engine.deformation import BLURS, STEPS, distance_left, pairs

    names = args.starts.split(",")
    for name in names:
        start_map(name)  # (an unknown start fails before any fit)
    steps = args.steps or STEPS
    blurs = tuple(float(b) for b in args.blurs.split(",")) if args.blurs else BLURS
    if len(blurs) != 2:
        ap.error("--blurs takes two values, 'A,B'")
    scores: dict = {"starts": names, "steps": steps, "folds": {}}
    seconds = {}
    for alphabet in args.folds.split(","):
        algo, config = network_alone(args.model.format(alphabet))
        runs, saved = load_runs(args.runs / alphabet, config.image_size, algo.config.frame_ink), []
        fitted = runs if not args.fit_size else load_runs(args.runs / alphabet, args.fit_size, algo.config.frame_ink)
        spent = {"network": 0.0, "fits": 0.0}
        for run, fit in zip(runs, fitted, strict=True):
            assert torch.equal(run.query_y, fit.query_y), "the runs read at two sizes disagree"
            ways, q = len(run.support_x), len(run.query_x)
            t = time.perf_counter()
            network = network_log_probs(algo, run)
            spent["network"] += time.perf_counter() - t
            t = time.perf_counter()
            first, second = pairs(fit.support_x, fit.query_x)
            left = torch.stack([distance_left(started(first, name), second, steps, blurs=blurs) for name in names])
            spent["fits"] += time.perf_counter() - t
            saved.append({"network": network, "truth": run.query_y,
                          "left": left.view(len(names), -1, q, ways)})  # [starts, framings, Q, S]
        scores["folds"][alphabet] = saved
        seconds[alphabet] = spent
        print(alphabet, {k: round(v, 1) for k, v in spent.items()}, file=sys.stderr, flush=True)
        if args.save:  # (after each fold: a long run's finished folds are kept)
            torch.save(scores, args.save)
    emit({"model": args.model, "starts": names, "fit_size": args.fit_size or config.image_size, "blurs": blurs,
          "task": f"Lake-format runs: 20-way 1-shot within one alphabet, {len(runs)} runs per held-out alphabet",
          **weigh(scores, sets, weights), "seconds": seconds, "machine": machine()})


if __name__ == "__main__":
    main()
