"""How far a better join of the network and the template could go, and other ways to join them.

The ``lake`` recipe subtracts three times the template distance's logarithm, standardised over the query's classes,
from the network's log-probabilities (engine.algorithms.template_join): a product of the two experts. This script
reads saved fits and asks three things of them, fitting nothing:

- where the misses lie: the network alone, the template alone, the join, the queries both miss (no join of the two
  rankings' winners can take one of those back), and the join's misses whose true class is second or third;
- other joins: the product at other weights, and a mixture of the two experts' probabilities
  (``alpha * p_network + (1 - alpha) * softmax(-beta * lowered distance)``), which lets the surer expert decide;
- with ``--runs`` and ``--model``: the network read with fewer of its parts (``one-map``: places matched on the last
  map only; ``no-places``: no places matched), each joined to the same distances, in case the template stands in for
  a part of the network.

Saved fits come from bench/lake_template_starts.py ``--save`` (the smallest distance over ``--starts``, the framings
averaged) or bench/lake_template_stiffness.py ``--save`` (``--penalty``'s distances). A query's scores come from
itself and its run's training drawings only: inductive.

    python bench/lake_template_joins.py --scores starts-s1.pt --starts 0,t15,t-15
    python bench/lake_template_joins.py --scores hub100-s1.pt --scores hub100b-s1.pt --penalty 0.1
    python bench/lake_template_joins.py --scores starts-s1.pt --runs /tmp/loao --model '/tmp/s41/s1/lake-{}.pt' \
        --parts one-map,no-places
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from common import emit, machine
from lake_ensemble import TEMPLATE_JOINED, fold_error, over_folds

#: the network's parts a reading can leave out (TrainConfig fields)
PARTS = {"one-map": {"local_levels": 1}, "no-places": {"local_match": False}}


def readings(paths: list[Path], starts: list[str], penalty: str) -> dict[str, list[dict]]:
    """Each fold's runs as {network: log-probabilities [Q, ways], distances: [Q, ways], truth: [Q]} from saved fits."""
    import torch

    folds: dict[str, list[dict]] = {}
    for path in paths:
        saved = torch.load(path, weights_only=True)
        for alphabet, runs in saved["folds"].items():
            if "starts" in saved:  # lake_template_starts: left [starts, framings, Q, S], one drawing a class
                index = [saved["starts"].index(s) for s in starts]
                folds[alphabet] = [{"network": r["network"], "distances": r["left"][index].amin(0).mean(0),
                                    "truth": r["truth"]} for r in runs]
            else:  # lake_template_stiffness: distances by penalty, [Q, ways]
                folds[alphabet] = [{"network": r["network"], "distances": r["distances"][penalty],
                                    "truth": r["truth"]} for r in runs]
    return folds


def where_misses_lie(folds: dict[str, list[dict]], weight: float) -> dict:
    """Per fold and on the mean: each reading's error, the queries both experts miss, and the join's misses by where
    the true class stands."""
    from engine.algorithms.template_join import lowered

    out = []
    for alphabet, runs in folds.items():
        counts = dict.fromkeys(("network", "template", "joined", "both_missed", "joined_true_second",
                                "joined_true_third_or_lower"), 0)
        queries = 0
        for run in runs:
            network, distances, truth = run["network"], run["distances"], run["truth"]
            joined = network - weight * lowered(distances)
            net_miss, template_miss = network.argmax(1) != truth, distances.argmin(1) != truth
            above = (joined > joined.gather(1, truth[:, None])).sum(1)  # classes scored above the true one
            counts["network"] += int(net_miss.sum())
            counts["template"] += int(template_miss.sum())
            counts["joined"] += int((above > 0).sum())
            counts["both_missed"] += int((net_miss & template_miss).sum())
            counts["joined_true_second"] += int((above == 1).sum())
            counts["joined_true_third_or_lower"] += int((above >= 2).sum())
            queries += len(truth)
        out.append({"alphabet": alphabet, **{k: v / queries for k, v in counts.items()}})
    return over_folds(out, TEMPLATE_JOINED)


