"""Class cards: one per class, with an editable name and its examples as thumbnails.

Click a card to select it (drawings are added to the selected card), click a
thumbnail to remove that example, drop image files on a card to add them.
The cards only display a :class:`ClassBoard`; they are rebuilt when it changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .board import MIN_CLASSES, ClassBoard

THUMB = 36
PER_ROW = 6
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
]


def class_colour(index: int) -> tuple[int, int, int]:
    """The colour of class ``index`` everywhere in the workspace (cards, bars, embedding)."""
    return PALETTE[index % len(PALETTE)]


def array_to_pixmap(image: np.ndarray, side: int) -> QPixmap:
    """uint8 [h, w] grey -> a ``side`` x ``side`` pixmap (nearest neighbour: pixels stay visible)."""
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    qimg = QImage(arr.data, arr.shape[1], arr.shape[0], arr.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(
        qimg.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    )


class ClassCard(QFrame):
    """One class: name, example thumbnails, drop target."""

    selected = Signal(int)  # this card was clicked
    renamed = Signal(int, str)  # the name was edited
    exampleClicked = Signal(int, int)  # (class index, example position): remove it
    filesDropped = Signal(int, list)  # (class index, [paths]) dropped on the card
    removeRequested = Signal(int)  # remove this class, its name and its examples

    def __init__(
        self, index: int, name: str, examples: list[np.ndarray], is_selected: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.index = index
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        r, g, b = class_colour(index)
        border = f"3px solid rgb({r},{g},{b})" if is_selected else f"1px solid rgba({r},{g},{b},140)"
        self.setObjectName("classCard")
        self.setStyleSheet(f"#classCard {{ border: {border}; border-radius: 5px; }}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        head = QHBoxLayout()
        swatch = QLabel()
        swatch.setFixedSize(10, 10)
        swatch.setStyleSheet(f"background: rgb({r},{g},{b}); border-radius: 5px;")
        self.name_edit = QLineEdit(name)
        self.name_edit.setPlaceholderText("class name")
        self.name_edit.editingFinished.connect(lambda: self.renamed.emit(self.index, self.name_edit.text()))
        count = QLabel(f"{len(examples)} ex.")
        self.remove_button = clear = QToolButton()
        clear.setText("×")
        clear.setToolTip("Remove this class and its examples (Ctrl+Z brings them back)")
        clear.clicked.connect(lambda: self.removeRequested.emit(self.index))
        head.addWidget(swatch)
        head.addWidget(self.name_edit, 1)
        head.addWidget(count)
        head.addWidget(clear)
        layout.addLayout(head)
        grid = QGridLayout()
        grid.setSpacing(2)
        self.thumbs: list[QToolButton] = []
        for pos, image in enumerate(examples):
            button = QToolButton()
            button.setIcon(QIcon(array_to_pixmap(image, THUMB)))
            button.setIconSize(QSize(THUMB, THUMB))
            button.setToolTip("Click to remove this example")
            button.clicked.connect(lambda _=False, p=pos: self.exampleClicked.emit(self.index, p))
            grid.addWidget(button, pos // PER_ROW, pos % PER_ROW)
            self.thumbs.append(button)
        if not examples:
            hint = QLabel("draw and press “Add to class”,\nor drop image files here")
            hint.setStyleSheet("color: gray;")
            grid.addWidget(hint, 0, 0)
        layout.addLayout(grid)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.selected.emit(self.index)
        super().mousePressEvent(event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.filesDropped.emit(self.index, [str(Path(p)) for p in paths])
            event.acceptProposedAction()


CARD_MIN_WIDTH = 250  # a card's five thumbnails and its name field


class CardsPanel(QScrollArea):
    """All class cards of a board, two per row (one in a narrow panel), in a scroll area."""

    filesDropped = Signal(int, list)  # (class index, [paths]) dropped on a card

    def __init__(self, board: ClassBoard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = board
        self.setWidgetResizable(True)
        self.cards: list[ClassCard] = []
        board.changed.connect(self._rebuild)
        board.selectionChanged.connect(lambda _: self._rebuild())
        self._rebuild()

    def _rebuild(self) -> None:
        host = QWidget()
        grid = QGridLayout(host)
        grid.setContentsMargins(2, 2, 2, 2)
        self.cards = []
        for i, (name, examples) in enumerate(zip(self.board.names, self.board.examples)):
            card = ClassCard(i, name, examples, i == self.board.selected)
            card.selected.connect(self.board.select)
            card.renamed.connect(self.board.rename)
            card.exampleClicked.connect(self.board.remove)
            card.removeRequested.connect(self.board.remove_class)
            card.remove_button.setEnabled(self.board.count > MIN_CLASSES)  # a task needs two classes
            card.filesDropped.connect(self.filesDropped)
            self.cards.append(card)
        self._grid, self._columns = grid, 0
        self._place_cards()
        old = self.takeWidget()
        if old is not None:
            old.deleteLater()  # later: a card's own click handler may be what is running now
        self.setWidget(host)

    def _place_cards(self) -> None:
        """Two cards per row where they fit side by side, else one (a narrow panel leaves the charts room)."""
        columns = 2 if self.viewport().width() >= 2 * CARD_MIN_WIDTH else 1
        if columns == self._columns:
            return
        self._columns = columns
        for card in self.cards:
            self._grid.removeWidget(card)
        for i, card in enumerate(self.cards):
            self._grid.addWidget(card, i // columns, i % columns)
        for row in range(self._grid.rowCount()):
            self._grid.setRowStretch(row, 0)
        self._grid.setRowStretch(self._grid.rowCount(), 1)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._place_cards()
