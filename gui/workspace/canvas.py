"""The drawing canvas: mouse or tablet (with pressure), brush size, eraser, clear, undo.

Ink is kept in an 8-bit grey ``QImage`` (255 = ink, shown as chalk on a
dark board, which is also what the model sees). The canvas knows nothing of
the model: it emits ``strokeFinished`` with the raster when a stroke ends and
the workspace turns that into the 28x28 input with ``engine.sketch``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QTabletEvent
from PySide6.QtWidgets import QWidget

CANVAS_SIZE = 280
UNDO_DEPTH = 40


class DrawingCanvas(QWidget):
    """A square drawing surface of ``size`` x ``size`` ink pixels.

    Signals
    -------
    strokeFinished(np.ndarray) : the raster (uint8 [size, size], ink bright) after a stroke, undo or load
    cleared() : the canvas was emptied
    """

    strokeFinished = Signal(object)  # uint8 [size, size] raster after each completed change
    cleared = Signal()  # the canvas is empty again

    def __init__(self, size: int = CANVAS_SIZE, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._size = size
        self._image = QImage(size, size, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._undo: list[QImage] = []
        self._last: QPointF | None = None
        self._last_pressure = 1.0
        self._tablet_down = False
        self.brush = 16.0
        self.eraser = False
        self.setFixedSize(size, size)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking, True)
        self.setToolTip("Draw with the mouse or a pen (pressure changes the line width)")

    # -- public API ------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self._size, self._size)

    def raster(self) -> np.ndarray:
        """A copy of the ink as uint8 [size, size] (255 = ink)."""
        ptr = self._image.constBits()
        arr = np.frombuffer(ptr, dtype=np.uint8, count=self._image.sizeInBytes())
        return arr.reshape(self._size, self._image.bytesPerLine())[:, : self._size].copy()

    def is_empty(self) -> bool:
        return not self.raster().any()

    def set_raster(self, raster: np.ndarray) -> None:
        """Show ``raster`` (uint8 [h, w], ink bright; resized to the canvas) as an undoable change."""
        arr = np.ascontiguousarray(raster, dtype=np.uint8)
        img = QImage(arr.data, arr.shape[1], arr.shape[0], arr.strides[0], QImage.Format.Format_Grayscale8).copy()
        self._push_undo()
        self._image = img.scaled(
            self._size, self._size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.update()
        self._announce()

    def draw_stroke(self, points: Sequence[tuple[float, float]], pressures: Sequence[float] | None = None) -> None:
        """Draw one stroke through ``points`` (canvas pixels), as if by hand; emits ``strokeFinished``."""
        if not len(points):
            return
        pressures = list(pressures) if pressures is not None else [1.0] * len(points)
        self._begin(QPointF(*points[0]), pressures[0])
        for p, pr in zip(points[1:], pressures[1:]):
            self._extend(QPointF(*p), pr)
        self._end()

    def clear(self) -> None:
        """Erase everything (undoable)."""
        if self.is_empty():
            return
        self._push_undo()
        self._image.fill(0)
        self.update()
        self.cleared.emit()

    def undo(self) -> bool:
        """Take back the last stroke, load or clear; False when there is nothing to undo."""
        if not self._undo:
            return False
        self._image = self._undo.pop()
        self.update()
        self._announce()
        return True

    def can_undo(self) -> bool:
        return bool(self._undo)

    # -- strokes ---------------------------------------------------------------
    def _to_canvas(self, pos: QPointF) -> QPointF:
        scale = self._size / max(1, min(self.width(), self.height()))
        return QPointF(pos.x() * scale, pos.y() * scale)

    def _push_undo(self) -> None:
        self._undo.append(self._image.copy())
        del self._undo[:-UNDO_DEPTH]

    def _begin(self, pos: QPointF, pressure: float) -> None:
        self._push_undo()
        self._last, self._last_pressure = pos, pressure
        self._paint_segment(pos, pos, pressure)

    def _extend(self, pos: QPointF, pressure: float) -> None:
        if self._last is None:
            return
        self._paint_segment(self._last, pos, pressure)
        self._last, self._last_pressure = pos, pressure

    def _end(self) -> None:
        if self._last is None:
            return
        self._last = None
        self._announce()

    def _paint_segment(self, a: QPointF, b: QPointF, pressure: float) -> None:
        width = max(1.0, self.brush * (2.0 if self.eraser else 1.0) * max(0.1, min(1.0, pressure)))
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pen = QPen(QColor(0, 0, 0) if self.eraser else QColor(255, 255, 255), width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.drawLine(a, b)
        painter.end()
        self.update()

    def _announce(self) -> None:
        if self.is_empty():
            self.cleared.emit()
        else:
            self.strokeFinished.emit(self.raster())

    # -- Qt events -------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton and not self._tablet_down:
            self._begin(self._to_canvas(event.position()), 1.0)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.buttons() & Qt.MouseButton.LeftButton and not self._tablet_down:
            self._extend(self._to_canvas(event.position()), 1.0)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton and not self._tablet_down:
            self._end()

    def tabletEvent(self, event: QTabletEvent) -> None:  # noqa: N802 - Qt API
        pos, pressure = self._to_canvas(event.position()), float(event.pressure())
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            self._tablet_down = True
            self._begin(pos, pressure)
        elif kind == QTabletEvent.Type.TabletMove and self._tablet_down:
            self._extend(pos, pressure)
        elif kind == QTabletEvent.Type.TabletRelease and self._tablet_down:
            self._tablet_down = False
            self._end()
        event.accept()  # no synthesised mouse events: the pen has drawn already

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        side = min(self.width(), self.height())
        painter.drawImage(QRectF(0, 0, side, side), self._image)
        painter.setPen(QPen(QColor(90, 90, 90), 1))
        painter.drawRect(QRectF(0, 0, side - 1, side - 1))
        painter.end()
