"""Build a stand-in for Lake et al.'s 20-run one-shot challenge from Omniglot small1.

The real runs (all_runs.zip) use the evaluation alphabets, which are not on
this machine. This script writes runs in exactly Lake's format from the raw
105x105 drawings of the small1 TEST-split alphabets (held out from meta-training
by engine.data.omniglot's split): each run picks one alphabet, 20 of its
characters, one drawer's image as the training example and another drawer's as
the test item, within-alphabet like the original. The figure it gives is a
proxy and is reported as such.

    python bench/make_challenge_runs.py OUT_DIR [--runs 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import zipfile
from collections import defaultdict
from pathlib import Path, PurePosixPath

from common import OMNIGLOT_DIR


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from engine.data.base import split_groups

    zpath = OMNIGLOT_DIR / "images_background_small1.zip"
    zf = zipfile.ZipFile(zpath)
    chars: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name in zf.namelist():
        p = PurePosixPath(name)
        if name.endswith(".png") and len(p.parts) >= 4:
            chars[p.parts[-3]][p.parts[-2]].append(name)
    test_alphabets = split_groups(sorted(chars))["test"]
    usable = [a for a in test_alphabets if len(chars[a]) >= 20]
    rng = random.Random(args.seed)
    for r in range(1, args.runs + 1):
        alphabet = usable[(r - 1) % len(usable)]
        picked = rng.sample(sorted(chars[alphabet]), 20)
        run = args.out / f"run{r:02d}"
        (run / "training").mkdir(parents=True, exist_ok=True)
        (run / "test").mkdir(parents=True, exist_ok=True)
        order = list(range(20))
        rng.shuffle(order)
        lines = []
        for k, ch in enumerate(picked, 1):
            train_img, test_img = rng.sample(chars[alphabet][ch], 2)
            (run / "training" / f"class{k:02d}.png").write_bytes(zf.read(train_img))
            m = order[k - 1] + 1
            (run / "test" / f"item{m:02d}.png").write_bytes(zf.read(test_img))
            lines.append((m, f"run{r:02d}/test/item{m:02d}.png run{r:02d}/training/class{k:02d}.png"))
        (run / "class_labels.txt").write_text("\n".join(line for _, line in sorted(lines)) + "\n")
    print(f"wrote {args.runs} runs from test alphabets {usable} to {args.out}")


if __name__ == "__main__":
    main()
