"""Image folders a user brings: one subfolder per class, any common image format.

``ROOT/CLASS_NAME/*.png|jpg|bmp|gif|tif|webp|...``, any size and mode (RGBA,
palette, 16-bit, grey, colour): :mod:`engine.data.images` turns each into what
the model sees (uint8 28x28, bright on dark, inverted from the border when
it is dark ink on light paper). Hidden files and folders are skipped.

Class split: deterministic by class (:func:`engine.data.base.split_by_class`
with the run's seed; 60% meta-train, 20% val, 20% test). Classes with fewer
examples than a task needs are named, with their counts, by
:meth:`ClassPool.short_classes` (the CLI prints them before training) and in
the sampler's error when too few classes are left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from .base import ClassPool, DataError, every_class, split_by_class
from .images import is_image_file, load_image


def folder_files(root: str | Path) -> dict[str, list[Path]]:
    """Class name -> its image files (sorted), for every class subfolder that has images."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; give a folder with one subfolder per class")
    classes: dict[str, list[Path]] = {}
    for d in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        files = sorted(f for f in d.iterdir() if f.is_file() and is_image_file(f))
        if files:
            classes[d.name] = files
    if not classes:
        raise DataError(f"{root} has no class subfolders with images (expected {root}/CLASS_NAME/*.png)")
    return classes


def load_folder(root: str | Path, seed: int = 0, all_classes: bool = False) -> ClassPool:
    """Decode ``root/CLASS/*.png|jpg|...`` into a pool with a deterministic class split.

    ``all_classes`` puts every class in every split (evaluation of a model
    meta-trained elsewhere), which also works with fewer than 3 classes.
    """
    return split_folder(decode_folder(root), root, seed, all_classes)


def split_folder(pool: ClassPool, root: str | Path, seed: int = 0, all_classes: bool = False) -> ClassPool:
    """Give a decoded folder its class split (see :func:`load_folder`)."""
    if all_classes:
        return pool.with_splits(every_class(pool.num_classes))
    if pool.num_classes < 3:
        raise DataError(
            f"{root} has {pool.num_classes} class folder(s) with images ({', '.join(pool.class_names)}); "
            "meta-train / val / test splits need at least 3 (to evaluate on them only, pass --all-classes)"
        )
    return pool.with_splits(split_by_class(pool.num_classes, seed=seed))


def decode_folder(root: str | Path, progress: Callable[[int, int], None] | None = None) -> ClassPool:
    """Decode every image; every class in every split (the caller picks the split).

    ``progress(done, total)`` is called before each image; raising in it (e.g. ``api.Cancelled``) abandons
    the decoding, which is how the window cancels a huge folder.
    """
    classes = folder_files(root)
    total = sum(len(files) for files in classes.values())
    images, labels = [], []
    for cls, files in enumerate(classes.values()):
        for f in files:
            if progress is not None:
                progress(len(images), total)
            images.append(load_image(f))
            labels.append(cls)
    names = list(classes)
    return ClassPool(
        images=torch.stack(images),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=names,
        class_groups=names,
        splits=every_class(len(names)),
        name="folder",
    )
