"""``main.py predict`` and ``eval --per-class``: output, agreement with the window, one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

from engine import trainer
from engine.cli import main as cli_main
from engine.config import TrainConfig

SAMPLE_CLASSES = REPO / "resources" / "sample_classes"
SAMPLE_QUERIES = REPO / "resources" / "sample_queries"
NAMES = ["alpha", "beta", "gamma", "delta", "omega"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, small_glyph_pool):
    path = tmp_path_factory.mktemp("predict") / "model.pt"
    cfg = TrainConfig(
        algo="protonet", device="cpu", val_every=0, iterations=3, meta_batch=2, queries=2, checkpoint=str(path)
    )
    for _ in trainer.run(cfg, pool=small_glyph_pool):
        pass
    return str(path)


@pytest.fixture(scope="module")
def classifier(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported") / "c.pt2"
    assert cli_main(["export", "--checkpoint", checkpoint, "--support", str(SAMPLE_CLASSES), "--out", str(out)]) == 0
    return str(out)


def run(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    code = cli_main(list(args))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def predictions(lines: list[str]) -> list[dict]:
    return json.loads(lines[-1])["predictions"]


def test_predict_prints_a_line_per_image_and_json_last(capsys, checkpoint):
    code, out, _ = run(
        capsys,
        "predict",
        "--checkpoint",
        checkpoint,
        "--support",
        str(SAMPLE_CLASSES),
        "--query",
        str(SAMPLE_QUERIES),
        "--json",
    )
    assert code == 0
    preds = predictions(out)
    files = sorted(str(p) for p in SAMPLE_QUERIES.iterdir())
    assert [p["file"] for p in preds] == files and len(out) == len(files) + 1
    for line, p in zip(out, preds):
        file, label, prob = line.split()
        assert file == p["file"] and label == p["class"] and label in NAMES
        assert list(p["probabilities"]) == NAMES
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-5
        assert max(p["probabilities"], key=p["probabilities"].get) == label
        assert abs(float(prob) - p["probabilities"][label]) < 1e-4


def test_checkpoint_classifier_and_window_agree(capsys, checkpoint, classifier):
    from engine.adaptation import adapt_with_progress, predict_query
    from engine.data.images import load_image
    from engine.predict import read_support

    queries = sorted(SAMPLE_QUERIES.iterdir())
    args = ["--query", *map(str, queries), "--json"]
    _, out_ckpt, _ = run(capsys, "predict", "--checkpoint", checkpoint, "--support", str(SAMPLE_CLASSES), *args)
    _, out_file, _ = run(capsys, "predict", "--classifier", classifier, *args)
    # the window: the checkpoint adapted by engine.adaptation, each drawing scored by predict_query
    algo, _, _ = trainer.restore(checkpoint, "cpu")
    s = read_support(SAMPLE_CLASSES)
    learner = adapt_with_progress(algo, s.images, s.labels, leave_one_out=False)
    window = [predict_query(learner, s.images, s.labels, load_image(q).numpy())["probabilities"] for q in queries]
    for a, b, w in zip(predictions(out_ckpt), predictions(out_file), window):
        assert a["class"] == b["class"] == NAMES[int(np.argmax(w))]
        np.testing.assert_allclose(list(a["probabilities"].values()), w, atol=1e-5)
        np.testing.assert_allclose(list(b["probabilities"].values()), w, atol=1e-5)


def test_a_query_never_depends_on_the_others(capsys, classifier):
    one = SAMPLE_QUERIES / "00-alpha.png"
    _, alone, _ = run(capsys, "predict", "--classifier", classifier, "--query", str(one), "--json")
    _, together, _ = run(capsys, "predict", "--classifier", classifier, "--query", str(SAMPLE_QUERIES), "--json")
    assert predictions(alone)[0] == predictions(together)[0]


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, checkpoint, classifier):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    png = (SAMPLE_CLASSES / "00-alpha" / "000.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(png[: len(png) // 2])
    data = Path(classifier).read_bytes()
    (tmp_path / "truncated.pt2").write_bytes(data[: len(data) // 3])
    (tmp_path / "foreign.pt2").write_bytes(Path(checkpoint).read_bytes())
    q = ["--query", str(SAMPLE_QUERIES)]
    cases = {
        "does not exist": ["--classifier", classifier, "--query", str(tmp_path / "missing")],
        "has no images": ["--classifier", classifier, "--query", str(empty)],
        "not a readable image": ["--classifier", classifier, "--query", str(tmp_path / "notes.txt")],
        "damaged or truncated": ["--classifier", classifier, "--query", str(tmp_path / "broken.png")],
        "truncated": ["--classifier", str(tmp_path / "truncated.pt2"), *q],
        "not a meta playground classifier": ["--classifier", str(tmp_path / "foreign.pt2"), *q],
        "support folder": ["--checkpoint", checkpoint, "--support", str(tmp_path / "nope"), *q],
        "class subfolders": ["--checkpoint", checkpoint, "--support", str(empty), *q],
        "not both": ["--classifier", classifier, "--checkpoint", checkpoint, "--support", str(SAMPLE_CLASSES), *q],
        "together with --support": ["--checkpoint", checkpoint, *q],
    }
    for needle, args in cases.items():
        code, out, err = run(capsys, "predict", *args)
        assert code == 2, (needle, err)
        assert len(err) == 1 and needle.lower() in err[0].lower(), (needle, err)
        assert out == []


def test_eval_per_class_gives_fractions_and_matches_the_accuracy(capsys, checkpoint):
    code, out, err = run(
        capsys, "eval", "--checkpoint", checkpoint, "--episodes", "6", "--queries", "3", "--per-class", "--json"
    )
    assert code == 0
    result = json.loads(out[-1])
    per = result["per_class"]
    counts = np.array(per["counts"])
    assert counts.sum() == 6 * 5 * 3
    assert abs(np.trace(counts) / counts.sum() - result["accuracy"]) < 1e-6
    matrix = np.array(per["confusion"])
    assert matrix.shape == (len(per["classes"]),) * 2 and ((matrix >= 0) & (matrix <= 1)).all()
    np.testing.assert_allclose(matrix.sum(1)[counts.sum(1) > 0], 1.0)
    for name, acc in per["per_class_accuracy"].items():
        i = per["classes"].index(name)
        assert acc == pytest.approx(counts[i, i] / counts[i].sum())
    assert any(line.startswith("per-class accuracy") for line in err)  # with --json, the text goes to stderr


def test_leave_one_out_confusion_counts_every_held_out_example(small_glyph_pool):
    from engine.adaptation import leave_one_out_accuracy
    from engine.confusion import leave_one_out_confusion
    from engine.predict import read_support

    algo = trainer.build_model_and_algorithm(TrainConfig(device="cpu"), torch.device("cpu"))
    s = read_support(SAMPLE_CLASSES)
    confusion = leave_one_out_confusion(algo, s.images, s.labels, s.class_names)
    assert confusion.counts.sum() == len(s.labels)  # 5 shots each: every example is held out once
    x = torch.from_numpy(s.images).unsqueeze(1).float() / 255
    assert confusion.accuracy == pytest.approx(leave_one_out_accuracy(algo, x, torch.from_numpy(s.labels), None, None))
    for (i, j), images in confusion.images.items():
        assert len(images) == min(confusion.counts[i, j], 12) and images[0].shape == (28, 28)


def test_compare_insight_scores_the_shared_test_episodes(checkpoint, small_glyph_pool):
    from engine.api_export import compare_insight
    from engine.compare import TEST_SEED_OFFSET
    from engine.tasks import TaskSampler

    algo, config, _ = trainer.restore(checkpoint, "cpu")
    result = compare_insight(checkpoint, config, small_glyph_pool, episodes=4)
    tasks = TaskSampler(
        small_glyph_pool, "test", config.ways, config.shots, config.queries, seed=config.seed + TEST_SEED_OFFSET
    ).fixed(4)
    accuracy, _ = trainer.evaluate(algo, tasks, torch.device("cpu"))
    assert result.algo == "protonet" and result.confusion.counts.sum() == 4 * config.ways * config.queries
    assert result.confusion.accuracy == pytest.approx(accuracy, abs=1e-6)
    test_names = {small_glyph_pool.class_names[c] for c in small_glyph_pool.split_classes("test")}
    assert set(result.confusion.class_names) <= test_names
