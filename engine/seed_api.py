"""The seed article's API, working as the article writes it::

    from engine import MetaLearner, ConvNet, EpisodeLoader
    dataset_loader = EpisodeLoader("synthetic", ways=5, shots=1, queries=5, episodes_per_epoch=20)
    meta_learner = MetaLearner(ConvNet(), learning_rate=0.001, epochs=5)
    history = meta_learner.train(dataset_loader)

It is a thin facade: the episodes come from :class:`~engine.tasks.TaskSampler`
and the loop is the trainer's :func:`~engine.trainer.meta_train_steps`.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from .algorithms import AlgoConfig, Learner, build_algorithm
from .data import load_source
from .models import resize_head
from .tasks import Task, TaskSampler
from .trainer import meta_train_steps


class EpisodeLoader:
    """Yields ``episodes_per_epoch`` meta-batches of ``meta_batch`` episodes per epoch."""

    def __init__(
        self,
        dataset: str = "synthetic",
        ways: int = 5,
        shots: int = 1,
        queries: int = 5,
        episodes_per_epoch: int = 20,
        meta_batch: int = 4,
        data_root: str | None = None,
        split: str = "train",
        seed: int = 0,
    ) -> None:
        self.pool = load_source(dataset, data_root, seed=seed)
        self.sampler = TaskSampler(self.pool, split, ways, shots, queries, seed=seed)
        self.ways, self.episodes_per_epoch, self.meta_batch = ways, episodes_per_epoch, meta_batch
        self.epoch = 0

    def __len__(self) -> int:
        return self.episodes_per_epoch

    def __iter__(self) -> Iterator[list[Task]]:
        start = self.epoch * self.episodes_per_epoch
        self.epoch += 1
        for i in range(start, start + self.episodes_per_epoch):
            yield self.sampler.batch(i, self.meta_batch)


class MetaLearner:
    """Meta-train a model on an :class:`EpisodeLoader` (MAML unless ``algorithm`` says otherwise)."""

    def __init__(
        self,
        model: nn.Module,
        learning_rate: float = 0.001,
        epochs: int = 5,
        algorithm: str = "maml",
        inner_steps: int = 1,
        inner_lr: float = 0.4,
    ) -> None:
        self.model, self.learning_rate, self.epochs = model, learning_rate, epochs
        self.algorithm_name, self.inner_steps, self.inner_lr = algorithm, inner_steps, inner_lr
        self.algorithm = None

    def train(self, loader: EpisodeLoader) -> list[dict]:
        """Meta-train for ``epochs`` passes over the loader; return one dict per meta-iteration."""
        resize_head(self.model, loader.ways)
        config = AlgoConfig(
            ways=loader.ways,
            inner_steps=self.inner_steps,
            inner_lr=self.inner_lr,
            first_order=self.algorithm_name == "fomaml",
        )
        self.algorithm = build_algorithm(self.algorithm_name, self.model, config)
        optimizer = torch.optim.Adam(self.algorithm.outer_parameters(), lr=self.learning_rate)
        history = []
        for epoch in range(self.epochs):
            for loss, acc in meta_train_steps(self.algorithm, optimizer, iter(loader)):
                history.append({"epoch": epoch + 1, "iteration": len(history) + 1, "loss": loss, "accuracy": acc})
        return history

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int | None = None) -> Learner:
        if self.algorithm is None:
            raise RuntimeError("call train() before adapt()")
        return self.algorithm.adapt(support_x, support_y, steps=steps)
