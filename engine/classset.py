"""Class sets: a person's few-shot classes saved as a folder of PNGs plus a JSON manifest.

Layout::

    SET/manifest.json       {"format": "meta-playground-classset", "version": 1,
                             "classes": [{"name": "cat", "folder": "00-cat",
                                          "examples": ["000.png", "001.png"]}, ...]}
    SET/00-cat/000.png      28x28 8-bit grey, bright strokes on dark (what the model sees)

Plain JSON and PNG, never pickle: a class set is data and loading one runs no
code. Saving is atomic for the whole set (everything is written into a
temporary folder next to the target, which then replaces it by rename), so a
crash mid-save leaves the previous set intact (a crash between the two
renames of the swap leaves it as a backup folder, which the next load or
save puts back). Loading validates the manifest
and refuses paths that would escape the folder.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import _temp_beside
from .data.base import SPLITS, ClassPool, DataError
from .data.images import image_to_tensor, open_image

FORMAT = "meta-playground-classset"
VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 4_000_000
_SIMPLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")


@dataclass
class ClassSet:
    """Named classes, each with its examples as uint8 [28, 28] numpy arrays (order kept)."""

    names: list[str] = field(default_factory=list)
    examples: list[list[np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.names) != len(self.examples):
            raise DataError(
                f"a class set needs one example list per class ({len(self.names)} names, {len(self.examples)} lists)"
            )

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def shots(self) -> list[int]:
        return [len(e) for e in self.examples]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All examples as uint8 [M, 28, 28] with labels [M] (class order)."""
        images = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)) for ex in self.examples for x in ex]
        labels = [c for c, ex in enumerate(self.examples) for _ in ex]
        if not images:
            raise DataError("the class set has no examples; add a few drawings or images to each class")
        return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def _folder_name(index: int, name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40] or "class"
    return f"{index:02d}-{slug}"


def _check_image(x: np.ndarray, where: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape != (28, 28):
        raise DataError(f"{where}: examples must be 28x28 images, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def save_classset(path: str | os.PathLike, classset: ClassSet) -> Path:
    """Write ``classset`` to the folder ``path`` atomically; return the path.

    An existing class set at ``path`` is replaced only once the new one is
    complete. A non-empty folder that is not a class set is refused, so a
    wrong choice in a file dialog cannot delete someone's files.
    """
    target = Path(path)
    _recover(target)
    if target.exists():
        if not target.is_dir():
            raise DataError(f"{target} is a file; choose a folder name for the class set")
        if any(target.iterdir()) and not (target / MANIFEST).is_file():
            raise DataError(f"{target} is a non-empty folder that is not a class set; choose a new or empty folder")
    if classset.num_classes == 0:
        raise DataError("the class set has no classes")
    tmp = Path(_temp_beside(target, lambda folder: tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp",
                                                                    dir=folder)))
    try:
        entries = []
        for c, (name, examples) in enumerate(zip(classset.names, classset.examples)):
            folder = _folder_name(c, name)
            (tmp / folder).mkdir()
            files = []
            for i, x in enumerate(examples):
                fname = f"{i:03d}.png"
                Image.fromarray(_check_image(x, f"class {name!r}"), mode="L").save(tmp / folder / fname)
                files.append(fname)
            entries.append({"name": str(name), "folder": folder, "examples": files})
        manifest = {"format": FORMAT, "version": VERSION, "classes": entries}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _swap_in(new: Path, target: Path) -> None:
    """Replace the folder ``target`` with ``new`` by renames; the old one survives any failure."""
    if not target.exists():
        os.replace(new, target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    backup.rmdir()
    os.replace(target, backup)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _recover(target: Path) -> None:
    """Put back the previous set if a save was killed between its two renames (target gone, backup left)."""
    if target.exists():
        return
    backups = [b for b in target.parent.glob(f".{glob.escape(target.name)}.*.old") if (b / MANIFEST).is_file()]
    if backups:
        os.replace(max(backups, key=lambda b: b.stat().st_mtime_ns), target)


def _read_manifest(root: Path) -> dict:
    _recover(root)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise DataError(f"class set {root} does not exist; choose a folder saved by the New classes workspace")
    if not mpath.is_file():
        raise DataError(
            f"{root} has no {MANIFEST}; it is not a class set (for plain image folders use --dataset folder)"
        )
    if mpath.stat().st_size > MAX_MANIFEST_BYTES:
        raise DataError(f"{mpath} is too large to be a class-set manifest")
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurd nesting
        raise DataError(f"{mpath} is not valid JSON ({exc}); re-save the class set") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f'{mpath} is not a class-set manifest (its "format" must be {FORMAT!r})')
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise DataError(f'{mpath}: "version" must be an integer')
    if version > VERSION:
        raise DataError(f"{mpath} was written by a newer version (format {version}); update Meta Playground")
    classes = data.get("classes")
    if not isinstance(classes, list) or not classes:
        raise DataError(f'{mpath}: "classes" must be a non-empty list')
    return data


def _inside(root: Path, name: object, what: str) -> Path:
    """``root / name`` for a plain single-component name; refuse anything that could escape."""
    if not isinstance(name, str) or not _SIMPLE_NAME.match(name) or name in (".", "..") or "/" in name or "\\" in name:
        raise DataError(f"class set {root}: {what} {name!r} is not a plain file or folder name")
    path = root / name
    if not path.resolve().is_relative_to(root.resolve()):
        raise DataError(f"class set {root}: {what} {name!r} points outside the class set")
    return path


def load_classset(path: str | os.PathLike) -> ClassSet:
    """Read and validate a class set folder; every problem is a :class:`DataError`."""
    root = Path(path)
    data = _read_manifest(root)
    names, examples, folders = [], [], set()
    for i, entry in enumerate(data["classes"]):
        if not isinstance(entry, dict):
            raise DataError(f"class set {root}: class #{i + 1} must be an object with name, folder, examples")
        name, files = entry.get("name"), entry.get("examples")
        if not isinstance(name, str) or not name.strip():
            raise DataError(f'class set {root}: class #{i + 1} needs a non-empty "name"')
        folder = _inside(root, entry.get("folder"), "folder")
        if folder.name in folders:
            raise DataError(f"class set {root}: folder {folder.name!r} is used by two classes")
        folders.add(folder.name)
        if not isinstance(files, list):
            raise DataError(f'class set {root}: "examples" of class {name!r} must be a list of file names')
        images = []
        for fname in files:
            fpath = _inside(folder, fname, "example")
            if not fpath.is_file():
                raise DataError(f"class set {root}: {folder.name}/{fname} is missing; re-save the class set")
            img = open_image(fpath)
            if img.mode == "L" and img.size == (28, 28):
                images.append(np.array(img, dtype=np.uint8))
            else:  # edited by hand: convert like any image the person loads
                images.append(image_to_tensor(img).numpy())
        names.append(name)
        examples.append(images)
    return ClassSet(names, examples)


def classset_pool(path: str | os.PathLike) -> ClassPool:
    """A class set as a data source.

    A class set is a handful of classes made to *test* a meta-learned model,
    so every class is in every split (train, val and test): ``eval`` with
    ``--ways N --shots K --queries Q`` samples episodes from all of them,
    which works when the set has at least N classes with K + Q examples each.
    """
    cs = load_classset(path)
    images, labels = cs.tensors()
    everything = list(range(cs.num_classes))
    return ClassPool(
        images=images,
        labels=labels,
        class_names=list(cs.names),
        class_groups=["classset"] * cs.num_classes,
        splits={s: list(everything) for s in SPLITS},
        name="classset",
    )
