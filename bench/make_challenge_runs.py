"""Build stand-ins for Lake et al.'s 20-run one-shot challenge from Omniglot small1.

The real runs (all_runs.zip) use the evaluation alphabets, which are not on
this machine. This script writes runs in exactly Lake's format from the raw
105x105 drawings of small1: each run picks one alphabet, 20 of its characters,
one drawer's image as the training example and another drawer's as the test
item, within-alphabet like the original. The figures they give are proxies and
are reported as such.

Two modes:

- default: runs from small1's TEST-split alphabets (held out from meta-training
  by engine.data.omniglot's split), in OUT_DIR/run01..runNN;
- ``--leave-one-out``: for each of small1's five alphabets, OUT_DIR/ALPHABET/run01..
  runNN from that alphabet alone; a model trained on the other four is scored on
  them (bench/lake_ablation.py), so a recipe is judged on five held-out
  alphabets, not tuned to one.

    python bench/make_challenge_runs.py OUT_DIR [--runs 20] [--seed 0] [--leave-one-out] [--one-drawer]

``--one-drawer`` builds each run from two drawers (all 20 training drawings by one person, all 20 test drawings by
another) rather than two drawers for each character: the drawer index is a file's suffix, the same person across
an alphabet's characters.

A fold's 20 runs are 400 test drawings: one standard error is about 2.4 points at 40%
error, 1.5 at 10%. ``--runs 100 --seed 1`` gives a yardstick five times the size
(about 1.1 and 0.7 points), drawn apart from the default set the recipe was tuned on.
"""

from __future__ import annotations

import argparse
import random
import zipfile
from collections import defaultdict
from pathlib import Path, PurePosixPath

from common import OMNIGLOT_DIR

SMALL1 = OMNIGLOT_DIR / "images_background_small1.zip"


def characters(zf: zipfile.ZipFile) -> dict[str, dict[str, list[str]]]:
    """alphabet -> character -> the zip entries of its drawings."""
    chars: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name in zf.namelist():
        p = PurePosixPath(name)
        if name.endswith(".png") and len(p.parts) >= 4:
            chars[p.parts[-3]][p.parts[-2]].append(name)
    return chars


def drawer(entry: str) -> str:
    """The drawer of a drawing: its file's suffix, ``0108_07.png`` -> ``07`` (the same person for every character of
    an alphabet: Lake's Dataset.m calls it the drawer index)."""
    return PurePosixPath(entry).stem.rsplit("_", 1)[-1]


def write_runs(zf: zipfile.ZipFile, chars: dict, alphabets: list[str], out: Path, runs: int = 20,
               seed: int = 0, one_drawer: bool = False) -> None:
    """``runs`` runs in Lake's format under ``out``, cycling through ``alphabets`` (each with >= 20 characters).
    Each character's training and test drawings are by two of its drawers picked at random, or with ``one_drawer``
    two drawers picked for the whole run: one drew all 20 training drawings, the other all 20 test drawings."""
    rng = random.Random(seed)
    for r in range(1, runs + 1):
        alphabet = alphabets[(r - 1) % len(alphabets)]
        picked = rng.sample(sorted(chars[alphabet]), 20)
        if one_drawer:
            common = set.intersection(*({drawer(e) for e in chars[alphabet][ch]} for ch in picked))
            pair = rng.sample(sorted(common), 2)
        run = out / f"run{r:02d}"
        (run / "training").mkdir(parents=True, exist_ok=True)
        (run / "test").mkdir(parents=True, exist_ok=True)
        order = list(range(20))
        rng.shuffle(order)
        lines = []
        for k, ch in enumerate(picked, 1):
            if one_drawer:
                by = {drawer(e): e for e in chars[alphabet][ch]}
                train_img, test_img = by[pair[0]], by[pair[1]]
            else:
                train_img, test_img = rng.sample(chars[alphabet][ch], 2)
            (run / "training" / f"class{k:02d}.png").write_bytes(zf.read(train_img))
            m = order[k - 1] + 1
            (run / "test" / f"item{m:02d}.png").write_bytes(zf.read(test_img))
            lines.append((m, f"run{r:02d}/test/item{m:02d}.png run{r:02d}/training/class{k:02d}.png"))
        (run / "class_labels.txt").write_text("\n".join(line for _, line in sorted(lines)) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--leave-one-out", action="store_true", help="OUT/ALPHABET/runNN for each of small1's alphabets")
    ap.add_argument("--one-drawer", action="store_true", help="one drawer's drawings as a run's 20 training drawings, "
                    "another's as its 20 test drawings (otherwise two drawers picked for each character)")
    args = ap.parse_args()

    from engine.data.base import split_groups

    zf = zipfile.ZipFile(SMALL1)
    chars = characters(zf)
    if args.leave_one_out:
        for alphabet in sorted(chars):
            write_runs(zf, chars, [alphabet], args.out / alphabet, args.runs, args.seed, args.one_drawer)
        print(f"wrote {args.runs} runs for each of {sorted(chars)} under {args.out}")
        return
    test_alphabets = split_groups(sorted(chars))["test"]
    usable = [a for a in test_alphabets if len(chars[a]) >= 20]
    write_runs(zf, chars, usable, args.out, args.runs, args.seed, args.one_drawer)
    print(f"wrote {args.runs} runs from test alphabets {usable} to {args.out}")


if __name__ == "__main__":
    main()
