"""Shows one N-way K-shot episode as images: a row per class, support then queries.

Many classes (SimpleShot's 32-class batches) would make one tall, thin column;
their rows are then wrapped into side-by-side blocks so the mosaic keeps a
shape that fills the panel.

The images arrive as uint8 numpy arrays (the sampling itself runs on a worker
thread); this widget only lays them out into one mosaic and paints it scaled
to fit, so even a 20-way 5-shot task stays one cheap pixmap.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

GAP = 4  # pixels between images
SECTION_GAP = 14  # pixels between the support and query columns
MAX_QUERIES_SHOWN = 5
BLOCK_GAP = 24  # pixels between blocks of rows
TARGET_ASPECT = 1.6  # width / height the blocks aim for (the panel's shape)


def block_width(shots: int, queries: int, w: int = 28, gap: int = GAP, section_gap: int = SECTION_GAP) -> int:
    return shots * (w + gap) + section_gap + queries * (w + gap)


def choose_blocks(ways: int, shots: int, queries: int, h: int = 28) -> int:
    """How many side-by-side blocks of rows bring the mosaic closest to ``TARGET_ASPECT``."""
    def aspect(b: int) -> float:
        rows = -(-ways // b)
        return (b * block_width(shots, queries) + (b - 1) * BLOCK_GAP) / (rows * (h + GAP))

    return min(range(1, ways + 1), key=lambda b: abs(np.log(aspect(b) / TARGET_ASPECT)))


def mosaic(
    support: np.ndarray, queries: np.ndarray, gap: int = GAP, section_gap: int = SECTION_GAP, blocks: int = 1
) -> np.ndarray:
    """Arrange ``support`` [ways, shots, H, W] and ``queries`` [ways, q, H, W] into one image.

    Row ``i`` holds class ``i``: its support examples, a wider gap, then its
    queries; with ``blocks`` > 1 the rows wrap into that many columns of rows,
    left to right. Background is mid-grey so the dark image tiles stand out.
    """
    ways, shots, h, w = support.shape
    q = queries.shape[1]
    rows = -(-ways // blocks)
    bw = block_width(shots, q, w, gap, section_gap)
    canvas = np.full((rows * (h + gap), blocks * bw + (blocks - 1) * BLOCK_GAP), 96, dtype=np.uint8)
    for i in range(ways):
        x0, y = (i // rows) * (bw + BLOCK_GAP), (i % rows) * (h + gap)
        for j in range(shots):
            x = x0 + j * (w + gap)
            canvas[y : y + h, x : x + w] = support[i, j]
        for j in range(q):
            x = x0 + shots * (w + gap) + section_gap + j * (w + gap)
            canvas[y : y + h, x : x + w] = queries[i, j]
    return canvas


class EpisodeView(QWidget):
    """Paints the current episode's mosaic, scaled to the widget, with a caption."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(120)
        self._pixmap: QPixmap | None = None
        self._text = "The episode appears here once the data is loaded."
        self._split_xs: list[float] = []  # where each block's support | queries line goes (fraction of width)
        self.shown: tuple[int, int, int] | None = None  # (ways, shots, queries shown)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 200)

    def show_episode(self, support: np.ndarray, queries: np.ndarray) -> None:
        """Show ``support`` [ways, shots, 28, 28] and ``queries`` [ways, q, 28, 28] (uint8)."""
        queries = queries[:, :MAX_QUERIES_SHOWN]
        ways, shots = support.shape[:2]
        blocks = choose_blocks(ways, shots, queries.shape[1])
        image = np.ascontiguousarray(mosaic(support, queries, blocks=blocks))
        h, w = image.shape
        qimage = QImage(image.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        self._pixmap = QPixmap.fromImage(qimage)
        bw = block_width(shots, queries.shape[1])
        self._split_xs = [(b * (bw + BLOCK_GAP) + shots * (28 + GAP) + SECTION_GAP / 2) / w for b in range(blocks)]
        self.shown = (ways, shots, queries.shape[1])
        self._text = ""
        self.update()

    @property
    def text(self) -> str:
        """The words shown instead of an episode ("" while an episode is shown)."""
        return self._text

    def show_text(self, text: str) -> None:
        self._pixmap, self._text, self.shown = None, text, None
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        rect = self.rect()
        if self._pixmap is None:
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text)
            return
        scaled = self._pixmap.size().scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x0 = (rect.width() - scaled.width()) // 2
        y0 = (rect.height() - scaled.height()) // 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scaled.width() < self._pixmap.width())
        painter.drawPixmap(x0, y0, scaled.width(), scaled.height(), self._pixmap)
        painter.setPen(self.palette().highlight().color())
        for fraction in self._split_xs:
            split = x0 + int(fraction * scaled.width())
            painter.drawLine(split, y0, split, y0 + scaled.height())
