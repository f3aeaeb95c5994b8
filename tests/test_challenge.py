"""Lake et al.'s one-shot challenge reader and scorer, on a fixture built here in Lake's format.

Each run ``runNN`` has ``training/classKK.png`` (one drawing per class),
``test/itemMM.png`` and ``class_labels.txt`` lines
``runNN/test/itemMM.png runNN/training/classKK.png``; images are 105x105
black strokes on white, as in the original.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image

from engine.algorithms import AlgoConfig
from engine.algorithms.maml import MAML
from engine.algorithms.protonet import ProtoNet
from engine.challenge import load_runs, run_challenge
from engine.config import TrainConfig
from engine.data.base import DataError
from engine.models import Conv4
from engine.trainer import run

RUNS, CLASSES = 2, 20


def lake_png(image: torch.Tensor, path: Path) -> None:
    """uint8 28x28 bright-on-dark -> 105x105 dark-on-white PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(255 - image.numpy(), mode="L").resize((105, 105), Image.Resampling.BILINEAR).save(path)


def build_runs(pool, root: Path, exact_copies: bool = False) -> dict[str, list[int]]:
    """Write RUNS runs under ``root``; return run name -> true class index (0-based) of each test item."""
    truth = {}
    train_classes = pool.split_classes("train")
    rng = np.random.default_rng(0)
    for r in range(1, RUNS + 1):
        name = f"run{r:02d}"
        classes = train_classes[(r - 1) * CLASSES : r * CLASSES]
        order = rng.permutation(CLASSES)  # item m shows class order[m]
        lines = []
        for k, c in enumerate(classes):
            lake_png(pool.images[pool.members(c)[0]], root / name / "training" / f"class{k + 1:02d}.png")
        for m, k in enumerate(order):
            example = 0 if exact_copies else 1
            lake_png(pool.images[pool.members(classes[k])[example]], root / name / "test" / f"item{m + 1:02d}.png")
            lines.append(f"{name}/test/item{m + 1:02d}.png {name}/training/class{k + 1:02d}.png")
        (root / name / "class_labels.txt").write_text("\n".join(lines) + "\n")
        truth[name] = [int(k) for k in order]
    return truth


def zip_runs(folder: Path, target: Path, prefix: str) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return target


@pytest.fixture(scope="module")
def runs_folder(small_glyph_pool, tmp_path_factory):
    root = tmp_path_factory.mktemp("lake") / "runs"
    return root, build_runs(small_glyph_pool, root)


def untrained_protonet() -> ProtoNet:
    torch.manual_seed(0)
    return ProtoNet(Conv4(), AlgoConfig())


def test_folder_reader_gets_labels_and_images_right(runs_folder):
    root, truth = runs_folder
    runs = load_runs(root)
    assert [r.name for r in runs] == ["run01", "run02"]
    for r in runs:
        assert r.support_x.shape == (CLASSES, 1, 28, 28) and r.query_x.shape == (CLASSES, 1, 28, 28)
        assert r.query_y.tolist() == truth[r.name]
        # strokes come back bright on dark: the border is dark, the strokes bright
        border = torch.cat([r.support_x[..., 0, :], r.support_x[..., -1, :]]).mean()
        assert border < 0.1 and r.support_x.amax() > 0.7


@pytest.mark.parametrize("prefix", ["all_runs/", ""], ids=["top-folder", "flat"])
def test_zip_reads_like_the_folder(runs_folder, tmp_path, prefix):
    root, _ = runs_folder
    from_folder = load_runs(root)
    from_zip = load_runs(zip_runs(root, tmp_path / "all_runs.zip", prefix))
    assert [r.name for r in from_zip] == [r.name for r in from_folder]
    for a, b in zip(from_folder, from_zip):
        assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_x, b.query_x)
        assert torch.equal(a.query_y, b.query_y)


def test_bad_runs_are_data_errors(tmp_path, runs_folder):
    with pytest.raises(DataError, match="does not exist"):
        load_runs(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="class_labels"):
        load_runs(tmp_path / "empty")
    (tmp_path / "broken.zip").write_bytes(os.urandom(1000))
    with pytest.raises(DataError, match="zip"):
        load_runs(tmp_path / "broken.zip")
    root, _ = runs_folder
    partial = zip_runs(root, tmp_path / "partial.zip", "")
    with zipfile.ZipFile(partial) as zf, zipfile.ZipFile(tmp_path / "missing.zip", "w") as out:
        for item in zf.infolist():
            if not item.filename.endswith("item03.png"):
                out.writestr(item, zf.read(item))
    with pytest.raises(DataError, match="item03.png"):
        load_runs(tmp_path / "missing.zip")


@pytest.mark.parametrize("algo_cls", [ProtoNet, MAML], ids=["protonet", "maml-5way-head"])
def test_run_challenge_scores_every_run(runs_folder, algo_cls):
    root, _ = runs_folder
    torch.manual_seed(0)
    algo = algo_cls(Conv4(ways=5), AlgoConfig(ways=5))  # a 5-way head meets 20-way runs
    result = run_challenge(algo, load_runs(root))
    assert result["runs"] == RUNS and len(result["per_run"]) == RUNS
    assert 0.0 <= result["error_rate"] <= 1.0
    assert result["error_rate"] == pytest.approx(sum(result["per_run"]) / RUNS)


def test_oracle_exact_copies_score_zero_error(small_glyph_pool, tmp_path):
    """A test item identical to its class drawing embeds identically: distance 0, so no error."""
    truth = build_runs(small_glyph_pool, tmp_path / "oracle", exact_copies=True)
    runs = load_runs(tmp_path / "oracle")
    assert [r.query_y.tolist() for r in runs] == list(truth.values())
    assert run_challenge(untrained_protonet(), runs)["error_rate"] == 0.0
    # and the scorer really looks at the labels: a shuffled key scores badly
    shuffled = [type(r)(r.name, r.support_x, r.query_x, r.query_y.roll(1)) for r in runs]
    assert run_challenge(untrained_protonet(), shuffled)["error_rate"] == 1.0


def test_cli_omniglot_challenge(runs_folder, small_glyph_pool, tmp_path):
    root, _ = runs_folder
    ckpt = tmp_path / "proto.pt"
    config = TrainConfig(queries=2, meta_batch=1, iterations=1, val_every=0, device="cpu", checkpoint=str(ckpt))
    list(run(config, pool=small_glyph_pool))
    archive = zip_runs(root, tmp_path / "all_runs.zip", "all_runs/")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "main.py", "omniglot-challenge", "--checkpoint", str(ckpt), "--runs", str(archive), "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["runs"] == RUNS and len(summary["per_run"]) == RUNS
    assert 0.0 <= summary["error_rate"] <= 1.0
