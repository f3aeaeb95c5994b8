"""The Compare tab's per-class view: pick a compared algorithm, see its confusion on the shared test tasks."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .confusion_view import ConfusionView


class CompareInsightPanel(QWidget):
    """An algorithm chooser over a :class:`ConfusionView`; hidden until the first algorithm is scored."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.confusions: dict[str, Any] = {}
        self.chooser = QComboBox()
        self.chooser.setToolTip("Whose mistakes to show: each algorithm's confusions on the same test tasks")
        self.chooser.currentTextChanged.connect(self._on_chosen)
        self.view = ConfusionView("Per-class accuracy on the test tasks")
        row = QHBoxLayout()
        row.addWidget(QLabel("Algorithm:"))
        row.addWidget(self.chooser, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        self.setVisible(False)

    def add(self, algo: str, confusion: Any) -> None:
        """Keep ``algo``'s confusion and show it."""
        self.confusions[algo] = confusion
        if self.chooser.findText(algo) < 0:
            self.chooser.addItem(algo)
        self.setVisible(True)
        self.chooser.setCurrentText(algo)
        self._on_chosen(algo)

    def clear(self) -> None:
        self.confusions.clear()
        self.chooser.clear()
        self.view.set_confusion(None)
        self.setVisible(False)

    def _on_chosen(self, algo: str) -> None:
        if algo in self.confusions:
            self.view.set_confusion(self.confusions[algo])
