"""The headless command line, run as a user runs it: ``python main.py ...`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO

TRAIN_KEYS = {
    "iterations",
    "seconds",
    "tasks_per_second",
    "train_loss",
    "train_acc",
    "val_acc",
    "val_ci95",
    "checkpoint",
}


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "main.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_bad_input(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, exactly one non-empty line on stderr, no traceback; return that line."""
    assert result.returncode == 2, f"exit {result.returncode}\nstderr:\n{result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one line on stderr, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for needle in needles:
        assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short CLI training run shared by the tests below: (completed process, checkpoint path)."""
    path = tmp_path_factory.mktemp("cli") / "model.pt"
    result = cli(
        "train",
        "--iterations",
        "4",
        "--meta-batch",
        "2",
        "--val-every",
        "2",
        "--val-episodes",
        "4",
        "--queries",
        "5",
        "--json",
        "--checkpoint",
        str(path),
    )
    return result, path


def test_train_json(trained):
    result, path = trained
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert TRAIN_KEYS <= summary.keys()
    assert summary["iterations"] == 4
    assert summary["checkpoint"] == str(path) and path.is_file()
    assert 0.0 <= summary["val_acc"] <= 1.0 and summary["val_ci95"] >= 0.0
    assert 0.0 <= summary["train_acc"] <= 1.0 and summary["train_loss"] > 0.0
    assert summary["seconds"] > 0.0 and summary["tasks_per_second"] > 0.0
    assert "validation accuracy" in result.stderr  # the progress output goes to stderr, not stdout


def test_eval_json(trained):
    _, path = trained
    result = cli("eval", "--checkpoint", str(path), "--episodes", "10", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"accuracy", "ci95", "episodes"} <= summary.keys()
    assert summary["episodes"] == 10 and 0.0 <= summary["accuracy"] <= 1.0 and summary["ci95"] >= 0.0


def test_missing_data_folder():
    assert_bad_input(cli("train", "--dataset", "omniglot", "--data-root", "/nonexistent"), "/nonexistent")


def test_missing_data_root_argument():
    assert_bad_input(cli("train", "--dataset", "omniglot"), "--data-root")


def test_empty_zip(tmp_path):
    zipfile.ZipFile(tmp_path / "images_background_small1.zip", "w").close()
    assert_bad_input(
        cli("train", "--dataset", "omniglot", "--data-root", str(tmp_path)), "images_background_small1.zip"
    )


def test_broken_zip(tmp_path):
    (tmp_path / "images_background_small1.zip").write_bytes(os.urandom(4096))
    assert_bad_input(cli("train", "--dataset", "omniglot", "--data-root", str(tmp_path)), "zip")


def test_ways_larger_than_classes():
    assert_bad_input(cli("train", "--ways", "1000", "--iterations", "1"), "1000", "--ways")


def test_zero_shots():
    assert_bad_input(cli("train", "--shots", "0", "--iterations", "1"), "shots")


def test_unreadable_checkpoint(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    assert_bad_input(cli("eval", "--checkpoint", str(text), "--episodes", "2"), "notes.txt")
    assert_bad_input(cli("eval", "--checkpoint", str(tmp_path / "absent.pt")), "absent.pt")


def test_eval_ways_larger_than_classes(trained):
    _, path = trained
    assert_bad_input(cli("eval", "--checkpoint", str(path), "--ways", "500", "--episodes", "2"), "500")


def test_challenge_missing_runs(trained):
    _, path = trained
    assert_bad_input(
        cli("omniglot-challenge", "--checkpoint", str(path), "--runs", "/nonexistent/all_runs.zip"), "/nonexistent"
    )


def test_bad_argument_in_a_real_process():
    assert_bad_input(cli("train", "--ways", "five"), "--ways")
    assert_bad_input(cli("train", "--iterations", "0"), "iterations")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--ways", "five"], "--ways"),
        (["train", "--algo", "nonsense"], "--algo"),
        (["train", "--iterations", "0"], "iterations"),
        (["train", "--inner-lr", "-1"], "inner learning rate"),
        (["train", "--resume"], "--checkpoint"),
        (["eval"], "--checkpoint"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_arguments(args, needle, capsys):
    """The same contract in-process (no torch start-up per case): exit 2, one line naming the problem."""
    from engine.cli import main

    try:
        code = main(args)
    except SystemExit as exc:  # argparse exits from inside parse_args
        code = exc.code
    out = capsys.readouterr()
    assert code == 2
    lines = out.err.splitlines()
    assert len(lines) == 1 and needle.lower() in lines[0].lower(), out.err
    assert "Traceback" not in out.err
