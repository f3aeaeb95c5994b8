"""Run one blocking call (import the engine, load a data set, adapt, open a model) off the GUI thread.

The one mechanism for one-shot calls is superqt's worker (``create_worker``,
a ``QRunnable`` on Qt's global thread pool, kept alive by superqt until it
ends). :func:`run_in_background` adds what every caller wants on top: the
outcome delivered on the GUI thread to ``on_done`` or, as a message in words,
to ``on_error``, and nothing delivered once the widget that asked has been
destroyed. :func:`wait_for_background` drains the calls before the application
exits (no thread left behind).

Meta-training and compare runs are not one-shot calls and keep a thread of their
own (:mod:`gui.training_controller` says why).
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QThreadPool

from engine.api import DataError

if TYPE_CHECKING:
    from superqt.utils import FunctionWorker

# superqt is imported on the first call (after the window is shown): importing it costs ~0.18 s of launch time

_started: set[FunctionWorker] = set()  # started here and not yet finished (kept alive until they end)

#: Threads of the global pool: Qt's default is one per core (2 here), which would queue an Adapt
#: behind a data set that is still decoding; these calls mostly wait or run short bursts.
MIN_POOL_THREADS = 8


def describe_error(exc: BaseException) -> str:
    """An exception in words: engine DataErrors (CheckpointErrors too) carry their own message, others their type."""
    if isinstance(exc, DataError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)
    return f"unexpected error: {type(exc).__name__}: {exc}"


SHUT_DOWN = "metaPlaygroundShutDown"  # a dynamic property: this object (a window) has shut down


def shut_down(root: QObject) -> None:
    """``root`` (a closing window) and everything inside it start no more background work, and hear nothing
    of work still running: a result landing after the window waited for its workers would otherwise start
    new work (an episode sample, a model load) that nobody waits for."""
    root.setProperty(SHUT_DOWN, True)


def _is_shut_down(owner: QObject) -> bool:
    obj = owner
    while obj is not None:
        if obj.property(SHUT_DOWN):
            return True
        obj = obj.parent()
    return False


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    owner: QObject | None = None,
) -> FunctionWorker | None:
    """Start ``fn(*args)`` on a pool thread; route its result or ``(message, traceback)`` to the callbacks
    on the GUI thread (not at all once ``owner``, when given, has been destroyed or shut down: then nothing
    starts and None is returned)."""
    from superqt.utils import create_worker

    if owner is not None and _is_shut_down(owner):
        return None

    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < MIN_POOL_THREADS:
        pool.setMaxThreadCount(MIN_POOL_THREADS)
    # _ignore_errors: the error goes to on_error only (superqt would also re-raise it on the GUI
    # thread, printing a traceback for a failure the window already reports in words)
    worker = create_worker(fn, *args, _start_thread=False, _ignore_errors=True)
    alive = (lambda: shiboken6.isValid(owner) and not _is_shut_down(owner)) if owner is not None else (lambda: True)
    if on_done is not None:
        worker.returned.connect(lambda value: on_done(value) if alive() else None)
    if on_error is not None:
        worker.errored.connect(
            lambda exc: on_error(describe_error(exc), "".join(traceback.format_exception(exc))) if alive() else None
        )
    _started.add(worker)
    worker.finished.connect(lambda: _started.discard(worker))
    # into the pool now: superqt's worker.start() queues it on a 1 ms timer, and a call made just before the
    # window closes would then start after wait_for_background() has returned, during interpreter shutdown
    pool.start(worker)
    return worker


def wait_for_background(timeout_ms: int = 30_000) -> bool:
    """Block until every running call has ended; True if all did within the timeout."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
