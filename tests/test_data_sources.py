"""Data sources a user brings, on small files the tests write: MNIST-family IDX (raw and
gzipped), image folders of mixed formats, sizes and modes, and cross-domain eval via the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from engine.data import DataError, load_source
from engine.data.mnist import read_idx, write_idx
from engine.tasks import TaskSampler

REPO = Path(__file__).resolve().parents[1]
RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def make_idx_set(folder: Path, per_class: int, classes: int = 10, prefix: str = "train", gz: bool = True, seed: int = 0,
                 stem: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Write an images + labels IDX pair of random 28x28 images; return what was written."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes, dtype=np.uint8), per_class)
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{stem}{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(folder / f"{stem}{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


@pytest.fixture
def mnist_root(tmp_path) -> tuple[Path, np.ndarray, np.ndarray]:
    """torchvision layout: gzipped train pair (10 x 12) + raw t10k pair (10 x 3)."""
    raw = tmp_path / "MNIST" / "raw"
    x1, y1 = make_idx_set(raw, 12, prefix="train", gz=True)
    x2, y2 = make_idx_set(raw, 3, prefix="t10k", gz=False, seed=1)
    return tmp_path, np.concatenate([x1, x2]), np.concatenate([y1, y2])


def test_mnist_reads_gzipped_and_raw_idx_with_fixed_class_split(mnist_root):
    root, images, labels = mnist_root
    pool = load_source("mnist", root)
    assert pool.name == "mnist" and pool.class_names == [str(d) for d in range(10)]
    assert pool.images.shape == (150, 28, 28) and pool.images.dtype == torch.uint8
    assert torch.equal(pool.images, torch.from_numpy(images)) and torch.equal(
        pool.labels, torch.from_numpy(labels).long()
    )
    assert [pool.count(c) for c in range(10)] == [15] * 10
    assert pool.splits == {"train": [0, 1, 2, 3, 4, 5], "val": [6, 7], "test": [8, 9]}


def test_all_classes_puts_every_digit_in_every_split(mnist_root):
    pool = load_source("mnist", mnist_root[0], all_classes=True)
    assert all(pool.splits[s] == list(range(10)) for s in ("train", "val", "test"))
    task = TaskSampler(pool, "test", ways=10, shots=1, queries=2).episode(0)
    assert sorted(task.classes) == list(range(10))


def test_fashion_mnist_files_directly_in_root_uncompressed(tmp_path):
    x, y = make_idx_set(tmp_path, 4, prefix="t10k", gz=False)
    pool = load_source("fashion-mnist", tmp_path)
    assert pool.class_names[0] == "T-shirt/top" and pool.class_names[9] == "Ankle boot"
    assert len(pool.images) == 40 and torch.equal(pool.images, torch.from_numpy(x))


def test_emnist_balanced_is_turned_upright(tmp_path):
    raw = tmp_path / "EMNIST" / "raw"
    x, _ = make_idx_set(raw, 2, classes=47, prefix="train", stem="emnist-balanced-")
    pool = load_source("emnist", tmp_path)
    assert pool.num_classes == 47 and pool.class_names[10] == "A" and pool.class_names[-1] == "t"
    assert torch.equal(pool.images[5], torch.from_numpy(x[5].T.copy()))
    assert pool.splits["train"] == list(range(29)) and pool.splits["test"] == list(range(38, 47))


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda b: b[:-10], "truncated"),
        (lambda b: b + b"\0" * 7, "longer than its header"),
        (lambda b: b"\x08\x03" + b[2:], "bad magic"),
        (lambda b: b[:2] + b"\x0d" + b[3:], "not unsigned bytes"),
        (lambda b: b"\x1f\x8b" + b"garbage" * 10, "un-gzip"),
    ],
)
def test_corrupt_idx_is_a_clear_data_error(tmp_path, damage, needle):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=needle) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_mismatched_label_file_is_refused(tmp_path):
    raw = tmp_path / "KMNIST" / "raw"
    make_idx_set(raw, 2, classes=10, prefix="train")
    write_idx(raw / "train-labels-idx1-ubyte.gz", np.full(20, 12, np.uint8))
    with pytest.raises(DataError, match="label 12 is out of range"):
        load_source("kmnist", tmp_path, cache=False)
    write_idx(raw / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DataError, match="19 labels for 20 images"):
        load_source("kmnist", tmp_path, cache=False)


def test_half_a_pair_names_the_missing_file(tmp_path):
    make_idx_set(tmp_path / "MNIST" / "raw", 2)
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="put train-labels-idx1-ubyte"):
        load_source("mnist", tmp_path)


@pytest.fixture
def offline(monkeypatch):
    """No network: torchvision's downloaders (and urllib) fail like an offline machine; records calls."""
    import torchvision.datasets.mnist as tv_mnist
    import torchvision.datasets.utils as tv_utils

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args[0] if args else kwargs)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    for module, name in (
        (tv_mnist, "download_and_extract_archive"),
        (tv_utils, "download_and_extract_archive"),
        (tv_utils, "download_url"),
        (urllib.request, "urlopen"),
    ):
        monkeypatch.setattr(module, name, refuse)
    return calls


@pytest.mark.parametrize("allow_download", [False, True])
def test_missing_files_name_the_files_and_the_folder(tmp_path, offline, allow_download):
    with pytest.raises(DataError) as info:
        load_source("mnist", tmp_path, allow_download=allow_download)
    message = str(info.value)
    assert all(f"{name}.gz" in message for name in RAW)
    assert str(tmp_path / "MNIST" / "raw") in message and "--download" in message
    if allow_download:  # torchvision was asked, and its failure became the same clear message
        assert offline and "could not download MNIST" in message
    else:
        assert not offline


