"""Score several leave-one-alphabet-out checkpoints of a fold alone and averaged (issue #18: several models).

Each model adapts to a run's 20 training drawings on its own (its own test-time views and steps); the
ensemble averages the models' class probabilities for each test drawing, which still depends only on that
drawing and the training drawings (inductive).

    python bench/lake_ensemble.py --runs /tmp/loao DIR/augment+mirrors-{}.pt DIR/other-{}.pt ...

``{}`` in each checkpoint pattern is replaced by each held-out alphabet (default: all five). Prints JSON:
each model's error and the ensemble's per fold, then their means over the folds, as fractions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from common import emit, machine, other_framing, read_both_ways

ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Korean", "Latin")
#: what every Lake-format figure's scoring is
INDUCTIVE = "inductive: a query's scores from itself and the run's training drawings"
#: how a template bench joins each distance to the network's reading, as engine.algorithms.template_join does
TEMPLATE_JOINED = ("the network's log-probabilities minus the weight times the distance's logarithm standardised over "
                   "the query's classes")


def add_fold_args(ap: argparse.ArgumentParser) -> None:
    """--runs, --model and --folds: each fold's checkpoint scored on its held-out alphabet's Lake-format runs."""
    ap.add_argument("--runs", type=Path, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--model", help="checkpoint path, {} for the held-out alphabet")
    ap.add_argument("--folds", default=",".join(ALPHABETS))


def network_alone(path: str):
    """A fold's checkpoint restored with its template distance off, (algorithm, config): the network's reading alone,
    for a bench that fits and joins its own distances."""
    from dataclasses import replace

    from engine.trainer import restore

    algo, config, _ = restore(path)
    algo.config = replace(algo.config, template_weight=0.0)
    return algo, config


def network_log_probs(algo, run):
    """[Q, ways]: the network's log-probabilities for a run's queries, adapted to its training drawings (class k at
    index k)."""
    import torch

    with torch.no_grad():
        return algo.adapt(run.support_x, torch.arange(len(run.support_x))).logits(run.query_x).log_softmax(-1)


def fold_error(runs: list, scores) -> float:
    """The share of a fold's queries whose highest score is not their class: ``scores(run)`` gives a run's [Q, ways]
    scores and ``run["truth"]`` its classes (a saved reading of a template bench)."""
    return (sum(int((scores(run).argmax(1) != run["truth"]).sum()) for run in runs)
            / sum(len(run["truth"]) for run in runs))


def over_folds(folds: list[dict], joined: str, **more) -> dict:
    """Each fold's figures and their means over the folds, with how the scores were joined (and ``more``)."""
    keys = [k for k in folds[0] if k != "alphabet"]
    return {"protocol": INDUCTIVE, "joined": joined, **more,
            "mean": {k: statistics.fmean(f[k] for f in folds) for k in keys}, "folds": folds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--folds", default=",".join(ALPHABETS), help="comma-separated alphabets")
    ap.add_argument("--tta", type=int, default=None, help="test-time views for every model (default: each its own)")
    ap.add_argument("--split-members", action="store_true", help="score each member of an ensemble checkpoint "
                    "(--members) as a model of its own, voting with the others as separate models do")
    ap.add_argument("--both-framings", action="store_true", help="each model also reads the runs framed the other "
                    "way (by the ink's box for a moments-framed model, and the reverse) as another voter")
    ap.add_argument("--read-both", action="store_true", help="read each drawing framed both ways inside each model, "
                    "as --frame-both does, whatever its config says (a lake+both model, trained on both framings "
                    "as separate drawings, reads as the recipe's own)")
    ap.add_argument("patterns", nargs="+", help="checkpoint paths with {} for the alphabet")
    args = ap.parse_args()

    from dataclasses import replace

    import torch

    from engine.build import build_model_and_algorithm
    from engine.challenge import load_runs
    from engine.trainer import restore

    def framings(algo, config) -> list:
        """The framings a model reads the runs in: its own, and with --both-framings the other as well."""
        own = algo.config.frame_ink if args.read_both else config.frames_ink
        return [own, other_framing(own)] if args.both_framings and own else [own]

    def models(path: str):
        """(the algorithm, its config) of the checkpoint, or with --split-members one per member: a one-network
        model holding that member's weights."""
        algo, config, _ = restore(path)
        if args.read_both:
            read_both_ways(algo)
        members = getattr(algo.model, "members", 1)
        if not args.split_members or members == 1:
            return [(algo, config)]
        out = []
        for network in algo.model.features[-1].networks:
            one = build_model_and_algorithm(config.replace(members=1), torch.device("cpu"))
            one.model.features.load_state_dict(network.state_dict())
            out.append((one, config))
        return out

    folds = []
    for alphabet in args.folds.split(","):
        probabilities, errors = [], []
        readers = ((algo, config, frame) for pattern in args.patterns
                   for algo, config in models(pattern.format(alphabet)) for frame in framings(algo, config))
        for algo, config, frame in readers:
            if args.tta is not None:
                algo.config = replace(algo.config, tta=args.tta)
            runs = load_runs(args.runs / alphabet, config.image_size, frame)
            per_run = []
            for run in runs:
                learner = algo.adapt(run.support_x, torch.arange(len(run.support_x)))
                with torch.no_grad():
                    per_run.append(learner.logits(run.query_x).softmax(-1))
            probabilities.append(per_run)
            errors.append(statistics.fmean((p.argmax(-1) != r.query_y).float().mean().item()
                                           for p, r in zip(per_run, runs)))
        ensemble = statistics.fmean((sum(ps).argmax(-1) != r.query_y).float().mean().item()
                                    for ps, r in zip(zip(*probabilities), runs))
        fold = {"alphabet": alphabet, "error_each": errors, "error_ensemble": ensemble}
        print(fold, file=sys.stderr, flush=True)
        folds.append(fold)
    emit({"models": args.patterns, "tta": args.tta, "protocol": "inductive; each model's class probabilities averaged",
          "task": "Lake-format runs: 20-way 1-shot within one alphabet, "
                  f"{len(runs)} runs per held-out alphabet",
          "split_members": args.split_members, "both_framings": args.both_framings, "read_both": args.read_both,
          "error_each_mean": [statistics.fmean(f["error_each"][i] for f in folds)
                              for i in range(len(folds[0]["error_each"]))],
          "error_ensemble_mean": statistics.fmean(f["error_ensemble"] for f in folds), "folds": folds,
          "machine": machine()})


if __name__ == "__main__":
    main()
