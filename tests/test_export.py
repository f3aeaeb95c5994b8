"""Exported classifiers: one file, plain PyTorch, the same probabilities as the window's learner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from conftest import REPO

from engine import trainer
from engine.checkpoint import save_checkpoint
from engine.cli import main as cli_main
from engine.config import ALGORITHM_CHOICES, TrainConfig
from engine.data.base import DataError
from engine.export import FORMAT, META_NAME, export_learner, load_classifier, onnx_status
from engine.predict import Classifier, read_support

SAMPLE_CLASSES = REPO / "resources" / "sample_classes"

# Loads the file with torch alone, in a process that never imports the project, and scores each query
# on its own (as the window scores a drawing) and all of them in one batch.
FRESH = """
import json, sys
import numpy as np, torch
extra = {"%s": ""}
program = torch.export.load(sys.argv[1], extra_files=extra)
info = json.loads(extra["%s"])
model = program.module()
queries = torch.from_numpy(np.load(sys.argv[2]))
with torch.no_grad():
    one_by_one = torch.cat([model(queries[i:i + 1]) for i in range(len(queries))])
    batch = model(queries)
assert "engine" not in sys.modules and "gui" not in sys.modules, "the project was imported"
np.save(sys.argv[3], one_by_one.numpy()); np.save(sys.argv[4], batch.numpy())
print(json.dumps(info["class_names"]))
""" % (META_NAME, META_NAME)


def make_checkpoint(path, algo: str, pool) -> str:
    """A briefly meta-trained checkpoint (2 iterations: non-trivial weights, seconds to make)."""
    cfg = TrainConfig(algo=algo, device="cpu", val_every=0, iterations=2, meta_batch=2, queries=2, checkpoint=str(path))
    for _ in trainer.run(cfg, pool=pool):
        pass
    return str(path)


def queries_20(pool) -> np.ndarray:
    """20 test-split glyphs: the window's input form, uint8 [20, 28, 28]."""
    members = [pool.members(c)[:4] for c in pool.split_classes("test")[:5]]
    return pool.images[torch.cat(members)].numpy()


@pytest.mark.parametrize("algo", ["protonet", "maml"])
def test_exported_file_matches_the_learner_in_a_fresh_process(tmp_path, small_glyph_pool, algo):
    checkpoint = make_checkpoint(tmp_path / "model.pt", algo, small_glyph_pool)
    out = tmp_path / "classifier.pt2"
    assert cli_main(["export", "--checkpoint", checkpoint, "--support", str(SAMPLE_CLASSES), "--out", str(out)]) == 0
    # the window's learner: the checkpoint adapted to the same class set by engine.adaptation
    classifier, learner = Classifier.adapted(checkpoint, SAMPLE_CLASSES)
    queries = queries_20(small_glyph_pool)
    expected_each = classifier.probabilities(queries)
    from engine.adaptation import predict_probabilities

    expected_batch = predict_probabilities(learner, queries)
    np.save(tmp_path / "q.npy", queries)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            FRESH,
            str(out),
            str(tmp_path / "q.npy"),
            str(tmp_path / "each.npy"),
            str(tmp_path / "batch.npy"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == ["alpha", "beta", "gamma", "delta", "omega"]
    each, batch = np.load(tmp_path / "each.npy"), np.load(tmp_path / "batch.npy")
    assert each.shape == (20, 5)
    np.testing.assert_allclose(each, expected_each, atol=1e-5, rtol=0)
    # in one batch of 25 + 20 >= 32 images the learner runs channels-last (engine/models.py), the file NCHW:
    # float32 rounding apart, the same classes
    np.testing.assert_allclose(batch, expected_batch, atol=2e-3, rtol=0)
    assert (batch.argmax(1) == expected_batch.argmax(1)).all()
    assert not np.allclose(each, 0.2, atol=1e-3), "a flat output would make the comparison meaningless"


def test_the_file_holds_class_names_and_input_description(tmp_path, small_glyph_pool):
    algo = trainer.build_model_and_algorithm(TrainConfig(device="cpu"), torch.device("cpu"))
    support = read_support(SAMPLE_CLASSES)
    from engine.adaptation import adapt_with_progress

    learner = adapt_with_progress(algo, support.images, support.labels, leave_one_out=False)
    summary = export_learner(learner, support.class_names, tmp_path / "c.pt2")
    assert summary.bytes == (tmp_path / "c.pt2").stat().st_size > 100_000  # the Conv-4 weights are in it
    loaded = load_classifier(tmp_path / "c.pt2")
    assert loaded.class_names == support.class_names
    assert loaded.info["format"] == FORMAT and loaded.info["input"]["shape"] == ["n", 28, 28]
    # a dynamic batch dimension: 1 and 7 images both work
    for n in (1, 7):
        assert loaded.probabilities(torch.from_numpy(support.images[:n])).shape == (n, 5)
    with pytest.raises(DataError, match="class names"):
        export_learner(learner, ["a", "b"], tmp_path / "d.pt2")
    assert not (tmp_path / "d.pt2").exists()


def test_foreign_truncated_and_missing_files_are_refused(tmp_path, small_glyph_pool):
    algo = trainer.build_model_and_algorithm(TrainConfig(device="cpu"), torch.device("cpu"))
    support = read_support(SAMPLE_CLASSES)
    learner = algo.adapt(torch.from_numpy(support.images).unsqueeze(1).float() / 255, torch.from_numpy(support.labels))
    good = tmp_path / "good.pt2"
    export_learner(learner, support.class_names, good)
    data = good.read_bytes()
    (tmp_path / "truncated.pt2").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pt2").write_text("hello")
    with zipfile.ZipFile(tmp_path / "foreign.pt2", "w") as z:
        z.writestr("archive/data.pkl", b"x")
    plain = torch.export.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2),))
    torch.export.save(plain, tmp_path / "other_program.pt2")
    cases = {
        "truncated.pt2": "damaged or truncated|not an exported",
        "text.pt2": "not an exported",
        "foreign.pt2": "not a Meta Playground",
        "other_program.pt2": "not a Meta Playground",
        "missing.pt2": "does not exist",
    }
    for name, message in cases.items():
        with pytest.raises(DataError, match=message):
            load_classifier(tmp_path / name)


