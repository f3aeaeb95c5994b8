"""The Regression tab's two small charts: the live meta-training loss and the MSE after each step.

The loss plot uses the Meta-train tab's technique (gui.metrics_plot): events
append to growing buffers, a timer redraws curves created once.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer

from ..metrics_plot import REDRAW_INTERVAL_MS, GrowingSeries
from .points_plot import ramp

FLOOR = 1e-4  # MSEs are drawn on a log axis: a perfect fit of the points shows at this floor


class LossPlot(pg.PlotWidget):
    """Query MSE per meta-iteration (log axis) of the model and of the baseline, plus validation MSE."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent, background="w")
        plot = self.getPlotItem()
        plot.setTitle("Meta-training: query MSE after adapting")
        plot.setLabel("left", "MSE")
        plot.setLabel("bottom", "meta-iteration")
        plot.setLogMode(y=True)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setDownsampling(mode="peak")
        plot.setClipToView(True)
        plot.addLegend(offset=(-10, 10), labelTextColor="k", brush=(255, 255, 255, 210))
        self.series = {kind: GrowingSeries(2) for kind in ("maml", "baseline")}
        self.val = {kind: GrowingSeries(2) for kind in ("maml", "baseline")}
        self.curves, self.val_curves = {}, {}
        for kind in ("maml", "baseline"):
            self.curves[kind] = plot.plot(pen=pg.mkPen(ramp(kind, 1, 2), width=1))
            self.val_curves[kind] = plot.plot(pen=pg.mkPen(ramp(kind, 1, 1), width=2), symbol="o", symbolSize=6,
                                              symbolBrush=ramp(kind, 1, 1))
        self._names: dict[str, str] = {}
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self.redraw_now)
        self._timer.start()

    def begin(self, kind: str, label: str) -> None:
        """A new run of ``kind`` ("maml" or "baseline") called ``label``: its old points go."""
        self.series[kind].clear()
        self.val[kind].clear()
        legend = self.getPlotItem().legend
        legend.removeItem(self.val_curves[kind])
        legend.addItem(self.val_curves[kind], f"{label} (dots: validation)")
        self._dirty = True

    def add(self, kind: str, iteration: int, mse: float) -> None:
        self.series[kind].append(iteration, max(mse, FLOOR))
        self._dirty = True

    def add_validation(self, kind: str, iteration: int, mse: float) -> None:
        self.val[kind].append(iteration, max(mse, FLOOR))
        self._dirty = True

    def clear_runs(self) -> None:
        """Forget every run's points (PlotWidget.clear would remove the plot items themselves)."""
        for kind in self.series:
            self.series[kind].clear()
            self.val[kind].clear()
        self._dirty = True

    def redraw_now(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for kind in self.series:
            s, v = self.series[kind], self.val[kind]
            self.curves[kind].setData(s.column(0), s.column(1))
            self.val_curves[kind].setData(v.column(0), v.column(1))


class StepChart(pg.PlotWidget):
    """Mean squared error after each adaptation step: on the points, and against the true curve when known."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent, background="w")
        plot = self.getPlotItem()
        plot.setTitle("MSE after each adaptation step")
        plot.setLabel("left", "MSE")
        plot.setLabel("bottom", "step (0 = prior)")
        plot.setLogMode(y=True)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.addLegend(offset=(10, -10), labelTextColor="k", brush=(255, 255, 255, 210))  # bottom left: the MSEs fall from the top left
        self.lines = {}
        for kind in ("maml", "baseline"):
            color = ramp(kind, 1, 1)
            self.lines[(kind, "points")] = plot.plot(pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5, symbolBrush=color)
            self.lines[(kind, "true")] = plot.plot(pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine),
                                                   symbol="t", symbolSize=6, symbolBrush=color)
        self._labels: dict[str, tuple[str, bool]] = {}

    def show_adaptation(self, kind: str, label: str, support_mse: list[float], true_mse: list[float] | None, shown: int) -> None:
        """Plot steps 0..shown-1 of one model's MSEs (points solid, true curve dashed)."""
        steps = np.arange(min(shown, len(support_mse)))
        sup = np.maximum(np.asarray(support_mse[: len(steps)], dtype=float), FLOOR)
        self.lines[(kind, "points")].setData(steps, sup) if np.isfinite(sup).all() else self.lines[(kind, "points")].setData([], [])
        if true_mse is None:
            self.lines[(kind, "true")].setData([], [])
        else:
            self.lines[(kind, "true")].setData(steps, np.maximum(np.asarray(true_mse[: len(steps)], dtype=float), FLOOR))
        state = (label, true_mse is not None)
        if self._labels.get(kind) != state:  # name the lines drawn, and only those
            self._labels[kind] = state
            legend = self.getPlotItem().legend
            for part in ("points", "true"):
                legend.removeItem(self.lines[(kind, part)])
            legend.addItem(self.lines[(kind, "points")], f"{label} on the points")
            if true_mse is not None:
                legend.addItem(self.lines[(kind, "true")], f"{label} vs the true curve")

    def clear_kind(self, kind: str) -> None:
        for part in ("points", "true"):
            self.lines[(kind, part)].setData([], [])
