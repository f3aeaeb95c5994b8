"""Owns the meta-training worker thread: start, pause, resume, stop, shutdown.

The engine's ``trainer.run(config, control, pool)`` is a plain generator of
events. A :class:`TrainingThread` iterates it on its own ``QThread`` and
appends each event to a thread-safe deque; the controller drains that deque
on the GUI thread ~30 times a second and re-emits the events as one batch.
That keeps a fast run (thousands of iterations a second) from flooding the
GUI's event queue with one queued signal per event.

Each run gets a generation number; events of an older run that arrive late
are dropped. Stop and pause go through the engine's ``RunControl``, which the
loop checks between tasks, so Stop takes effect within one task.

Why a ``QThread`` of its own and not superqt's pooled worker (which one-shot
calls use, :mod:`gui.background`): the training thread lowers its own
priority (:func:`lower_this_threads_priority`), and on Linux an unprivileged
thread can never raise it back. A pooled thread would carry the lowered
priority into the next Adapt or data load it runs; this thread ends with its run.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import traceback
from typing import Callable, Iterable

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from engine import api
from engine.config import TrainConfig
from engine.events import Finished

from .background import describe_error

Work = Callable[[api.RunControl], Iterable[object]]  # a generator of events that honours the RunControl

DRAIN_INTERVAL_MS = 33


# The training thread's niceness (Linux applies it per thread): with every core computing, the
# scheduler then serves the window's thread first. A probe measured p99 39.5 ms of GUI stall with
# two processes at equal priority; the helpers run at engine.task_workers.HELPER_NICENESS.
TRAINING_THREAD_NICENESS = 10


def lower_this_threads_priority(niceness: int = TRAINING_THREAD_NICENESS) -> None:
    """Make the calling thread (only) nicer, where the platform allows; silently keep it otherwise."""
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + niceness)
        except OSError:
            pass


def training_threads() -> int:
    """Intra-op threads for PyTorch: every core. The training thread lowers its priority before its
    first parallel region, so its intra-op threads (created by it) inherit that and the window's
    thread is served first; when helper processes join, the run drops to one thread per process
    (engine.task_workers)."""
    return max(1, os.cpu_count() or 1)


class ObservedControl(api.RunControl):
    """The engine's RunControl, plus a flag saying the worker is blocked in a pause."""

    blocked = False

    def wait_while_paused(self) -> float:
        self.blocked = self.paused
        try:
            return super().wait_while_paused()
        finally:
            self.blocked = False


class TrainingThread(QThread):
    """Iterates ``engine.api.train`` (or ``work(control)``) on a worker thread; events go to ``queue``."""

    def __init__(
        self,
        generation: int,
        config: TrainConfig,
        control: ObservedControl,
        pool: api.Pool | None,
        queue: collections.deque,
        work: Work | None = None,
    ) -> None:
        super().__init__()
        self.generation, self.config, self.control, self.pool = generation, config, control, pool
        self.queue = queue
        self.work = work
        self.error: tuple[str, str] | None = None

    def run(self) -> None:  # noqa: D102 - runs on the worker thread
        try:
            api.set_threads(training_threads())
            lower_this_threads_priority()
            events = (
                self.work(self.control) if self.work is not None else api.train(self.config, self.control, self.pool)
            )
            for event in events:
                self.queue.append((self.generation, event))
        except Exception as exc:  # reported in the window by the controller
            self.error = (describe_error(exc), traceback.format_exc())


class TrainingController(QObject):
    """Runs one meta-training at a time and reports its events in batches.

    States: ``"idle"``, ``"running"``, ``"paused"``, ``"stopping"``.
    """

    stateChanged = Signal(str)  # the new state
    runStarted = Signal(int, object)  # generation, TrainConfig
    eventsArrived = Signal(int, list)  # generation, engine events in order
    runFinished = Signal(int, object)  # generation, the engine's Finished event (None if it failed)
    runFailed = Signal(int, str, str)  # generation, message in words, traceback

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: collections.deque = collections.deque()
        self._thread: TrainingThread | None = None
        self._control: ObservedControl | None = None
        self._generation = 0
        self._state = "idle"
        self._last_finished: Finished | None = None
        self._drain = QTimer(self)
        self._drain.setInterval(DRAIN_INTERVAL_MS)
        self._drain.timeout.connect(self._on_drain)

    # -- queries ---------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def generation(self) -> int:
        """The id of the current (or last) run."""
        return self._generation

    @property
    def is_active(self) -> bool:
        return self._thread is not None

    @property
    def worker_is_paused(self) -> bool:
        """True once the worker is blocked in a pause (no further event can come)."""
        return self._control is not None and self._control.blocked

    @property
    def has_pending_events(self) -> bool:
        return bool(self._queue)

    # -- commands --------------------------------------------------------------
    def start(self, config: TrainConfig, pool: api.Pool | None = None, work: Work | None = None) -> int:
        """Start meta-training ``config`` (on ``pool`` if given); return the run id.

        ``work(control)``, when given, is iterated instead of ``trainer.run``:
        any generator of events that honours the RunControl (compare mode).
        """
        if self._thread is not None:
            raise RuntimeError("a run is already active; stop it first")
        self._generation += 1
        self._control = ObservedControl()
        self._queue.clear()
        thread = TrainingThread(self._generation, config, self._control, pool, self._queue, work)
        thread.finished.connect(lambda t=thread: self._on_thread_finished(t))
        self._thread = thread
        self._last_finished = None
        self._set_state("running")
        self.runStarted.emit(self._generation, config)
        thread.start()
        self._drain.start()
        return self._generation

    def pause(self) -> None:
        if self._state == "running":
            self._control.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self._state == "paused":
            self._control.resume()
            self._set_state("running")

    def toggle_pause(self) -> None:
        self.resume() if self._state == "paused" else self.pause()

    def stop(self) -> None:
        """Ask the run to end; it leaves the loop at the next task boundary."""
        if self._thread is not None and self._state != "stopping":
            self._control.stop()
            self._set_state("stopping")

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop any run and wait for its thread (window closing); True if it ended."""
        thread = self._thread
        if thread is None:
            return True
        self._control.stop()
        ended = thread.wait(timeout_ms)
        if ended:
            self._on_thread_finished(thread)
        return ended

    # -- internals -------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    def _on_drain(self) -> None:
        batch = []
        while self._queue:
            generation, event = self._queue.popleft()
            if generation != self._generation:
                continue  # a late event of an older run
            batch.append(event)
            if isinstance(event, Finished):
                self._last_finished = event
        if batch:
            self.eventsArrived.emit(self._generation, batch)

    def _on_thread_finished(self, thread: TrainingThread) -> None:
        if thread is not self._thread:
            return  # already handled (shutdown) or an older run
        thread.wait()  # 'finished' is emitted just before the thread really ends
        self._drain.stop()
        self._on_drain()
        self._thread = None
        generation = thread.generation
        self._set_state("idle")
        if thread.error is not None:
            self.runFailed.emit(generation, *thread.error)
        self.runFinished.emit(generation, self._last_finished)
