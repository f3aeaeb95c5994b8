"""Class sources. Each decodes once into a :class:`ClassPool` held in memory."""

from __future__ import annotations

from pathlib import Path

from .base import SPLITS, ClassPool, DataError
from .glyphs import make_glyph_pool

SOURCES = ("synthetic", "omniglot", "folder", "classset")


def load_source(name: str, root: str | Path | None = None, *, rotations: bool = True, seed: int = 0) -> ClassPool:
    """Load a data source by its CLI name.

    ``synthetic`` needs no files; the others read ``root`` and raise
    :class:`DataError` with an actionable message when it is missing or bad.
    """
    if name == "synthetic":
        return make_glyph_pool(seed=0)
    if root is None:
        raise DataError(f"--data-root is required for the {name!r} data set")
    if name == "omniglot":
        from .omniglot import load_omniglot

        return load_omniglot(root, rotations=rotations)
    if name == "folder":
        from .folder import load_folder

        return load_folder(root, seed=seed)
    if name == "classset":  # a saved New-classes set: every class in every split
        from ..classset import classset_pool

        return classset_pool(root)
    raise DataError(f"unknown data set {name!r}; choose one of {', '.join(SOURCES)}")


__all__ = ["SPLITS", "SOURCES", "ClassPool", "DataError", "load_source", "make_glyph_pool"]
