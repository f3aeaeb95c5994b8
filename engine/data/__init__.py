"""Class sources. Each decodes once into a :class:`ClassPool` held in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..config import SOURCE_LABELS
from ..framing import BothFramings, Frame, frame_stretch, framed_by, framings
from .base import SPLITS, ClassPool, DataError, every_class
from .glyphs import make_glyph_pool

SOURCES = tuple(SOURCE_LABELS)  # the image sources by name (engine.config; DATASET_CHOICES adds sine, generated)
MNIST_FAMILY = ("mnist", "fashion-mnist", "kmnist", "emnist")


def load_source(
    name: str,
    root: str | Path | None = None,
    *,
    rotations: bool = True,
    seed: int = 0,
    all_classes: bool = False,
    allow_download: bool = False,
    cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
    image_size: int = 28,
    frame: Frame = 0,
) -> ClassPool:
    """Load a data source by its CLI name.

    ``synthetic`` needs no files; the others read ``root`` and raise
    :class:`DataError` with an actionable message when it is missing or bad.
    Decoded pools are kept in the on-disk decode cache (:mod:`.cache`;
    ``cache=False`` bypasses it). ``all_classes`` puts every class in every
    split, for evaluating a model meta-trained on another source.
    ``allow_download`` lets torchvision fetch missing MNIST-family or Omniglot files.
    ``progress(done, total)``: called per decoded image of a folder (raise in it to cancel).
    ``image_size``: Omniglot only, the side its 105x105 drawings are decoded at.
    ``frame``: Omniglot only, each drawing cropped to its ink and centred (engine.data.images.frame_ink; above 1,
    its shorter side stretched up to that many times; a MomentFraming: framed by its ink's moments; a BothFramings:
    images [M, 2, H, W], each drawing framed both ways, to score a model on; ClassPool.framings_as_drawings trains).
    """
    if isinstance(frame, BothFramings) and name == "omniglot":  # each framing decoded (and cached) on its own
        one_way = [load_source(name, root, rotations=rotations, seed=seed, all_classes=all_classes,
                               allow_download=allow_download, cache=cache, progress=progress,
                               image_size=image_size, frame=way) for way in framings(frame)]
        return read_both_ways(one_way, frame)
    if image_size != 28 and name != "omniglot":
        raise DataError(f"only Omniglot can be decoded at {image_size}x{image_size}; {name} images are 28x28")
    if frame and name != "omniglot":
        raise DataError(f"only Omniglot's drawings are framed to their ink; {name} images are used as they are")
    pool = _load(name, root, rotations, seed, all_classes, allow_download, cache, progress, image_size, frame)
    return pool.with_splits(every_class(pool.num_classes)) if all_classes else pool


def read_both_ways(pools: list[ClassPool], frame: Frame) -> ClassPool:
    """One pool of the same drawings decoded each way (``pools``, in :func:`engine.framing.framings`' order) as a
    pool of drawings read each way at once: images [M, ways, H, W]."""
    first = pools[0]
    if any(not torch.equal(p.labels, first.labels) or p.class_names != first.class_names for p in pools[1:]):
        raise DataError(f"{first.name}'s drawings did not decode in one order each way; clear the decode cache")
    return ClassPool(torch.stack([p.images for p in pools], 1), first.labels, first.class_names, first.class_groups,
                     first.splits, first.name, frame)


def _load(name: str, root: str | Path | None, rotations: bool, seed: int, all_classes: bool, allow_download: bool,
          cache: bool, progress: Callable[[int, int], None] | None = None, image_size: int = 28,
          frame: Frame = 0) -> ClassPool:
    from .cache import cached_pool

    if name == "synthetic":
        import hashlib

        from . import glyphs

        code = hashlib.sha256(Path(glyphs.__file__).read_bytes()).hexdigest()
        return cached_pool("synthetic", {"seed": 0}, [], lambda: glyphs.make_glyph_pool(seed=0),
                           extra={"code": code}, enabled=cache)
    if root is None:
        raise DataError(f"--data-root is required for the {name!r} data set")
    here = str(Path(root).resolve())
    if name == "omniglot":
        from . import omniglot

        if allow_download:  # the background and evaluation zips, where missing (engine/download.py)
            from ..download import download_omniglot

            download_omniglot(root)

        key = {"root": here, "rotations": rotations, **({"size": image_size} if image_size != 28 else {}),
               **({"frame": True} if frame == 1 else {"frame": frame_stretch(frame)} if frame else {}),
               **({"frame_by": framed_by(frame)} if framed_by(frame) else {})}  # (earlier keys stay)
        return cached_pool("omniglot", key, omniglot.omniglot_files(root),
                           lambda: omniglot.load_omniglot(root, rotations=rotations, size=image_size, frame=frame),
                           enabled=cache)
    if name in MNIST_FAMILY:
        from . import mnist

        files = mnist.find_files(name, root, allow_download)
        return cached_pool(name, {"root": here}, files, lambda: mnist.load_mnist_files(name, files), enabled=cache)
    if name == "folder":
        from . import folder

        classes = folder.folder_files(root)
        decoded = cached_pool("folder", {"root": here}, [f for fs in classes.values() for f in fs],
                              lambda: folder.decode_folder(root, progress), enabled=cache)
        return folder.split_folder(decoded, root, seed, all_classes)
    if name == "classset":  # a saved New-classes set: every class in every split
        from ..classset import classset_pool

        return classset_pool(root)
    raise DataError(f"unknown data set {name!r}; choose one of {', '.join(SOURCES)}")


__all__ = ["MNIST_FAMILY", "SPLITS", "SOURCES", "ClassPool", "DataError", "load_source", "make_glyph_pool"]