def join_rules(folds: dict[str, list[dict]], weights: list[float], alphas: list[float],
               betas: list[float]) -> dict:
    """Each rule's error per fold and on the mean: the product at each weight, the mixture at each alpha and beta."""
    import torch

    from engine.algorithms.template_join import lowered

    rules = {f"product_w{w:g}": (lambda n, d, w=w: n - w * lowered(d)) for w in weights}
    for a, b in itertools.product(alphas, betas):
        rules[f"mixture_a{a:g}_b{b:g}"] = (
            lambda n, d, a=a, b=b: torch.log(a * n.exp() + (1 - a) * torch.softmax(-b * lowered(d), 1)))
    return over_folds([{"alphabet": alphabet, **{name: fold_error(runs, lambda run, rule=rule: rule(
        run["network"], run["distances"])) for name, rule in rules.items()}} for alphabet, runs in folds.items()],
                      "each rule as named")


def fewer_parts(folds: dict[str, list[dict]], runs_dir: Path, model: str, parts: list[str],
                weights: list[float]) -> dict:
    """The network read as it is and without each of ``parts``, alone and joined to the saved distances."""
    from dataclasses import replace

    import torch
    from lake_ensemble import network_alone, network_log_probs

    from engine.algorithms.template_join import lowered
    from engine.challenge import load_runs

    out = []
    for alphabet, saved in folds.items():
        algo, config = network_alone(model.format(alphabet))
        whole = algo.config
        runs = load_runs(runs_dir / alphabet, config.image_size, whole.frame_ink)
        fold = {"alphabet": alphabet}
        for part in ["whole", *parts]:
            algo.config = replace(whole, **PARTS.get(part, {}))
            torch.manual_seed(0)
            read = [{**kept, "network": network_log_probs(algo, run)} for run, kept in zip(runs, saved, strict=True)]
            for w in [0.0, *weights]:
                fold[f"{part}_w{w:g}"] = fold_error(
                    read, lambda run, w=w: run["network"] - w * lowered(run["distances"]) if w else run["network"])
        algo.config = whole
        out.append(fold)
    return over_folds(out, TEMPLATE_JOINED)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scores", type=Path, action="append", required=True,
                    help="a --save of lake_template_starts or lake_template_stiffness (again for more folds)")
    ap.add_argument("--starts", default="0,t15,t-15", help="lake_template_starts' starts to take the smallest of")
    ap.add_argument("--penalty", default="0.1", help="lake_template_stiffness' penalty to read")
    ap.add_argument("--weight", type=float, default=3.0, help="the product's weight for where the misses lie")
    ap.add_argument("--weights", default="2,3,4,5")
    ap.add_argument("--alphas", default="0.3,0.5,0.7", help="the mixture's share of the network")
    ap.add_argument("--betas", default="2,3,5", help="the mixture's sharpness of the template")
    ap.add_argument("--runs", type=Path, help="with --model and --parts: the Lake-format runs the fits were made on")
    ap.add_argument("--model", help="checkpoint path, {} for the held-out alphabet")
    ap.add_argument("--parts", default="",
                    help=f"the network's parts to leave out, comma-separated: {', '.join(PARTS)}")
    args = ap.parse_args()
    floats = lambda text: [float(v) for v in text.split(",") if v]  # noqa: E731
    parts = [p for p in args.parts.split(",") if p]
    for part in parts:
        if part not in PARTS:
            ap.error(f"unknown part {part!r}: {', '.join(PARTS)}")
    if parts and not (args.runs and args.model):
        ap.error("--parts needs --runs and --model")
    folds = readings(args.scores, args.starts.split(","), args.penalty)
    result = {"scores": [str(p) for p in args.scores], "task": "Lake-format runs: 20-way 1-shot within one alphabet",
              "starts": args.starts,
              "where_misses_lie": where_misses_lie(folds, args.weight),
              "join_rules": join_rules(folds, floats(args.weights), floats(args.alphas), floats(args.betas))}
    if parts:
        result["fewer_parts"] = fewer_parts(folds, args.runs, args.model, parts, floats(args.weights))
    emit({**result, "machine": machine()})


if __name__ == "__main__":
    main()
