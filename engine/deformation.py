"""The distance left after one drawing is carried onto another by a fitted smooth map: a deformable template's.

Two drawers' drawings of one character differ by a smooth map more than by anything else. For a query and a
training drawing, :func:`fit_maps` fits the map that carries the drawing onto the query (an affine map plus a smooth
field on a 4x4 lattice, the training wobble's own, by Adam on the blurred images' squared difference, coarse blur
first, then fine, the field's size penalised); the mean squared pixel difference left over is small when the query
is the same character drawn by another hand. :class:`TemplateDistance` gives each query's distance to each class
(its nearest drawing's), and engine.algorithms.template_join.TemplateJoin subtracts its logarithm, standardised over
the classes and times a weight, from a learner's logits: the network's reading and the template's second opinion
together.

On Lake's stand-in runs (20-way 1-shot within one alphabet, inductive) this took the ``lake`` recipe's models from
12.2% to 10.78% error over two seeds at weight 3 (BENCHMARKS.md, "Deformations fitted between two drawers'
drawings" and "The distance's logarithm"). Each pair's fit is its own (the loss is a sum over pairs and Adam's
update is elementwise), so a query's scores depend on itself and the support set only: scores stay inductive, however
many queries are scored at once.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .augment import _warp

#: the fitted field's lattice: the training wobble's own (engine.augment.ELASTIC_LATTICE)
LATTICE = 4
#: Adam steps of each fit (50 measured 11.45% joined against 100's 10.85% on one seed; more are slower)
STEPS = 100
#: the fitted field's mean square's weight in the fit's loss
PENALTY = 0.1
#: the fit's blur in pixels, coarse for its first half, then fine
BLURS = (2.0, 1.0)
#: Adam's rate for the affine map and the field
RATE = 0.01
#: fits of :data:`STEPS` steps a second on a 2-core CPU, for estimates of a scoring's time (bench/template_fit_speed.py)
FITS_PER_SECOND = 225
#: pairs fitted at once: bounds the memory of a big batch (a pair of 28x28 drawings takes about 40 kB a step)
CHUNK = 4096


@functools.lru_cache(maxsize=16)
def _blur_matrix(side: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[side, side]: a 1-D Gaussian blur of ``sigma`` pixels (out to 3 sigma, zero beyond the edges) as a matrix,
    row i holding the taps around pixel i."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    taps = taps / taps.sum()
    apart = torch.arange(side)[None, :] - torch.arange(side)[:, None]
    near = apart.abs() <= radius
    matrix = torch.zeros(side, side, dtype=torch.float64)
    matrix[near] = taps[(apart + radius)[near]]
    return matrix.to(dtype=dtype, device=device)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` [n, C, H, W] under a Gaussian blur of ``sigma`` pixels, zero beyond the edges: a fit's coarse-to-fine
    loss. Each image row, then each column, times the blur's matrix, as one plain matrix product over the whole
    batch (rows of a product are computed alike whatever the other rows: a query's scores keep their bits in any
    batch); 2-4 times faster than a one-channel convolution on a CPU, the fit's slowest part."""
    *lead, height, width = x.shape
    across = (x.reshape(-1, width) @ _blur_matrix(width, sigma, x.dtype, x.device).T).view(x.shape)
    down = across.transpose(-1, -2).reshape(-1, height) @ _blur_matrix(height, sigma, x.dtype, x.device).T
    return down.view(*lead, width, height).transpose(-1, -2)


