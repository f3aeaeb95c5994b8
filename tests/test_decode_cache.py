"""The on-disk decode cache: used the second time, rebuilt when a source file changes
or when the cache file is damaged or inconsistent, never trusted blindly."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import engine.data.folder as folder_module
import engine.data.mnist as mnist_module
import engine.data.omniglot as omniglot_module
from engine.data import load_source
from engine.data.cache import ENV_DIR, cache_dir
from engine.data.mnist import write_idx


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def counted(monkeypatch):
    """Count calls of a module's decoder; ``fail`` makes further calls raise."""
    calls: dict[str, int] = {}
    originals: dict[tuple, object] = {}

    def wrap(module, name, fail=False):
        original = originals.setdefault((module.__name__, name), getattr(module, name))

        def decoder(*args, **kwargs):
            if fail:
                raise AssertionError(f"{name} was called although the cache is valid")
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, decoder)
        return calls

    return wrap


def _mnist(root: Path, per_class: int = 5, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    write_idx(root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (len(labels), 28, 28)))
    write_idx(root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz", labels)


def _same(a, b) -> bool:
    return (torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) and a.class_names == b.class_names
            and a.class_groups == b.class_groups and a.splits == b.splits and a.name == b.name)


def test_second_load_comes_from_the_cache(tmp_path, counted, cache_in_tmp):
    _mnist(tmp_path / "data")
    first = load_source("mnist", tmp_path / "data")
    assert len(list(cache_in_tmp.glob("mnist-*.pt"))) == 1
    counted(mnist_module, "read_idx", fail=True)
    second = load_source("mnist", tmp_path / "data")
    assert _same(first, second)
    assert load_source("mnist", tmp_path / "data", all_classes=True).splits["test"] == list(range(10))


def test_rebuilt_when_a_source_file_changes(tmp_path, counted):
    root = tmp_path / "data"
    _mnist(root)
    calls = counted(mnist_module, "read_idx")
    load_source("mnist", root)
    assert calls["read_idx"] == 2
    labels = root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    st = labels.stat()
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched: same bytes, new mtime
    load_source("mnist", root)
    assert calls["read_idx"] == 4
    _mnist(root, per_class=6, seed=1)  # new contents (and size)
    pool = load_source("mnist", root)
    assert calls["read_idx"] == 6 and len(pool.images) == 60
    load_source("mnist", root)
    assert calls["read_idx"] == 6  # and cached again


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "inconsistent", "other-format"])
def test_damaged_cache_is_rebuilt_not_trusted(tmp_path, counted, cache_in_tmp, damage):
    root = tmp_path / "data"
    _mnist(root)
    good = load_source("mnist", root)
    (path,) = cache_in_tmp.glob("mnist-*.pt")
    if damage == "garbage":
        path.write_bytes(os.urandom(3000))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:2000])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        data = torch.load(path, weights_only=True)
        if damage == "inconsistent":  # the fingerprint matches, the contents do not make sense
            data["labels"] = data["labels"] + 100
        else:
            data["format"] = "something-else"
        buf = io.BytesIO()
        torch.save(data, buf)
        path.write_bytes(buf.getvalue())
    calls = counted(mnist_module, "read_idx")
    rebuilt = load_source("mnist", root)
    assert calls["read_idx"] == 2 and _same(rebuilt, good)
    counted(mnist_module, "read_idx", fail=True)
    assert _same(load_source("mnist", root), good)  # the rebuilt cache is valid again


def test_folder_cache_is_keyed_by_its_files_and_resplit_by_seed(tmp_path, counted):
    root = tmp_path / "imgs"
    for c in range(5):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((20, 20), 40 * i, np.uint8)).save(root / f"c{c}" / f"{i}.png")
    first = load_source("folder", root, seed=0)
    counted(folder_module, "load_image", fail=True)
    again = load_source("folder", root, seed=0)
    assert _same(first, again)
    other_seed = load_source("folder", root, seed=3)  # a different split needs no decoding
    assert torch.equal(other_seed.images, first.images)
    assert sorted(sum(other_seed.splits.values(), [])) == list(range(5))
    calls = counted(folder_module, "load_image")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(root / "c4" / "new.png")  # a new file: rebuilt
    assert len(load_source("folder", root).images) == 16 and calls["load_image"] == 16


def test_omniglot_cache_per_rotation_option(tmp_path, counted):
    root = tmp_path / "omni"
    root.mkdir()
    with zipfile.ZipFile(root / "images_background.zip", "w") as zf:
        for a in range(3):
            for ch in range(2):
                for i in range(2):
                    buf = io.BytesIO()
                    Image.fromarray(np.full((105, 105), 255 - 60 * i, np.uint8)).save(buf, "PNG")
                    zf.writestr(f"images_background/Alpha{a}/character{ch:02d}/{i}.png", buf.getvalue())
    calls = counted(omniglot_module, "open_image")
    rotated = load_source("omniglot", root)
    plain = load_source("omniglot", root, rotations=False)
    assert rotated.num_classes == 24 and plain.num_classes == 6 and calls["open_image"] == 24
    counted(omniglot_module, "open_image", fail=True)
    assert _same(load_source("omniglot", root), rotated)
    assert _same(load_source("omniglot", root, rotations=False), plain)


def test_unwritable_cache_only_costs_speed(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(ENV_DIR, str(blocker / "cache"))
    _mnist(tmp_path / "data")
    assert len(load_source("mnist", tmp_path / "data").images) == 50


def test_cache_folder_defaults_to_the_platform_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    where = cache_dir()
    assert where.name == "decoded" and "meta-playground" in where.parts
    try:
        import platformdirs  # noqa: F401
    except ImportError:
        assert where == tmp_path / "xdg" / "meta-playground" / "decoded"
