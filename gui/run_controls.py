"""Start / Pause-Resume / Stop buttons, a progress bar, iterations per second and ETA.

The buttons' enabled states are a pure function of (run state, settings valid),
set in one place (:meth:`RunControls.set_state`), so they always match what
can be done.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunControls(QWidget):
    """The run's command bar; emits intents, never touches the worker itself."""

    startRequested = Signal()  # Start pressed
    pauseToggled = Signal()  # Pause or Resume pressed
    stopRequested = Signal()  # Stop pressed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Meta-train with the settings on the left (Ctrl+R)")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause the run between meta-iterations, or resume it (Space or Ctrl+P)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the run now; the model trained so far is kept (Esc or Ctrl+.)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setValue(0)
        self.progress.setFormat("no run yet")
        self.progress.setToolTip("Meta-iterations done out of the run's total")
        self.rate_label = QLabel("")
        self.rate_label.setMinimumWidth(150)
        self.rate_label.setToolTip("Meta-iterations per second (pauses excluded) and the estimated time left")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button.clicked.connect(self.startRequested)
        self.pause_button.clicked.connect(self.pauseToggled)
        self.stop_button.clicked.connect(self.stopRequested)

        row = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button):
            row.addWidget(button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.rate_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self._state, self._can_start = "idle", False
        self._total, self._budget = 1, None
        self._rate, self._last = 0.0, None
        self.set_state("idle")

    # -- state -----------------------------------------------------------------
    def set_state(self, state: str) -> None:
        """``idle`` | ``running`` | ``paused`` | ``stopping``."""
        self._state = state
        self.start_button.setEnabled(state == "idle" and self._can_start)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(state in ("running", "paused"))
        if state == "paused":
            self.rate_label.setText("paused")
        elif state == "stopping":
            self.rate_label.setText("stopping…")

    def set_can_start(self, ok: bool) -> None:
        """Whether the current settings can be run (Start stays disabled otherwise)."""
        self._can_start = ok
        self.set_state(self._state)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)

    # -- progress --------------------------------------------------------------
    def begin(self, total: int, time_budget: float | None) -> None:
        self._total, self._budget = max(1, total), time_budget
        self._rate, self._last = 0.0, None
        self.progress.setValue(0)
        self.progress.setFormat("starting… (loading the data and building the model)")
        self.rate_label.setText("")

    def update_progress(self, iteration: int, total: int, elapsed: float, processes: int = 1) -> None:
        """Show ``iteration`` of ``total`` after ``elapsed`` seconds of training (pauses excluded);
        ``processes`` that shared the last meta-batch are named when more than one."""
        self._total = max(1, total)
        if self._last is not None and elapsed > self._last[1]:
            instant = (iteration - self._last[0]) / (elapsed - self._last[1])
            self._rate = instant if self._rate == 0 else 0.8 * self._rate + 0.2 * instant
        elif elapsed > 0:
            self._rate = iteration / elapsed
        self._last = (iteration, elapsed)
        fraction = iteration / self._total
        remaining = (self._total - iteration) / self._rate if self._rate > 0 else float("inf")
        if self._budget:
            fraction = max(fraction, elapsed / self._budget)
            remaining = min(remaining, self._budget - elapsed)
        self.progress.setValue(int(1000 * min(1.0, fraction)))
        self.progress.setFormat(f"iteration {iteration} / {self._total}")
        if self._state == "running":
            eta = format_duration(remaining) if remaining != float("inf") else "–"
            shared = f" · {processes} processes" if processes > 1 else ""
            self.rate_label.setText(f"{self._rate:.1f} it/s · ETA {eta}{shared}")
            self.rate_label.setToolTip(
                f"{processes} CPU processes share each meta-batch (Algorithm ▸ Processes)" if processes > 1 else ""
            )

    def end(self, text: str) -> None:
        self.progress.setFormat(text)
        self.rate_label.setText("")
