"""On-disk decode cache: a source's decoded pool, so the second launch decodes nothing.

One cache file per (source kind, root folder, options), in the platform cache
folder (``platformdirs`` when installed, else ``$XDG_CACHE_HOME`` or
``~/.cache``, under ``meta-playground/decoded``; ``META_PLAYGROUND_CACHE_DIR``
overrides it, which the tests use). The file holds the uint8 images, labels,
class names, groups and splits, plus a fingerprint: the format version, the
torch version, the options and every source file's path, size and
modification time. A file whose fingerprint differs (a source file changed,
was added or removed) or that cannot be read and validated is rebuilt from
the source and replaced, never trusted. Files are written atomically with
:func:`engine.checkpoint.atomic_write` and read with
``torch.load(weights_only=True)``, so a cache file cannot run code.

A cache that cannot be written (read-only or full disk) only costs speed:
the decoded pool is returned all the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from ..framing import frame_stretch, framed_by, framing_named
from .base import ClassPool

FORMAT = "meta-playground-decode-cache"
VERSION = 1
ENV_DIR = "META_PLAYGROUND_CACHE_DIR"

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where decoded pools are kept (created on first write)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    try:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("meta-playground", appauthor=False))
    except ImportError:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "meta-playground"
    return base / "decoded"


def file_stats(paths: Iterable[Path]) -> list[list[Any]]:
    """[resolved path, size, mtime in ns] per file: what the fingerprint compares."""
    stats = []
    for p in paths:
        st = Path(p).stat()
        stats.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return stats


def cache_path(kind: str, identity: dict) -> Path:
    """The cache file of one source + options (its contents are checked on read)."""
    digest = hashlib.sha256(json.dumps([kind, identity], sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / f"{kind}-{digest}.pt"


def cached_pool(
    kind: str,
    identity: dict,
    files: Iterable[Path],
    build: Callable[[], ClassPool],
    extra: dict | None = None,
    enabled: bool = True,
) -> ClassPool:
    """Return the cached pool of a source if it is still valid, else ``build()`` it and cache it.

    Parameters
    ----------
    kind : source name (``"mnist"``, ``"folder"``, ...), also the file name prefix
    identity : what names this source: its root folder and the options that change the result
    files : every source file the pool is decoded from (their sizes and mtimes are compared)
    build : decodes the pool from the source (only called on a miss)
    extra : anything else the result depends on (e.g. a generator's code hash)
    """
    if not enabled:
        return build()
    fingerprint = json.dumps(
        {"format": FORMAT, "version": VERSION, "torch": torch.__version__, "kind": kind,
         "identity": identity, "extra": extra or {}, "files": file_stats(files)},
        sort_keys=True,
    )
    path = cache_path(kind, identity)
    pool = _read(path, fingerprint)
    if pool is not None:
        log.info("decode cache hit: %s", path)
        return pool
    pool = build()
    _write(path, fingerprint, pool)
    return pool


def _read(path: Path, fingerprint: str) -> ClassPool | None:
    """The pool in ``path`` if it exists, loads safely, validates and matches ``fingerprint``."""
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError("not a decode cache of this version")
        if data.get("fingerprint") != fingerprint:
            log.info("decode cache out of date (the source or the options changed): %s", path)
            return None
        return _validated(data)
    except Exception as exc:  # any damage means: rebuild, never trust
        log.warning("decode cache unreadable, rebuilding %s: %s", path, exc)
        return None


def _validated(data: dict) -> ClassPool:
    images, labels = data["images"], data["labels"]
    names, groups, splits = data["class_names"], data["class_groups"], data["splits"]
    n = len(names)
    ok = (
        isinstance(images, torch.Tensor)
        and images.dtype == torch.uint8
        and images.dim() == 3
        and isinstance(labels, torch.Tensor)
        and labels.dtype == torch.int64
        and labels.shape == (len(images),)
        and isinstance(names, list)
        and all(isinstance(s, str) for s in names)
        and isinstance(groups, list)
        and len(groups) == n
        and all(isinstance(s, str) for s in groups)
        and isinstance(splits, dict)
        and all(isinstance(v, list) and all(isinstance(i, int) and 0 <= i < n for i in v) for v in splits.values())
        and (len(labels) == 0 or (int(labels.min()) >= 0 and int(labels.max()) < n))
        and isinstance(data.get("name"), str)
    )
    if not ok:
        raise ValueError("inconsistent contents")
    return ClassPool(
        images=images,
        labels=labels,
        class_names=names,
        class_groups=groups,
        splits={str(k): v for k, v in splits.items()},
        name=data["name"],
        framed=framing_named(float(data.get("framed", 0)), data.get("framed_by")),
    )


def _write(path: Path, fingerprint: str, pool: ClassPool) -> None:
    from ..checkpoint import atomic_write

    data = {
        "format": FORMAT,
        "version": VERSION,
        "fingerprint": fingerprint,
        "images": pool.images.contiguous(),
        "labels": pool.labels.to(torch.int64),
        "class_names": list(pool.class_names),
        "class_groups": list(pool.class_groups),
        "splits": {k: list(v) for k, v in pool.splits.items()},
        "name": pool.name,
        "framed": frame_stretch(pool.framed),
        **({"framed_by": framed_by(pool.framed)} if framed_by(pool.framed) else {}),
    }
    try:
        atomic_write(path, lambda f: torch.save(data, f))
    except OSError as exc:  # read-only or full disk: the cache only saves time
        log.warning("could not write the decode cache %s: %s", path, exc)


def clear_cache() -> int:
    """Delete every decode cache file; returns how many were removed."""
    removed = 0
    for p in cache_dir().glob("*.pt"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed
