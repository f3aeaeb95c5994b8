"""Live meta-training plots: loss (raw + smoothed), training and validation accuracy.

Data arrival and redraw are separate (pyqtgraph's scrollingPlots technique):
events append to pre-allocated numpy buffers that double when full, and one
QTimer redraws the curves, created once, with ``setData`` only when something
changed. Downsampling (``mode='peak'``) and clip-to-view keep a 10,000
iteration run as cheap to draw as a short one. A finished run stays on the
plots as faded curves, named in the legend, until Clear.

The axes change in steps, not with every iteration: an invisible "extent"
curve spans from 0 to the next 1-2-5 value above the data, so pyqtgraph's
auto-range (which the person can still turn off by zooming) only moves when
the data outgrows it. Regenerating the axes' ticks and text was most of a
redraw's cost (23 ms of GUI-thread time per iteration, measured).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

REDRAW_INTERVAL_MS = 50  # 20 Hz
EMA_ALPHA = 0.05  # smoothing of the loss and accuracy curves (about a 40-iteration window)
MAX_EARLIER_RUNS = 6
COLORS = {"loss": (31, 119, 180), "train": (255, 127, 14), "val": (44, 160, 44), "standard": (148, 103, 189)}


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above ``value`` (1 for anything up to 1)."""
    if not np.isfinite(value) or value <= 1:
        return 1.0
    power = 10.0 ** np.floor(np.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return float(step * power)
    return float(10 * power)


class GrowingSeries:
    """Columns of float64 in a buffer that doubles when full (amortised O(1) append)."""

    def __init__(self, columns: int, capacity: int = 1024) -> None:
        self._data = np.empty((capacity, columns))
        self.size = 0

    def append(self, *values: float) -> None:
        if self.size == len(self._data):
            bigger = np.empty((2 * len(self._data), self._data.shape[1]))
            bigger[: self.size] = self._data[: self.size]
            self._data = bigger
        self._data[self.size] = values
        self.size += 1

    def column(self, i: int) -> np.ndarray:
        """A view of column ``i`` of the filled rows (no copy)."""
        return self._data[: self.size, i]

    def last(self, i: int) -> float:
        return float(self._data[self.size - 1, i])

    def clear(self) -> None:
        self.size = 0

    @property
    def capacity(self) -> int:
        return len(self._data)


class RunMetrics:
    """One run's metrics: per iteration (it, loss, loss EMA, acc, acc EMA) and per validation."""

    def __init__(self, label: str = "", val_shape: str = "") -> None:
        self.label = label
        self.val_shape = val_shape  # the task shape the validation scores, e.g. "32-way 1-shot"
        self.train = GrowingSeries(5)
        self.val = GrowingSeries(3)  # iteration, accuracy, ci95
        self.standard = GrowingSeries(3)  # iteration, 5-way 1-shot accuracy, ci95 (runs of another shape)
        self._ema, self._decay = [0.0, 0.0], 1.0

    def add_iteration(self, iteration: int, loss: float, accuracy: float) -> None:
        # bias-corrected EMA (as in Adam): early points average what came so far instead of lagging at the first value
        self._ema = [(1 - EMA_ALPHA) * e + EMA_ALPHA * v for e, v in zip(self._ema, (loss, accuracy))]
        self._decay *= 1 - EMA_ALPHA
        loss_ema, acc_ema = (e / (1 - self._decay) for e in self._ema)
        self.train.append(iteration, loss, loss_ema, accuracy, acc_ema)

    def add_validation(
        self, iteration: int, accuracy: float, ci95: float, standard: float | None = None, standard_ci95: float = 0.0
    ) -> None:
        self.val.append(iteration, accuracy, ci95)
        if standard is not None:
            self.standard.append(iteration, standard, standard_ci95)

    def csv_rows(self) -> list[list[str]]:
        """Header plus one row per iteration; validation columns filled where measured."""
        val = {int(it): (acc, ci) for it, acc, ci in zip(self.val.column(0), self.val.column(1), self.val.column(2))}
        rows = [
            [
                "iteration",
                "loss",
                "loss_smoothed",
                "train_accuracy",
                "train_accuracy_smoothed",
                "val_accuracy",
                "val_ci95",
            ]
        ]
        t = self.train
        for r in range(t.size):
            it = int(t.column(0)[r])
            va, vc = val.get(it, (None, None))
            rows.append(
                [str(it)]
                + [f"{t.column(c)[r]:.6g}" for c in range(1, 5)]
                + ["" if va is None else f"{va:.6g}", "" if vc is None else f"{vc:.6g}"]
            )
        return rows


def _pen(color: tuple[int, int, int], alpha: int = 255, width: float = 1) -> pg.QtGui.QPen:
    return pg.mkPen((*color, alpha), width=width)


#: a legend's background: white, a little see-through, so its names stay readable where a curve runs under them
LEGEND_BRUSH = (255, 255, 255, 210)


def style_metric_plots(loss_plot: pg.PlotItem, acc_plot: pg.PlotItem) -> None:
    """Labels, grid and the cheap-redraw settings (peak downsampling, clip to view) of a loss/accuracy pair."""
    loss_plot.setLabel("left", "cross-entropy loss")
    acc_plot.setLabel("left", "accuracy", units="%")
    for plot in (loss_plot, acc_plot):
        plot.setLabel("bottom", "meta-iteration")
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setDownsampling(mode="peak")
        plot.setClipToView(True)
        for side in ("left", "bottom"):  # axes (and their grid) repaint from a pixmap until their range changes
            plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


class MetricsPlot(QWidget):
    """Two live plots (loss; accuracy with the validation 95% CI band), a legend and Clear."""

    cleared = Signal()  # the user cleared the plots

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, background="w", foreground="k")
        self.current: RunMetrics | None = None
        self.earlier: list[tuple[RunMetrics, list[pg.GraphicsObject]]] = []
        self._dirty = False

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(260)
        self.loss_plot = self.graphics.addPlot(row=0, col=0, title="Meta-training loss (query set)")
        self.acc_plot = self.graphics.addPlot(row=1, col=0, title="Accuracy on query sets")
        style_metric_plots(self.loss_plot, self.acc_plot)
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(0, 100, padding=0.02)
        self.acc_plot.enableAutoRange(axis="y", enable=False)
        self.loss_legend = self.loss_plot.addLegend(offset=(-10, 10), brush=LEGEND_BRUSH)
        # bottom right: accuracy curves rise to the top (a curve still low runs under it: the brush keeps it readable)
        self.acc_legend = self.acc_plot.addLegend(offset=(-10, -10), brush=LEGEND_BRUSH)

        self.loss_raw = self.loss_plot.plot(pen=_pen((150, 180, 210)), name="loss per meta-batch")
        self.loss_smooth = self.loss_plot.plot(pen=_pen(COLORS["loss"], width=2), name="loss (smoothed)")
        self.acc_raw = self.acc_plot.plot(pen=_pen((250, 200, 150)))
        self.acc_smooth = self.acc_plot.plot(pen=_pen(COLORS["train"], width=2), name="training (smoothed)")
        self.val_curve = self.acc_plot.plot(
            pen=_pen(COLORS["val"], width=2),
            symbol="o",
            symbolSize=5,
            symbolBrush=COLORS["val"],
            name="validation ± 95% CI",
        )
        self.standard_curve = self.acc_plot.plot(
            pen=pg.mkPen(COLORS["standard"], width=2, style=Qt.PenStyle.DashLine),
            symbol="s",
            symbolSize=5,
            symbolBrush=COLORS["standard"],
            name="validation (5-way 1-shot)",
        )
        self.val_upper = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.val_lower = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.val_band = pg.FillBetweenItem(self.val_upper, self.val_lower, brush=pg.mkBrush(*COLORS["val"], 60))
        for item in (self.val_upper, self.val_lower, self.val_band):
            self.acc_plot.addItem(item)
        for curve in (self.loss_raw, self.loss_smooth, self.acc_raw, self.acc_smooth):
            curve.setSkipFiniteCheck(True)
        # invisible curves that set the auto-range in 1-2-5 steps (see the module docstring)
        self.loss_extent = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.acc_extent = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.loss_plot.addItem(self.loss_extent)
        self.acc_plot.addItem(self.acc_extent)
        self._extent: tuple[float, float] | None = None

        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the curves of earlier runs (and of the last run when none is active)")
        self.clear_button.clicked.connect(self._on_clear)
        self.caption = QLabel("Start a run to see the meta-training curves here.")
        self.caption.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_redraw)
        self._timer.start()

    # -- data in ---------------------------------------------------------------
    def begin_run(self, label: str, val_shape: str = "", note: str = "") -> None:
        """Fade the current curves into the 'earlier runs' and start empty ones; ``val_shape`` names the task
        shape the validation scores (the legend says it), ``note`` explains the curves in the caption."""
        if self.current is not None and self.current.train.size:
            self._archive(self.current)
        self.current = RunMetrics(label, val_shape)
        self.caption.setText(f"Current run: {label}" + (f". {note}" if note else ""))
        self.acc_legend.removeItem(self.val_curve)
        self.acc_legend.addItem(self.val_curve, f"validation{f' ({val_shape})' if val_shape else ''} ± 95% CI")
        self._dirty = True

    def add_iteration(self, iteration: int, loss: float, accuracy: float) -> None:
        self.current.add_iteration(iteration, loss, 100.0 * accuracy)
        self._dirty = True

    def add_validation(
        self, iteration: int, accuracy: float, ci95: float, standard: float | None = None, standard_ci95: float = 0.0
    ) -> None:
        """A validation (fractions); ``standard``: the 5-way 1-shot accuracy when the run's shape differs."""
        self.current.add_validation(
            iteration, 100.0 * accuracy, 100.0 * ci95, None if standard is None else 100.0 * standard,
            100.0 * (standard_ci95 or 0.0),
        )
        self._dirty = True

    def load_history(self, label: str, history: dict) -> None:
        """Show a saved run's history (from a checkpoint) as the current curves."""
        self.begin_run(label)
        for it, loss, acc in zip(history.get("iteration", []), history.get("loss", []), history.get("accuracy", [])):
            self.add_iteration(it, loss, acc)
        standard = history.get("val_standard_accuracy") or []
        standard_ci = history.get("val_standard_ci95") or []
        for i, (it, acc, ci) in enumerate(
            zip(history.get("val_iteration", []), history.get("val_accuracy", []), history.get("val_ci95", []))
        ):
            has_standard = i < len(standard) and len(standard) == len(history.get("val_iteration", []))
            self.add_validation(it, acc, ci, standard[i] if has_standard else None,
                                standard_ci[i] if has_standard and i < len(standard_ci) else 0.0)

    # -- redraw ----------------------------------------------------------------
    def _on_redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        run = self.current
        if run is None:
            for curve in (
                self.loss_raw,
                self.loss_smooth,
                self.acc_raw,
                self.acc_smooth,
                self.val_curve,
                self.val_upper,
                self.val_lower,
                self.standard_curve,
            ):
                curve.setData([], [])
            self._extent = None
            self._update_extent(None)
            return
        x = run.train.column(0)
        self.loss_raw.setData(x, run.train.column(1))
        self.loss_smooth.setData(x, run.train.column(2))
        self.acc_raw.setData(x, run.train.column(3))
        self.acc_smooth.setData(x, run.train.column(4))
        vx, vacc, vci = run.val.column(0), run.val.column(1), run.val.column(2)
        self.val_curve.setData(vx, vacc)
        self.val_upper.setData(vx, vacc + vci)
        self.val_lower.setData(vx, vacc - vci)
        self.standard_curve.setData(run.standard.column(0), run.standard.column(1))
        self._update_extent(run)

    def _update_extent(self, run: "RunMetrics | None") -> None:
        """Move the extent curves only when the data outgrows them (or shrinks to under a fifth)."""
        runs = [r for r, _ in self.earlier] + ([run] if run is not None else [])
        x_max = max((float(r.train.column(0).max()) for r in runs if r.train.size), default=1.0)
        x_max = max([x_max] + [float(r.val.column(0).max()) for r in runs if r.val.size])
        losses = [r.train.column(1) for r in runs if r.train.size]
        finite = [v[np.isfinite(v)] for v in losses]
        y_max = max((float(v.max()) for v in finite if v.size), default=1.0)
        wanted = (nice_ceiling(x_max), nice_ceiling(y_max))
        if (
            self._extent is not None
            and wanted[0] <= self._extent[0]
            and wanted[1] <= self._extent[1]
            and wanted[0] * 5 > self._extent[0]
            and wanted[1] * 5 > self._extent[1]
        ):
            return
        self._extent = wanted
        self.loss_extent.setData([0.0, wanted[0]], [0.0, wanted[1]])
        self.acc_extent.setData([0.0, wanted[0]], [50.0, 50.0])

    def redraw_now(self) -> None:
        self._dirty = True
        self._on_redraw()

    def _archive(self, run: RunMetrics) -> None:
        """Keep ``run`` as faded curves (smoothed loss, validation accuracy) with a legend entry."""
        index = len(self.earlier)
        shade = (120 + 20 * (index % 5),) * 3
        items = [
            self.loss_plot.plot(
                run.train.column(0).copy(),
                run.train.column(2).copy(),
                pen=_pen(shade, 150),
                name=f"earlier: {run.label}",
            ),
        ]
        shown = run.standard if run.standard.size else run.val  # 5-way 1-shot where measured: runs compare
        if shown.size:
            items.append(
                self.acc_plot.plot(
                    shown.column(0).copy(),
                    shown.column(1).copy(),
                    pen=_pen(shade, 150),
                    symbol="o",
                    symbolSize=4,
                    symbolBrush=shade,
                    name=f"earlier: {run.label}" + (" (5-way 1-shot)" if run.standard.size else ""),
                )
            )
        else:
            items.append(
                self.acc_plot.plot(
                    run.train.column(0).copy(),
                    run.train.column(4).copy(),
                    pen=_pen(shade, 150),
                    name=f"earlier: {run.label}",
                )
            )
        for item in items:
            item.setZValue(-10)
        self.earlier.append((run, items))
        while len(self.earlier) > MAX_EARLIER_RUNS:
            self._remove(*self.earlier.pop(0))

    def _remove(self, run: RunMetrics, items: list) -> None:
        for item in items:
            plot = self.loss_plot if item.getViewBox() is self.loss_plot.getViewBox() else self.acc_plot
            plot.removeItem(item)
            (self.loss_legend if plot is self.loss_plot else self.acc_legend).removeItem(item)

    def clear_earlier(self) -> None:
        while self.earlier:
            self._remove(*self.earlier.pop())

    def _on_clear(self) -> None:
        self.clear_earlier()
        if not self.property("runActive"):
            self.current = None
            self.caption.setText("Start a run to see the meta-training curves here.")
        self._dirty = True
        self.cleared.emit()

    def picture(self) -> QPixmap:
        """The plots with the run they show written above them (what File > Export plots saves)."""
        graphs = self.graphics.grab()
        header = 30
        picture = QPixmap(graphs.width(), graphs.height() + header)
        picture.fill(QColor("white"))
        painter = QPainter(picture)
        painter.setPen(QColor("black"))
        text = self.caption.text() if self.current is not None else "No run"
        painter.drawText(QRect(8, 0, graphs.width() - 16, header), int(Qt.AlignmentFlag.AlignVCenter), text)
        painter.drawPixmap(0, header, graphs)
        painter.end()
        return picture

    def set_run_active(self, active: bool) -> None:
        """While a run is active, Clear keeps its curves."""
        self.setProperty("runActive", active)

    def csv_rows(self) -> list[list[str]]:
        return self.current.csv_rows() if self.current is not None else []
