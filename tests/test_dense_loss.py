"""Dense classification in training (``dense_loss``): each place of the last block's unpooled map classified
as its image's class beside the pooled embedding (Lifchitz et al., CVPR 2019)."""

from __future__ import annotations

import pytest
import torch

from engine.build import build_model_and_algorithm
from engine.cli import _config_from_args, build_parser
from engine.config import TrainConfig
from engine.tasks import Task


def _simpleshot(**settings):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, device="cpu", **settings)
    return build_model_and_algorithm(config.validate(), torch.device("cpu"))


def _task() -> Task:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 1, 28, 28, generator=g) > 0.8).float()
    y = torch.arange(4)
    return Task(support_x=x[:4], support_y=y, query_x=x[4:], query_y=y, classes=[3, 1, 7, 2])


def test_the_places_are_the_map_the_embedding_pools():
    algo = _simpleshot(dense_loss=0.5)
    x = torch.rand(5, 1, 28, 28)
    pooled, places = algo.pooled_and_places(x)
    assert torch.allclose(pooled, algo.model.features(x), atol=1e-6)
    assert places.shape == (5 * 9, 64)  # a 3x3 map of 64 channels per image


def test_the_places_add_their_cross_entropy_and_train_the_backbone():
    plain, dense = _simpleshot(), _simpleshot(dense_loss=0.5)
    dense.model.load_state_dict(plain.model.state_dict())
    dense.big_head.load_state_dict(plain.big_head.state_dict())
    task = _task()
    loss_plain, _ = plain.task_loss(task)
    loss_dense, _ = dense.task_loss(task)
    assert loss_dense > loss_plain  # a second, positive cross-entropy on top of the same one
    loss_dense.backward()
    assert dense.model.features[0][0].weight.grad.abs().sum() > 0
    # other backbones and ensembles have no single last map: the option is off for them
    assert TrainConfig(dense_loss=0.5, members=2).algo_config().dense_loss == 0
    assert TrainConfig(dense_loss=0.5).algo_config().dense_loss == 0.5


def test_the_cli_sets_it_and_refuses_a_negative_weight():
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "simpleshot", "--dense-loss", "0.5"]))
    assert parsed.dense_loss == 0.5 and TrainConfig().dense_loss == 0
    with pytest.raises(ValueError, match="dense_loss"):
        TrainConfig(dense_loss=-1).validate()
