"""The batched (vmap) MAML meta-gradient (engine/algorithms/batched.py) equals the per-task loop."""

from __future__ import annotations

import math

import pytest
import torch

from engine.algorithms import AlgoConfig, Interrupted, build_algorithm
from engine.algorithms import batched as batched_module
from engine.cli import _config_from_args, build_parser
from engine.config import TrainConfig
from engine.data.base import DataError
from engine.events import Finished, IterationMetrics
from engine.models import CHANNELS_LAST_MIN_BATCH, Conv2d, Conv4
from engine.tasks import Task
from engine.trainer import RunControl, run

WAYS = 3


def tasks(count: int, queries: int, seed: int = 0, dtype=torch.float64) -> list[Task]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        support = (torch.rand(2 * WAYS, 1, 28, 28, generator=g) > 0.8).to(dtype)
        query = (torch.rand(queries * WAYS, 1, 28, 28, generator=g) > 0.8).to(dtype)
        out.append(
            Task(support, torch.arange(WAYS).repeat(2), query, torch.arange(WAYS).repeat(queries), tuple(range(WAYS)))
        )
    return out


def meta_gradient(
    name: str, batch: list[Task], batch_tasks: bool, first_order: bool = False
) -> tuple[list[torch.Tensor], float, float, Conv4]:
    torch.manual_seed(0)
    model = Conv4(ways=WAYS).double()
    algo = build_algorithm(
        name,
        model,
        AlgoConfig(ways=WAYS, inner_steps=2, inner_lr=0.4, first_order=first_order, batch_tasks=batch_tasks),
    )
    loss, acc = algo.meta_gradient(batch)
    return [p.grad.clone() for p in model.parameters()], loss, acc, model


@pytest.mark.parametrize("name", ["maml", "fomaml"])
def test_batched_meta_gradient_equals_the_loop(name, monkeypatch):
    calls = []
    real = batched_module.batched_meta_gradient
    monkeypatch.setattr("engine.algorithms.maml.batched_meta_gradient", lambda *a: calls.append(1) or real(*a))
    # queries enough for the loop's channels-last path: the batched pass runs NCHW and must agree anyway
    batch = tasks(4, queries=CHANNELS_LAST_MIN_BATCH // WAYS + 1)
    loop_grads, loop_loss, loop_acc, _ = meta_gradient(name, batch, batch_tasks=False)
    assert calls == []
    grads, loss, acc, model = meta_gradient(name, batch, batch_tasks=True)
    assert calls == [1]
    for a, b in zip(grads, loop_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert math.isclose(loss, loop_loss, rel_tol=1e-9) and math.isclose(acc, loop_acc, rel_tol=1e-9)
    # the channels-last fast path is switched back on for the loop and for adaptation
    assert all(m.channels_last for m in model.modules() if isinstance(m, Conv2d))


def test_gradients_accumulate_like_the_loop():
    batch = tasks(2, queries=2)
    torch.manual_seed(0)
    model = Conv4(ways=WAYS).double()
    algo = build_algorithm("maml", model, AlgoConfig(ways=WAYS, batch_tasks=True))
    algo.meta_gradient(batch)
    once = [p.grad.clone() for p in model.parameters()]
    algo.meta_gradient(batch)
    for twice, single in zip((p.grad for p in model.parameters()), once):
        torch.testing.assert_close(twice, 2 * single)


@pytest.mark.parametrize("name", ["anil", "metasgd"])
def test_algorithms_with_their_own_inner_loop_keep_the_loop(name, monkeypatch):
    monkeypatch.setattr("engine.algorithms.maml.batched_meta_gradient", lambda *a: pytest.fail("batched"))
    batch = tasks(2, queries=2)
    grads, *_ = meta_gradient(name, batch, batch_tasks=True)
    loop, *_ = meta_gradient(name, batch, batch_tasks=False)
    for a, b in zip(grads, loop):
        torch.testing.assert_close(a, b)


def test_mixed_shapes_or_other_ways_fall_back_to_the_loop(monkeypatch):
    monkeypatch.setattr("engine.algorithms.maml.batched_meta_gradient", lambda *a: pytest.fail("batched"))
    mixed = tasks(1, queries=2) + tasks(1, queries=3, seed=1)
    meta_gradient("maml", mixed, batch_tasks=True)
    # tasks of other ways than the head's (base_params would resize it) are not batched either
    algo = build_algorithm("maml", Conv4(ways=WAYS).double(), AlgoConfig(ways=WAYS, batch_tasks=True))
    assert batched_module.can_batch(algo, tasks(2, queries=2))
    four_way = [Task(t.support_x, t.support_y, t.query_x, t.query_y, (0, 1, 2, 3)) for t in tasks(2, queries=2)]
    assert not batched_module.can_batch(algo, four_way)


def test_a_failing_batched_pass_falls_back_to_the_loop_for_good(monkeypatch):
    calls = []

    def out_of_memory(*_args):
        calls.append(1)
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr("engine.algorithms.maml.batched_meta_gradient", out_of_memory)
    batch = tasks(2, queries=2)
    loop, *_ = meta_gradient("maml", batch, batch_tasks=False)
    torch.manual_seed(0)
    model = Conv4(ways=WAYS).double()
    algo = build_algorithm("maml", model, AlgoConfig(ways=WAYS, inner_steps=2, inner_lr=0.4, batch_tasks=True))
    with pytest.warns(RuntimeWarning, match="per-task loop"):
        algo.meta_gradient(batch)
    for a, b in zip((p.grad for p in model.parameters()), loop):
        torch.testing.assert_close(a, b)
    algo.meta_gradient(batch)
    assert calls == [1]


def test_a_stop_request_interrupts_before_the_batch():
    algo = build_algorithm("maml", Conv4(ways=WAYS).double(), AlgoConfig(ways=WAYS, batch_tasks=True))
    with pytest.raises(Interrupted):
        algo.meta_gradient(tasks(2, queries=2), should_stop=lambda: True)


def test_auto_batches_on_cuda_only_and_the_flag_overrides():
    assert TrainConfig().batch_tasks == "auto"
    assert TrainConfig().algo_config("cpu").batch_tasks is False
    assert TrainConfig().algo_config("cuda").batch_tasks is True
    assert TrainConfig(batch_tasks="on").algo_config("cpu").batch_tasks is True
    assert TrainConfig(batch_tasks="off").algo_config("cuda").batch_tasks is False
    with pytest.raises(DataError, match="batch-tasks"):
        TrainConfig(batch_tasks="yes").validate()
    parse = build_parser().parse_args
    assert _config_from_args(parse(["train", "--batch-tasks", "on"])).batch_tasks == "on"


def test_a_run_with_batched_tasks_trains(small_glyph_pool):
    config = TrainConfig(
        algo="maml", ways=WAYS, shots=1, queries=2, meta_batch=4, iterations=3, val_every=0, workers=1, batch_tasks="on"
    )
    events = list(run(config, RunControl(), pool=small_glyph_pool))
    losses = [e.loss for e in events if isinstance(e, IterationMetrics)]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert isinstance(events[-1], Finished)
