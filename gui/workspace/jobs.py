"""What the workspace's worker threads run: plain functions that call the engine.

Nothing here touches a widget. Each function takes and returns numpy arrays,
names and opaque engine objects (an ``Algorithm``, a ``Learner``); engine
modules are imported inside the functions so the GUI thread never imports or
runs torch because of the workspace. Each result records the thread it ran on
(``thread``), which the tests use to prove the work left the GUI thread.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class AdaptResult:
    learner: Any  # engine Learner, an opaque handle for predict_job
    view: dict  # embedding_projection of the support set
    seconds: float  # click-to-ready time spent in the engine
    thread: int
    last_step: int  # the step the leave-one-out accuracy belongs to
    gate: np.ndarray | None = None  # the mixture of experts' weights for this support set


@dataclass(frozen=True)
class PredictResult:
    probabilities: np.ndarray  # [ways]
    view: dict  # embedding_projection with the query
    query: np.ndarray  # the uint8 [28, 28] the model saw
    seconds: float
    thread: int


def adapt_job(
    algo: Any, images: np.ndarray, labels: np.ndarray, steps: int, inner_lr: float,
    on_step: Callable, on_ready: Callable[[AdaptResult], None],
) -> float | None:
    """Adapt to the cards' examples, then estimate leave-one-out accuracy.

    Steps stream through ``on_step``; ``on_ready`` gets the adapted learner as
    soon as it exists, so the person can test while the K extra
    leave-one-out adaptations run. Returns the leave-one-out accuracy (None for one shot).

    ``torch.func.functional_call`` swaps a module's parameters while it runs,
    so two threads must never run one module at once: the learner gets its own
    copy of the algorithm (the main window may keep training the original) and
    the leave-one-out folds another, so predictions can run beside them.
    """
    from engine.adaptation import adapt_with_progress, as_model_input, embedding_projection, leave_one_out_accuracy

    from ..gate_chart import task_gate

    import torch

    began = time.perf_counter()
    algo = copy.deepcopy(algo)
    seen: list[int] = []
    learner = adapt_with_progress(algo, images, labels, steps=steps, inner_lr=inner_lr,
                                  on_step=lambda s: (seen.append(s.step), on_step(s)), leave_one_out=False)
    view = embedding_projection(learner, images, labels)
    on_ready(AdaptResult(learner, view, time.perf_counter() - began, threading.get_ident(), seen[-1] if seen else 0, task_gate(learner)))
    device = next(algo.model.parameters()).device
    x, y = as_model_input(images, device), torch.as_tensor(labels, dtype=torch.int64, device=device)
    return leave_one_out_accuracy(copy.deepcopy(algo), x, y, steps, inner_lr)


def predict_job(learner: Any, images: np.ndarray, labels: np.ndarray, query: np.ndarray, view: dict | None = None) -> PredictResult:
    """Score one query image (uint8 [28, 28]) and place it in the embedding view (``view``: the Adapt-time one)."""
    from engine.adaptation import predict_query

    began = time.perf_counter()
    out = predict_query(learner, images, labels, query, view)
    probs = out.pop("probabilities")
    return PredictResult(probs, out, query, time.perf_counter() - began, threading.get_ident())


def load_model_job(checkpoint: str) -> tuple[Any, str]:
    """Restore an algorithm from a checkpoint on the CPU; returns (algorithm, description)."""
    from engine.trainer import restore

    algo, config, payload = restore(checkpoint, "cpu")
    return algo, f"{config.algo} on {config.dataset}, {payload.get('iteration', 0)} iterations"


def quick_train_job(iterations: int = 300, seconds: float = 60.0, progress: Callable | None = None) -> tuple[Any, str]:
    """Meta-train the quick recipe (engine.config.QUICK_RECIPE) on the built-in glyphs with the shared
    trainer (used by the standalone launcher); returns the trained algorithm and a description."""
    from engine.config import QUICK_RECIPE, TrainConfig
    from engine.data import make_glyph_pool
    from engine.events import Finished, IterationMetrics
    from engine.trainer import build_model_and_algorithm, resolve_device, run

    pool = make_glyph_pool(classes={"train": 200, "val": 10, "test": 40})
    config = TrainConfig(**QUICK_RECIPE, iterations=iterations, time_budget=seconds, val_every=0, device="cpu")
    algo = build_model_and_algorithm(config, resolve_device("cpu"))
    done = 0
    for event in run(config, pool=pool, algo=algo):
        if isinstance(event, IterationMetrics) and progress is not None:
            progress(event.iteration)
        if isinstance(event, Finished):
            done = event.iterations
    return algo, f"{config.algo} quick-trained on built-in glyphs, {done} iterations"


def load_images_job(paths: list[str]) -> tuple[list[np.ndarray], list[str]]:
    """Decode image files into model inputs; returns (images, problems) so one bad file loses nothing."""
    from engine.data.base import DataError
    from engine.data.images import is_image_file, load_image

    images, problems = [], []
    for p in map(Path, paths):
        files = sorted(f for f in p.iterdir() if f.is_file() and is_image_file(f)) if p.is_dir() else [p]
        for f in files:
            try:
                images.append(load_image(f).numpy())
            except DataError as exc:
                problems.append(str(exc))
    return images, problems


def load_folder_job(root: str) -> tuple[list[str], list[list[np.ndarray]], list[str]]:
    """A class set (manifest.json) or a folder with one subfolder of images per class."""
    from engine.classset import MANIFEST, load_classset
    from engine.data.base import DataError
    from engine.data.images import is_image_file

    path = Path(root)
    if (path / MANIFEST).is_file():
        cs = load_classset(path)
        return cs.names, cs.examples, []
    names, examples, problems = [], [], []
    for d in sorted(x for x in path.iterdir() if x.is_dir() and not x.name.startswith(".")):
        if not any(is_image_file(f) for f in d.iterdir() if f.is_file()):
            continue
        images, bad = load_images_job([str(d)])
        names.append(d.name)
        examples.append(images)
        problems += bad
    if not names:
        raise DataError(f"{root} has no class subfolders with images (expected {root}/CLASS_NAME/*.png)")
    return names, examples, problems


def save_set_job(root: str, names: list[str], examples: list[list[np.ndarray]]) -> str:
    from engine.classset import ClassSet, save_classset

    return str(save_classset(root, ClassSet(list(names), [list(e) for e in examples])))


def sketch_job(raster: np.ndarray) -> np.ndarray:
    """The model's view of a drawing (numpy only; cheap enough to call on the GUI thread too)."""
    from engine.sketch import sketch_to_input

    return sketch_to_input(raster)