# ---- image folders ---------------------------------------------------------------------------


def _glyph(size: tuple[int, int], seed: int) -> Image.Image:
    """Dark strokes on light paper, as a scan or a drawing would be."""
    img = Image.new("RGB", size, "white")
    rng = np.random.default_rng(seed)
    pts = [(float(rng.uniform(0.2, 0.8) * size[0]), float(rng.uniform(0.2, 0.8) * size[1])) for _ in range(4)]
    ImageDraw.Draw(img).line(pts, fill="black", width=max(2, size[0] // 12))
    return img


def _save_mode(img: Image.Image, path: Path, mode: str) -> None:
    if mode == "RGBA":  # transparent paper, opaque ink
        grey = np.asarray(img.convert("L"))
        rgba = np.zeros((*grey.shape, 4), np.uint8)
        rgba[..., 3] = 255 - grey
        Image.fromarray(rgba, "RGBA").save(path)
    elif mode == "I;16":
        Image.fromarray(np.asarray(img.convert("L")).astype(np.uint16) * 257).save(path)
    else:
        img.convert(mode).save(path)


FORMATS = [
    ("png", "RGBA", (40, 40)),
    ("png", "L", (28, 28)),
    ("png", "P", (64, 48)),
    ("jpg", "RGB", (105, 90)),
    ("jpg", "L", (30, 33)),
    ("png", "I;16", (50, 50)),
]


def make_folder(root: Path, counts: dict[str, int]) -> Path:
    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            ext, mode, size = FORMATS[(c + i) % len(FORMATS)]
            _save_mode(_glyph(size, seed=100 * c + i), root / name / f"{i:02d}.{ext}", mode)
    (root / ".hidden").mkdir()
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not an image")
    return root


def test_folder_of_mixed_formats_sizes_and_modes(tmp_path):
    names = [f"class{c}" for c in range(6)]
    root = make_folder(tmp_path / "imgs", {n: 6 for n in names})
    pool = load_source("folder", root)
    assert pool.class_names == names and pool.images.shape == (36, 28, 28) and pool.images.dtype == torch.uint8
    border = torch.cat([pool.images[:, 0], pool.images[:, -1], pool.images[:, :, 0], pool.images[:, :, -1]], 1)
    assert border.float().mean() < 20 and (pool.images.amax(dim=(1, 2)) > 150).all()  # bright strokes on dark
    splits = pool.splits
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == list(range(6))
    assert load_source("folder", root, cache=False).splits == splits  # deterministic
    assert torch.equal(load_source("folder", root, cache=False).images, pool.images)


def test_folder_names_every_short_class_with_its_count(tmp_path):
    counts = {"ant": 6, "bee": 2, "cat": 6, "dog": 1, "eel": 3, "fox": 6}
    root = make_folder(tmp_path / "imgs", counts)
    pool = load_source("folder", root, all_classes=True)
    assert pool.short_classes(4, "test") == [("bee", 2), ("dog", 1), ("eel", 3)]
    with pytest.raises(DataError) as info:
        TaskSampler(pool, "test", ways=5, shots=1, queries=3)
    assert "bee (2), dog (1), eel (3)" in str(info.value) and "only 3 qualify" in str(info.value)


def test_folder_with_two_classes_needs_all_classes(tmp_path):
    root = make_folder(tmp_path / "imgs", {"a": 3, "b": 3})
    with pytest.raises(DataError, match="--all-classes"):
        load_source("folder", root)
    assert load_source("folder", root, all_classes=True).splits["test"] == [0, 1]


# ---- cross-domain evaluation, end to end ----------------------------------------------------


@pytest.mark.slow
def test_cli_cross_domain_eval_synthetic_checkpoint_on_mnist_idx(tmp_path, mnist_root):
    ck = tmp_path / "tiny.pt"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "main.py", *args], cwd=REPO, capture_output=True, text=True, timeout=300)

    train = cli(
        "train",
        "--dataset",
        "synthetic",
        "--algo",
        "protonet",
        "--iterations",
        "2",
        "--meta-batch",
        "1",
        "--queries",
        "2",
        "--val-every",
        "0",
        "--device",
        "cpu",
        "--checkpoint",
        str(ck),
        "--json",
    )
    assert train.returncode == 0, train.stderr
    result = cli(
        "eval",
        "--checkpoint",
        str(ck),
        "--dataset",
        "mnist",
        "--data-root",
        str(mnist_root[0]),
        "--ways",
        "10",
        "--shots",
        "1",
        "--queries",
        "2",
        "--episodes",
        "4",
        "--device",
        "cpu",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0.0 <= out["accuracy"] <= 1.0 and out["episodes"] == 4
    assert "cross-domain evaluation (synthetic -> mnist)" in result.stderr and "10-way" in result.stderr
    split_only = cli(
        "eval",
        "--checkpoint",
        str(ck),
        "--dataset",
        "mnist",
        "--data-root",
        str(mnist_root[0]),
        "--ways",
        "10",
        "--episodes",
        "2",
        "--no-all-classes",
        "--device",
        "cpu",
    )
    assert split_only.returncode == 2 and "only 2 qualify" in split_only.stderr  # the own split has digits 8-9 only
    missing = cli("eval", "--checkpoint", str(ck), "--dataset", "kmnist", "--data-root", str(tmp_path / "empty"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
    assert (
        "t10k-labels-idx1-ubyte.gz" in missing.stderr and str(tmp_path / "empty" / "KMNIST" / "raw") in missing.stderr
    )
