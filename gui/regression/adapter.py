"""Adaptation off the GUI thread, latest request wins.

A drag asks for a new fit on every mouse move. One request runs at a time on
a background thread (gui.background); while it runs, newer requests replace
each other, and only the newest is started when it ends. Results come back
numbered, and one older than what is already shown is dropped (the
generation counter of ndv's controller), so curves never step backwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..background import run_in_background


@dataclass(frozen=True)
class AdaptRequest:
    models: tuple  # (kind, engine.api_regression.RegressionModel) pairs
    x: np.ndarray
    y: np.ndarray
    steps: int
    true_y: np.ndarray | None
    animate: bool  # reveal the steps one by one (the Adapt button) rather than at once (a drag)
    asked_at: float  # time.perf_counter() when the person's change happened


def adapt_all(request: AdaptRequest) -> list[tuple[str, Any]]:
    """Every model's :class:`engine.api_regression.Adaptation` to the request's points (worker thread)."""
    from engine import api_regression

    return [
        (kind, api_regression.adapt(model, request.x, request.y, request.steps, request.true_y))
        for kind, model in request.models
    ]


class Adapter(QObject):
    """Runs :func:`adapt_all` for the newest request; emits its results in request order."""

    adapted = Signal(object, list)  # the AdaptRequest, [(kind, Adaptation)]
    failed = Signal(str)  # a message in words

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pending: tuple[int, AdaptRequest] | None = None
        self._running = None
        self._generation = 0
        self._shown = 0

    @property
    def busy(self) -> bool:
        return self._running is not None or self._pending is not None

    def request(self, request: AdaptRequest) -> int:
        self._generation += 1
        self._pending = (self._generation, request)
        if self._running is None:
            self._launch()
        return self._generation

    def _launch(self) -> None:
        generation, request = self._pending
        self._pending = None
        self._running = run_in_background(
            adapt_all,
            request,
            on_done=lambda result, g=generation, r=request: self._on_done(g, r, result),
            on_error=lambda message, _details: self._on_error(message),
        )

    def _on_done(self, generation: int, request: AdaptRequest, result: list) -> None:
        self._running = None
        if self._pending is not None:
            self._launch()
        if generation > self._shown:
            self._shown = generation
            self.adapted.emit(request, result)

    def _on_error(self, message: str) -> None:
        self._running = None
        if self._pending is not None:
            self._launch()
        self.failed.emit(message)


def now() -> float:
    return time.perf_counter()
