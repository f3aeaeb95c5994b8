"""ANIL: Almost No Inner Loop.

References: Raghu, Raghu, Bengio & Vinyals, "Rapid Learning or Feature
Reuse? Towards Understanding the Effectiveness of MAML", ICLR 2020.

MAML in which the inner loop adapts only the head; the features are shared
by all tasks and learned by the outer loop alone. Because the features get no
inner update, they are computed once per task (support and query) and the
inner loop runs on the head only, functionally on those features. The outer
gradient is still second order through the head's inner steps (unless
first-order is asked for) and reaches the features through both passes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tasks import Task
from .base import Learner, StepCallback, ways_of
from .maml import MAML, FunctionalLearner, Params


def head_forward(params: Params, features: torch.Tensor) -> torch.Tensor:
    """The linear head applied functionally to precomputed features."""
    return F.linear(features, params["head.weight"], params["head.bias"])


class ANIL(MAML):
    """MAML whose inner loop touches the head only."""

    name = "anil"
    paper = "Raghu et al., Rapid Learning or Feature Reuse? (ANIL), ICLR 2020"
    summary = (
        "MAML with the inner loop restricted to the last layer: the features are shared "
        "and frozen during adaptation, only the head takes gradient steps. Much cheaper."
    )
    batches_tasks = False  # its head-only inner loop on shared features: always the per-task loop
    adapts_features = False

    def adapted_keys(self) -> list[str]:
        return ["head.weight", "head.bias"]

    def head_params(self, ways: int) -> Params:
        base = self.base_params(ways)
        return {k: base[k] for k in self.adapted_keys()}

    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        support = self.model.features(task.support_x)
        query = self.model.features(task.query_x)
        head = self.inner_loop(
            self.head_params(task.ways),
            support,
            task.support_y,
            self.config.inner_steps,
            self.config.inner_lr,
            create_graph=not self.first_order,
            forward=head_forward,
        )
        logits = head_forward(head, query)
        return self.objective.loss(logits, task.query_y), self.objective.metric(logits, task.query_y)

    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        on_step: StepCallback | None = None,
        inner_lr: float | None = None,
    ) -> Learner:
        ways = ways_of(support_y)
        steps = self.config.inner_steps if steps is None else steps
        lr = self.config.inner_lr if inner_lr is None else inner_lr
        with torch.no_grad():
            support = self.model.features(support_x)
        head = {k: v.detach().requires_grad_() for k, v in self.head_params(ways).items()}
        frozen = {k: v.detach() for k, v in self.model.named_parameters()}

        def learner(adapted: Params) -> FunctionalLearner:
            params = {**frozen, **{k: v.detach() for k, v in adapted.items()}}
            made = FunctionalLearner(self.model, params, support_x, ways)
            made.support_embedding = support  # the features never change: embedded once
            return made

        with torch.enable_grad():
            head = self.inner_loop(
                head, support, support_y, steps, lr, create_graph=False, on_step=on_step, forward=head_forward,
                learner_at=learner,
            )
        return learner(head)
