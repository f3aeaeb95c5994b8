"""Episode sampling: N-way K-shot Q-query tasks from one split of a ClassPool.

Every episode is a pure function of ``(seed, stream, index)``, so a run that
resumes at iteration i sees exactly the episodes it would have seen, and an
evaluation set is the same episodes every time for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .augment import random_affine, random_stroke_width
from .data.base import ClassPool, DataError

TRAIN_STREAM, EVAL_STREAM = 11, 23


@dataclass(frozen=True)
class Task:
    """One episode. Images are float in [0, 1], shape [n, 1, 28, 28]; labels 0..ways-1.

    A regression task (engine.regression) holds inputs [n, 1] and float targets [n, 1] instead.
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    classes: tuple[int, ...]

    @property
    def ways(self) -> int:
        """Classes of a classification task; outputs per point (1) of a regression task (float targets [n, 1])."""
        return self.support_y.shape[-1] if self.support_y.is_floating_point() else len(self.classes)

    def to(self, device: torch.device | str) -> "Task":
        return Task(
            self.support_x.to(device, non_blocking=True),
            self.support_y.to(device, non_blocking=True),
            self.query_x.to(device, non_blocking=True),
            self.query_y.to(device, non_blocking=True),
            self.classes,
        )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [n, H, W] -> float [n, 1, H, W] in [0, 1]: the model's input (uint8 [n, C, H, W], a drawing read
    several ways (engine.framing.BothFramings), -> float [n, C, H, W])."""
    return (images.unsqueeze(1) if images.dim() == 3 else images).float().div_(255.0)


class TaskSampler:
    """Samples N-way K-shot Q-query episodes from one split.

    Parameters
    ----------
    pool : the decoded data
    split : "train", "val" or "test"
    ways, shots, queries : N, K and Q (Q per class)
    seed : the run's seed; episodes are a pure function of (seed, stream, index)
    same_group : draw all N classes from one group (alphabet), as in Lake's task
    augment : distort each image by a small random affine map (engine.augment), for training episodes
    strokes : with ``augment``, also redraw each image with a thinner or thicker pen (engine.augment)
    strength, elastic : with ``augment``, the affine ranges' multiplier and the elastic wobble (engine.augment)
    """

    def __init__(
        self,
        pool: ClassPool,
        split: str,
        ways: int,
        shots: int,
        queries: int,
        seed: int = 0,
        same_group: bool = False,
        augment: bool = False,
        strokes: bool = False,
        strength: float = 1.0,
        elastic: float = 0.0,
    ) -> None:
        if ways < 2:
            raise DataError(f"ways must be at least 2 (got {ways})")
        if shots < 1:
            raise DataError(f"shots must be at least 1 (got {shots}): a task needs an example per class")
        if queries < 1:
            raise DataError(f"queries must be at least 1 (got {queries})")
        self.pool, self.split = pool, split
        self.ways, self.shots, self.queries, self.seed = ways, shots, queries, seed
        self.augment, self.strokes, self.strength, self.elastic = augment, strokes, strength, elastic
        need = shots + queries
        classes = pool.split_classes(split)
        self.classes = [c for c in classes if pool.count(c) >= need]
        if len(self.classes) < ways:
            short = [f"{n} ({k})" for n, k in pool.short_classes(need, split)]
            more = f" and {len(short) - 50} more" if len(short) > 50 else ""
            detail = (
                f" ({len(short)} classes have fewer than {need} examples: {', '.join(short[:50])}{more})"
                if short
                else ""
            )
            raise DataError(
                f"{ways}-way tasks need {ways} classes with at least {need} examples each in the "
                f"{split} split of {pool.name}, but only {len(self.classes)} qualify{detail}; "
                f"lower --ways, --shots or --queries"
            )
        self.groups: list[list[int]] = []
        if same_group:
            self.groups = [g for g in pool.grouped(self.classes) if len(g) >= ways]
            if not self.groups:
                raise DataError(f"no group (alphabet) in the {split} split has {ways} usable classes")

    def episode(self, index: int, stream: int = TRAIN_STREAM) -> Task:
        """The episode number ``index`` of ``stream`` (deterministic)."""
        rng = np.random.default_rng([self.seed, stream, index])
        classes = self.choose_classes(rng, stream)
        need = self.shots + self.queries
        picks = []
        for c in classes:
            members = self.pool.members(c)
            picks.append(members[torch.from_numpy(rng.choice(len(members), need, replace=False))])
        idx = torch.stack(picks)  # [ways, shots + queries]
        images = to_float(self.pool.images[idx.flatten()]).view(self.ways, need, *self.pool.input_shape)
        labels = torch.arange(self.ways).unsqueeze(1)
        support_x = images[:, : self.shots].reshape(-1, *images.shape[2:])
        query_x = images[:, self.shots :].reshape(-1, *images.shape[2:])
        if self.augment:
            generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
            support_x = random_affine(support_x, generator, self.strength, self.elastic)
            query_x = random_affine(query_x, generator, self.strength, self.elastic)
            if self.strokes:
                support_x, query_x = random_stroke_width(support_x, generator), random_stroke_width(query_x, generator)
        return Task(
            support_x=support_x,
            support_y=labels.expand(-1, self.shots).reshape(-1),
            query_x=query_x,
            query_y=labels.expand(-1, self.queries).reshape(-1),
            classes=classes,
        )

    def choose_classes(self, rng: np.random.Generator, stream: int) -> tuple[int, ...]:
        """An episode's ``ways`` pool classes: at random from one random group (``same_group``) or from all. A
        benchmark may choose otherwise (bench/lake_ablation.py's hard classes); ``stream`` says which episodes."""
        candidates = self.groups[rng.integers(len(self.groups))] if self.groups else self.classes
        chosen = rng.choice(len(candidates), self.ways, replace=False)
        return tuple(candidates[i] for i in chosen)

    def batch(self, iteration: int, size: int, offset: int = 0) -> list[Task]:
        """The meta-batch of ``iteration``: ``size`` episodes starting at ``offset``."""
        return [self.episode(iteration * 100_003 + offset + j) for j in range(size)]

    def fixed(self, count: int) -> list[Task]:
        """A fixed evaluation set: the same ``count`` episodes every time for this seed."""
        return [self.episode(i, stream=EVAL_STREAM) for i in range(count)]
