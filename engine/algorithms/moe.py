"""A mixture of experts with a task-conditioned gate.

References: Jacobs, Jordan, Nowlan & Hinton, "Adaptive Mixtures of Local
Experts", Neural Computation 1991; task-conditioned gating as in
"Meta-learning with mixtures of experts" approaches (e.g. Jerfel et al.,
"Reconciling meta-learning and continual learning with online mixtures of
tasks", NeurIPS 2019).

Several expert embedding heads (small MLP projections of the shared backbone
features) and a gating network that reads the support set (mean and spread of
its features) and outputs a softmax over the experts, once per task. A query
is classified by a prototype classifier in the gated mixture of the experts'
embeddings. Everything is meta-trained end to end, episode by episode. The
gate is exposed (``gate_weights``, ``learner.gate``, ``gate_summary``) so one
can see whether the experts specialise.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..models import support_statistics
from ..tasks import Task
from .base import AlgoConfig, Algorithm, Learner, StepCallback, accuracy, ways_of
from .protonet import compute_prototypes, squared_distances

EXPERTS = 4


class ExpertMixture(nn.Module):
    """``experts`` embedding heads and a gate over them that reads a support set."""

    def __init__(self, dim: int, experts: int = EXPERTS, hidden: int = 64) -> None:
        super().__init__()
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)) for _ in range(experts)
        )
        self.gate = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, experts))

    def gate_weights(self, support: torch.Tensor) -> torch.Tensor:
        """Softmax over experts [E] from support features [k, dim] (mean and spread)."""
        spread = support.std(0, unbiased=False) if len(support) > 1 else torch.zeros_like(support[0])
        return F.softmax(self.gate(torch.cat([support.mean(0), spread])), dim=-1)

    def embed(self, feats: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """Gated mixture of the expert embeddings: [n, dim]."""
        out = torch.stack([e(feats) for e in self.experts], 0)  # [E, n, dim]
        return torch.einsum("e,end->nd", gate, out)


class MixtureLearner(Learner):
    """A prototype classifier in the embedding the gate chose for this support set."""

    def __init__(self, algo: "MixtureOfExperts", support_x: torch.Tensor, support_y: torch.Tensor, ways: int) -> None:
        self.algo, self.support_x, self.support_y, self.ways = algo, support_x, support_y, ways
        with torch.no_grad():
            self.gate = algo.gate_weights(support_x, support_y)

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with support_statistics(len(self.support_x)):  # inductive: each query with the support set alone
            return self.algo.classify(self.support_x, self.support_y, x, self.ways)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x)[0]

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x)[1]

    @torch.no_grad()
    def logits_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward(x)


class MixtureOfExperts(Algorithm):
    """Expert embedding heads weighed per task by a gate that reads the support set."""

    name = "moe"
    paper = "Jacobs et al., Adaptive Mixtures of Local Experts, 1991; task-gated mixtures for meta-learning"
    summary = (
        "Several expert embeddings share the backbone; a gate reads the support set and "
        "weighs the experts for this task, then queries go to the nearest prototype."
    )

    def __init__(self, model: nn.Module, config: AlgoConfig) -> None:
        super().__init__(model, config)
        self.mixture = self.extra = ExpertMixture(model.head.in_features).to(model.head.weight.device)

    def gate_weights(self, support_x: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
        """The gate's distribution over experts [E] for this support set."""
        return self.mixture.gate_weights(self.model.features(support_x))

    def classify(
        self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor, ways: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [n, ways] and gated query embeddings [n, dim] (one forward, support and queries together)."""
        n = len(support_x)
        feats = self.model.features(torch.cat([support_x, query_x]))
        gate = self.mixture.gate_weights(feats[:n])
        emb = self.mixture.embed(feats, gate)
        prototypes = compute_prototypes(emb[:n], support_y, ways)
        return -squared_distances(emb[n:], prototypes), emb[n:]

    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        logits, _ = self.classify(task.support_x, task.support_y, task.query_x, task.ways)
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
        return MixtureLearner(self, support_x, support_y, ways).report_support_fit(support_x, support_y, on_step)


@torch.no_grad()
def gate_summary(algo: MixtureOfExperts, tasks: Iterable[Task]) -> dict:
    """How the gate behaves over ``tasks``: do the experts specialise?

    Returns ``mean_gate`` (mean weight per expert), ``mean_entropy`` (nats; 0 =
    one expert per task, ``max_entropy`` = uniform), ``top_share`` (fraction of
    tasks where each expert has the largest weight) and ``tasks``.
    """
    device = next(algo.model.parameters()).device
    gates = torch.stack([algo.gate_weights(t.support_x.to(device), t.support_y.to(device)) for t in tasks])
    entropy = -(gates * gates.clamp_min(1e-12).log()).sum(1)
    top = torch.bincount(gates.argmax(1), minlength=gates.shape[1]).float() / len(gates)
    return {
        "mean_gate": gates.mean(0).tolist(),
        "mean_entropy": entropy.mean().item(),
        "max_entropy": math.log(gates.shape[1]),
        "top_share": top.tolist(),
        "tasks": len(gates),
    }
