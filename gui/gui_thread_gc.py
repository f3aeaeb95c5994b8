"""Collect Python's reference cycles on the GUI thread only.

CPython runs its cyclic garbage collector in whichever thread happens to
allocate when a threshold is crossed; here that is usually the meta-training
thread. A cycle that holds a Qt object (a finished QEventLoop or QTimer, a
closed dialog, a slot closure) is then destroyed off the thread that owns it,
and Qt warns "Timers cannot be stopped from another thread", crashes, or
deadlocks against the GUI thread, which waits for the GIL meanwhile (a CI run
hung this way for 90 minutes). So automatic collection is switched off and a
timer on the GUI thread collects instead, generation by generation with
CPython's own thresholds (the remedy pyqtgraph's ``GarbageCollector`` and
Erik Janssens describe).
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 250

_installed: "GuiThreadGarbageCollector | None" = None


class GuiThreadGarbageCollector(QObject):
    """Turns automatic collection off and collects on a GUI-thread timer; :meth:`stop` undoes it."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._owner = threading.get_ident()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def collect_due(self) -> int:
        """Collect the oldest generation whose count passed its threshold (as CPython would); return what was found."""
        if threading.get_ident() != self._owner:  # never off the GUI thread, whatever the caller
            return 0
        counts = gc.get_count()
        due = [generation for generation in range(3) if counts[generation] > self._thresholds[generation]]
        return gc.collect(max(due)) if due else 0

    def settle(self) -> int:
        """Collect everything now, then freeze the survivors (torch, Qt, the modules: what start-up made)
        out of every later collection's sight; returns the objects collected.

        Without it, the first generation-1 and generation-2 collections after start-up walk those
        hundreds of thousands of objects on the GUI thread (a 130 ms stall measured mid-run).
        """
        if threading.get_ident() != self._owner:
            return 0
        found = gc.collect()
        gc.freeze()
        return found

    def stop(self) -> None:
        """Stop the timer and give collection back to CPython (if it had it)."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()


def settle_after_startup() -> None:
    """:meth:`GuiThreadGarbageCollector.settle` on the installed collector (none: nothing to do)."""
    if _installed is not None:
        _installed.settle()


def install_gui_thread_gc(app: QCoreApplication) -> GuiThreadGarbageCollector:
    """Collect garbage only on ``app``'s thread from now on (once per process; later calls return the same)."""
    global _installed
    if _installed is None:
        _installed = GuiThreadGarbageCollector(app)
    return _installed
