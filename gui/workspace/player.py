"""The adaptation animation's clock: which step the views show, as steps arrive and as a person scrubs.

Steps arrive from the worker as fast as the engine makes them (Proto-head's ten
take a few milliseconds, MAML's a few hundred), which is too fast to watch. The
player shows them in order, one every :data:`FRAME_MS` at most, never ahead of
what has arrived. While the worker still computes, frames come every
:data:`BUSY_FRAME_MS` instead, the first one that long after the Adapt began:
a frame is Python painting on the GUI thread, which holds the GIL the worker
needs and takes one of the cores its kernels use, so painting at full rate
made MAML's 10-step Adapt 1.5-2x slower (``bench/adapt_latency.py``). An Adapt
that is done sooner plays from step 0 at full pace as soon as it is ready; a
longer one shows its progress a few times a second, then plays the rest. A
person who moves the slider takes over (:meth:`show`); :meth:`replay` plays it again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

FRAME_MS = 70  # one step per frame: ten steps play in about 0.7 s
BUSY_FRAME_MS = 400  # the pace (and the first frame's delay) while steps are still being computed


class StepPlayer(QObject):
    """Emits ``frameShown(step)`` for each step in order, paced by a timer."""

    frameShown = Signal(int)  # the views should now show this step
    finished = Signal()  # the last step of a complete Adapt is shown

    def __init__(self, parent: QObject | None = None, frame_ms: int = FRAME_MS,
                 busy_frame_ms: int = BUSY_FRAME_MS) -> None:
        super().__init__(parent)
        self._frame_ms, self._busy_frame_ms = frame_ms, max(frame_ms, busy_frame_ms)
        self.available = -1  # the last step that has arrived
        self.shown = -1  # the step on show
        self.complete = True  # no more steps will arrive (nothing is being computed)
        self.scrubbing = False  # a person chose the step: arrivals no longer move the views
        self._timer = QTimer(self, interval=frame_ms)
        self._timer.timeout.connect(self._advance)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def reset(self) -> None:
        """A new Adapt: nothing has arrived; the clock starts at the busy pace."""
        self.available, self.shown, self.complete, self.scrubbing = -1, -1, False, False
        self._timer.setInterval(self._busy_frame_ms)
        self._timer.start()

    def arrived(self, step: int) -> None:
        """Step ``step`` has arrived (steps arrive in order); the clock shows it in its turn."""
        self.available = max(self.available, step)
        if self.complete and not self.scrubbing and not self._timer.isActive():  # (a step after finish)
            self._advance()
            self._timer.start()

    def finish(self) -> None:
        """No more steps will arrive: the rest plays at full pace, starting now."""
        self.complete = True
        self._timer.setInterval(self._frame_ms)
        if self.scrubbing:  # the person's step stays on show
            self._timer.stop()
            if self.shown >= self.available:
                self.finished.emit()
            return
        self._advance()
        if self.shown < self.available:
            self._timer.start()

    def show(self, step: int) -> None:
        """Show ``step`` now and stop playing (a person moved the slider or pressed an arrow key)."""
        self._timer.stop()
        self.scrubbing = True
        self.shown = max(0, min(step, self.available))
        self.frameShown.emit(self.shown)

    def replay(self) -> None:
        """Play every step again from step 0."""
        if self.available < 0:
            return
        self.scrubbing, self.shown = False, -1
        self._timer.setInterval(self._frame_ms if self.complete else self._busy_frame_ms)
        self._advance()
        self._timer.start()

    def _advance(self) -> None:
        if self.shown < self.available:
            self.shown += 1
            self.frameShown.emit(self.shown)
            return
        if not self.complete:  # waiting for the worker's next step: keep ticking
            return
        self._timer.stop()
        self.finished.emit()
