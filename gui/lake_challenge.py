"""Run ▸ Lake's one-shot challenge…: score the current model on Lake et al.'s 20 runs, beside the references.

The person picks ``all_runs.zip`` or any run's ``class_labels.txt`` (which stands for the folder of runs
above it); scoring runs on a worker (each test drawing on its own with the 20 training drawings), and
the error is shown in place with the published figures next to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from engine import api

from . import dialogs
from .app_state import AppState
from .background import run_in_background

#: published error rates on the official 20 runs (Lake, Salakhutdinov & Tenenbaum, Science 2015; Koch et al. 2015)
REFERENCES = (
    "Lake et al.'s ConvNet on the minimal background set 24.0% / 22.3%, a Siamese network on the full "
    "background set 8.0%, Bayesian Program Learning 4.3% / 4.0%, people 4.5%"
)


def runs_path(chosen: str) -> str:
    """The runs a picked file stands for: a zip as it is; a run's class_labels.txt -> the folder of runs."""
    path = Path(chosen)
    return str(path.parent.parent if path.name == "class_labels.txt" else path)


class RunProgress(QObject):
    """Carries the worker's "run k of n done" to the GUI thread (a queued signal) and reports it in place."""

    advanced = Signal(int, int)

    def __init__(self, parent: QObject, show: Callable[[str, bool], None]) -> None:
        super().__init__(parent)
        self.show = show
        self.advanced.connect(self._on_advanced, Qt.ConnectionType.QueuedConnection)

    @Slot(int, int)
    def _on_advanced(self, done: int, total: int) -> None:
        if done < total:
            self.show(f"Scoring the model on Lake's runs (20-way one-shot, each drawing on its own): {done} of "
                      f"{total} runs done…", False)


def install(parent: QWidget, menu, state: AppState, show: Callable[[str, bool], None]) -> QAction:
    """Add the action to ``menu``; ``show(text, is_error)`` reports in place, with each run done."""
    progress = RunProgress(parent, show)

    def score() -> None:
        if state.checkpoint is None:
            show("Lake's challenge needs a model: train one or open one first.", True)
            return
        chosen = dialogs.open_file(parent, "Lake's 20 runs: all_runs.zip, or any run's class_labels.txt",
                                   "Lake runs (all_runs.zip class_labels.txt);;All files (*)")
        if not chosen:
            return
        show("Scoring the model on Lake's 20 runs (20-way one-shot, each drawing on its own)…", False)
        run_in_background(api.score_lake_checkpoint, state.checkpoint, runs_path(chosen), progress.advanced.emit,
                          on_done=lambda result: show(describe(result), False),
                          on_error=lambda message, _details: show(f"Lake's challenge: {message}", True), owner=parent)

    action = QAction("Lake's one-shot &challenge…", parent, triggered=score)
    action.setToolTip("Score the current model on Lake et al.'s 20 within-alphabet 20-way one-shot runs")
    menu.addAction(action)
    return action


def describe(result: dict) -> str:
    return (f"Lake's challenge: {100 * result['error_rate']:.1f}% error over {result['runs']} runs (20-way one-shot, "
            f"inductive). Published, on the official runs: {REFERENCES}.")
