"""Property-based fuzzing of the readers of untrusted files (hypothesis).

The image reader, the Omniglot and challenge zip readers and the class-set
manifest reader get arbitrary and mutated inputs. Each must either return a
valid result or raise :class:`DataError`: any other exception is a crash.
Hangs are caught by the per-test watchdog in conftest.py (``HUNG_AFTER_S``).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.challenge import load_runs
from engine.classset import FORMAT, ClassSet, load_classset, save_classset
from engine.data.base import ClassPool, DataError
from engine.data.images import image_to_tensor, open_image
from engine.data.omniglot import load_omniglot

# FUZZ_EXAMPLES=2000 (and FUZZ_RANDOM=1 for a new seed each run) for a longer hunt outside the suite
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 60)), deadline=None,
                suppress_health_check=list(HealthCheck), derandomize=not os.environ.get("FUZZ_RANDOM"))


def _seed_images() -> dict[str, bytes]:
    img = Image.new("RGB", (30, 30), (255, 255, 255))
    img.paste((0, 0, 0), (4, 12, 26, 17))
    out = {}
    for fmt in ("PNG", "JPEG", "GIF", "BMP"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        out[fmt] = buf.getvalue()
    return out


SEEDS = _seed_images()


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with a few bytes overwritten, a slice cut out or inserted, or truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:]
    return bytes(data)


image_bytes = st.one_of(
    st.binary(max_size=600),
    st.sampled_from(list(SEEDS.values())).flatmap(mutated),
    st.sampled_from([v[:16] for v in SEEDS.values()]).flatmap(
        lambda head: st.binary(max_size=300).map(lambda b: head + b)
    ),
)


def read_image(data: bytes) -> torch.Tensor | None:
    """The reader as the app uses it: a [28, 28] uint8 tensor, or None for a DataError."""
    try:
        out = image_to_tensor(open_image(data, name="fuzz"))
    except DataError as exc:
        assert str(exc).strip()
        return None
    assert out.dtype == torch.uint8 and out.shape == (28, 28)
    return out


@FUZZ
@given(image_bytes)
def test_image_reader_returns_an_image_or_a_data_error(data):
    read_image(data)


@settings(FUZZ, max_examples=8)
@given(st.sampled_from(sorted(SEEDS)))
def test_unmutated_seeds_load(fmt):
    assert read_image(SEEDS[fmt]) is not None  # the mutation test starts from files that do load


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (28, 28), 255).save(buf, "PNG")
    return buf.getvalue()


PNG = _png()
segment = st.sampled_from(
    [
        "A",
        "B",
        "C",
        "character01",
        "images_background",
        "..",
        ".",
        "",
        "run01",
        "training",
        "test",
        "class01.png",
        "item01.png",
        "class_labels.txt",
        "x.png",
        "/",
        "\\",
        "é",
        "a:b",
    ]
)
entry_name = st.one_of(st.lists(segment, min_size=1, max_size=5).map("/".join), st.text(max_size=40)).filter(
    lambda n: n and "\x00" not in n
)
entry_data = st.one_of(st.just(PNG), st.binary(max_size=200), mutated(PNG))


def write_zip(path: Path, entries: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are part of the fuzz
        for name, data in entries:
            try:
                zf.writestr(name, data)
            except (ValueError, UnicodeEncodeError):  # zipfile itself cannot store this name
                continue


@FUZZ
@given(st.lists(st.tuples(entry_name, entry_data), max_size=12))
def test_omniglot_zip_reader_on_arbitrary_entries(entries):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_zip(root / "images_background.zip", entries)
        before = set(root.rglob("*"))
        try:
            pool = load_omniglot(root, rotations=False)
        except DataError:
            pool = None
        assert set(root.rglob("*")) == before, "reading the zip wrote files"
        if pool is not None:
            assert isinstance(pool, ClassPool) and pool.images.dtype == torch.uint8
            assert all(".." not in name.split("/") for name in pool.class_names)


def _valid_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for a in "ABC":
            for c in ("c1", "c2"):
                zf.writestr(f"images_background/{a}/{c}/0.png", PNG)
    return buf.getvalue()


VALID_ZIP = _valid_zip()


@FUZZ
@given(mutated(VALID_ZIP))
def test_omniglot_zip_reader_on_mutated_archives(data):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "images_background.zip").write_bytes(data)
        try:
            load_omniglot(tmp, rotations=False)
        except DataError:
            pass


labels_line = st.tuples(entry_name, entry_name).map(" ".join)
labels_text = st.one_of(st.lists(labels_line, max_size=4).map("\n".join), st.text(max_size=80))


@FUZZ
@given(
    st.lists(st.tuples(entry_name, entry_data), max_size=8),
    st.lists(
        st.tuples(st.sampled_from(["run01", "x/run02", "../run03", "run04"]), labels_text), min_size=1, max_size=3
    ),
)
def test_challenge_zip_reader_on_arbitrary_entries(entries, runs):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all_runs.zip"
        good = [("run01/training/class01.png", PNG), ("run01/test/item01.png", PNG)]
        write_zip(
            path, good + entries + [(f"{r}/class_labels.txt", t.encode("utf-8", "surrogatepass")) for r, t in runs]
        )
        try:
            result = load_runs(path)
        except DataError:
            return
        for run in result:
            assert run.support_x.shape[1:] == (1, 28, 28) and len(run.query_y) == len(run.query_x)
            assert int(run.query_y.max()) < len(run.support_x)


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
manifest_class = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=10), json_value),
        "folder": st.one_of(st.sampled_from(["00-a", "01-b", "..", "/etc", "00-a/..", "missing", ""]), json_value),
        "examples": st.one_of(
            st.lists(st.sampled_from(["000.png", "001.png", "../000.png", "nope.png", "x"]), max_size=3), json_value
        ),
    },
)
manifest = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {
            "format": st.sampled_from([FORMAT, "other"]),
            "version": st.one_of(st.sampled_from([1, 0, -1, 2, True, "1", 1.0]), json_value),
            "classes": st.one_of(st.lists(manifest_class, max_size=3), json_value),
        }
    ),
)


@FUZZ
@given(manifest)
def test_manifest_reader_on_arbitrary_json(value):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "set"
        save_classset(
            root, ClassSet(["a", "b"], [[np.zeros((28, 28), np.uint8)] * 2, [np.full((28, 28), 9, np.uint8)]])
        )
        (root / "manifest.json").write_text(json.dumps(value, allow_nan=True))
        try:
            cs = load_classset(root)
        except DataError:
            return
        assert all(isinstance(n, str) and n.strip() for n in cs.names)
        assert all(x.shape == (28, 28) and x.dtype == np.uint8 for ex in cs.examples for x in ex)
