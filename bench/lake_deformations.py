"""Deformations learned from pairs of drawings of one character: a bank of the ways two people's drawings differ.

The recipe's training drawings wobble by a random smooth field (engine.augment: a 4x4 lattice of offsets up to 0.08
grid units); how two drawers' drawings of one character really differ is something the training alphabets show. For
random pairs of drawings of one training character (by two drawers, framed the same way), this fits the map that
carries the first onto the second: an affine map plus a smooth field on the wobble's own 4x4 lattice, by Adam on
the blurred images' squared difference (coarse blur first, then fine), the field's size penalised. The fitted maps
form a bank that bench/lake_ablation.py's ``learned_wobble`` variants draw from in place of the random wobble
(``patch_learned_wobble``), each under one of the square's eight symmetries.

Only the fold's training characters are read (the held-out alphabet never is), so a fold's bank is part of its
training; its seconds are reported.

    python bench/lake_deformations.py --hold-out Greek --pairs 2000 --picture pairs.png

prints the fits' statistics as JSON (the fitted/unfitted blurred difference's quantiles, the field's size beside the
random wobble's) and with ``--picture`` draws 16 pairs: each drawing, it carried by the fitted map, and the other.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common import OMNIGLOT_DIR, emit

from engine.deformation import LATTICE, blur, fit_maps, offsets, warp

if TYPE_CHECKING:
    import torch

#: a bank keeps the maps that shrink no part of the image below this share of its area (two thirds of 1,000 fits of
#: the Greek fold's pairs did; 12% folded some part over itself)
LEAST_AREA = 0.25


@dataclass
class Bank:
    """Fitted maps, one a pair: affine matrices [K, 2, 3] (affine_grid's convention) and fields [K, 2, L, L] (x and
    y offsets, grid units, the image 2 wide), the pairs' blurred difference after / before the fit [K], and the
    seconds the fit took."""

    theta: "torch.Tensor"
    field: "torch.Tensor"
    ratio: "torch.Tensor"
    seconds: float


def fit_pairs(first: "torch.Tensor", second: "torch.Tensor", steps: int = 200, penalty: float = 0.1,
              lattice: int = LATTICE) -> Bank:
    """The maps carrying each of ``first`` onto the same row of ``second`` ([n, 1, H, W], ink bright in [0, 1]) as
    engine.deformation.fit_maps fits them (``steps`` Adam steps, the blur 2 pixels then 1, ``penalty`` on the
    field), with each pair's blurred difference after / before and the seconds taken."""
    import torch

    began = time.perf_counter()
    theta, field = fit_maps(first, second, steps, penalty, lattice)
    with torch.no_grad():
        target = blur(second, 1.0)
        before = ((blur(first, 1.0) - target) ** 2).mean((1, 2, 3))
        after = ((blur(warp(first, theta, field), 1.0) - target) ** 2).mean((1, 2, 3))
    return Bank(theta, field, after / before.clamp_min(1e-12), time.perf_counter() - began)


def least_area(theta: "torch.Tensor", field: "torch.Tensor", side: int = 28) -> "torch.Tensor":
    """[K]: each map's smallest local change of area over a ``side`` x ``side`` image (its Jacobian's determinant,
    1 where it keeps area, below 0 where it folds the drawing over itself). A fit free in the drawing's blank parts
    can crush or fold them, which no drawer does."""
    import torch.nn.functional as F

    n = theta.shape[0]
    grid = F.affine_grid(theta, [n, 1, side, side], align_corners=False) + offsets(field, side, side)
    across, down = (grid[:, :-1, 1:] - grid[:, :-1, :-1]), (grid[:, 1:, :-1] - grid[:, :-1, :-1])
    det = (across[..., 0] * down[..., 1] - across[..., 1] * down[..., 0]) / (2 / side) ** 2
    return det.flatten(1).min(1).values


