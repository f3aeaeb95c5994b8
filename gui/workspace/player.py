"""The adaptation animation's clock: which step the views show, as steps arrive and as a person scrubs.

Steps arrive from the worker as fast as the engine makes them (Proto-head's ten
take a few milliseconds, MAML's a few hundred), which is too fast to watch. The
player shows them in order, one every :data:`FRAME_MS` at most, never ahead of
what has arrived; the first frame of a pause is shown at once. A person who
moves the slider takes over (:meth:`show`); :meth:`replay` plays it again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

FRAME_MS = 70  # one step per frame: ten steps play in about 0.7 s


class StepPlayer(QObject):
    """Emits ``frameShown(step)`` for each step in order, paced by a timer."""

    frameShown = Signal(int)  # the views should now show this step
    finished = Signal()  # the last step of a complete Adapt is shown

    def __init__(self, parent: QObject | None = None, frame_ms: int = FRAME_MS) -> None:
        super().__init__(parent)
        self.available = -1  # the last step that has arrived
        self.shown = -1  # the step on show
        self.complete = False  # no more steps will arrive
        self.scrubbing = False  # a person chose the step: arrivals no longer move the views
        self._timer = QTimer(self, interval=frame_ms)
        self._timer.timeout.connect(self._advance)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def reset(self) -> None:
        """A new Adapt: nothing has arrived."""
        self._timer.stop()
        self.available, self.shown, self.complete, self.scrubbing = -1, -1, False, False

    def arrived(self, step: int) -> None:
        """Step ``step`` has arrived (steps arrive in order)."""
        self.available = max(self.available, step)
        if not self.scrubbing and not self._timer.isActive():
            self._advance()
            self._timer.start()

    def finish(self) -> None:
        """No more steps will arrive."""
        self.complete = True
        if not self._timer.isActive() and self.shown >= self.available:
            self.finished.emit()

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
        self._advance()
        self._timer.start()

    def _advance(self) -> None:
        if self.shown < self.available:
            self.shown += 1
            self.frameShown.emit(self.shown)
            return
        self._timer.stop()
        if self.complete:
            self.finished.emit()
