"""Random small affine distortions of training images.

With few training classes (Omniglot small1 meta-trains on three alphabets) a
metric learner memorises the strokes it has seen; jittering each training
image a little (rotation, scale, shear, shift: the ways two people draw the
same character differ) teaches it what does not matter, and it generalises
better to alphabets it never saw (BENCHMARKS.md, "Time to a useful model").
Only training episodes are distorted; support sets a person draws, validation
and test episodes are used as they are.

A distortion is a pure function of its generator's seed, so a resumed run
sees the images it would have seen.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: The strengths used when augmentation is on: up to 10 degrees of rotation,
#: 10% of scale, 0.1 of shear and 8% of the image's width of shift.
ROTATION_DEG, SCALE, SHEAR, SHIFT = 10.0, 0.10, 0.10, 0.08


def random_affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of ``images`` ([n, C, H, W], float) under its own random small affine map."""
    n = images.shape[0]
    if n == 0:
        return images

    def uniform() -> torch.Tensor:  # in [-1, 1)
        return torch.rand(n, generator=generator) * 2 - 1

    angle = uniform() * math.radians(ROTATION_DEG)
    scale = 1 + uniform() * SCALE
    shear = uniform() * SHEAR
    tx, ty = uniform() * 2 * SHIFT, uniform() * 2 * SHIFT  # affine_grid works in [-1, 1]: width 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([
        torch.stack([cos / scale, (shear - sin) / scale, tx], 1),
        torch.stack([sin / scale, cos / scale, ty], 1),
    ], 1).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid.to(images.device), align_corners=False, padding_mode="zeros")
