"""Write a STAND-IN for MNIST: printed digits 0-9 in MNIST's IDX format (not real MNIST).

This machine has no network, so real MNIST cannot be fetched. This script
renders the ten digits with Pillow's default font (its built-in scalable
font when FreeType is present) with random jitter: size, stroke weight,
rotation, shear, aspect and position. Each image is then normalised the way
MNIST's were (the digit fitted into a 20x20 box, centred by its centre of
mass in a 28x28 frame, bright on dark). These are typeset digits in one
typeface, much more uniform than MNIST's handwriting, so accuracies on this
set are NOT MNIST figures; they only exercise the cross-domain path
(Omniglot -> an MNIST-format digit set) with the same files and code a
real MNIST download would use.

Output, in torchvision's layout so that ``--dataset mnist --data-root OUT`` reads it::

    OUT/MNIST/raw/train-images-idx3-ubyte.gz   train-labels-idx1-ubyte.gz
    OUT/MNIST/raw/t10k-images-idx3-ubyte.gz    t10k-labels-idx1-ubyte.gz

    PYTHONPATH=. python bench/make_idx_digits.py --out /tmp/digits --per-class 100
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.data.mnist import write_idx


def render_digit(digit: int, rng: np.random.Generator) -> np.ndarray:
    """One jittered digit as uint8 [28, 28], bright on dark, MNIST-style normalised."""
    size = int(rng.integers(40, 72))
    font = ImageFont.load_default(size=size)
    canvas = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(canvas).text((64, 64), str(digit), fill=255, font=font, anchor="mm",
                                stroke_width=int(rng.integers(0, 4)), stroke_fill=255)
    shear, aspect = rng.uniform(-0.3, 0.3), rng.uniform(0.8, 1.2)
    canvas = canvas.transform(
        canvas.size,
        Image.Transform.AFFINE,
        (aspect, shear, -shear * 64 + 64 * (1 - aspect), 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
    )
    canvas = canvas.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR)
    box = canvas.getbbox()
    if box is None:  # cannot happen for a drawn digit, but never write an empty frame silently
        raise RuntimeError(f"digit {digit} rendered empty")
    glyph = canvas.crop(box)
    scale = 20 / max(glyph.size)
    glyph = glyph.resize(
        (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.Resampling.LANCZOS
    )
    arr = np.asarray(glyph, dtype=np.float64)
    ys, xs = np.indices(arr.shape)
    cy, cx = (ys * arr).sum() / arr.sum(), (xs * arr).sum() / arr.sum()  # centre of mass, as MNIST
    frame = Image.new("L", (28, 28), 0)
    shift = (round(14 - cx + rng.normal(0, 0.7)), round(14 - cy + rng.normal(0, 0.7)))
    frame.paste(glyph, shift)
    return np.asarray(frame, dtype=np.uint8)


def make_split(per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    rng.shuffle(labels)
    return np.stack([render_digit(int(d), rng) for d in labels]), labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="data root (gets MNIST/raw/)")
    parser.add_argument("--per-class", type=int, default=100, help="test (t10k) images per digit [100]")
    parser.add_argument("--train-per-class", type=int, default=100, help="train images per digit [100]")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    raw = args.out / "MNIST" / "raw"
    for part, n in (("train", args.train_per_class), ("t10k", args.per_class)):
        images, labels = make_split(n, rng)
        write_idx(raw / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(raw / f"{part}-labels-idx1-ubyte.gz", labels)
        print(f"{raw}/{part}-*: {len(labels)} images, {n} per digit")
    print("a printed-digit STAND-IN for MNIST (see this script's docstring), not real MNIST")


if __name__ == "__main__":
    main()
