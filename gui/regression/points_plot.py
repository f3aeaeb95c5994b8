"""The Regression tab's canvas: points the person places, the true curve, fitted curves per step.

Mouse: a left click on empty space adds a point, dragging a point moves it,
a right click on a point removes it. Every change emits ``pointsChanged`` once
per mouse event, so a drag re-adapts as the point moves. The view is fixed to
the sine family's inputs, x in [-5, 5] (no pan, no zoom), so a click always
lands where it looks.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem

from ..metrics_plot import LEGEND_BRUSH

X_RANGE = (-5.0, 5.0)
Y_RANGE = (-6.0, 6.0)
PICK_PIXELS = 10.0  # a click within this many pixels of a point is on the point
#: colours: a model's step 0 (its prior) is light, its last step dark
RAMPS = {"maml": ((160, 190, 235), (8, 48, 140)), "baseline": ((250, 200, 150), (170, 70, 0))}
TRUE_COLOR = (40, 160, 40)


def ramp(kind: str, step: int, steps: int) -> tuple[int, int, int]:
    """The colour of ``step`` out of ``steps`` on ``kind``'s ramp (light -> dark)."""
    light, dark = RAMPS[kind]
    t = 1.0 if steps <= 0 else step / steps
    return tuple(int(round(a + (b - a) * t)) for a, b in zip(light, dark))


class PointsViewBox(pg.ViewBox):
    """A ViewBox whose clicks and drags edit its owner's points (see the module docstring)."""

    def __init__(self, owner: "PointsPlot") -> None:
        super().__init__(enableMenu=True)
        self._owner = owner
        self._dragging: int | None = None

    def _pick(self, scene_pos: QPointF) -> int | None:
        """The index of the point within PICK_PIXELS of ``scene_pos``, nearest first."""
        x, y = self._owner.points()
        if len(x) == 0:
            return None
        pixels = [self.mapViewToScene(QPointF(float(a), float(b))) for a, b in zip(x, y)]
        dist = [np.hypot(p.x() - scene_pos.x(), p.y() - scene_pos.y()) for p in pixels]
        best = int(np.argmin(dist))
        return best if dist[best] <= PICK_PIXELS else None

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        hit = self._pick(ev.scenePos())
        if ev.button() == Qt.MouseButton.LeftButton and hit is None:
            p = self.mapSceneToView(ev.scenePos())
            self._owner.add_point(p.x(), p.y())
            ev.accept()
        elif ev.button() == Qt.MouseButton.RightButton and hit is not None:
            self._owner.remove_point(hit)
            ev.accept()
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        if ev.isStart():
            self._dragging = self._pick(ev.buttonDownScenePos())
        if self._dragging is None:
            super().mouseDragEvent(ev, axis)  # pan
            return
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        self._owner.move_point(self._dragging, p.x(), p.y())
        if ev.isFinish():
            self._dragging = None