def offsets(field: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[n, H, W, 2]: fields on the lattice [n, 2, L, L] interpolated over the image as the training wobble's lattice
    is (engine.augment._elastic_offsets), in grid_sample's layout."""
    return F.interpolate(field, size=(height, width), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)


def warp(images: torch.Tensor, theta: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """``images`` [n, C, H, W] read through each affine map [n, 2, 3] (affine_grid's convention) plus its field
    [n, 2, L, L] (x and y offsets in grid units, the image 2 wide): engine.augment's own warp."""
    return _warp(images, theta, offsets(field.to(images.dtype), *images.shape[-2:]))


def fit_maps(first: torch.Tensor, second: torch.Tensor, steps: int = STEPS, penalty: float = PENALTY,
             lattice: int = LATTICE, blurs: tuple[float, float] = BLURS) -> tuple[torch.Tensor, torch.Tensor]:
    """The maps carrying each of ``first`` onto the same row of ``second`` ([n, 1, H, W], ink bright), as affine
    matrices [n, 2, 3] and fields [n, 2, L, L]: ``steps`` Adam steps on the squared difference blurred by
    ``blurs[0]`` pixels for the first half and by ``blurs[1]`` after, plus ``penalty`` times the field's mean
    square."""
    n = first.shape[0]
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=first.dtype, device=first.device)
    theta = identity.repeat(n, 1, 1).requires_grad_()
    field = torch.zeros(n, 2, lattice, lattice, dtype=first.dtype, device=first.device, requires_grad=True)
    optimizer = torch.optim.Adam([theta, field], lr=RATE)
    with torch.enable_grad():
        targets = {sigma: blur(second.detach(), sigma) for sigma in blurs}
        first = first.detach()
        for step in range(steps):
            sigma = blurs[0] if step < steps // 2 else blurs[1]
            apart = ((blur(warp(first, theta, field), sigma) - targets[sigma]) ** 2).mean((1, 2, 3))
            loss = apart.sum() + penalty * (field**2).mean((1, 2, 3)).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return theta.detach(), field.detach()


def carried(first: torch.Tensor, second: torch.Tensor, steps: int = STEPS, penalty: float = PENALTY,
            lattice: int = LATTICE, blurs: tuple[float, float] = BLURS) -> torch.Tensor:
    """``first`` [n, 1, H, W], each row carried onto the same row of ``second`` by its fitted map (:func:`fit_maps`),
    fitted :data:`CHUNK` pairs at a time."""
    out = []
    for a, b in zip(first.split(CHUNK), second.split(CHUNK)):
        if not len(a):
            continue
        theta, field = fit_maps(a, b, steps, penalty, lattice, blurs)
        with torch.no_grad():
            out.append(warp(a, theta, field))
    return torch.cat(out) if out else first.new_zeros(first.shape)


def distance_left(first: torch.Tensor, second: torch.Tensor, steps: int = STEPS, penalty: float = PENALTY,
                  lattice: int = LATTICE, blurs: tuple[float, float] = BLURS) -> torch.Tensor:
    """[n]: the mean squared pixel difference between each of ``second`` and the same row of ``first`` carried onto
    it (:func:`carried`)."""
    return (carried(first, second, steps, penalty, lattice, blurs) - second).square().mean((1, 2, 3))


def turned(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """``images`` [n, C, H, W] turned about their centre by ``degrees`` (read through :func:`warp`, no field): a
    fit's other starting points."""
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], dtype=images.dtype,
                         device=images.device).repeat(len(images), 1, 1)
    return warp(images, theta, images.new_zeros(len(images), 2, LATTICE, LATTICE))


def starts(turn: float) -> tuple[float, ...]:
    """The turns, in degrees, each fit starts from: the drawing as it is, and with ``turn`` also turned that far
    each way (a fit by gradient steps finds the nearer of two turned readings, and a drawer's slant can be farther
    than the first steps reach)."""
    return (-turn, 0.0, turn) if turn else (0.0,)


