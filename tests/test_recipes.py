"""Recipes: ``train`` with no options trains what the window's Start trains; ``--recipe`` and
``--algo`` bring their settings and explicit options override them; scoring protocols and
units in the command line's JSON."""

from __future__ import annotations

import json

import pytest
from test_cli import cli

from engine.cli import build_parser, train_config
from engine.config import TrainConfig, app_defaults, from_recipe, recommended_shape
from engine.recipes import RECIPES, recipe, recipe_for_algorithm


def _train(*argv: str) -> TrainConfig:
    return train_config(build_parser().parse_args(["train", *argv]))


def test_train_with_no_options_is_what_start_trains():
    assert _train() == app_defaults() == from_recipe("quick")


def test_algo_alone_brings_its_own_recipe_and_explicit_options_win():
    assert _train("--algo", "maml") == TrainConfig(**recipe("maml"))
    config = _train("--algo", "maml", "--ways", "20", "--inner-steps", "3", "--no-rotations")
    assert (config.algo, config.ways, config.inner_steps, config.rotations) == ("maml", 20, 3, False)
    assert config.queries == recipe("maml")["queries"]  # what was not given still comes from the recipe
    quick_five = _train("--recipe", "quick", "--ways", "5")
    assert (quick_five.algo, quick_five.ways, quick_five.iterations) == (
        RECIPES["quick"]["algo"],
        5,
        RECIPES["quick"]["iterations"],
    )


def test_every_algorithm_has_a_recipe_whose_shape_the_window_uses():
    from engine.config import ALGORITHM_CHOICES

    for algo in ALGORITHM_CHOICES:
        settings = recipe_for_algorithm(algo)
        assert settings["algo"] == algo
        TrainConfig(**settings).validate()
        assert recommended_shape(algo) == {
            k: getattr(TrainConfig(**settings), k) for k in ("ways", "shots", "queries", "meta_batch")
        }


def test_unknown_recipe_is_bad_input():
    result = cli("train", "--recipe", "nonsense")
    assert result.returncode == 2 and "invalid choice" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(KeyError, match="choose one of"):
        recipe("nonsense")


@pytest.fixture(scope="module")
def protonet_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipes") / "proto.pt"
    result = cli(
        "train",
        "--algo",
        "protonet",
        "--iterations",
        "3",
        "--meta-batch",
        "2",
        "--queries",
        "3",
        "--val-every",
        "0",
        "--checkpoint",
        str(path),
    )
    assert result.returncode == 0, result.stderr
    return path


def test_eval_prints_its_result_on_stdout_and_names_shape_and_protocol(protonet_checkpoint):
    plain = cli("eval", "--checkpoint", str(protonet_checkpoint), "--episodes", "5")
    assert plain.returncode == 0, plain.stderr
    assert "accuracy" in plain.stdout and "5-way 1-shot" in plain.stdout and "inductive" in plain.stdout
    result = cli(
        "eval", "--checkpoint", str(protonet_checkpoint), "--episodes", "5", "--protocol", "transductive", "--json"
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["protocol"] == "transductive" and 0.0 <= summary["accuracy"] <= 1.0
    assert (summary["ways"], summary["shots"]) == (5, 1)