def drawing_pairs(pool, classes: list[int], count: int, seed: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """``count`` random pairs of two drawings ([count, 1, H, W] floats each) of one of ``classes``, by two drawers
    (each of a character's drawings is another drawer's), framed the same way (one of the pool's framings at random
    where its images are [M, ways, H, W])."""
    import numpy as np
    import torch

    rng = np.random.default_rng([seed, 23])
    firsts, seconds = [], []
    ways = pool.images.shape[1] if pool.images.dim() == 4 else 0
    for _ in range(count):
        members = pool.members(classes[rng.integers(len(classes))])
        i, j = (int(members[k]) for k in rng.choice(len(members), 2, replace=False))
        way = int(rng.integers(ways)) if ways else None
        firsts.append(pool.images[i, way] if ways else pool.images[i])
        seconds.append(pool.images[j, way] if ways else pool.images[j])
    return (torch.stack(firsts).float()[:, None] / 255, torch.stack(seconds).float()[:, None] / 255)


def fold_bank(fold, count: int, seed: int = 0, least: float = LEAST_AREA) -> Bank:
    """The bank of ``fold``'s training characters (their upright drawings only: the turned classes are the same
    pairs turned, which the bank's symmetries give anyway): the fitted maps of ``count`` pairs, less those that
    crush some part of the image to under ``least`` of its area (:func:`least_area`)."""
    train = [c for c in fold.split_classes("train") if "/rot" not in fold.class_names[c]]
    bank = fit_pairs(*drawing_pairs(fold, train, count, seed))
    kept = least_area(bank.theta, bank.field, fold.images.shape[-1]) > least
    return Bank(bank.theta[kept], bank.field[kept], bank.ratio[kept], bank.seconds)


def symmetric(theta: "torch.Tensor", field: "torch.Tensor",
              which: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
    """Each map under one of the square's eight symmetries S (``which`` in 0-7: bit 0 mirrors x, bit 1 mirrors y,
    bit 2 swaps x and y): S T S, so a drawing mirrored or turned differs from its twin as the bank's pair did."""
    import torch

    theta, field = theta.clone(), field.clone()
    for bit, flip in ((1, "x"), (2, "y")):
        on = (which & bit).bool()
        if not on.any():
            continue
        axis, comp = (0, -1) if flip == "x" else (1, -2)
        s = torch.ones(2)
        s[axis] = -1
        theta[on, :, :2] = s.view(2, 1) * theta[on, :, :2] * s.view(1, 2)
        theta[on, :, 2] = s * theta[on, :, 2]
        flipped = field[on].flip(comp)
        flipped[:, axis] = -flipped[:, axis]
        field[on] = flipped
    on = (which & 4).bool()
    if on.any():
        theta[on, :, :2] = theta[on][:, [1, 0]][:, :, [1, 0]]
        theta[on, :, 2] = theta[on][:, [1, 0], 2]
        field[on] = field[on].transpose(-1, -2)[:, [1, 0]]
    return theta, field


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hold-out", default="Greek", help="the fold's held-out alphabet (its characters are not read)")
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--picture", type=Path, help="draw 16 pairs: a drawing, it carried by its fitted map, the other")
    args = ap.parse_args()

    import numpy as np
    import torch

    from engine.data import load_source
    from engine.framing import BothFramings

    pool = load_source("omniglot", OMNIGLOT_DIR, image_size=28, frame=BothFramings(2.0))
    train = [c for c, g in enumerate(pool.class_groups) if g != args.hold_out]
    fold = pool.with_splits({"train": train, "val": [], "test": []})
    first, second = drawing_pairs(fold, [c for c in train if "/rot" not in pool.class_names[c]], args.pairs, args.seed)
    bank = fit_pairs(first, second)
    kept = least_area(bank.theta, bank.field) > LEAST_AREA
    wobble_rms = 0.08 / math.sqrt(3)  # the recipe's wobble: uniform in [-0.08, 0.08]
    affine = bank.theta - torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    quantiles = np.quantile(bank.ratio.numpy(), [0.1, 0.25, 0.5, 0.75, 0.9]).tolist()
    emit({"hold_out": args.hold_out, "pairs": args.pairs, "seconds": bank.seconds,
          "difference_after_over_before_quantiles": dict(zip(("0.1", "0.25", "0.5", "0.75", "0.9"), quantiles)),
          "kept": float(kept.float().mean()), "field_rms": float(bank.field.pow(2).mean().sqrt()),
          "kept_field_rms": float(bank.field[kept].pow(2).mean().sqrt()), "random_wobble_rms": wobble_rms,
          "affine_part_rms": affine.pow(2).mean(0).sqrt().tolist()})
    if args.picture:
        from PIL import Image

        carried = warp(first[:16], bank.theta[:16], bank.field[:16])
        rows = [torch.cat([first[k, 0], carried[k, 0], second[k, 0], torch.ones(28, 2)], 1) for k in range(16)]
        image = torch.cat([torch.cat(rows[:8], 0), torch.cat(rows[8:], 0)], 1)
        Image.fromarray((image.numpy() * 255).astype(np.uint8)).resize(
            (image.shape[1] * 4, image.shape[0] * 4), Image.Resampling.NEAREST).save(args.picture)


if __name__ == "__main__":
    main()
