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
#: the elastic wobble's lattice: 4x4 random offsets, interpolated smoothly over the image
ELASTIC_LATTICE = 4


def _thetas(n: int, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """[n, 2, 3] random small affine maps (affine_grid's convention), each range times ``strength``."""

    def uniform() -> torch.Tensor:  # in [-strength, strength)
        return (torch.rand(n, generator=generator) * 2 - 1) * strength

    angle = uniform() * math.radians(ROTATION_DEG)
    scale = 1 + uniform() * SCALE
    shear = uniform() * SHEAR
    tx, ty = uniform() * 2 * SHIFT, uniform() * 2 * SHIFT  # affine_grid works in [-1, 1]: width 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([
        torch.stack([cos / scale, (shear - sin) / scale, tx], 1),
        torch.stack([sin / scale, cos / scale, ty], 1),
    ], 1)


def _warp(images: torch.Tensor, theta: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    if offsets is not None:
        grid = grid + offsets.to(grid.dtype)
    return F.grid_sample(images, grid.to(images.device), align_corners=False, padding_mode="zeros")


def _elastic_offsets(n: int, height: int, width: int, amount: float, generator: torch.Generator) -> torch.Tensor:
    """[n, H, W, 2] smooth random displacements: a 4x4 lattice of offsets up to ``amount`` (grid units, where
    the image is 2 wide), interpolated over the image. A pen's path wobbles locally as well as globally."""
    lattice = (torch.rand(n, 2, ELASTIC_LATTICE, ELASTIC_LATTICE, generator=generator) * 2 - 1) * amount
    field = F.interpolate(lattice, size=(height, width), mode="bicubic", align_corners=True)
    return field.permute(0, 2, 3, 1)


def random_affine(
    images: torch.Tensor, generator: torch.Generator, strength: float = 1.0, elastic: float = 0.0
) -> torch.Tensor:
    """Each image of ``images`` ([n, C, H, W], float) under its own random small affine map, its ranges
    times ``strength``, and with ``elastic`` > 0 a smooth local wobble of up to that much (grid units)."""
    n = images.shape[0]
    if n == 0:
        return images
    theta = _thetas(n, generator, strength)
    offsets = _elastic_offsets(n, *images.shape[-2:], elastic, generator) if elastic > 0 else None
    return _warp(images, theta, offsets)


def random_stroke_width(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image drawn with a thinner, the same or a thicker pen (a third each): a 3x3 grey-level
    erosion or dilation. Pens differ more between people than shapes do, and at high resolution a
    one-pixel change of width is a small one (Lake's drawings are 105x105)."""
    n = images.shape[0]
    if n == 0:
        return images
    choice = torch.randint(-1, 2, (n,), generator=generator).to(images.device).view(n, 1, 1, 1)
    return torch.where(choice < 0, _pen(images, -1), torch.where(choice > 0, _pen(images, 1), images))


def _pen(images: torch.Tensor, width: int) -> torch.Tensor:
    """The same drawing with a thinner (-1), the same (0) or a thicker (+1) pen."""
    if width > 0:
        return F.max_pool2d(images, 3, stride=1, padding=1)
    if width < 0:
        return -F.max_pool2d(-images, 3, stride=1, padding=1)
    return images


def view_maps(copies: int, seed: int = 0, strokes: bool = False) -> tuple[torch.Tensor, tuple[int, ...]]:
    """The ``copies`` fixed maps of :func:`augment_views`: affine matrices [copies, 2, 3] and pen widths. A module
    that applies views keeps these from its construction, so an exported program holds them as constants
    instead of drawing new random views on every call."""
    generator = torch.Generator().manual_seed(seed)
    thetas = _thetas(copies, generator)
    widths = torch.randint(-1, 2, (copies,), generator=generator).tolist() if strokes else [0] * copies
    return thetas, tuple(widths)


def apply_views(images: torch.Tensor, thetas: torch.Tensor, widths: tuple[int, ...]) -> torch.Tensor:
    """``images`` under each of the maps :func:`view_maps` made, [copies, n, C, H, W]."""
    if len(widths) == 0:
        return images.new_zeros(0, *images.shape)
    n = images.shape[0]
    return torch.stack([_pen(_warp(images, theta.expand(n, 2, 3)), w) for theta, w in zip(thetas, widths)])


def augment_views(images: torch.Tensor, copies: int, seed: int = 0, strokes: bool = False) -> torch.Tensor:
    """``copies`` distorted views of each image, [copies, n, C, H, W] (test-time augmentation). View j is the
    same map for every image (fixed by ``seed``), so an image's views do not depend on what it is batched with:
    a query's score stays a function of the support set and itself."""
    return apply_views(images, *view_maps(copies, seed, strokes))
