"""Lake's one-shot challenge: where a model's wrong answers rank, fold by fold.

For each saved fold model of ``bench/lake_ablation.py --save DIR``, every test drawing of the fold's
Lake-format runs is scored inductively, as ``omniglot-challenge`` scores it (each on its own with the run's
20 training drawings, the model's own test-time views and matching), and the rank of its true class among
the 20 is counted: top-1 is 1 - error, top-2 and top-3 say whether the misses are near ones (a character
confused with one other) or far ones. Also the share of a fold's misses that fall on its most confused pairs.

With ``--source`` (the zip the runs were built from, whose drawings make_challenge_runs.py copies byte for byte),
each run's drawings are found in it, and the misses are also counted by drawer (the error of the queries drawn by
each person, and of those whose training drawing is by each person, and the fold's error without its worst drawer)
and by pair of characters confused (the fold's most confused pairs): how much of a fold's error one unusual drawer
or a few near-twin characters make.

    python bench/lake_error_ranks.py --runs /tmp/loao --models '/tmp/abl18/it12k/lake+episode+alphabet-{}.pt'
    python bench/lake_error_ranks.py --runs /tmp/loao --models 'DIR/lake+both-{}.pt' --read-both \
        --source /work/shared/datasets/omniglot/images_background_small1.zip

The last line of stdout is the JSON summary (fractions).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
import zipfile
from pathlib import Path

from common import emit, machine, read_both_ways


def source_names(source: Path) -> dict[str, str]:
    """Each drawing's entry in the zip the runs were built from, by its bytes' digest."""
    with zipfile.ZipFile(source) as zf:
        return {hashlib.md5(zf.read(n)).hexdigest(): n for n in zf.namelist() if n.endswith(".png")}


def run_entries(run_dir: Path, names: dict[str, str]) -> tuple[list[str], list[str]]:
    """The source entries of a run's training drawings (in class order, as load_runs orders them) and of its test
    drawings (in class_labels.txt's order, as load_runs orders them)."""
    pairs = [line.split() for line in (run_dir / "class_labels.txt").read_text().splitlines() if line.strip()]
    entry = lambda rel: names[hashlib.md5((run_dir.parent / rel).read_bytes()).hexdigest()]  # noqa: E731
    return [entry(c) for c in sorted({p[1] for p in pairs})], [entry(p[0]) for p in pairs]


def drawer_of(entry: str) -> str:
    """A drawing's drawer: its file name's suffix (``0108_07.png`` -> ``07``, one person across an alphabet)."""
    return entry.rsplit("_", 1)[1].split(".")[0]


def by_drawer(rows: list[tuple[str, str, bool]]) -> dict:
    """(query drawer, training drawer, missed) rows -> each drawer's error as the query's and as the training
    drawing's drawer, and the error without the drawer whose removal lowers it most."""
    def error(selected: list) -> float:
        return sum(m for *_, m in selected) / max(len(selected), 1)

    drawers = sorted({q for q, _, _ in rows} | {t for _, t, _ in rows})
    as_query = {d: error([r for r in rows if r[0] == d]) for d in drawers}
    as_training = {d: error([r for r in rows if r[1] == d]) for d in drawers}
    without = {d: error([r for r in rows if d not in r[:2]]) for d in drawers}
    worst = min(without, key=without.get)
    return {"error_as_query_drawer": as_query, "error_as_training_drawer": as_training,
            "worst_drawer": worst, "error_without_worst_drawer": without[worst]}


def fold_ranks(model: str, runs_dir: Path, read_both: bool = False, names: dict[str, str] | None = None) -> dict:
    """Top-k accuracies and the misses' spread over confused pairs for one fold's model on its runs; with
    ``names`` (source_names), the misses by drawer and by pair of characters too."""

    import torch

    from engine.challenge import load_runs
    from engine.models import input_size
    from engine.trainer import restore

    algo, _, _ = restore(model, torch.device("cpu"))
    if read_both:  # (a model trained on both framings as separate drawings, read both ways as --frame-both reads)
        read_both_ways(algo)
    runs = load_runs(runs_dir, input_size(algo.model), algo.config.frame_ink)  # (as the model's drawings were)
    ranks, pairs, rows, characters = [], collections.Counter(), [], collections.Counter()
    for run in runs:
        learner = algo.adapt(run.support_x, torch.arange(len(run.support_x)))
        with torch.no_grad():
            logits = learner.logits(run.query_x)
        truth = logits.gather(1, run.query_y[:, None])
        ranks += (logits > truth).sum(1).add(1).tolist()
        training, test = run_entries(runs_dir / run.name, names) if names else ([], [])
        for i, (true, guess) in enumerate(zip(run.query_y.tolist(), logits.argmax(1).tolist())):
            if guess != true:
                pairs[(run.name, *sorted((true, guess)))] += 1
            if names:
                rows.append((drawer_of(test[i]), drawer_of(training[true]), guess != true))
                if guess != true:
                    characters[" / ".join(sorted(Path(training[k]).parent.name for k in (true, guess)))] += 1
    n, misses = len(ranks), sum(r > 1 for r in ranks)
    out = {"queries": n, **{f"top{k}": sum(r <= k for r in ranks) / n for k in (1, 2, 3, 5)},
           "mean_rank_of_misses": sum(r for r in ranks if r > 1) / max(misses, 1),
           "misses_on_pairs_missed_twice": sum(c for c in pairs.values() if c >= 2) / max(misses, 1)}
    if names:
        out.update(by_drawer(rows), most_confused_characters=dict(characters.most_common(8)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--models", required=True, help="each fold's checkpoint, '{}' for the alphabet")
    ap.add_argument("--folds", default="Balinese,Early_Aramaic,Greek,Korean,Latin")
    ap.add_argument("--read-both", action="store_true", help="read each drawing framed both ways, as --frame-both "
                    "does (a lake+both model, trained on both framings as separate drawings)")
    ap.add_argument("--source", type=Path, help="the zip the runs were built from: count the misses by drawer "
                    "and by pair of characters too")
    args = ap.parse_args()
    names = source_names(args.source) if args.source else None
    folds = {}
    for alphabet in args.folds.split(","):
        folds[alphabet] = fold_ranks(args.models.format(alphabet), args.runs / alphabet, args.read_both, names)
        print(json.dumps({"alphabet": alphabet, **folds[alphabet]}), file=sys.stderr, flush=True)
    emit({"models": args.models, "runs": str(args.runs), "protocol": "inductive, the models' own views and matching",
          "task": "Lake-format runs: 20-way 1-shot within one alphabet", "folds": folds, "machine": machine()})


if __name__ == "__main__":
    main()
