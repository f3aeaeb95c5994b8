"""Shows one N-way K-shot episode as images: a row per class, support then queries.

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


def mosaic(support: np.ndarray, queries: np.ndarray, gap: int = GAP, section_gap: int = SECTION_GAP) -> np.ndarray:
    """Arrange ``support`` [ways, shots, H, W] and ``queries`` [ways, q, H, W] into one image.

    Row ``i`` holds class ``i``: its support examples, a wider gap, then its
    queries. Background is mid-grey so the dark image tiles stand out.
    """
    ways, shots, h, w = support.shape
    q = queries.shape[1]
    width = shots * (w + gap) + section_gap + q * (w + gap)
    height = ways * (h + gap)
    canvas = np.full((height, width), 96, dtype=np.uint8)
    for i in range(ways):
        y = i * (h + gap)
        for j in range(shots):
            x = j * (w + gap)
            canvas[y : y + h, x : x + w] = support[i, j]
        for j in range(q):
            x = shots * (w + gap) + section_gap + j * (w + gap)
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
        self._split_x = 0.0
        self.shown: tuple[int, int, int] | None = None  # (ways, shots, queries shown)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 200)

    def show_episode(self, support: np.ndarray, queries: np.ndarray) -> None:
        """Show ``support`` [ways, shots, 28, 28] and ``queries`` [ways, q, 28, 28] (uint8)."""
        queries = queries[:, :MAX_QUERIES_SHOWN]
        image = np.ascontiguousarray(mosaic(support, queries))
        h, w = image.shape
        qimage = QImage(image.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        self._pixmap = QPixmap.fromImage(qimage)
        ways, shots = support.shape[:2]
        self._split_x = (shots * (28 + GAP) + SECTION_GAP / 2) / w
        self.shown = (ways, shots, queries.shape[1])
        self._text = ""
        self.update()

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
        split = x0 + int(self._split_x * scaled.width())
        painter.setPen(self.palette().highlight().color())
        painter.drawLine(split, y0, split, y0 + scaled.height())
