"""A model-based (black-box) learner: attention over the labelled support set.

References: in the spirit of Mishra, Rohaninejad, Chen & Abbeel, "A Simple
Neural Attentive Meta-Learner" (SNAIL), ICLR 2018, and Santoro et al.,
"Meta-Learning with Memory-Augmented Neural Networks" (MANN), ICML 2016.

The learner is a network that reads the support set as tokens (backbone
embedding concatenated with the one-hot label), lets the tokens attend to one
another, and then lets each query embedding attend over them. The answer is
read out directly: a learned readout of the attended token plus the
attention-weighted label one-hots. Adapting to new classes is a single forward
pass, with no gradient step. Labels live in ``MAX_WAYS`` slots; during
meta-training each task's classes are put in random slots, so every slot is
trained and any N up to ``MAX_WAYS`` works at adaptation time. The slots are
drawn from the task's own classes (a generator seeded by them), so a task gets
the same slots in whichever process computes it (engine.task_workers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.base import DataError
from ..models import support_statistics, with_support
from ..tasks import Task
from .base import AlgoConfig, Algorithm, Learner, StepCallback, accuracy, ways_of

MAX_WAYS = 20


class SupportReader(nn.Module):
    """Reads (support embeddings, slot labels) and query embeddings; returns logits over the slots."""

    def __init__(self, dim: int, hidden: int = 64, heads: int = 4, max_ways: int = MAX_WAYS) -> None:
        super().__init__()
        self.max_ways = max_ways
        self.token = nn.Linear(dim + max_ways, hidden)
        self.context = nn.TransformerEncoderLayer(
            hidden, heads, dim_feedforward=2 * hidden, dropout=0.0, batch_first=True
        )
        self.query = nn.Linear(dim, hidden)
        self.attend = nn.MultiheadAttention(hidden, heads, dropout=0.0, batch_first=True)
        self.readout = nn.Linear(2 * hidden, max_ways)
        self.label_scale = nn.Parameter(torch.tensor(5.0))

    def forward(self, support: torch.Tensor, slots: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """support [k, dim], slots [k] (label slot of each), queries [n, dim] -> logits [n, max_ways]."""
        onehot = F.one_hot(slots, self.max_ways).to(support.dtype)
        tokens = self.context(self.token(torch.cat([support, onehot], 1)).unsqueeze(0))  # [1, k, h]
        q = self.query(queries).unsqueeze(0)  # [1, n, h]
        read, weights = self.attend(q, tokens, tokens, need_weights=True)  # [1, n, h], [1, n, k]
        label_mass = weights[0] @ onehot  # [n, max_ways]: attention-weighted label one-hots
        return self.readout(torch.cat([read[0], q[0]], 1)) + self.label_scale * label_mass


class AttentionLearner(Learner):
    """The reader conditioned on one support set; each prediction is one forward."""

    def __init__(self, algo: "BlackBox", support_x: torch.Tensor, support_y: torch.Tensor, ways: int) -> None:
        self.algo, self.support_x, self.support_y, self.ways = algo, support_x, support_y, ways

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with support_statistics(len(self.support_x)):  # inductive: each query with the support set alone
            return self.algo.forward(self.support_x, self.support_y, x, torch.arange(self.ways, device=x.device))

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return with_support(self.algo.model.features, self.support_x, x)[len(self.support_x):]


class BlackBox(Algorithm):
    """Support set in, predictions out: no gradient steps at adaptation."""

    name = "blackbox"
    paper = (
        "Model-based meta-learning in the spirit of SNAIL (Mishra et al., ICLR 2018) "
        "and MANN (Santoro et al., ICML 2016)"
    )
    summary = (
        "A network that reads the labelled support set and the query together and outputs "
        "the answer directly (attention over the support set): adapting is one forward pass."
    )

    def __init__(self, model: nn.Module, config: AlgoConfig) -> None:
        super().__init__(model, config)
        self.reader = self.extra = SupportReader(model.head.in_features).to(model.head.weight.device)

    def forward(
        self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor, slots: torch.Tensor
    ) -> torch.Tensor:
        """Logits [n, ways] of the queries; class c of the task sits in label slot ``slots[c]``."""
        ways = len(slots)
        if ways > MAX_WAYS:
            raise DataError(
                f"the black-box learner reads at most {MAX_WAYS} classes per task (got {ways}); use fewer ways"
            )
        n = len(support_x)
        emb = self.model.features(torch.cat([support_x, query_x]))
        out = self.reader(emb[:n], slots[support_y], emb[n:])
        return out[:, slots]

    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        draw = torch.Generator().manual_seed(
            hash(task.classes) & 0x7FFF_FFFF_FFFF_FFFF
        )  # ints hash the same in every process
        slots = torch.randperm(MAX_WAYS, generator=draw)[: task.ways].to(task.support_y.device)
        logits = self.forward(task.support_x, task.support_y, task.query_x, slots)
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
        if ways > MAX_WAYS:
            raise DataError(
                f"the black-box learner reads at most {MAX_WAYS} classes per task (got {ways}); use fewer ways"
            )
        return AttentionLearner(self, support_x, support_y, ways).report_support_fit(support_x, support_y, on_step)
