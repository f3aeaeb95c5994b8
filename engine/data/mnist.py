"""MNIST, Fashion-MNIST, KMNIST and EMNIST (balanced) from their raw IDX files.

The files are looked for in torchvision's layout, ``ROOT/MNIST/raw/``,
``ROOT/FashionMNIST/raw/``, ``ROOT/KMNIST/raw/``, ``ROOT/EMNIST/raw/`` (then
``ROOT/<Folder>/`` and ``ROOT`` itself), gzipped or not (detected from the
bytes, not the name). The IDX format is parsed here with numpy: it is four
header fields and a byte array, and reading it directly keeps the source
offline and independent of torchvision's download-first dataset classes.
torchvision is used only to download missing files, and only when asked
(``allow_download``, the CLI's ``--download``).

Both the training and the test files are used when present (one pool of
images per class; meta-learning splits by class, not by file); either pair
alone is enough. Images are already bright strokes on dark 28x28; EMNIST's
are stored transposed and are turned upright.

Class split (fixed, by class index): meta-train the first 60% of the
classes, validation the next 20%, test the last 20%. For the 10-class sets
that is 0-5 / 6-7 / 8-9 (so only 2-way tasks on their val and test splits);
EMNIST balanced's 47 classes give 28 / 9 / 10. Cross-domain evaluation (a
model meta-trained on another source) puts every class in every split
instead: ``load_source(..., all_classes=True)``, which ``main.py eval`` does
by itself when the data set differs from the checkpoint's.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .base import ClassPool, DataError

IDX_UBYTE = 0x08
EMNIST_BALANCED = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt")


@dataclass(frozen=True)
class Spec:
    """Where one MNIST-family data set lives and what its classes are called."""

    name: str  # the CLI name
    folder: str  # torchvision's folder under the root
    parts: tuple[tuple[str, str], ...]  # (images stem, labels stem) per part (train, test)
    classes: tuple[str, ...]
    url: str
    transposed: bool = False


def _parts(prefix: str = "", train: str = "train", test: str = "t10k") -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{p}-images-idx3-ubyte", f"{prefix}{p}-labels-idx1-ubyte") for p in (train, test))


SPECS: dict[str, Spec] = {
    "mnist": Spec("mnist", "MNIST", _parts(), tuple("0123456789"), "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion-mnist": Spec(
        "fashion-mnist", "FashionMNIST", _parts(),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "https://github.com/zalandoresearch/fashion-mnist",
    ),
    "kmnist": Spec(
        "kmnist", "KMNIST", _parts(), ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        "https://github.com/rois-codh/kmnist",
    ),
    "emnist": Spec(
        "emnist", "EMNIST", _parts("emnist-balanced-", "train", "test"), tuple(EMNIST_BALANCED),
        "https://www.nist.gov/itl/products-and-services/emnist-dataset (gzip.zip)", transposed=True,
    ),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (gzipped or not) into a uint8 array of its declared shape.

    Raises :class:`DataError` for an unreadable, truncated or corrupt file, or
    one that does not hold unsigned bytes.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read or un-gzip it ({exc}); download the file again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number); expected the raw MNIST-format file")
    if raw[2] != IDX_UBYTE:
        raise DataError(f"{path}: IDX data type 0x{raw[2]:02x} is not unsigned bytes (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header; download the file again")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"{path}: {what} ({len(raw):,} bytes, the header {dims} needs {expected:,}); download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzipped when the name ends in ``.gz``); for tests and tools."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, IDX_UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def _find(root: Path, spec: Spec, stem: str) -> Path | None:
    for folder in (root / spec.folder / "raw", root / spec.folder, root):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def missing_message(spec: Spec, root: Path) -> str:
    files = ", ".join(f"{stem}.gz" for pair in spec.parts for stem in pair)
    return (
        f"put {files} (gzipped or not; either the train or the test pair is enough) in "
        f"{root / spec.folder / 'raw'} (from {spec.url}) or connect to the network and pass --download"
    )


def find_files(name: str, root: str | Path, allow_download: bool = False) -> list[Path]:
    """The IDX files of data set ``name`` under ``root``: [images, labels, images, labels, ...].

    Downloads through torchvision first when none are there and
    ``allow_download`` is set; otherwise (or when that fails) raises a
    :class:`DataError` that names the files and the folder to put them in.
    """
    spec = SPECS[name]
    root = Path(root)
    found = _complete_pairs(spec, root)
    if not found and allow_download:
        _download(spec, root)
        found = _complete_pairs(spec, root)
    if not found:
        raise DataError(f"no {spec.folder} files in {root}: " + missing_message(spec, root))
    return found


def _complete_pairs(spec: Spec, root: Path) -> list[Path]:
    found: list[Path] = []
    for images_stem, labels_stem in spec.parts:
        images, labels = _find(root, spec, images_stem), _find(root, spec, labels_stem)
        if images and labels:
            found += [images, labels]
        elif images or labels:
            have, lack = (images, labels_stem) if images else (labels, images_stem)
            raise DataError(f"{have} has no partner: put {lack}[.gz] next to it")
    return found


def _download(spec: Spec, root: Path) -> None:
    """Fetch the files with torchvision (the only use of it here); failures become DataError."""
    try:
        from torchvision import datasets

        root.mkdir(parents=True, exist_ok=True)
        if spec.name == "emnist":
            datasets.EMNIST(str(root), split="balanced", train=True, download=True)
        else:
            classes = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "kmnist": datasets.KMNIST}
            cls = classes[spec.name]
            cls(str(root), train=True, download=True)
    except Exception as exc:  # no network, a proxy, a bad mirror: all say the same thing to the user
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise DataError(f"could not download {spec.folder} ({reason}); " + missing_message(spec, root)) from None


def load_mnist_files(name: str, files: list[Path]) -> ClassPool:
    """Decode IDX (images, labels) pairs into one pool with the fixed class split."""
    spec = SPECS[name]
    images, labels = [], []
    for img_path, lab_path in zip(files[::2], files[1::2]):
        x, y = read_idx(img_path), read_idx(lab_path)
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{img_path}: expected images [N, 28, 28], found shape {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{lab_path}: {y.shape[0] if y.ndim else 0} labels for {len(x)} images in {img_path.name}")
        if len(y) and int(y.max()) >= len(spec.classes):
            raise DataError(
                f"{lab_path}: label {int(y.max())} is out of range for {spec.folder} ({len(spec.classes)} classes); "
                "is it the right file?"
            )
        images.append(torch.from_numpy(x.copy()))
        labels.append(torch.from_numpy(y.astype(np.int64)))
    pixels = torch.cat(images)
    if spec.transposed:
        pixels = pixels.transpose(1, 2)
    return ClassPool(
        images=pixels.contiguous(),
        labels=torch.cat(labels),
        class_names=list(spec.classes),
        class_groups=list(spec.classes),
        splits=split_by_index(len(spec.classes)),
        name=name,
    )


def split_by_index(num_classes: int) -> dict[str, list[int]]:
    """Fixed split: first 60% of the class indices meta-train, next 20% val, last 20% test."""
    n_test = max(1, round(0.2 * num_classes))
    n_val = max(1, round(0.2 * num_classes))
    n_train = num_classes - n_val - n_test
    if n_train < 1:
        raise DataError(f"need at least 3 classes for train/val/test splits, found {num_classes}")
    order = list(range(num_classes))
    return {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}


def load_mnist(name: str, root: str | Path, allow_download: bool = False) -> ClassPool:
    """Find (or, if allowed, download) and decode an MNIST-family data set (no cache)."""
    if name not in SPECS:
        raise DataError(f"unknown MNIST-family data set {name!r}; choose one of {', '.join(SPECS)}")
    return load_mnist_files(name, find_files(name, root, allow_download))


__all__ = ["SPECS", "find_files", "load_mnist", "load_mnist_files", "read_idx", "split_by_index", "write_idx"]