def test_onnx_is_optional_with_a_clear_reason(tmp_path):
    ok, why = onnx_status()
    if ok:
        pytest.skip("onnx is installed here; the refusal path is not reachable")
    assert "pip install onnx" in why


def test_export_cli_refuses_bad_input_with_one_line(tmp_path, capsys, small_glyph_pool):
    checkpoint = str(tmp_path / "m.pt")
    algo = trainer.build_model_and_algorithm(TrainConfig(device="cpu"), torch.device("cpu"))
    save_checkpoint(checkpoint, config=TrainConfig(device="cpu").to_dict(), model_state=algo.model.state_dict())
    bad = {
        "no such support": [
            "--checkpoint",
            checkpoint,
            "--support",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "o.pt2"),
        ],
        "not a checkpoint": [
            "--checkpoint",
            str(SAMPLE_CLASSES / "manifest.json"),
            "--support",
            str(SAMPLE_CLASSES),
            "--out",
            str(tmp_path / "o.pt2"),
        ],
    }
    for _, args in bad.items():
        assert cli_main(["export", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:")
    if not onnx_status()[0]:
        assert (
            cli_main(
                [
                    "export",
                    "--checkpoint",
                    checkpoint,
                    "--support",
                    str(SAMPLE_CLASSES),
                    "--out",
                    str(tmp_path / "o.pt2"),
                    "--onnx",
                    str(tmp_path / "o.onnx"),
                ]
            )
            == 2
        )
        assert "pip install onnx" in capsys.readouterr().err
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize("name", ALGORITHM_CHOICES)
def test_every_algorithm_exports_and_matches_its_learner(tmp_path, name):
    from engine.adaptation import adapt_with_progress, predict_probabilities

    algo = trainer.build_model_and_algorithm(TrainConfig(algo=name, device="cpu"), torch.device("cpu"))
    support = read_support(SAMPLE_CLASSES)
    learner = adapt_with_progress(algo, support.images, support.labels, steps=2, leave_one_out=False)
    export_learner(learner, support.class_names, tmp_path / "c.pt2")
    loaded = load_classifier(tmp_path / "c.pt2")
    for i in range(0, 25, 6):
        one = support.images[i : i + 1]
        np.testing.assert_allclose(
            loaded.probabilities(torch.from_numpy(one)).numpy(), predict_probabilities(learner, one), atol=1e-5
        )


def test_an_exported_model_with_test_time_views_gives_the_same_probabilities_every_call(tmp_path):
    """The views are the learner's fixed distortions, held in the program: not random ones drawn anew by each
    call (the exported lake recipe once drifted from the second image on)."""
    from engine.adaptation import adapt_with_progress, predict_probabilities

    algo = trainer.build_model_and_algorithm(TrainConfig(algo="protohead", tta=2, device="cpu"), torch.device("cpu"))
    support = read_support(SAMPLE_CLASSES)
    learner = adapt_with_progress(algo, support.images, support.labels, steps=2, leave_one_out=False)
    export_learner(learner, support.class_names, tmp_path / "c.pt2")
    loaded = load_classifier(tmp_path / "c.pt2")
    one = support.images[:1]
    want = predict_probabilities(learner, one)
    for _ in range(3):
        np.testing.assert_allclose(loaded.probabilities(torch.from_numpy(one)).numpy(), want, atol=1e-5)
