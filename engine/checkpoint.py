"""Checkpoints: weights + config + metrics in one file.

Writes are atomic (a temporary file in the same folder, fsync, then rename),
so a crash mid-save leaves the previous checkpoint intact. Loading uses
``torch.load(weights_only=True)``: a file that would need to run code to
unpickle is refused, never executed.
"""

from __future__ import annotations

import errno
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

FORMAT = "meta-playground-checkpoint"
VERSION = 1


def atomic_write(path: str | os.PathLike, write: Any) -> None:
    """Call ``write(file_object)`` on a temp file next to ``path``, then rename over it."""
    path = Path(path)
    fd, tmp = _temp_beside(path, lambda folder: tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                                                  dir=folder))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _temp_beside(path: Path, make: Any) -> Any:
    """``make(folder)`` a temp file or folder in ``path``'s folder (created if missing); a folder that cannot
    be written is an OSError naming it and ``path`` (not the temp name nobody chose)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return make(path.parent)
    except OSError as exc:
        why = ("a file is in the way of that folder" if exc.errno in (errno.EEXIST, errno.ENOTDIR)
               else exc.strerror or str(exc))
        raise OSError(exc.errno, f"cannot write in the folder {path.parent} ({why})", str(path)) from None


def save_checkpoint(
    path: str | os.PathLike,
    *,
    config: dict,
    model_state: dict[str, torch.Tensor],
    extra_state: dict[str, torch.Tensor] | None = None,
    optimizer_state: dict | None = None,
    history: dict | None = None,
    iteration: int = 0,
) -> None:
    """Write a checkpoint atomically."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": dict(config),
        "model": {k: v.detach().cpu() for k, v in model_state.items()},
        "extra": {k: v.detach().cpu() for k, v in (extra_state or {}).items()},
        "optimizer": optimizer_state,
        "history": history or {},
        "iteration": int(iteration),
    }
    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and validate a checkpoint; raise :class:`CheckpointError` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # weights_only refused a class or function reference
            raise CheckpointError(
                f"{path} is not a Meta Playground checkpoint: it holds objects that could run code, "
                "so it was refused without loading"
            ) from None
        raise CheckpointError(
            f"{path} is not a Meta Playground checkpoint (its data is unreadable or damaged)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - garbage can make the unpickler raise anything (KeyError, IndexError, ...)
        detail = (str(exc).splitlines() or [exc.__class__.__name__])[0][:120]
        raise CheckpointError(f"checkpoint {path} is damaged or truncated ({detail})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Meta Playground checkpoint (no '{FORMAT}' marker)")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} was written by a newer Meta Playground (format {payload['version']})")
    if not isinstance(payload.get("config"), dict) or not isinstance(payload.get("model"), dict):
        raise CheckpointError(f"{path} is incomplete: it lacks the config or the weights")
    return payload
