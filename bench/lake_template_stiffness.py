"""How stiff the template's fitted field should be: the engine's template distance at several field penalties.

The ``lake`` recipe joins each query's deformable-template distance to each class (engine.deformation: an affine map
plus a smooth 4x4 field fitted by Adam, the field's mean square penalised at 0.1) to the network's logits. A freer
field (a 6x6 lattice) measured worse in session 38: a field free enough carries a wrong character onto the query too.
This script measures the other side: stiffer fields (larger penalties), down to an affine map alone.

For each fold's checkpoint and each of its Lake-format runs, the network's log-probabilities are read once without
the distance (``template_weight`` 0), then each penalty's distances are fitted through the engine's
``TemplateDistance`` (both framings, the recipe's turns or ``--turn``), each query to each run's training drawing,
and also each training drawing to the others (kept for readings that weigh a class by how near its drawing is to the
rest). Each penalty's logarithm is standardised and subtracted at each weight, as engine.algorithms.template_join
joins it. A query's scores come from itself and its run's training drawings only: inductive.

    python bench/lake_template_stiffness.py --runs /tmp/loao --model '/tmp/s41/s1/lake-{}.pt' --penalties 0.1,0.3,1,3 \
        [--turn 0] [--save S.pt]
    python bench/lake_template_stiffness.py --weigh S.pt [--weights 2,3,4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import emit, machine
from lake_ensemble import TEMPLATE_JOINED, add_fold_args, fold_error, network_alone, network_log_probs, over_folds


def weigh(scores: dict, weights: list[float], hubness: tuple[float, ...] = (0.0,)) -> dict:
    """Each penalty's error joined at each weight (and alone, ``w`` 0 being the network alone), per fold and on the
    mean of the folds, from what :func:`main` saved; with each ``hubness``, each class's distances divided by
    ``exp(hubness * reach)`` as the engine's ``template_hubness`` does (engine.deformation.reach)."""
    import torch

    from engine.algorithms.template_join import lowered
    from engine.deformation import reach

    def read(run: dict, key: str, a: float) -> torch.Tensor:
        if not a:
            return run["distances"][key]
        ways = run["distances"][key].shape[1]
        return run["distances"][key] * torch.exp(-a * reach(run["between"][key], torch.arange(ways), ways))

    folds = []
    for alphabet, runs in scores["folds"].items():
        fold = {"alphabet": alphabet, "error_network": fold_error(runs, lambda run: run["network"])}
        for penalty in scores["penalties"]:
            key = f"{penalty:g}"
            fold[f"error_alone_{key}"] = fold_error(runs, lambda run, key=key: -run["distances"][key])
            for a in hubness:
                name = f"{key}_hub{a:g}" if a else key
                for w in weights:
                    fold[f"error_{name}_w{w:g}"] = fold_error(
                        runs, lambda run, key=key, a=a, w=w: run["network"] - w * lowered(read(run, key, a)))
        folds.append(fold)
    return over_folds(folds, TEMPLATE_JOINED, turn=scores["turn"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_fold_args(ap)
    ap.add_argument("--penalties", default="0.1,0.3,1,3", help="the field penalties to fit at (the engine's: 0.1)")
    ap.add_argument("--turn", type=float, help="start each fit from this turn each way too (default: the model's)")
    ap.add_argument("--weights", default="2,3,4")
    ap.add_argument("--hubness", default="0", help="comma-separated strengths of the reach's correction to weigh "
                    "(engine.deformation.reach; 0 none)")
    ap.add_argument("--save", type=Path, help="torch.save the readings here after each fold")
    ap.add_argument("--weigh", type=Path, help="read what --save kept and print the joined errors, fitting nothing")
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    hubness = tuple(float(a) for a in args.hubness.split(","))
    import torch

    if args.weigh:
        emit(weigh(torch.load(args.weigh, weights_only=True), weights, hubness))
        return
    if not (args.runs and args.model):
        ap.error("--runs and --model are required (unless --weigh)")


    from engine.challenge import load_runs
    from engine.deformation import TemplateDistance

    penalties = [float(p) for p in args.penalties.split(",")]
    scores: dict = {"penalties": penalties, "turn": args.turn, "folds": {}}
    seconds = {}
    for alphabet in args.folds.split(","):
        algo, config = network_alone(args.model.format(alphabet))
        turn = config.template_turn if args.turn is None else args.turn
        scores["turn"] = turn
        runs, saved = load_runs(args.runs / alphabet, config.image_size, algo.config.frame_ink), []
        spent = {"network": 0.0, **{f"{p:g}": 0.0 for p in penalties}}
        for run in runs:
            ways = len(run.support_x)
            support_y = torch.arange(ways)
            t = time.perf_counter()
            network = network_log_probs(algo, run)
            spent["network"] += time.perf_counter() - t
            reading = {"network": network, "truth": run.query_y, "distances": {}, "between": {}}
            for p in penalties:
                t = time.perf_counter()
                distance = TemplateDistance(run.support_x, support_y, ways, penalty=p, turn=turn)
                reading["distances"][f"{p:g}"] = distance(run.query_x)
                reading["between"][f"{p:g}"] = distance(run.support_x)  # (each drawing to each class, its own 0)
                spent[f"{p:g}"] += time.perf_counter() - t
            saved.append(reading)
        scores["folds"][alphabet] = saved
        seconds[alphabet] = spent
        print(alphabet, {k: round(v, 1) for k, v in spent.items()}, file=sys.stderr, flush=True)
        if args.save:  # (after each fold: a long run's finished folds are kept)
            torch.save(scores, args.save)
    emit({"model": args.model, "penalties": penalties, "turn": scores["turn"],
          "task": f"Lake-format runs: 20-way 1-shot within one alphabet, {len(runs)} runs per held-out alphabet",
          **weigh(scores, weights, hubness), "seconds": seconds, "machine": machine()})


if __name__ == "__main__":
    main()
