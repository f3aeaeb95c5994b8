"""Image folders a user brings: one subfolder per class, any common image format."""

from __future__ import annotations

from pathlib import Path

import torch

from .base import ClassPool, DataError, split_by_class
from .images import is_image_file, load_image


def load_folder(root: str | Path, seed: int = 0) -> ClassPool:
    """Decode ``root/CLASS/*.png|jpg|...`` into a pool with a deterministic class split."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; give a folder with one subfolder per class")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    images, labels, names = [], [], []
    for d in class_dirs:
        files = sorted(f for f in d.iterdir() if f.is_file() and is_image_file(f))
        if not files:
            continue
        cls = len(names)
        names.append(d.name)
        for f in files:
            images.append(load_image(f))
            labels.append(cls)
    if not names:
        raise DataError(f"{root} has no class subfolders with images (expected {root}/CLASS_NAME/*.png)")
    return ClassPool(
        images=torch.stack(images),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=names,
        class_groups=names,
        splits=split_by_class(len(names), seed=seed),
        name="folder",
    )
