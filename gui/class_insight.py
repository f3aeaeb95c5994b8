"""The New classes tab's take-away tools: per-class leave-one-out insight and "Export classifier…".

A panel added to the workspace's right-hand column. "Per-class check" holds
out each example of a class in turn (engine leave-one-out, on a worker) and
shows the confusion matrix, so a person sees which of their classes are
confused and with which examples. "Export classifier…" writes the adapted
model to one file that plain PyTorch loads (engine/export.py). Both reach the
engine only through ``engine.api_export``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from .confusion_view import ConfusionView

CLASSIFIER_FILTER = "Classifier (*.pt2);;All files (*)"


def _api() -> Any:
    from engine import api_export

    return api_export


class ClassInsightPanel(QWidget):
    """Per-class check (leave-one-out confusion) and Export classifier, for ``workspace``."""

    def __init__(self, workspace: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws = workspace
        self.check_button = QPushButton("Per-class check")
        self.check_button.setToolTip(
            "Hold out each example in turn, adapt on the rest and show which classes get "
            "confused, with the images (needs 2+ examples per class)"
        )
        self.check_button.clicked.connect(self.check)
        self.export_button = QPushButton("Export classifier…")
        self.export_button.setToolTip(
            "Write the adapted classifier to one .pt2 file that plain PyTorch loads "
            "(torch.export); see the README for the five lines that use it"
        )
        self.export_button.clicked.connect(self._on_export)
        self.onnx = QCheckBox("also ONNX")
        ok, why = _api().onnx_status()
        self.onnx.setEnabled(ok)
        self.onnx.setToolTip(why)
        row = QHBoxLayout()
        row.addWidget(self.check_button)
        row.addWidget(self.export_button)
        row.addWidget(self.onnx)
        row.addStretch(1)
        self.view = ConfusionView("Your classes: per-class leave-one-out")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        self.last_export: Any = None

    # -- per-class check -------------------------------------------------------
    def check(self) -> None:
        """Leave-one-out over the cards' examples on a worker; the matrix appears when done."""
        algo = self.ws.current_model()
        if algo is None:
            self.ws.show_message("There is no meta-trained model yet (see the note at the top).", error=True)
            return
        if self.ws.board.missing():
            self.ws.show_message("Every class needs examples before a per-class check.", error=True)
            return
        images, labels = self.ws.board.support()
        names = list(self.ws.board.names)
        self.check_button.setEnabled(False)
        self.ws.show_message("per-class check: adapting once per held-out example…")

        def done(confusion: Any) -> None:
            self.check_button.setEnabled(True)
            self.view.set_confusion(confusion)
            self.ws.show_message(f"per-class check: {confusion.source}.")

        def failed(message: str) -> None:
            self.check_button.setEnabled(True)
            self.ws.show_message(message, error=True)

        self.ws._run(
            _api().leave_one_out_insight,
            algo,
            images,
            labels,
            names,
            self.ws.steps.value(),
            self.ws.inner_lr.value(),
            on_done=done,
            on_error=failed,
        )

    # -- export ------------------------------------------------------------------
    def export(self, path: str) -> None:
        """Export the adapted classifier to ``path`` on a worker (dialog-free, for tests and the File menu)."""
        learner = self.ws._learner
        if learner is None:
            self.ws.show_message("Press Adapt first: the exported file is the adapted classifier.", error=True)
            return
        names = list(self.ws._names)

        def done(info: Any) -> None:
            self.last_export = info
            extra = f" and {info.onnx_path}" if info.onnx_path else ""
            note = f"; note: {info.leaves_out}" if info.leaves_out else ""
            self.ws.show_message(
                f"exported {info.ways} classes to {info.path}{extra} ({info.bytes / 1e6:.1f} MB){note}")

        self.ws._run(
            _api().export_classifier,
            learner,
            names,
            path,
            self.onnx.isChecked() and self.onnx.isEnabled(),
            {"from": "the New classes tab"},
            on_done=done,
        )

    def _on_export(self) -> None:
        if self.ws._learner is None:
            self.ws.show_message("Press Adapt first: the exported file is the adapted classifier.", error=True)
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the adapted classifier", "my-classifier.pt2", CLASSIFIER_FILTER
        )
        if path:
            self.export(path)


def install(workspace: Any) -> ClassInsightPanel:
    """Add the panel under the class cards (the left column, beside the classes it describes)."""
    panel = ClassInsightPanel(workspace)
    workspace.insight = panel
    workspace.cards.parentWidget().layout().addWidget(panel, 1)
    return panel
