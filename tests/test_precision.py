"""bf16 autocast for meta-gradients: it runs, weights and optimiser stay float32, settings are checked."""

from __future__ import annotations

import pytest
import torch

from engine.config import TrainConfig
from engine.data.base import DataError
from engine.events import Finished
from engine.tasks import TaskSampler
from engine.trainer import build_model_and_algorithm, meta_step, run


def test_bf16_meta_step_keeps_float32_weights_and_close_gradients(small_glyph_pool):
    config = TrainConfig(algo="maml", meta_batch=2, queries=5)
    tasks = TaskSampler(small_glyph_pool, "train", 5, 1, 5, seed=0).batch(0, 2)
    grads = {}
    for precision in ("fp32", "bf16"):
        algo = build_model_and_algorithm(config, torch.device("cpu"))
        optimizer = torch.optim.SGD(algo.outer_parameters(), lr=0.0)
        loss, _ = meta_step(algo, optimizer, tasks, precision=precision)
        assert loss == loss and all(
            p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in algo.model.parameters()
        )
        grads[precision] = torch.cat([p.grad.flatten() for p in algo.model.parameters()])
    relative = ((grads["bf16"] - grads["fp32"]).norm() / grads["fp32"].norm()).item()
    assert 0 < relative < 0.5  # bf16 really was used (not bit-identical), and it is the same gradient up to rounding


def test_a_bf16_run_finishes_and_unknown_precision_is_refused(small_glyph_pool):
    config = TrainConfig(
        algo="protonet", iterations=3, meta_batch=2, queries=5, val_every=3, val_episodes=4, precision="bf16"
    )
    finished = [e for e in run(config, pool=small_glyph_pool) if isinstance(e, Finished)][0]
    assert finished.reason == "completed" and finished.val_acc is not None
    with pytest.raises(DataError, match="precision"):
        TrainConfig(precision="fp8").validate()
