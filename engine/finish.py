"""The episodic finish: the last part of a classifier's training spent on episodes shaped like the test.

SimpleShot and Proto-head train an ordinary classifier over every training class, then tell new
classes apart by the nearest normalised class mean. Lake's runs are 20 characters of ONE alphabet,
one drawing each, and BatchNorm takes its statistics from those drawings: neither the rule nor the
statistics are what the classifier trained with. With ``episodic_finish`` = f, the trainer spends the
last fraction f of the run (of its time budget, or of its iterations) on 20-way 1-shot episodes of one
training alphabet (5 queries a class, the run's augmentation), each scored by the nearest normalised
mean of the episode's own support drawings, BatchNorm's statistics taken from the episode, the backbone
updated by a fresh Adam whose rate falls along a half cosine to 0. Chen et al., "Meta-Baseline:
Exploring Simple Meta-Learning for Few-Shot Learning", ICCV 2021, finish a classifier this way
(BENCHMARKS.md, "One alphabet a batch, and a finish on run-shaped episodes").
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import nn

from .algorithms import Algorithm
from .algorithms.base import mean_gradient
from .config import TrainConfig
from .data import ClassPool, DataError
from .tasks import Task, TaskSampler

#: an episode of the finish: Lake's run shape (20 classes of one alphabet, one drawing each) with 5 queries a class
FINISH_WAYS = 20
FINISH_QUERIES = 5
#: the finish's Adam rate at its start (a quarter of the recipes' 0.002: the features are trained already)
FINISH_LR = 0.0005


def finish_sampler(pool: ClassPool, config: TrainConfig) -> tuple[TaskSampler, str]:
    """The finish's episodes over ``pool``'s training classes, and a note when they cannot be Lake-shaped:
    within one alphabet where an alphabet has enough classes, else across alphabets; fewer ways when the
    data has fewer than 20 training classes."""
    need = 1 + FINISH_QUERIES
    usable = [c for c in pool.split_classes("train") if pool.count(c) >= need]
    ways = min(FINISH_WAYS, len(usable))
    if ways < 2:
        raise DataError(f"the episodic finish needs at least 2 training classes with {need} examples each; "
                        f"{pool.name} has {len(usable)}; turn it off (--episodic-finish 0)")
    options = config.augmentation
    try:
        return TaskSampler(pool, "train", ways, 1, FINISH_QUERIES, same_group=True, **options), ""
    except DataError:
        note = f"no alphabet of {pool.name} has {ways} training classes, so the finish's episodes mix alphabets"
        return TaskSampler(pool, "train", ways, 1, FINISH_QUERIES, **options), note


class EpisodicFinish:
    """Stands in for the algorithm in :func:`engine.trainer.meta_step` during the finish: the meta-gradient
    is the episodes' nearest-mean loss (``algo.episode_loss``), and the optimiser updates the backbone."""

    def __init__(self, algo: Algorithm, pool: ClassPool, config: TrainConfig) -> None:
        if not hasattr(algo, "episode_loss"):
            raise DataError(f"--episodic-finish trains SimpleShot's or Proto-head's features, not {algo.name}'s")
        self.algo = algo
        self.sampler, self.note = finish_sampler(pool, config)
        self.optimizer = torch.optim.Adam(self.outer_parameters(), lr=FINISH_LR)

    def outer_parameters(self) -> Iterable[nn.Parameter]:
        return self.algo.model.features.parameters()

    def meta_gradient(self, tasks: list[Task], should_stop: Callable[[], bool] | None = None) -> tuple[float, float]:
        return mean_gradient(self.algo.episode_loss, tasks, should_stop)

    def set_progress(self, progress: float) -> None:
        """The rate at ``progress`` (0 to 1) through the finish: a half cosine from FINISH_LR to 0."""
        rate = FINISH_LR * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
        for group in self.optimizer.param_groups:
            group["lr"] = rate
