"""Prototypical Networks.

References: Snell, Swersky & Zemel, "Prototypical Networks for Few-shot
Learning", NeurIPS 2017.

A class is the mean embedding (prototype) of its support examples; a query is
scored by its negative squared Euclidean distance to each prototype. Support
and queries go through the backbone in one forward (one pass, shared
BatchNorm statistics). Adaptation is computing prototypes: no gradient steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models import with_support
from ..tasks import Task
from .base import Algorithm, Learner, StepCallback, accuracy, ways_of


def compute_prototypes(embeddings: torch.Tensor, labels: torch.Tensor, ways: int) -> torch.Tensor:
    """Mean embedding per class: [ways, dim]."""
    protos = embeddings.new_zeros(ways, embeddings.shape[-1]).index_add_(0, labels, embeddings)
    counts = torch.bincount(labels, minlength=ways).clamp_min(1).unsqueeze(1)
    return protos / counts


def squared_distances(queries: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """[n, ways] squared Euclidean distances."""
    return (queries.unsqueeze(1) - prototypes.unsqueeze(0)).pow(2).sum(-1)


class ProtoLearner(Learner):
    def __init__(self, features: nn.Module, support_x: torch.Tensor, support_y: torch.Tensor, ways: int) -> None:
        self.features, self.support_x, self.support_y, self.ways = features, support_x, support_y, ways

    def _embed_with_support(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = with_support(self.features, self.support_x, x)
        n = len(self.support_x)
        return compute_prototypes(emb[:n], self.support_y, self.ways), emb[n:]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        prototypes, queries = self._embed_with_support(x)
        return -squared_distances(queries, prototypes)

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self._embed_with_support(x)[1]

    @torch.no_grad()
    def logits_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prototypes, queries = self._embed_with_support(x)
        return -squared_distances(queries, prototypes), queries

    @torch.no_grad()
    def prototypes(self) -> torch.Tensor:
        emb = self.features(self.support_x)
        return compute_prototypes(emb, self.support_y, self.ways)


class ProtoNet(Algorithm):
    name = "protonet"
    adapts_by_steps = False
    paper = "Snell, Swersky & Zemel, Prototypical Networks for Few-shot Learning, NeurIPS 2017"
    summary = (
        "Learns an embedding where each class is the mean of its support examples; a query "
        "takes the class of the nearest prototype. Adapting is one forward pass."
    )

    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        n = len(task.support_x)
        emb = self.model.features(torch.cat([task.support_x, task.query_x]))
        prototypes = compute_prototypes(emb[:n], task.support_y, task.ways)
        logits = -squared_distances(emb[n:], prototypes)
        return F.cross_entropy(logits, task.query_y), accuracy(logits, task.query_y)

    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        on_step: StepCallback | None = None,
        inner_lr: float | None = None,
    ) -> Learner:
        ways = ways_of(support_y)
        # the support set scored against its own prototypes (batch statistics of support + itself = of support)
        return ProtoLearner(self.model.features, support_x, support_y, ways).report_support_fit(
            support_x, support_y, on_step
        )
