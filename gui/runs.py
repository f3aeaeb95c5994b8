"""The runs of this window and the models they left: every finished or stopped run keeps its checkpoint.

Why: a person who stops a second run must not lose the first run's finished
model (it took minutes to train). Each run's checkpoint is written to a
folder that outlives the window (beside the preferences), every run is listed
here with how it ended, and :meth:`RunList.preferred` says which model a new
run may replace without asking: a stopped or failed run never displaces a
finished one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal

#: how a run may end (engine.events.Finished.reason) and still count as finished
FINISHED_REASONS = ("completed", "time budget")
#: run checkpoints kept on disk (older ones are removed when a new run starts)
KEEP_RUN_FILES = 30


@dataclass(frozen=True)
class RunRecord:
    """One run's model: where it is and how it ended."""

    number: int
    label: str  # e.g. "#2 simpleshot 32-way 1-shot, Built-in glyphs"
    checkpoint: str
    reason: str  # engine.events.Finished.reason, or "opened" for a model opened from a file
    iterations: int = 0
    val_acc: float | None = None
    val_shape: str = ""  # the task shape val_acc scores, e.g. "5-way 1-shot"

    @property
    def finished(self) -> bool:
        """Ran to its end (or its time budget), or a model the person opened: a complete model."""
        return self.reason in FINISHED_REASONS or self.reason == "opened"

    def describe(self) -> str:
        """One line for the model selector."""
        state = {"completed": "finished", "time budget": "finished (time budget)", "opened": "opened"}.get(
            self.reason, self.reason
        )
        text = f"{self.label} · {state}"
        if self.iterations and self.reason != "opened":
            text += f" · {self.iterations:,} it"
        if self.val_acc is not None:
            text += f" · val {100 * self.val_acc:.1f}%" + (f" ({self.val_shape})" if self.val_shape else "")
        return text


class RunList(QObject):
    """The runs and opened models of this window, newest last (GUI thread only)."""

    changed = Signal()  # a run was added

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._records: list[RunRecord] = []

    def add(self, record: RunRecord) -> None:
        self._records.append(record)
        self.changed.emit()

    def records(self) -> list[RunRecord]:
        return list(self._records)

    def find(self, checkpoint: str | None) -> RunRecord | None:
        return next((r for r in reversed(self._records) if r.checkpoint == checkpoint), None)

    def replaces_without_asking(self, new: RunRecord, current: str | None) -> bool:
        """May ``new``'s model take over from the model in use (checkpoint ``current``) silently?

        A finished run always may; a stopped or failed one only when nothing finished is in use.
        """
        if new.finished or current is None:
            return True
        in_use = self.find(current)
        return in_use is None or not in_use.finished


def runs_folder(settings: QSettings) -> Path:
    """Where run checkpoints live: beside an INI preferences file (tests, benchmarks), else in the
    user's application-data folder; created if missing."""
    if settings.format() == QSettings.Format.IniFormat and settings.fileName():
        folder = Path(settings.fileName()).with_suffix("").parent / (Path(settings.fileName()).stem + "-runs")
    else:
        folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)) / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prune_run_files(folder: Path, keep: int = KEEP_RUN_FILES) -> None:
    """Remove all but the ``keep`` newest run checkpoints (``run-*.pt``) in ``folder``."""
    files = sorted(folder.glob("run-*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        try:
            os.remove(old)
        except OSError:
            pass
