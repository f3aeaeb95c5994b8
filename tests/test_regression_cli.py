"""``main.py train/eval --dataset sine`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json

import torch
from test_cli import assert_bad_input, cli


def test_sine_train_then_eval_round_trip(tmp_path):
    path = tmp_path / "sine.pt"
    trained = cli(
        "train",
        "--dataset",
        "sine",
        "--algo",
        "maml",
        "--shots",
        "10",
        "--iterations",
        "20",
        "--val-every",
        "10",
        "--val-episodes",
        "8",
        "--checkpoint",
        str(path),
        "--json",
    )
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert result["iterations"] == 20 and result["checkpoint"] == str(path)
    assert result["val_mse"] > 0 and result["val_mse_ci95"] >= 0 and result["val_acc"] is None
    assert "validation MSE" in trained.stderr
    config = torch.load(path, weights_only=True)["config"]
    assert config["backbone"] == "mlp" and config["inner_lr"] == 0.01 and config["meta_batch"] == 25

    evaluated = cli(
        "eval", "--checkpoint", str(path), "--shots", "10", "--inner-steps", "4", "--episodes", "30", "--json"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert scores["episodes"] == 30 and scores["protocol"] == "inductive"
    assert len(scores["mse_by_step"]) == 5 and scores["mse"] == scores["mse_by_step"][-1] and scores["ci95"] > 0
    assert_bad_input(cli("eval", "--checkpoint", str(path), "--dataset", "synthetic"), "trained on sine")


def test_protonet_refuses_sine_in_one_line():
    assert_bad_input(
        cli("train", "--dataset", "sine", "--algo", "protonet", "--iterations", "1"), "protonet", "regression", "maml"
    )


def test_sine_needs_the_mlp_backbone():
    assert_bad_input(cli("train", "--dataset", "sine", "--backbone", "conv4", "--iterations", "1"), "--backbone mlp")


def test_compare_says_it_is_for_images():
    assert_bad_input(cli("compare", "--dataset", "sine", "--algos", "maml,finetune"), "sine", "bench/sine_mse.py")
