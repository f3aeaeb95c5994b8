"""The window's facade (engine.api): torch-free to import, numpy and dataclasses in and out."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from PIL import Image

from engine import api
from engine.config import TrainConfig
from engine.events import Finished, IterationMetrics, Started, StepStats

SAMPLE = REPO / "resources" / "sample_classes"


def test_the_window_start_up_modules_import_no_torch():
    """What the window imports before it is shown (the facade, the events, the config) loads no torch."""
    code = (
        "import sys, engine.api, engine.events, engine.config\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'torch'))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_engine_info_lists_every_algorithm_and_source_by_its_one_name():
    from engine.algorithms import ALGORITHMS
    from engine.config import ALGORITHM_CHOICES, DATASET_CHOICES, REGRESSION_DATASETS, SOURCE_LABELS
    from engine.data import SOURCES

    assert tuple(ALGORITHMS) == ALGORITHM_CHOICES and all(cls.name == name for name, cls in ALGORITHMS.items())
    # the image sources, then the generated regression families (sine: the Regression tab's, not a data source)
    assert SOURCES == tuple(SOURCE_LABELS) and DATASET_CHOICES == SOURCES + REGRESSION_DATASETS
    assert "synthetic" in SOURCES
    info = api.load_engine()
    assert [a.name for a in info.algorithms] == list(ALGORITHM_CHOICES) and all(
        a.available and a.summary for a in info.algorithms
    )
    assert [name for name, _ in info.sources] == list(SOURCES)  # the Meta-train tab's sources: images
    assert "mlp" not in info.backbones


def test_an_episode_comes_back_as_uint8_rows_per_class(small_glyph_pool):
    pool = api.as_pool(small_glyph_pool)
    assert api.as_pool(pool) is pool and pool.summary == small_glyph_pool.summary()
    episode = api.sample_episode(pool, 5, 2, 3, seed=0, index=4)
    assert episode.support.shape == (5, 2, 28, 28) and episode.queries.shape == (5, 3, 28, 28)
    assert episode.support.dtype == np.uint8 and episode.support.max() > 200 and len(set(episode.names)) == 5
    again = api.sample_episode(pool, 5, 2, 3, seed=0, index=4)
    assert np.array_equal(episode.support, again.support)  # the trainer's sampler: deterministic by seed and index
    arrays = api.pool_arrays(pool)
    assert arrays.images.shape[1:] == (28, 28) and len(arrays.members) == len(arrays.class_names)
    with pytest.raises(api.DataError, match="way"):
        api.check_episodes(pool, TrainConfig(ways=500), ["train"])


def test_train_yields_the_trainers_events(small_glyph_pool):
    config = TrainConfig(iterations=3, meta_batch=1, queries=2, val_every=0, device="cpu")
    events = list(api.train(config, api.RunControl(), api.as_pool(small_glyph_pool)))
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    assert [e.iteration for e in events if isinstance(e, IterationMetrics)] == [1, 2, 3]


def test_read_class_folder_adapt_and_predict_with_numpy_only(tmp_path):
    names, examples, problems = api.read_class_folder(str(SAMPLE))
    assert (
        len(names) == 5
        and not problems
        and all(x.dtype == np.uint8 and x.shape == (28, 28) for e in examples for x in e)
    )
    # the same classes as a plain folder of class subfolders (the "folder" data source's walk), with one bad file
    for name, images in zip(names, examples):
        (tmp_path / name).mkdir()
        for i, x in enumerate(images[:2]):
            Image.fromarray(x).save(tmp_path / name / f"{i}.png")
    (tmp_path / names[0] / "bad.png").write_bytes(b"not an image")
    names2, examples2, problems2 = api.read_class_folder(str(tmp_path))
    assert (
        names2 == sorted(names)
        and [len(e) for e in examples2] == [2] * 5
        and len(problems2) == 1
        and "bad.png" in problems2[0]
    )

    model = api.new_model(TrainConfig(algo="protonet", device="cpu"))
    assert model.name == "protonet" and not model.adapts_by_steps
    images = np.stack([x for e in examples for x in e])
    labels = np.array([c for c, e in enumerate(examples) for _ in e])
    steps, ready = [], []
    loo = api.adapt(model, images, labels, 0, 0.4, steps.append, ready.append)
    assert steps and isinstance(steps[0], StepStats) and len(ready) == 1 and ready[0].thread == threading.get_ident()
    assert loo.accuracy is not None and 0.0 <= loo.accuracy <= 1.0
    result = api.predict(ready[0].learner, images, labels, images[0], ready[0].view)
    assert result.probabilities.shape == (5,) and result.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert result.view["query"].shape == (1, 2)


def test_models_and_class_sets_round_trip(tmp_path):
    names, examples, _ = api.read_class_folder(str(SAMPLE))
    saved = api.save_classset(str(tmp_path / "set"), names, examples)
    again, examples2, _ = api.read_class_folder(saved)
    assert again == names and all(np.array_equal(a, b) for e, f in zip(examples, examples2) for a, b in zip(e, f))
    with pytest.raises(api.CheckpointError, match="does not exist"):
        api.open_model(str(tmp_path / "gone.pt"))
    api.write_bytes(str(tmp_path / "copy.bin"), b"abc")
    assert Path(tmp_path / "copy.bin").read_bytes() == b"abc"


def test_compare_configs_refuse_an_unknown_algorithm():
    base = TrainConfig()
    assert [c.algo for c in api.compare_configs(base, ["maml", "protonet"])] == ["maml", "protonet"]
    with pytest.raises(api.DataError, match="unknown algorithm"):
        api.compare_configs(base, ["maml", "nope"])


def test_score_lake_runs_gives_fractions(small_glyph_pool, tmp_path):
    from test_challenge import build_runs

    build_runs(small_glyph_pool, tmp_path / "oracle", exact_copies=True)  # each test item is its class drawing
    model = api.new_model(TrainConfig(algo="protonet", device="cpu"))
    scored = api.score_lake_runs(model, str(tmp_path / "oracle"))
    assert scored["error_rate"] == 0.0 and scored["runs"] == len(scored["per_run"]) > 0
    assert all(0.0 <= e <= 1.0 for e in scored["per_run"])