def pairs(support: torch.Tensor, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every support drawing beside every query, in each channel both hold (each framing of a drawing framed both
    ways): ``first`` [C * Q * S, 1, H, W] to carry onto ``second`` (the same shape), pair ``(c, i, j)`` at
    ``(c * Q + i) * S + j`` holding channel c of support drawing j and of query i, so that a fit's result
    ``.view(C, Q, S)`` reads by channel, query and drawing."""
    q, s, reads = len(queries), len(support), min(queries.shape[1], support.shape[1])
    side = queries.shape[-2:]
    first = support[:, :reads].float().transpose(0, 1)[:, None].expand(-1, q, -1, -1, -1)
    second = queries[:, :reads].float().transpose(0, 1)[:, :, None].expand(-1, -1, s, -1, -1)
    return first.reshape(-1, 1, *side), second.reshape(-1, 1, *side)


class TemplateDistance:
    """Each image's distance to each class of a support set: the distance left (:func:`distance_left`) from the
    class's nearest support drawing, averaged over the ways an image is read (its channels: a drawing framed both
    ways is fitted in each framing). With ``turn``, each pair is fitted from three starts (:func:`starts`) and the
    smallest distance left is kept. With ``hubness``, each class's distances are set against its drawings' own reach
    (:meth:`reach`): divided by ``exp(hubness * reach)``. One per adaptation: the last few batches' distances are
    kept, so that the learners of an adaptation's steps, which share it, fit a query once."""

    KEPT = 4

    def __init__(self, support_x: torch.Tensor, support_y: torch.Tensor, ways: int, steps: int = STEPS,
                 penalty: float = PENALTY, turn: float = 0.0, hubness: float = 0.0) -> None:
        self.support_x, self.support_y, self.ways = support_x.detach(), support_y, ways
        self.steps, self.penalty, self.turn, self.hubness = steps, penalty, turn, hubness
        self._kept: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._reach: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """[n, ways] distances (smaller is closer)."""
        x = x.detach()
        if not len(x):
            return x.new_zeros(0, self.ways)
        for seen, distances in self._kept:
            if seen.shape == x.shape and seen.device == x.device and torch.equal(seen, x):
                return distances
        distances = self._measure(x)
        if self.hubness:
            distances = distances * torch.exp(-self.hubness * self.reach()).to(distances.dtype)
        self._kept = [(x.clone(), distances), *self._kept[: self.KEPT - 1]]
        return distances

    def reach(self) -> torch.Tensor:
        """[ways]: how far each class's drawings are from the other classes' drawings, centred over the classes: the
        mean logarithm of the distance left when the class's nearest drawing is carried onto each drawing of another
        class. A class drawn unusually (a drawer's own way) is far from every query, its own included, and one drawn
        plainly is near many; setting each class's distances against its reach weighs a query's distance by what is
        usual for that class. The support set's own fits, once per adaptation (20 x 20 pairs in a 20-way 1-shot run,
        a twentieth of its queries'): a query's scores still come from itself and the support set alone."""
        if self._reach is None:
            self._reach = reach(self._measure(self.support_x), self.support_y, self.ways)
        return self._reach

    def _measure(self, x: torch.Tensor) -> torch.Tensor:
        support, s = self.support_x, len(self.support_x)
        ways_read = min(x.shape[1], support.shape[1])
        to_drawings = []
        for part in x.split(max(1, CHUNK // max(1, s * ways_read))):  # (the pairs of a few queries at a time)
            first, second = pairs(support, part)
            left = torch.stack([distance_left(turned(first, d) if d else first, second, self.steps, self.penalty)
                                for d in starts(self.turn)]).amin(0)  # (each start's pairs all fitted at once)
            to_drawings.append(left.view(ways_read, len(part), s).mean(0))  # [n, s]
        outside = F.one_hot(self.support_y, self.ways).T.logical_not()  # [ways, s]
        return torch.cat(to_drawings)[:, None].masked_fill(outside, math.inf).amin(2)  # [n, ways]


def reach(between: torch.Tensor, support_y: torch.Tensor, ways: int) -> torch.Tensor:
    """[ways]: :meth:`TemplateDistance.reach` from ``between`` [s, ways], each support drawing's distance to each
    class: the mean logarithm of a class's distances to the drawings of the other classes, centred over the classes
    (0 for a class with no other drawings)."""
    logs = between.clamp_min(1e-8).log()
    other = F.one_hot(support_y, ways).logical_not()  # [s, ways]: a drawing of another class
    counts = other.sum(0)
    mean = (logs * other).sum(0) / counts.clamp_min(1)
    mean = torch.where(counts > 0, mean, mean.new_zeros(()))
    return mean - mean.mean()
