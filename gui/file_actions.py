"""The File menu: open and save models, export metrics (CSV) and plots (PNG).

Each action has a dialog-free method (``open_model(path)`` ...) that the
tests call; errors are reported in the window in plain words, never only
printed. Saving copies the current run's checkpoint (the trainer writes it
at each validation and at the end) with the engine's atomic write.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from .background import run_in_background

if TYPE_CHECKING:
    from .main_window import MainWindow

CHECKPOINT_FILTER = "Meta Playground models (*.pt);;All files (*)"


def restore_model(path: str) -> tuple[Any, Any, dict]:
    """Rebuild a model from a checkpoint on the CPU. Worker thread."""
    from engine.trainer import restore

    return restore(path, "cpu")


def _atomic_write_bytes(path: str, data: bytes) -> None:
    from engine.checkpoint import atomic_write

    atomic_write(path, lambda f: f.write(data))


class FileActions:
    """Creates the File menu's actions and carries them out for ``window``."""

    def __init__(self, window: "MainWindow") -> None:
        self.window = window
        self.open_action = QAction("&Open model…", window, triggered=self._on_open)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.setToolTip("Load a saved model (its settings and training curves come with it)")
        self.save_action = QAction("&Save model…", window, triggered=self._on_save)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.csv_action = QAction("Export metrics as &CSV…", window, triggered=self._on_export_csv)
        self.csv_action.setShortcut(QKeySequence("Ctrl+E"))
        self.png_action = QAction("Export plots as &PNG…", window, triggered=self._on_export_png)
        self.png_action.setShortcut(QKeySequence("Ctrl+Shift+E"))

    def actions(self) -> list[QAction]:
        return [self.open_action, self.save_action, self.csv_action, self.png_action]

    def sync(self, running: bool) -> None:
        self.open_action.setEnabled(not running and self.window.ready)

    # -- dialog-free operations ------------------------------------------------
    def open_model(self, path: str) -> None:
        """Load ``path`` in the background; the window shows the result or the reason it failed."""
        self.window.statusBar().showMessage(f"Opening {Path(path).name}…")
        run_in_background(
            restore_model, path,
            on_done=lambda result: self._on_opened(path, result),
            on_error=lambda message, _details: self.window.show_error(f"Could not open the model: {message}"),
        )

    def save_model(self, path: str) -> bool:
        source = self.window.checkpoint
        if not source or not Path(source).is_file():
            self.window.show_error("There is no model to save yet: start a run (a model is kept at each validation and at the end).")
            return False
        try:
            _atomic_write_bytes(path, Path(source).read_bytes())
        except OSError as exc:
            self.window.show_error(f"Could not save the model to {path}: {exc.strerror or exc}")
            return False
        note = " (as of the last validation; the run goes on)" if self.window.controller.is_active else ""
        self.window.statusBar().showMessage(f"Model saved to {path}{note}")
        return True

    def export_csv(self, path: str) -> bool:
        rows = self.window.plot.csv_rows() if self.window.plot is not None else []
        if len(rows) < 2:
            self.window.show_error("There are no metrics to export yet: start a run first.")
            return False
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        try:
            _atomic_write_bytes(path, text.getvalue().encode())
        except OSError as exc:
            self.window.show_error(f"Could not write {path}: {exc.strerror or exc}")
            return False
        self.window.statusBar().showMessage(f"Metrics of {len(rows) - 1} iterations exported to {path}")
        return True

    def export_png(self, path: str) -> bool:
        if self.window.plot is None or not self.window.plot.graphics.grab().save(path, "PNG"):
            self.window.show_error(f"Could not write the plots to {path} (is the folder writable?)")
            return False
        self.window.statusBar().showMessage(f"Plots exported to {path}")
        return True

    # -- handlers --------------------------------------------------------------
    def _on_opened(self, path: str, result: tuple[Any, Any, dict]) -> None:
        algo, config, payload = result
        window = self.window
        window.loaded_model = (algo, config)
        window.checkpoint = path
        window.algorithm_panel.set_values(config.to_dict())
        window.plot.load_history(f"opened {Path(path).name}", payload.get("history", {}))
        window.plot.redraw_now()
        history = payload.get("history", {})
        val = history.get("val_accuracy") or []
        acc = f", validation accuracy {100 * val[-1]:.1f}%" if val else ""
        window.statusBar().showMessage(
            f"Opened {Path(path).name}: {config.algo}, {config.backbone}, {config.ways}-way {config.shots}-shot, "
            f"trained {payload.get('iteration', 0)} iterations{acc}"
        )
        window.run_controls.show_message("")
        window.modelChanged.emit(path)

    def _on_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", "", CHECKPOINT_FILTER)
        if path:
            self.open_model(path)

    def _on_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save model", "model.pt", CHECKPOINT_FILTER)
        if path:
            self.save_model(path)

    def _on_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export metrics", "metrics.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def _on_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export plots", "plots.png", "PNG images (*.png)")
        if path:
            self.export_png(path)