class PointsPlot(pg.PlotWidget):
    """Editable support points, the hidden task's true curve, and each model's curve after every step."""

    pointsChanged = Signal()  # a point was added, moved or removed

    def __init__(self, parent=None) -> None:
        self._x, self._y = np.empty(0), np.empty(0)
        super().__init__(parent, viewBox=PointsViewBox(self), background="w")
        plot = self.getPlotItem()
        plot.setLabel("bottom", "x")
        plot.setLabel("left", "y")
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setXRange(*X_RANGE, padding=0.02)
        plot.setYRange(*Y_RANGE, padding=0.02)
        plot.getViewBox().setMouseEnabled(x=False, y=False)  # a fixed view: where you click is where the point goes
        plot.getViewBox().setMenuEnabled(False)
        plot.hideButtons()
        self.legend = plot.addLegend(offset=(10, 10), labelTextColor="k", brush=LEGEND_BRUSH)
        self.true_curve = plot.plot(pen=pg.mkPen(TRUE_COLOR, width=2, style=Qt.PenStyle.DashLine))
        self.true_curve.setZValue(5)
        self._curves: dict[str, list[pg.PlotDataItem]] = {"maml": [], "baseline": []}
        self._legend_items: dict[str, pg.PlotDataItem] = {}
        self.scatter = pg.ScatterPlotItem(size=12, pen=pg.mkPen("k", width=1.5), brush=pg.mkBrush(255, 215, 0))
        self.scatter.setZValue(10)
        self.scatter.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)
        plot.addItem(self.scatter)
        self.setToolTip("Click to place a point, drag a point to move it, right-click a point to remove it")

    # -- points ------------------------------------------------------------------
    def points(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x.copy(), self._y.copy()

    def set_points(self, x: np.ndarray, y: np.ndarray, emit: bool = True) -> None:
        self._x, self._y = np.asarray(x, dtype=np.float64).copy(), np.asarray(y, dtype=np.float64).copy()
        self._redraw_points(emit)

    def add_point(self, x: float, y: float) -> None:
        x, y = float(np.clip(x, *X_RANGE)), float(np.clip(y, *Y_RANGE))
        self._x, self._y = np.append(self._x, x), np.append(self._y, y)
        self._redraw_points(True)

    def move_point(self, index: int, x: float, y: float) -> None:
        self._x[index], self._y[index] = float(np.clip(x, *X_RANGE)), float(np.clip(y, *Y_RANGE))
        self._redraw_points(True)

    def remove_point(self, index: int) -> None:
        self._x, self._y = np.delete(self._x, index), np.delete(self._y, index)
        self._redraw_points(True)

    def point_pixel(self, index: int) -> QPointF:
        """Where point ``index`` is drawn, in this widget's coordinates (for tests and benchmarks)."""
        scene = self.getPlotItem().getViewBox().mapViewToScene(QPointF(self._x[index], self._y[index]))
        return QPointF(self.mapFromScene(scene))

    def view_pixel(self, x: float, y: float) -> QPointF:
        scene = self.getPlotItem().getViewBox().mapViewToScene(QPointF(x, y))
        return QPointF(self.mapFromScene(scene))

    def _redraw_points(self, emit: bool) -> None:
        self.scatter.setData(self._x, self._y)
        if emit:
            self.pointsChanged.emit()

    # -- curves --------------------------------------------------------------------
    def set_true_curve(self, grid_x: np.ndarray | None, grid_y: np.ndarray | None) -> None:
        self.legend.removeItem(self.true_curve)
        if grid_x is None:
            self.true_curve.setData([], [])
        else:
            self.true_curve.setData(grid_x, grid_y)
            self.legend.addItem(self.true_curve, "true curve (hidden task)")

    def set_curves(self, kind: str, label: str, grid_x: np.ndarray, curves: np.ndarray, shown: int) -> None:
        """Draw ``kind``'s ("maml" or "baseline") curves after steps 0..shown-1 of ``curves`` [steps+1, grid]."""
        items = self._curves[kind]
        steps = len(curves) - 1
        plot = self.getPlotItem()
        while len(items) < len(curves):
            item = plot.plot()
            item.setZValue(2 if kind == "maml" else 1)
            items.append(item)
        for s, item in enumerate(items):
            if s < min(shown, len(curves)):
                last = s == steps
                item.setPen(pg.mkPen(ramp(kind, s, steps), width=3 if last else 1.2))
                item.setData(grid_x, curves[s])
            else:
                item.setData([], [])
        self._name_in_legend(kind, f"{label}: prior (light) to {steps} steps (dark)", ramp(kind, steps, steps))

    def clear_curves(self, kind: str) -> None:
        for item in self._curves[kind]:
            item.setData([], [])

    def _name_in_legend(self, kind: str, text: str, color: tuple[int, int, int]) -> None:
        old = self._legend_items.get(kind)
        if old is not None and old.name() == text:
            return
        if old is not None:
            self.legend.removeItem(old)
        sample = pg.PlotDataItem(pen=pg.mkPen(color, width=3), name=text)  # a legend entry only, never drawn
        self.legend.addItem(sample, text)
        self._legend_items[kind] = sample
