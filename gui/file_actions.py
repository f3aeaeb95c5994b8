"""The File menu: open and save models, export metrics (CSV) and plots (PNG).

Each action has a dialog-free method (``open_model(path)`` ...) that the
tests call. It reads the window's shared state (:class:`gui.app_state.AppState`:
the current checkpoint, whether a run is active) and the plot it exports, and
reports through its signals (the window shows messages in the status bar and
errors in place), so it needs no main window. Saving copies the current run's
checkpoint (the trainer writes it at each validation and at the end) with the
engine's atomic write.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from engine import api

from . import dialogs
from .app_state import AppState
from .background import run_in_background

if TYPE_CHECKING:  # pyqtgraph loads after the window is shown
    from .metrics_plot import MetricsPlot

CHECKPOINT_FILTER = "Meta Playground models (*.pt);;All files (*)"


class FileActions(QObject):
    """Creates the File menu's actions and carries them out."""

    status = Signal(str)  # a message for the status bar
    error = Signal(str)  # a problem, in words, to show in place
    opened = Signal(str, object)  # path, api.OpenedModel: a model was opened

    def __init__(self, app: AppState, plot: Callable[[], MetricsPlot | None], parent: QWidget) -> None:
        """``plot`` returns the Meta-train tab's plot (None until it is built); ``parent`` owns the dialogs."""
        super().__init__(parent)
        self.app, self._plot, self._parent = app, plot, parent
        self.open_action = QAction("&Open model…", parent, triggered=self._on_open)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.setToolTip("Load a saved model (its settings and training curves come with it)")
        self.save_action = QAction("&Save model…", parent, triggered=self._on_save)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.csv_action = QAction("Export metrics as &CSV…", parent, triggered=self._on_export_csv)
        self.csv_action.setShortcut(QKeySequence("Ctrl+E"))
        self.png_action = QAction("Export plots as &PNG…", parent, triggered=self._on_export_png)
        self.png_action.setShortcut(QKeySequence("Ctrl+Shift+E"))

    def actions(self) -> list[QAction]:
        return [self.open_action, self.save_action, self.csv_action, self.png_action]

    def sync(self, running: bool) -> None:
        self.open_action.setEnabled(not running and self.app.ready)

    # -- dialog-free operations ------------------------------------------------
    def open_model(self, path: str) -> None:
        """Load ``path`` in the background; emits ``opened`` or ``error``."""
        self.status.emit(f"Opening {Path(path).name}…")
        run_in_background(
            api.open_model, path,
            on_done=lambda opened: self.opened.emit(path, opened),
            on_error=lambda message, _details: self.error.emit(f"Could not open the model: {message}"),
            owner=self,
        )

    def save_model(self, path: str) -> bool:
        source = self.app.checkpoint
        if not source or not Path(source).is_file():
            self.error.emit(
                "There is no model to save yet: start a run (a model is kept at each validation and at the end)."
            )
            return False
        try:
            api.write_bytes(path, Path(source).read_bytes())
        except OSError as exc:
            self.error.emit(f"Could not save the model to {path}: {exc.strerror or exc}")
            return False
        note = " (as of the last validation; the run goes on)" if self.app.training_active else ""
        self.status.emit(f"Model saved to {path}{note}")
        return True

    def export_csv(self, path: str) -> bool:
        plot = self._plot()
        rows = plot.csv_rows() if plot is not None else []
        if len(rows) < 2:
            self.error.emit("There are no metrics to export yet: start a run first.")
            return False
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        try:
            api.write_bytes(path, text.getvalue().encode())
        except OSError as exc:
            self.error.emit(f"Could not write {path}: {exc.strerror or exc}")
            return False
        self.status.emit(f"Metrics of {len(rows) - 1} iterations exported to {path}")
        return True

    def export_png(self, path: str) -> bool:
        plot = self._plot()
        if plot is None or not plot.picture().save(path, "PNG"):
            self.error.emit(f"Could not write the plots to {path} (is the folder writable?)")
            return False
        self.status.emit(f"Plots exported to {path}")
        return True

    # -- handlers --------------------------------------------------------------
    def _on_open(self) -> None:
        path = dialogs.open_file(self._parent, "Open model", CHECKPOINT_FILTER)
        if path:
            self.open_model(path)

    def _on_save(self) -> None:
        path = dialogs.save_file(self._parent, "Save model", "model.pt", CHECKPOINT_FILTER)
        if path:
            self.save_model(path)

    def _on_export_csv(self) -> None:
        path = dialogs.save_file(self._parent, "Export metrics", "metrics.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def _on_export_png(self) -> None:
        path = dialogs.save_file(self._parent, "Export plots", "plots.png", "PNG images (*.png)")
        if path:
            self.export_png(path)
