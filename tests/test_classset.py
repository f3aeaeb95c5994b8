"""engine.classset: exact round trips, atomic saves, refusal of bad manifests, the eval source."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engine.classset import ClassSet, classset_pool, load_classset, save_classset
from engine.data import load_source
from engine.data.base import DataError


def _random_set(classes=3, shots=(2, 4, 1), seed=0) -> ClassSet:
    rng = np.random.default_rng(seed)
    names = ["circle", "Ünïcode / slash", "circle"][:classes]  # odd and duplicate names are fine
    return ClassSet(names, [[rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(k)] for k in shots])


def test_save_then_load_is_exact(tmp_path):
    original = _random_set()
    save_classset(tmp_path / "set", original)
    loaded = load_classset(tmp_path / "set")
    assert loaded.names == original.names
    assert loaded.shots() == original.shots()
    for a, b in zip(original.examples, loaded.examples):
        for x, y in zip(a, b):
            assert x.dtype == y.dtype == np.uint8 and x.tobytes() == y.tobytes()
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "meta-playground-classset" and manifest["version"] == 1


def test_saving_over_a_set_replaces_it_and_leaves_no_temp_folders(tmp_path):
    save_classset(tmp_path / "set", _random_set(seed=1))
    newer = _random_set(classes=2, shots=(1, 1), seed=2)
    save_classset(tmp_path / "set", newer)
    loaded = load_classset(tmp_path / "set")
    assert loaded.names == newer.names and loaded.shots() == [1, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_a_failed_save_keeps_the_previous_set(tmp_path):
    save_classset(tmp_path / "set", _random_set(seed=1))
    bad = ClassSet(["a", "b"], [[np.zeros((28, 28), np.uint8)], [np.zeros((5, 5), np.uint8)]])
    with pytest.raises(DataError, match="28x28"):
        save_classset(tmp_path / "set", bad)
    assert load_classset(tmp_path / "set").shots() == [2, 4, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_refuses_to_overwrite_a_folder_that_is_not_a_class_set(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(DataError, match="not a class set"):
        save_classset(tmp_path / "photos", _random_set())
    assert (tmp_path / "photos" / "holiday.jpg").read_bytes() == b"precious"


def _write_manifest(root, manifest):
    (root / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "not a class-set manifest"),
        ({"format": "something-else", "version": 1, "classes": []}, "not a class-set manifest"),
        ({"format": "meta-playground-classset", "version": 99, "classes": [{}]}, "newer version"),
        ({"format": "meta-playground-classset", "version": "1", "classes": [{}]}, "version"),
        ({"format": "meta-playground-classset", "version": 1, "classes": []}, "non-empty list"),
        ({"format": "meta-playground-classset", "version": 1, "classes": ["x"]}, "must be an object"),
        (
            {
                "format": "meta-playground-classset",
                "version": 1,
                "classes": [{"name": "", "folder": "00-a", "examples": []}],
            },
            "name",
        ),
        (
            {
                "format": "meta-playground-classset",
                "version": 1,
                "classes": [{"name": "a", "folder": "..", "examples": []}],
            },
            "plain",
        ),
        (
            {
                "format": "meta-playground-classset",
                "version": 1,
                "classes": [{"name": "a", "folder": "/etc", "examples": []}],
            },
            "plain",
        ),
        (
            {
                "format": "meta-playground-classset",
                "version": 1,
                "classes": [{"name": "a", "folder": "00-a", "examples": ["../../x.png"]}],
            },
            "plain",
        ),
        (
            {
                "format": "meta-playground-classset",
                "version": 1,
                "classes": [{"name": "a", "folder": "00-a", "examples": "000.png"}],
            },
            "list of file names",
        ),
        (
            {
                "format": "meta-playground-classset",
                "version": 1,
                "classes": [{"name": "a", "folder": "00-a", "examples": ["009.png"]}],
            },
            "missing",
        ),
    ],
)
def test_malformed_manifests_are_refused(tmp_path, manifest, message):
    save_classset(tmp_path / "set", _random_set())
    _write_manifest(tmp_path / "set", manifest)
    with pytest.raises(DataError, match=message):
        load_classset(tmp_path / "set")


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    save_classset(tmp_path / "set", _random_set())
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(tmp_path / "set" / "00-circle" / "000.png", outside / "000.png")
    shutil.rmtree(tmp_path / "set" / "00-circle")
    (tmp_path / "set" / "00-circle").symlink_to(outside)
    with pytest.raises(DataError, match="outside"):
        load_classset(tmp_path / "set")


def test_missing_folder_and_missing_manifest(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_classset(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="no manifest.json"):
        load_classset(tmp_path / "plain")


def test_classset_is_a_data_source_with_every_class_in_every_split(tmp_path):
    save_classset(tmp_path / "set", _random_set(shots=(3, 3, 3)))
    pool = load_source("classset", tmp_path / "set")
    assert pool.images.shape == (9, 28, 28) and pool.num_classes == 3
    assert all(pool.split_classes(s) == [0, 1, 2] for s in ("train", "val", "test"))
    direct = classset_pool(tmp_path / "set")
    assert direct.images.equal(pool.images) and direct.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
