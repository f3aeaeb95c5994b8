"""Run one blocking call (import the engine, load a data set, open a model) off the GUI thread.

A :class:`BackgroundCall` is a ``QThread`` that runs a function once and
delivers its result or its error message to the GUI thread through queued
signals. Running calls are kept alive in a registry so that
:func:`wait_for_background` can drain them before the application exits
(no thread left behind).
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal

_running: set["BackgroundCall"] = set()


def describe_error(exc: BaseException) -> str:
    """An exception in words: engine DataErrors carry their own message, others get their type."""
    if isinstance(exc, ValueError) and type(exc).__name__ in ("DataError", "CheckpointError"):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)
    return f"unexpected error: {type(exc).__name__}: {exc}"


class BackgroundCall(QThread):
    """Call ``fn(*args)`` on a thread; emit ``succeeded(result)`` or ``failed(message, details)``."""

    succeeded = Signal(object)  # the function's return value
    failed = Signal(str, str)  # a plain-words message, and the traceback for the curious

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self._fn, self._args = fn, args
        self.finished.connect(self._on_finished)

    def run(self) -> None:  # noqa: D102 - runs on the worker thread
        try:
            result = self._fn(*self._args)
        except Exception as exc:  # shown in the window, never only printed
            self.failed.emit(describe_error(exc), traceback.format_exc())
        else:
            self.succeeded.emit(result)

    def launch(self) -> "BackgroundCall":
        _running.add(self)
        self.start()
        return self

    def _on_finished(self) -> None:
        self.wait()
        _running.discard(self)


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> BackgroundCall:
    """Start ``fn(*args)`` on its own thread and route the outcome to the callbacks."""
    call = BackgroundCall(fn, *args)
    if on_done is not None:
        call.succeeded.connect(on_done)
    if on_error is not None:
        call.failed.connect(on_error)
    return call.launch()


def wait_for_background(timeout_ms: int = 30_000) -> bool:
    """Block until every running call has ended; True if all did within the timeout."""
    ok = True
    for call in list(_running):
        ok = call.wait(timeout_ms) and ok
        _running.discard(call)
    return ok
