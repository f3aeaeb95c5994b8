"""MAML's meta-gradient of a whole meta-batch in one batched pass (``torch.func.vmap``), for GPUs.

A Conv-4 task is small (5 support and 75 query images of 28x28): on a GPU, 32
of them one after another leave the device mostly idle between tiny kernels,
while ``vmap`` over the tasks runs each layer once for all of them. On this
project's 2-core CPU the loop is 2-3x faster (BENCHMARKS.md), so the trainer
batches tasks only on CUDA unless asked (``--batch-tasks on``).

The maths is the loop's: per task, ``steps`` gradient steps on the support set
(``torch.func.grad``, differentiated through for second order, treated as
constants for first order), then the query loss at the adapted weights; its
gradient with respect to the initial weights, averaged over the tasks.
``tests/test_batched_tasks.py`` checks it against the loop in float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.func import functional_call, grad, vmap

from ..models import use_channels_last
from ..tasks import Task

if TYPE_CHECKING:
    from .maml import MAML


def can_batch(algo: "MAML", tasks: list[Task]) -> bool:
    """Whether ``tasks`` can go through one vmap: same shapes, and the head already has their ways."""
    if len(tasks) < 2 or not algo.batches_tasks:
        return False
    first = tasks[0]
    shapes = (first.support_x.shape, first.support_y.shape, first.query_x.shape, first.query_y.shape)
    return all(
        (t.support_x.shape, t.support_y.shape, t.query_x.shape, t.query_y.shape) == shapes
        and t.ways == algo.model.head.out_features
        for t in tasks
    )


def batched_meta_gradient(algo: "MAML", tasks: list[Task]) -> tuple[float, float]:
    """Accumulate the mean meta-gradient of ``tasks`` into ``.grad``; return the mean query loss and accuracy."""
    from .maml import inner_steps  # the per-task path's inner loop (maml imports this module)

    model, steps, lr, first_order = algo.model, algo.config.inner_steps, algo.config.inner_lr, algo.first_order
    objective = algo.objective
    params = {k: p.detach() for k, p in model.named_parameters()}

    def task_loss(params, support_x, support_y, query_x, query_y):
        adapted = inner_steps(
            algo.forward,
            objective.loss,
            params,
            list(params),
            support_x,
            support_y,
            steps,
            lambda _key: lr,
            first_order,
            under_vmap=True,
        )
        logits = functional_call(model, adapted, (query_x,))
        loss = objective.loss(logits, query_y)
        return loss, (loss, logits)

    stacked = [torch.stack([getattr(t, f) for t in tasks]) for f in ("support_x", "support_y", "query_x", "query_y")]
    per_task = vmap(grad(task_loss, has_aux=True), in_dims=(None, 0, 0, 0, 0))
    # channels-last is a CPU fast path for unbatched weights; vmap's adapted weights are batched
    was_on = any(getattr(m, "channels_last", False) for m in model.modules())
    use_channels_last(model, False)
    try:
        grads, (losses, logits) = per_task(params, *stacked)
    finally:
        use_channels_last(model, was_on)
    for name, p in model.named_parameters():
        g = grads[name].mean(0)
        p.grad = g if p.grad is None else p.grad + g
    return losses.mean().item(), objective.metric(logits, stacked[3])
