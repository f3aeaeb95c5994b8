"""Training options for learning from few classes (issue #18): mirrored classes, the cosine head, the decaying
learning rate. Each one changes what the run trains on or how, and is off unless asked for."""

from __future__ import annotations

import math

import pytest
import torch

from engine.algorithms.finetune import COSINE_SCALE
from engine.build import build_model_and_algorithm
from engine.cli import _config_from_args, build_parser
from engine.config import TrainConfig
from engine.distributed import DistContext
from engine.events import Started
from engine.trainer import RunControl, _Training, run


def test_mirrored_classes_are_new_training_classes_of_flipped_images(small_glyph_pool):
    pool = small_glyph_pool
    mirrored = pool.with_mirrored_classes("train")
    train = pool.split_classes("train")
    assert mirrored.num_classes == pool.num_classes + len(train)
    assert mirrored.split_classes("train")[: len(train)] == train
    assert mirrored.split_classes("val") == pool.split_classes("val")  # held-out classes are left alone
    assert mirrored.split_classes("test") == pool.split_classes("test")
    for offset, cls in enumerate(train[:5]):
        new = pool.num_classes + offset
        assert mirrored.class_names[new] == f"{pool.class_names[cls]}/mirror"
        assert mirrored.class_groups[new] == pool.class_groups[cls]
        assert torch.equal(mirrored.images[mirrored.members(new)], torch.flip(pool.images[pool.members(cls)], (2,)))
    assert torch.equal(mirrored.images[: len(pool.images)], pool.images)  # the originals are kept, in place


def test_a_run_with_mirrors_trains_on_twice_the_classes(small_glyph_pool):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=0,
                         workers=1)
    started = {m: next(e for e in run(config.replace(mirrors=m), RunControl(), pool=small_glyph_pool)
                       if isinstance(e, Started)) for m in (False, True)}
    assert started[True].data_summary["train"]["classes"] == 2 * started[False].data_summary["train"]["classes"]
    assert started[True].data_summary["val"] == started[False].data_summary["val"]


def test_the_cosine_head_scores_classes_by_angle(small_glyph_pool):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1)
    plain = build_model_and_algorithm(config, torch.device("cpu"))
    cosine = build_model_and_algorithm(config.replace(cosine_head=True), torch.device("cpu"))
    feats = torch.randn(6, cosine.big_head.in_features)
    logits = cosine.class_logits(feats)
    assert logits.abs().max() <= COSINE_SCALE + 1e-4
    # a feature's length does not change its scores (it does for the linear head)
    assert torch.allclose(cosine.class_logits(3 * feats), logits, atol=1e-5)
    assert not torch.allclose(plain.class_logits(3 * feats), plain.class_logits(feats))


@pytest.mark.parametrize("budget", [None, 1000.0])
def test_the_learning_rate_decays_along_a_half_cosine(small_glyph_pool, budget):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=10, val_every=0,
                         workers=1, lr_decay=True, outer_lr=0.002, time_budget=budget)
    training = _Training(config, RunControl(), small_glyph_pool, DistContext(), None)
    training.begin()
    rates = []
    for iteration in range(config.iterations):
        training._decay_learning_rate(iteration, training.began)  # no time spent: the iterations set the pace
        rates.append(training.optimizer.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(0.002)
    assert rates[5] == pytest.approx(0.001)
    assert rates == sorted(rates, reverse=True) and rates[-1] < 0.0001
    if budget:  # with a time budget, the clock sets the pace when it runs ahead of the iterations
        training._decay_learning_rate(0, training.began + budget * 0.75)
        assert training.optimizer.param_groups[0]["lr"] == pytest.approx(0.002 * 0.5 * (1 + math.cos(math.pi * 0.75)))
    training.close_helpers()


def test_the_options_are_off_by_default_and_set_by_the_cli():
    config = TrainConfig()
    assert (config.mirrors, config.cosine_head, config.lr_decay) == (False, False, False)
    parsed = _config_from_args(build_parser().parse_args(["train", "--mirrors", "--cosine-head", "--lr-decay"]))
    assert (parsed.mirrors, parsed.cosine_head, parsed.lr_decay) == (True, True, True)
