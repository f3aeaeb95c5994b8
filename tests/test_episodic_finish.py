"""The episodic finish (engine.finish, issue #18): the last fraction of a SimpleShot / Proto-head run trains the
backbone on Lake-shaped episodes (20 classes of one alphabet, one drawing each) by the nearest-mean rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.build import build_model_and_algorithm
from engine.cli import _config_from_args, build_parser
from engine.config import TrainConfig, from_recipe
from engine.data import DataError
from engine.events import Finished, IterationMetrics
from engine.finish import FINISH_QUERIES, FINISH_WAYS, EpisodicFinish, finish_sampler
from engine.trainer import meta_step, run


def _config(**changes) -> TrainConfig:
    return TrainConfig(algo="protohead", ways=8, shots=1, queries=1, meta_batch=1, iterations=12, val_every=0,
                       workers=1, **changes)


def test_the_last_fraction_of_a_run_trains_the_backbone_on_one_alphabet_episodes(small_glyph_pool):
    config = _config(episodic_finish=0.25, lr_decay=True)
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    heads, backbones = [], []
    events = []
    for event in run(config, pool=small_glyph_pool, algo=algo):
        events.append(event)
        if isinstance(event, IterationMetrics):
            heads.append(algo.big_head.weight.detach().clone())
            backbones.append([p.detach().clone() for p in algo.model.features.parameters()])
    steps = [e for e in events if isinstance(e, IterationMetrics)]
    assert [e.phase for e in steps] == ["train"] * 9 + ["finish"] * 3
    for before, after in zip(heads[8:], heads[9:]):  # the classifier's head rests while the features finish
        assert torch.equal(before, after)
    for before, after in zip(backbones[8:], backbones[9:]):
        assert any(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(0 <= e.accuracy <= 1 and e.loss == e.loss for e in steps[9:])
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.iterations == 12
    assert "the last 3 on 20-way 1-shot episodes of one alphabet" in finished.message


def test_the_finish_episodes_are_lake_shaped_within_one_alphabet(small_glyph_pool):
    pool = small_glyph_pool.with_mirrored_classes("train")
    sampler, note = finish_sampler(pool, _config())
    assert (sampler.ways, sampler.shots, sampler.queries, note) == (FINISH_WAYS, 1, FINISH_QUERIES, "")
    for index in range(5):
        task = sampler.episode(index)
        assert {pool.class_groups[c] for c in task.classes} == {pool.class_groups[task.classes[0]]}
        assert set(task.classes) <= set(pool.split_classes("train"))
        assert task.support_x.shape[0] == FINISH_WAYS and task.query_x.shape[0] == FINISH_WAYS * FINISH_QUERIES


def test_the_finish_mixes_alphabets_or_takes_fewer_ways_where_the_data_is_small(small_glyph_pool):
    one_group_each = replace(small_glyph_pool.with_splits({"train": list(range(30)), "val": [], "test": []}),
                             class_groups=[f"g{c}" for c in range(small_glyph_pool.num_classes)])  # a folder's
    sampler, note = finish_sampler(one_group_each, _config())
    assert sampler.ways == FINISH_WAYS and not sampler.groups and "mix alphabets" in note
    few = small_glyph_pool.with_splits({"train": list(range(6)), "val": [], "test": []})
    assert finish_sampler(few, _config())[0].ways == 6
    with pytest.raises(DataError, match="at least 2 training classes"):
        finish_sampler(small_glyph_pool.with_splits({"train": [0], "val": [], "test": []}), _config())


def test_finish_steps_lower_an_episode_nearest_mean_loss(small_glyph_pool):
    config = _config(episodic_finish=0.5)
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    algo.size_class_head(small_glyph_pool.num_classes)
    finish = EpisodicFinish(algo, small_glyph_pool, config)
    task = finish.sampler.episode(0)
    first = algo.episode_loss(task)[0].item()
    for _ in range(10):
        meta_step(finish, finish.optimizer, [task])
    assert algo.episode_loss(task)[0].item() < 0.8 * first
    finish.set_progress(0.5)
    assert finish.optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * finish.optimizer.defaults["lr"])
    finish.set_progress(1.0)
    assert finish.optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


def test_the_option_is_checked_set_by_the_cli_and_carried_by_recipes():
    assert TrainConfig().episodic_finish == 0.0
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "simpleshot", "--episodic-finish", "0.3"]))
    assert parsed.episodic_finish == 0.3
    with pytest.raises(DataError, match="fraction of the run"):
        _config(episodic_finish=1.0).validate()
    with pytest.raises(DataError, match="not protonet"):
        TrainConfig(algo="protonet", episodic_finish=0.2).validate()
    assert from_recipe("quick").episodic_finish == 0.0
