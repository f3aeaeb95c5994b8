"""Proto-head: step 0 is exactly SimpleShot's nearest-mean classifier; later steps fit the support set."""

from __future__ import annotations

import torch
from test_algorithms_zoo import make_task

from engine.algorithms import ALGORITHMS
from engine.algorithms.protohead import ProtoHead
from engine.config import TrainConfig
from engine.trainer import build_model_and_algorithm


def _pair():
    config = TrainConfig(algo="protohead", device="cpu", inner_steps=10, inner_lr=0.05)
    head = build_model_and_algorithm(config, torch.device("cpu"))
    simple = ALGORITHMS["simpleshot"](head.model, head.config)
    return head, simple


def test_step_zero_is_the_nearest_mean_classifier():
    head, simple = _pair()
    task = make_task(ways=5, shots=3, queries=4, seed=7)
    zero = head.adapt(task.support_x, task.support_y, steps=0)
    reference = simple.adapt(task.support_x, task.support_y)
    torch.testing.assert_close(zero.predict(task.query_x), reference.predict(task.query_x), atol=1e-5, rtol=0)


def test_each_step_is_reported_and_the_support_loss_falls():
    head, _ = _pair()
    task = make_task(ways=5, shots=3, queries=2, seed=8)
    steps = []
    learner = head.adapt(task.support_x, task.support_y, on_step=steps.append)
    assert [s.step for s in steps] == list(range(11))
    assert steps[-1].loss < steps[0].loss
    assert ProtoHead.adapts_by_steps and learner.predict(task.query_x).shape == (10, 5)


def test_steps_change_the_head_but_never_the_features():
    head, simple = _pair()
    before = {k: v.clone() for k, v in head.model.state_dict().items()}
    task = make_task(ways=4, shots=2, queries=3, seed=9)
    ten = head.adapt(task.support_x, task.support_y, steps=10)
    zero = head.adapt(task.support_x, task.support_y, steps=0)
    assert not torch.allclose(ten.predict(task.query_x), zero.predict(task.query_x))
    assert all(torch.equal(before[k], v) for k, v in head.model.state_dict().items())
    torch.testing.assert_close(ten.embed(task.query_x), zero.embed(task.query_x))


def _block_pair():
    config = TrainConfig(algo="protohead", device="cpu", inner_steps=10, inner_lr=0.005, adapt_block=True)
    head = build_model_and_algorithm(config, torch.device("cpu"))
    return head, ALGORITHMS["simpleshot"](head.model, head.config)


def test_with_the_last_block_step_zero_is_still_simpleshot_and_the_steps_move_the_features():
    head, simple = _block_pair()
    assert head.adapts_features
    before = {k: v.clone() for k, v in head.model.state_dict().items()}
    task = make_task(ways=5, shots=3, queries=4, seed=7)
    zero = head.adapt(task.support_x, task.support_y, steps=0)
    torch.testing.assert_close(
        zero.predict(task.query_x), simple.adapt(task.support_x, task.support_y).predict(task.query_x),
        atol=1e-5, rtol=0,
    )
    steps = []
    ten = head.adapt(task.support_x, task.support_y, on_step=steps.append)
    assert [s.step for s in steps] == list(range(11)) and steps[-1].loss < steps[0].loss
    assert not torch.allclose(ten.embed(task.query_x), zero.embed(task.query_x))  # the block moved the features
    assert all(torch.equal(before[k], v) for k, v in head.model.state_dict().items())  # on a copy: model intact
    # step k's learner is that step's state, not the final one
    third = steps[3].state()
    assert not torch.allclose(third.predict(task.query_x), ten.predict(task.query_x))


def test_the_block_is_not_adapted_with_test_time_views():
    config = TrainConfig(algo="protohead", device="cpu", adapt_block=True, tta=2)
    assert not build_model_and_algorithm(config, torch.device("cpu")).adapts_features
