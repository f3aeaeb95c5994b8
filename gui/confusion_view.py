"""Per-class insight: a confusion matrix with per-class accuracy, whose cells show the images behind them.

Rows are the true classes, columns what the model said; a cell holds how
many of the row's queries went to the column, shaded by that share of the
row (green on the diagonal, red off it). The last column is the row's
accuracy. Clicking a cell shows its images (up to the engine's
``KEEP_PER_CELL``) in the strip below, so a teacher sees *which* examples of
"beta" were taken for "omega" and can fix them.

The view receives an ``engine.confusion.Confusion`` (numpy and names only)
and never computes anything itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .workspace.cards import array_to_pixmap

MAX_CLASSES_SHOWN = 25  # more would be unreadable: the least accurate classes are shown
THUMB = 56


def _shade(fraction: float, diagonal: bool) -> QColor:
    """White (0) to a strong green (diagonal) or red (off it) as ``fraction`` goes to 1."""
    target = (46, 160, 67) if diagonal else (214, 39, 40)
    f = min(max(fraction, 0.0), 1.0) * 0.85
    return QColor(*(round(255 + (t - 255) * f) for t in target))


class ConfusionView(QWidget):
    """Confusion matrix + per-class accuracy; a click on a cell shows the images in it.

    Call :meth:`set_confusion` with an ``engine.confusion.Confusion`` (or None to clear).
    """

    cellChosen = Signal(int, int)  # (true class row, predicted class column) whose images are shown

    def __init__(self, title: str = "Per-class accuracy and confusions", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.confusion: Any = None
        self.title = QLabel(f"<b>{title}</b>")
        self.caption = QLabel("Nothing scored yet.")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #555;")
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setToolTip("rows: the true class; columns: what the model said. Click a cell to see its images.")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellClicked.connect(self.show_cell)
        # the open cell: outlined, its shade (share of the row) still readable under a light tint
        self.table.setStyleSheet("QTableView { selection-background-color: rgba(31, 119, 180, 70); "
                                 "selection-color: black; } QTableView::item:selected { border: 2px solid #1f77b4; }")
        self.cell_caption = QLabel("")
        self.strip = QWidget()
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(2, 2, 2, 2)
        self.strip_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.strip)
        scroll.setFixedHeight(THUMB + 26)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.caption)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.cell_caption)
        layout.addWidget(scroll)

    # -- the model -------------------------------------------------------------
    def set_confusion(self, confusion: Any) -> None:
        """Show ``confusion`` (its least accurate ``MAX_CLASSES_SHOWN`` classes when it has more)."""
        self._clear_strip()
        self.cell_caption.setText("")
        if confusion is None:
            self.confusion = None
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self.caption.setText("Nothing scored yet.")
            return
        shown = confusion.worst(MAX_CLASSES_SHOWN)
        self.confusion = shown
        names, counts = shown.class_names, shown.counts
        n = len(names)
        acc = shown.per_class_accuracy
        fractions = shown.fractions()
        self.table.setRowCount(n)
        self.table.setColumnCount(n + 1)
        self.table.setHorizontalHeaderLabels([f"→ {name}" for name in names] + ["accuracy"])
        self.table.setVerticalHeaderLabels(list(names))
        for i in range(n):
            for j in range(n):
                item = QTableWidgetItem(str(int(counts[i, j])) if counts[i, j] else "·")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(QBrush(_shade(float(fractions[i, j]), i == j)))
                item.setToolTip(
                    f"{names[i]} taken for {names[j]}: {int(counts[i, j])} of {int(counts[i].sum())}"
                    if i != j
                    else f"{names[i]} right: {int(counts[i, i])} of {int(counts[i].sum())}"
                )
                self.table.setItem(i, j, item)
            a = acc[i]
            cell = QTableWidgetItem("n/a" if np.isnan(a) else f"{100 * a:.0f}%")
            cell.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            cell.setBackground(QBrush(_shade(0.0 if np.isnan(a) else float(a), True)))
            font = cell.font()
            font.setBold(True)
            cell.setFont(font)
            self.table.setItem(i, n, cell)
        self.caption.setText(
            f"{shown.source}: {100 * confusion.accuracy:.1f}% overall. "
            "Rows: true class, columns: predicted. Click a cell to see its images."
            if counts.sum()
            else f"{shown.source}: nothing was held out (every class needs 2+ examples)."
        )
        worst = self._most_confused()
        if worst is not None:
            self.show_cell(*worst)

    def _most_confused(self) -> tuple[int, int] | None:
        counts = self.confusion.counts.copy()
        np.fill_diagonal(counts, 0)
        if counts.sum() == 0:
            return None
        i, j = np.unravel_index(int(counts.argmax()), counts.shape)
        return int(i), int(j)

    # -- the images of a cell --------------------------------------------------
    def show_cell(self, row: int, column: int) -> None:
        """Show the images of true class ``row`` predicted as ``column`` (the accuracy column: the row's misses)."""
        if self.confusion is None or row >= len(self.confusion.class_names):
            return
        names = self.confusion.class_names
        if column >= len(names):  # the accuracy column: everything of this row that went wrong
            images = [
                img for (i, j), imgs in sorted(self.confusion.images.items()) if i == row and j != row for img in imgs
            ]
            what = f"{names[row]}: the examples taken for another class"
        else:
            images = list(self.confusion.images.get((row, column), []))
            what = f"{names[row]} → {names[column]}" + (" (right)" if row == column else "")
        self.table.setCurrentCell(row, column)
        total = (
            int(self.confusion.counts[row].sum() - self.confusion.counts[row, row])
            if column >= len(names)
            else int(self.confusion.counts[row, column])
        )
        more = f" (showing {len(images)})" if len(images) < total else ""
        self.cell_caption.setText(f"{what}: {total} image(s){more}")
        self._clear_strip()
        for img in images:
            label = QLabel()
            label.setPixmap(array_to_pixmap(img, THUMB))
            label.setStyleSheet("border: 1px solid #888;")
            self.strip_layout.insertWidget(self.strip_layout.count() - 1, label)
        self.cellChosen.emit(row, column)

    def shown_images(self) -> int:
        """How many images the strip holds (for tests)."""
        return self.strip_layout.count() - 1

    def _clear_strip(self) -> None:
        while self.strip_layout.count() > 1:
            item = self.strip_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
