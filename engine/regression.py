"""Regression tasks: the sine waves of Finn, Abbeel & Levine 2017 (MAML), section 5.1.

A task is one wave ``y = A sin(x - phase)`` with the amplitude ``A`` drawn
from U[0.1, 5.0] and the phase from U[0, pi]; its K support points and its
query points have ``x`` drawn from U[-5, 5]. The learner is a small MLP
(``engine.models.MLP``: two hidden layers of 40 units, ReLU), the loss and the
metric are the mean squared error (``engine.algorithms.objective.REGRESSION``).

:class:`SineTasks` has the interface of :class:`engine.tasks.TaskSampler`
(``episode``, ``batch``, ``fixed``), so the trainer, the evaluation and the
checkpoints treat sine runs like image runs. Every wave and every point is a
pure function of ``(seed, stream, index)``: an evaluation set is the same
tasks every time for a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .config import REGRESSION_DATASETS
from .tasks import EVAL_STREAM, TRAIN_STREAM, Task

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)
EVAL_QUERIES = 100  # query points per evaluation task (the paper's figures score a dense grid)
SPLIT_STREAMS = {"train": TRAIN_STREAM, "val": EVAL_STREAM, "test": EVAL_STREAM + 1}


def use_one_thread() -> None:
    """Run this thread's sine work on one intra-op thread (OpenMP's setting is per thread here).

    A sine task is a few 40x40 matrix products: splitting them over threads only adds
    synchronisation, and on this 2-core machine shared with other work MAML meta-trained at
    82 tasks/s with 2 threads against 1,358 tasks/s with one (``main.py train --dataset sine
    --iterations 60``, load average 4.6).
    """
    torch.set_num_threads(1)


def is_regression(dataset: str) -> bool:
    return dataset in REGRESSION_DATASETS


@dataclass(frozen=True)
class SineWave:
    """One task's hidden function, ``amplitude * sin(x - phase)``."""

    amplitude: float
    phase: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.amplitude * np.sin(np.asarray(x, dtype=np.float64) - self.phase)


def sample_wave(rng: np.random.Generator) -> SineWave:
    return SineWave(float(rng.uniform(*AMPLITUDE)), float(rng.uniform(*PHASE)))


def points_task(support_x: np.ndarray, support_y: np.ndarray, query_x: np.ndarray, query_y: np.ndarray) -> Task:
    """A regression :class:`Task` from 1-D numpy arrays (float32 tensors [n, 1])."""

    def column(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float32).reshape(-1, 1))

    return Task(column(support_x), column(support_y), column(query_x), column(query_y), classes=())


class SineTasks:
    """Sine-wave tasks of K support and Q query points, deterministic by seed.

    ``split`` only chooses the random stream: every split draws from the same
    family of waves (there are no classes to hold out), with different waves.
    """

    name = "sine"

    def __init__(self, shots: int, queries: int, seed: int = 0, split: str = "train") -> None:
        self.shots, self.queries, self.seed, self.split = shots, queries, seed, split
        self.stream = SPLIT_STREAMS[split]

    def wave_and_task(self, index: int, stream: int | None = None) -> tuple[SineWave, Task]:
        rng = np.random.default_rng([self.seed, self.stream if stream is None else stream, index])
        wave = sample_wave(rng)
        x = rng.uniform(*X_RANGE, size=self.shots + self.queries)
        y = wave(x)
        return wave, points_task(x[: self.shots], y[: self.shots], x[self.shots :], y[self.shots :])

    def episode(self, index: int, stream: int | None = None) -> Task:
        return self.wave_and_task(index, stream)[1]

    def batch(self, iteration: int, size: int, offset: int = 0) -> list[Task]:
        """The meta-batch of ``iteration``: ``size`` tasks starting at ``offset``."""
        return [self.episode(iteration * 100_003 + offset + j) for j in range(size)]

    def fixed(self, count: int) -> list[Task]:
        """A fixed evaluation set: the same ``count`` tasks every time for this seed and split."""
        return [self.episode(i, stream=self.stream + 1000) for i in range(count)]

    def summary(self) -> dict:
        return {
            "family": "sine",
            "amplitude": list(AMPLITUDE),
            "phase": list(PHASE),
            "x": list(X_RANGE),
            "shots": self.shots,
            "queries": self.queries,
        }


def mse_by_step(algo, tasks: list[Task], steps: int, inner_lr: float | None = None) -> list[list[float]]:
    """Query MSE of each task after 0, 1, ..., ``steps`` adaptation steps: one list per task."""
    out = []
    for task in tasks:
        row = []
        for learner in algo.adapt_steps(task.support_x, task.support_y, steps, inner_lr):
            with torch.no_grad():
                row.append(algo.objective.metric(learner.logits(task.query_x), task.query_y))
        out.append(row)
    return out
