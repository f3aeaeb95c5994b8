"""Loads the engine and the data, and samples episodes for the viewer, off the GUI thread.

Everything that imports torch or touches tensors runs in a
:class:`~gui.background.BackgroundCall`. Replies to an older request (the
user changed the source again meanwhile) are dropped by a request counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from .algorithm_panel import AlgorithmInfo
from .background import run_in_background


@dataclass(frozen=True)
class EngineInfo:
    """What the panels need to know about the engine, gathered once it is imported."""

    defaults: dict
    algorithms: list[AlgorithmInfo]
    sources: list[tuple[str, bool]]
    backbones: list[str]
    cuda: bool
    quick_recipe: dict  # engine.config.QUICK_RECIPE: the settings of the one-minute quick training
    shapes: dict[str, dict] = field(default_factory=dict)  # algorithm -> the task shape it starts with


def load_engine() -> EngineInfo:
    """Import torch and the engine (seconds) and describe what it offers. Worker thread."""
    import torch

    import engine.trainer  # noqa: F401 - imported here so the first Start does not pay for it
    from engine.allocator import keep_freed_memory
    from engine.algorithms import ALGORITHMS
    from engine.config import ALGORITHM_CHOICES, DATASET_CHOICES, QUICK_RECIPE, app_defaults, recommended_shape
    from engine.data import SOURCES
    from engine.models import BACKBONES

    algorithms = [
        AlgorithmInfo(name, name in ALGORITHMS, getattr(ALGORITHMS.get(name), "summary", ""), getattr(ALGORITHMS.get(name), "paper", ""))
        for name in list(ALGORITHM_CHOICES) + [n for n in ALGORITHMS if n not in ALGORITHM_CHOICES]
    ]
    algorithms.sort(key=lambda a: not a.available)
    keep_freed_memory()  # before any training or adapting: faster steps, flat memory
    _warm_optimizer(torch)
    sources = [(name, name in SOURCES) for name in DATASET_CHOICES]
    return EngineInfo(app_defaults().to_dict(), algorithms, sources, list(BACKBONES), bool(torch.cuda.is_available()), dict(QUICK_RECIPE),
                      {a.name: recommended_shape(a.name) for a in algorithms})


def _warm_optimizer(torch: Any) -> None:
    """Build and step a throwaway Adam: its first construction imports torch._dynamo and with it some 900
    modules (1.4 s here). Done here, that happens before the window freezes start-up's objects
    (gui.gui_thread_gc.settle), not at the first Start, where those 200,000 new objects made the GUI
    thread's collections stall for up to 114 ms (bench/ui_latency.py)."""
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([weight], lr=0.1)
    weight.grad = torch.ones(1)
    optimizer.step()


def load_pool(name: str, root: str | None, seed: int) -> Any:
    """Decode a data source into a ClassPool. Worker thread."""
    from engine.data import load_source

    return load_source(name, root or None, seed=seed)


def sample_episode(pool: Any, ways: int, shots: int, queries: int, seed: int, index: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """One training episode as uint8 images [ways, shots, H, W] and [ways, queries, H, W]. Worker thread."""
    from engine.tasks import TaskSampler

    task = TaskSampler(pool, "train", ways, shots, queries, seed=seed).episode(index)
    h, w = task.support_x.shape[-2:]
    to_u8 = lambda x, n: (x.mul(255).round().clamp(0, 255).byte().numpy().reshape(ways, n, h, w))  # noqa: E731
    names = tuple(pool.class_names[c] for c in task.classes)
    return to_u8(task.support_x, shots), to_u8(task.query_x, queries), names


class DataController(QObject):
    """Keeps the current ClassPool; loads sources and samples episodes in the background."""

    poolReady = Signal(object)  # the ClassPool now in use
    poolFailed = Signal(str)  # why the source could not be loaded, in words
    episodeReady = Signal(object, object, object)  # support uint8, queries uint8, class names
    episodeFailed = Signal(str)  # why no episode could be drawn

    def __init__(self, injected_pool: Any = None, parent: QObject | None = None) -> None:
        """``injected_pool`` replaces the built-in glyphs (tests use a small one)."""
        super().__init__(parent)
        self.injected_pool = injected_pool
        self.pool: Any = None
        self.key: tuple | None = None
        self._load_request = 0
        self._episode_request = 0

    def load(self, name: str, root: str, seed: int = 0) -> None:
        """Make ``name`` (read from ``root``) the current source; emits poolReady or poolFailed."""
        key = (name, root, seed if name == "folder" else 0)
        if key == self.key and self.pool is not None:
            self.poolReady.emit(self.pool)
            return
        self._load_request += 1
        request = self._load_request
        self.pool, self.key = None, key
        if name == "synthetic" and self.injected_pool is not None:
            self._on_loaded(request, self.injected_pool)
            return
        run_in_background(
            load_pool, name, root, key[2],
            on_done=lambda pool: self._on_loaded(request, pool),
            on_error=lambda message, _details: self._on_load_failed(request, message),
        )

    def sample(self, ways: int, shots: int, queries: int, seed: int, index: int) -> None:
        """Draw episode ``index`` of the current pool; emits episodeReady or episodeFailed."""
        if self.pool is None:
            return
        self._episode_request += 1
        request = self._episode_request
        run_in_background(
            sample_episode, self.pool, ways, shots, queries, seed, index,
            on_done=lambda result: request == self._episode_request and self.episodeReady.emit(*result),
            on_error=lambda message, _details: request == self._episode_request and self.episodeFailed.emit(message),
        )

    def _on_loaded(self, request: int, pool: Any) -> None:
        if request == self._load_request:
            self.pool = pool
            self.poolReady.emit(pool)

    def _on_load_failed(self, request: int, message: str) -> None:
        if request == self._load_request:
            self.poolFailed.emit(message)
