"""MAML's meta-gradient equals a plain per-task autograd reference.

The reference never touches the engine: it copies the leaf parameters into a
list by hand, writes the forward pass with ``torch.nn.functional`` ops, takes
the inner steps with ``torch.autograd.grad(create_graph=True)`` (or detached
gradients for first order) and backpropagates the mean query loss to the
original leaves. The engine must agree to 1e-10 in float64.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.algorithms import AlgoConfig
from engine.algorithms.maml import FOMAML, MAML
from engine.models import Flatten, TaskBatchNorm2d
from engine.tasks import Task

WAYS, SHOTS, QUERIES, SIZE, CH = 3, 2, 2, 8, 4
INNER_LR = 0.3
TOL = 1e-10


class TinyNet(nn.Module):
    """conv3x3 -> TaskBatchNorm2d -> ReLU -> maxpool -> conv3x3 -> TaskBatchNorm2d -> ReLU -> linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, CH, 3, padding=1),
            TaskBatchNorm2d(CH),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(CH, CH, 3, padding=1),
            TaskBatchNorm2d(CH),
            nn.ReLU(),
            Flatten(),
        )
        self.head = nn.Linear(CH * (SIZE // 2) ** 2, WAYS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def bn_functional(x, w, b, eps=1e-5):
    return F.batch_norm(x, None, None, w, b, True, 0.0, eps)


def bn_plain(x, w, b, eps=1e-5):
    """BatchNorm from plain tensor ops: biased variance over (N, H, W)."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)


def reference_forward(p: list[torch.Tensor], x: torch.Tensor, bn) -> torch.Tensor:
    """The TinyNet forward written by hand; ``p`` in ``named_parameters`` order."""
    c1w, c1b, n1w, n1b, c2w, c2b, n2w, n2b, hw, hb = p
    h = F.max_pool2d(F.relu(bn(F.conv2d(x, c1w, c1b, padding=1), n1w, n1b)), 2)
    h = F.relu(bn(F.conv2d(h, c2w, c2b, padding=1), n2w, n2b))
    return F.linear(h.flatten(1), hw, hb)


def reference_meta_gradient(
    model: nn.Module, tasks: list[Task], steps: int, first_order: bool, bn
) -> list[torch.Tensor]:
    leaves = [p.detach().clone().requires_grad_() for p in model.parameters()]
    total = 0.0
    for task in tasks:
        fast = list(leaves)
        for _ in range(steps):
            loss = F.cross_entropy(reference_forward(fast, task.support_x, bn), task.support_y)
            grads = torch.autograd.grad(loss, fast, create_graph=not first_order)
            if first_order:
                grads = [g.detach() for g in grads]
            fast = [w - INNER_LR * g for w, g in zip(fast, grads)]
        total = total + F.cross_entropy(reference_forward(fast, task.query_x, bn), task.query_y)
    (total / len(tasks)).backward()
    return [leaf.grad for leaf in leaves]


def make_tasks(seed: int, count: int = 2) -> list[Task]:
    g = torch.Generator().manual_seed(seed)
    tasks = []
    for _ in range(count):
        labels = torch.arange(WAYS)
        tasks.append(
            Task(
                support_x=torch.rand(WAYS * SHOTS, 1, SIZE, SIZE, generator=g, dtype=torch.float64),
                support_y=labels.repeat_interleave(SHOTS),
                query_x=torch.rand(WAYS * QUERIES, 1, SIZE, SIZE, generator=g, dtype=torch.float64),
                query_y=labels.repeat_interleave(QUERIES),
                classes=tuple(range(WAYS)),
            )
        )
    return tasks


def engine_meta_gradient(cls, steps: int, first_order: bool, model: nn.Module, tasks: list[Task]) -> list[torch.Tensor]:
    algo = cls(model, AlgoConfig(ways=WAYS, inner_steps=steps, inner_lr=INNER_LR, first_order=first_order))
    model.zero_grad(set_to_none=True)
    loss, acc = algo.meta_gradient(tasks)
    assert torch.isfinite(torch.tensor(loss)) and 0.0 <= acc <= 1.0
    grads = [p.grad.detach().clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return grads


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet().double()


def assert_grads_equal(got: list[torch.Tensor], want: list[torch.Tensor], names: list[str]) -> None:
    assert len(got) == len(want)
    for name, g, w in zip(names, got, want):
        assert g.shape == w.shape
        err = (g - w).abs().max().item()
        scale = max(w.abs().max().item(), 1e-12)
        assert err <= TOL * max(1.0, scale), f"{name}: max abs error {err:.3e} (grad scale {scale:.3e})"


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("bn", [bn_functional, bn_plain], ids=["F.batch_norm", "plain-ops-bn"])
def test_second_order_matches_reference(steps, bn):
    model, tasks = tiny_model(), make_tasks(seed=steps)
    names = [n for n, _ in model.named_parameters()]
    want = reference_meta_gradient(model, tasks, steps, first_order=False, bn=bn)
    got = engine_meta_gradient(MAML, steps, False, model, tasks)
    assert_grads_equal(got, want, names)


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("cls,flag", [(FOMAML, False), (MAML, True)], ids=["FOMAML-class", "MAML-first_order-flag"])
def test_first_order_matches_reference(steps, cls, flag):
    model, tasks = tiny_model(), make_tasks(seed=10 + steps)
    names = [n for n, _ in model.named_parameters()]
    want = reference_meta_gradient(model, tasks, steps, first_order=True, bn=bn_plain)
    got = engine_meta_gradient(cls, steps, flag, model, tasks)
    assert_grads_equal(got, want, names)


def test_second_and_first_order_differ():
    """The comparison above can tell the two apart: the second-order terms are not negligible."""
    model, tasks = tiny_model(), make_tasks(seed=3)
    second = engine_meta_gradient(MAML, 3, False, model, tasks)
    first = engine_meta_gradient(FOMAML, 3, True, model, tasks)
    diff = max((a - b).abs().max().item() for a, b in zip(second, first))
    assert diff > 1e-4


def test_task_batchnorm_matches_plain_ops_including_second_derivatives():
    """TaskBatchNorm2d forward, gradient and gradient-of-gradient equal the plain-op BatchNorm."""
    torch.manual_seed(1)
    bn = TaskBatchNorm2d(3).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    outs = []
    for f in (lambda t: bn(t), lambda t: bn_plain(t, bn.weight, bn.bias, bn.eps)):
        y = f(x)
        (gx,) = torch.autograd.grad((y.sin() * y).sum(), x, create_graph=True)
        (ggx,) = torch.autograd.grad(gx.pow(2).sum(), x)
        outs.append((y.detach(), gx.detach(), ggx))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
