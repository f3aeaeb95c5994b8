"""Stop and pause requests for a running loop (meta-training, compare), torch-free.

The window creates one per run on its GUI thread and the loop checks it
between steps on the worker thread, so it lives apart from the trainer
(which imports torch).
"""

from __future__ import annotations

import threading
import time


class RunControl:
    """Thread-safe stop and pause requests, checked by the loop between steps."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        start = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - start
