"""First-order MAML and Reptile do what their papers say, in float64 on a tiny network.

- FOMAML's meta-gradient is the query-loss gradient at the adapted weights, d/dtheta' L_q(theta'),
  computed here by hand (plain SGD steps, then autograd at theta');
- MAML's differs from it by the second-order term only: for one inner step
  g_MAML = g_FO - lr * H_s(theta) g_FO, with H_s the support loss's Hessian (a Hessian-vector product);
- Reptile's update is theta - theta_k, with theta_k from k SGD steps on the task's examples.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from engine.algorithms import AlgoConfig
from engine.algorithms.maml import FOMAML, MAML
from engine.algorithms.reptile import Reptile
from engine.models import Flatten, TaskBatchNorm2d
from engine.tasks import Task

WAYS, SHOTS, QUERIES, SIZE, CH = 3, 1, 4, 8, 4
LR = 0.3
REPTILE_LR = 0.1  # (0.3 overshoots on these random images: one step raises the loss)


class TinyNet(nn.Module):
    """conv - TaskBatchNorm2d - ReLU - maxpool - linear head: small enough for Hessian-vector products."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, CH, 3, padding=1), TaskBatchNorm2d(CH), nn.ReLU(), nn.MaxPool2d(2), Flatten()
        )
        self.head = nn.Linear(CH * (SIZE // 2) ** 2, WAYS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet().double()


def make_task(seed: int) -> Task:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(WAYS)
    return Task(
        support_x=torch.rand(WAYS * SHOTS, 1, SIZE, SIZE, generator=g, dtype=torch.float64),
        support_y=labels.repeat_interleave(SHOTS),
        query_x=torch.rand(WAYS * QUERIES, 1, SIZE, SIZE, generator=g, dtype=torch.float64),
        query_y=labels.repeat_interleave(QUERIES),
        classes=tuple(range(WAYS)),
    )


def meta_gradient(algo, task: Task) -> dict[str, torch.Tensor]:
    algo.model.zero_grad(set_to_none=True)
    algo.meta_gradient([task])
    grads = {k: p.grad.detach().clone() for k, p in algo.model.named_parameters()}
    algo.model.zero_grad(set_to_none=True)
    return grads


def support_loss(model: nn.Module, params: dict, task: Task) -> torch.Tensor:
    return F.cross_entropy(functional_call(model, params, (task.support_x,)), task.support_y)


def query_loss(model: nn.Module, params: dict, task: Task) -> torch.Tensor:
    return F.cross_entropy(functional_call(model, params, (task.query_x,)), task.query_y)


def sgd_steps(model: nn.Module, task: Task, steps: int, x=None, y=None, lr: float = LR) -> dict[str, torch.Tensor]:
    """``steps`` plain SGD steps from the model's weights on (x, y) (default the support set), by hand."""
    x = task.support_x if x is None else x
    y = task.support_y if y is None else y
    params = {k: p.detach().clone().requires_grad_() for k, p in model.named_parameters()}
    for _ in range(steps):
        loss = F.cross_entropy(functional_call(model, params, (x,)), y)
        grads = torch.autograd.grad(loss, list(params.values()))
        params = {k: (v - lr * g).detach().requires_grad_() for (k, v), g in zip(params.items(), grads)}
    return params


def close(a: dict, b: dict, tol: float = 1e-10) -> None:
    for k in a:
        err = (a[k] - b[k]).abs().max().item()
        assert err <= tol * max(1.0, b[k].abs().max().item()), f"{k}: max abs error {err:.3e}"


@pytest.mark.parametrize("steps", [1, 3])
def test_first_order_gradient_is_the_query_gradient_at_the_adapted_weights(steps):
    model, task = tiny_model(), make_task(seed=steps)
    got = meta_gradient(FOMAML(model, AlgoConfig(ways=WAYS, inner_steps=steps, inner_lr=LR)), task)
    adapted = sgd_steps(model, task, steps)
    want = dict(zip(adapted, torch.autograd.grad(query_loss(model, adapted, task), list(adapted.values()))))
    close(got, want)


def test_second_order_differs_by_the_hessian_term_only():
    """One inner step: g_MAML = (I - lr H_s(theta)) g_FO, with H_s g_FO a Hessian-vector product."""
    model, task = tiny_model(), make_task(seed=7)
    config = AlgoConfig(ways=WAYS, inner_steps=1, inner_lr=LR)
    second = meta_gradient(MAML(model, config), task)
    first = meta_gradient(FOMAML(model, config), task)
    theta = {k: p.detach().clone().requires_grad_() for k, p in model.named_parameters()}
    g_s = torch.autograd.grad(support_loss(model, theta, task), list(theta.values()), create_graph=True)
    dot = sum((g * first[k]).sum() for g, k in zip(g_s, theta))
    hvp = dict(zip(theta, torch.autograd.grad(dot, list(theta.values()))))
    close(second, {k: first[k] - LR * hvp[k] for k in first})
    assert max((second[k] - first[k]).abs().max().item() for k in first) > 1e-4  # the term is not negligible


@pytest.mark.parametrize("steps", [1, 5])
def test_reptile_moves_toward_the_task_trained_weights(steps):
    model, task = tiny_model(), make_task(seed=20 + steps)
    algo = Reptile(model, AlgoConfig(ways=WAYS, inner_steps=steps, inner_lr=REPTILE_LR))
    got = meta_gradient(algo, task)
    x, y = torch.cat([task.support_x, task.query_x]), torch.cat([task.support_y, task.query_y])
    adapted = sgd_steps(model, task, steps, x, y, lr=REPTILE_LR)
    close(got, {k: p.detach() - adapted[k].detach() for k, p in model.named_parameters()})
    # a plain step of rate 1 along it lands on theta_k, whose loss on the task is lower
    before = F.cross_entropy(model(x), y).item()
    with torch.no_grad():
        for k, p in model.named_parameters():
            p -= got[k]
    assert F.cross_entropy(model(x), y).item() < before
