"""Reptile: first-order meta-learning without a meta-gradient.

References: Nichol, Achiam & Schulman, "On First-Order Meta-Learning
Algorithms", arXiv:1803.02999, 2018.

For each task, plain SGD runs from the current weights on all of the task's
examples (support and query); the "gradient" handed to the outer optimiser is
``theta - theta_adapted`` averaged over the tasks, so an optimiser step moves
the weights toward the adapted ones (with SGD at lr 1 and one task it lands
exactly on them). No second derivatives, no backward through the inner loop.
Adaptation is MAML's: a few SGD steps on the support set.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import functional_call

from ..tasks import Task
from .base import Interrupted
from .maml import MAML, Params


class Reptile(MAML):
    """Reptile: move the initialisation toward each task's SGD solution."""

    name = "reptile"
    paper = "Nichol, Achiam & Schulman, On First-Order Meta-Learning Algorithms (Reptile), 2018"
    summary = (
        "Trains on each task with plain SGD, then nudges the shared weights toward the "
        "task-trained ones; no meta-gradient through the inner loop at all."
    )
    first_order_default = True

    def adapted_weights(self, task: Task) -> Params:
        """SGD on all of the task's examples from the current weights (detached result)."""
        params = {k: v.detach().requires_grad_() for k, v in self.base_params(task.ways).items()}
        x = torch.cat([task.support_x, task.query_x])
        y = torch.cat([task.support_y, task.query_y])
        with torch.enable_grad():
            params = self.inner_loop(params, x, y, self.config.inner_steps, self.config.inner_lr, create_graph=False)
        return {k: v.detach() for k, v in params.items()}

    @torch.no_grad()
    def _query_metrics(self, task: Task) -> tuple[float, float]:
        """Query loss/accuracy after adapting on the support set only (what ``adapt`` does).

        The weights trained on support+query have seen the queries, so their
        query accuracy would flatter Reptile on a compare plot.
        """
        learner = self.adapt(task.support_x, task.support_y)
        logits = functional_call(self.model, learner.params, (task.query_x,))
        return self.objective.loss(logits, task.query_y).item(), self.objective.metric(logits, task.query_y)

    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:  # pragma: no cover - Reptile has no meta-loss
        raise NotImplementedError("Reptile overrides meta_gradient; it has no differentiable meta-loss")

    def meta_gradient(self, tasks: list[Task], should_stop: Callable[[], bool] | None = None) -> tuple[float, float]:
        """Set ``.grad = mean over tasks of (theta - theta_adapted)``; return mean query loss/acc."""
        named = dict(self.model.named_parameters())
        deltas = {k: torch.zeros_like(p) for k, p in named.items()}
        total_loss, total_acc = 0.0, 0.0
        for task in tasks:
            if should_stop is not None and should_stop():
                raise Interrupted
            adapted = self.adapted_weights(task)
            for k, p in named.items():
                if adapted[k].shape == p.shape:
                    deltas[k] += (p.detach() - adapted[k]) / len(tasks)
            loss, acc = self._query_metrics(task)
            total_loss += loss
            total_acc += acc
        for k, p in named.items():
            p.grad = deltas[k] if p.grad is None else p.grad + deltas[k]
        return total_loss / len(tasks), total_acc / len(tasks)
