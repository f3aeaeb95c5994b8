"""What the window needs for export, per-class insight and the Omniglot download: Qt-free, torch imported lazily.

Numpy arrays and plain dataclasses in and out; learners and algorithms pass
through as opaque handles. Every function here may run for seconds, so the
window calls them on worker threads. (To be folded into ``engine/api.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .confusion import Confusion


@dataclass(frozen=True)
class ExportInfo:
    """A classifier file that was written."""

    path: str
    bytes: int
    ways: int
    seconds: float
    onnx_path: str | None = None
    leaves_out: str = ""  # what of the app's scoring the file does not hold ("" for nothing)


def onnx_status() -> tuple[bool, str]:
    """Whether ONNX export is possible here, and the reason when not (for a disabled option's tooltip)."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"ONNX export needs the {' and '.join(missing)} package(s): pip install onnx onnxscript"
    return True, "also write an .onnx file next to the .pt2 file"


def export_classifier(
    learner: Any, class_names: Sequence[str], path: str, onnx: bool = False, source: dict | None = None
) -> ExportInfo:
    """Write the adapted ``learner`` to ``path`` (torch.export; ``.pt2`` added when there is no suffix)."""
    from .export import SUFFIX, export_learner, export_onnx

    target = Path(path)
    if not target.suffix:
        target = target.with_suffix(SUFFIX)
    summary = export_learner(learner, list(class_names), target, source)
    onnx_path = None
    if onnx:
        onnx_path = str(target.with_suffix(".onnx"))
        export_onnx(learner, list(class_names), onnx_path)
    return ExportInfo(summary.path, summary.bytes, summary.ways, summary.seconds, onnx_path, summary.leaves_out)


def leave_one_out_insight(
    algo: Any,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    steps: int | None = None,
    inner_lr: float | None = None,
) -> Confusion:
    """Confusion over a person's own classes by leave-one-out (on a private copy of ``algo``)."""
    import copy

    from .adaptation import images_as_trained
    from .confusion import leave_one_out_confusion

    algo = getattr(algo, "handle", algo)  # an engine.api.Model or the Algorithm itself
    images = images_as_trained(algo.config.frame_ink, images)
    return leave_one_out_confusion(copy.deepcopy(algo), images, labels, class_names, steps, inner_lr)


@dataclass(frozen=True)
class AlgoConfusion:
    """One compared algorithm's confusion on the shared test episodes (the Compare tab's per-class view)."""

    algo: str
    confusion: Confusion


def compare_insight(checkpoint: str, config: Any, pool: Any, episodes: int) -> AlgoConfusion:
    """Confusion of a compared algorithm on compare's shared test episodes (same seed offset as its table)."""
    from .compare import shared_test_episodes
    from .confusion import episode_confusion
    from .trainer import pool_as_trained, resolve_device, restore

    device = resolve_device(config.device)
    algo, _, _ = restore(str(checkpoint), device)
    tasks = shared_test_episodes(pool_as_trained(config, pool), config, episodes)
    return AlgoConfusion(config.algo, episode_confusion(algo, tasks, pool.class_names, device))


def download_omniglot(
    root: str, on_progress: Callable[[str, int, int], None] | None = None, **kwargs: Any
) -> list[str]:
    """Fetch Omniglot into ``root`` (see :func:`engine.download.download_omniglot`)."""
    from .download import download_omniglot as fetch

    return [str(p) for p in fetch(root, on_progress=on_progress, **kwargs)]
