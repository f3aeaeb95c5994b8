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


def colored(kind: str, text: str) -> str:
    """``text`` in ``kind``'s dark colour, for plot titles (a legend box would hide the lines it names)."""
    r, g, b = ramp(kind, 1, 1)
    return f"<span style='color: #{r:02x}{g:02x}{b:02x}'>{text}</span>"


def chart_title(first: str, kinds: list[tuple[str, str]], second: str) -> str:
    names = ", ".join(colored(kind, label) for kind, label in kinds) if kinds else "no model yet"
    return f"{first}<br><span style='font-size: 8pt'>{names}; {second}</span>"


FLOOR = 1e-4  # MSEs are drawn on a log axis: a perfect fit of the points shows at this floor


class LossPlot(pg.PlotWidget):
    """Query MSE per meta-iteration (log axis) of the model and of the baseline, plus validation MSE."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent, background="w")
        plot = self.getPlotItem()
        self._runs: dict[str, str] = {}
        self._title()
        plot.setLabel("left", "MSE")
        plot.setLabel("bottom", "meta-iteration")
        plot.setLogMode(y=True)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setDownsampling(mode="peak")
        plot.setClipToView(True)
        self.series = {kind: GrowingSeries(2) for kind in ("maml", "baseline")}
        self.val = {kind: GrowingSeries(2) for kind in ("maml", "baseline")}
        self.curves, self.val_curves = {}, {}
        for kind in ("maml", "baseline"):
            self.curves[kind] = plot.plot(pen=pg.mkPen(ramp(kind, 1, 2), width=1))
            self.val_curves[kind] = plot.plot(
                pen=pg.mkPen(ramp(kind, 1, 1), width=2), symbol="o", symbolSize=6, symbolBrush=ramp(kind, 1, 1)
            )
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
        self._runs[kind] = label
        self._title()
        self._dirty = True

    def _title(self) -> None:
        self.getPlotItem().setTitle(
            chart_title("Meta-training loss (MSE)", list(self._runs.items()), "dots: validation MSE after adapting")
        )

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
        self._runs = {}
        self._title()
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
        plot.setLabel("left", "MSE")
        plot.setLabel("bottom", "step (0 = prior)")
        plot.setLogMode(y=True)
        plot.showGrid(x=True, y=True, alpha=0.2)
        self.lines = {}
        for kind in ("maml", "baseline"):
            color = ramp(kind, 1, 1)
            self.lines[(kind, "points")] = plot.plot(
                pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5, symbolBrush=color
            )
            self.lines[(kind, "true")] = plot.plot(
                pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine), symbol="t", symbolSize=6, symbolBrush=color
            )
        self._labels: dict[str, tuple[str, bool]] = {}
        self._title()

    def _title(self) -> None:
        kinds = [(kind, label) for kind, (label, _) in self._labels.items()]
        dashed = any(has_true for _, has_true in self._labels.values())
        self.getPlotItem().setTitle(
            chart_title(
                "MSE after each adaptation step",
                kinds,
                "solid: on the points" + (", dashed: vs the true curve" if dashed else ""),
            )
        )

    def show_adaptation(
        self, kind: str, label: str, support_mse: list[float], true_mse: list[float] | None, shown: int
    ) -> None:
        """Plot steps 0..shown-1 of one model's MSEs (points solid, true curve dashed)."""
        steps = np.arange(min(shown, len(support_mse)))
        sup = np.maximum(np.asarray(support_mse[: len(steps)], dtype=float), FLOOR)
        self.lines[(kind, "points")].setData(steps, sup) if np.isfinite(sup).all() else self.lines[
            (kind, "points")
        ].setData([], [])
        if true_mse is None:
            self.lines[(kind, "true")].setData([], [])
        else:
            self.lines[(kind, "true")].setData(
                steps, np.maximum(np.asarray(true_mse[: len(steps)], dtype=float), FLOOR)
            )
        state = (label, true_mse is not None)
        if self._labels.get(kind) != state:  # name the lines drawn, and only those
            self._labels[kind] = state
            self._title()

    def clear_kind(self, kind: str) -> None:
        for part in ("points", "true"):
            self.lines[(kind, part)].setData([], [])
        if self._labels.pop(kind, None) is not None:
            self._title()
