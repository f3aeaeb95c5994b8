"""The workspace's three plots: adaptation curves, class probabilities, the embedding view.

Each one only displays numbers the engine computed (``StepStats``, a
probability vector, the dict of ``engine.adaptation.embedding_projection``);
plot items are created once per run and updated with ``setData``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from .cards import class_colour

RUN_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
MAX_RUNS = len(RUN_COLOURS)  # the current run(s) and the ones before them, faded; one per colour (items are reused)
AXIS_FONT_PT = 9
FADED_OPACITY = 0.35  # earlier runs, drawn behind the current one
PERCENT_TICKS = [[(v, f"{100 * v:.0f}%") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]]


@dataclass
class _Run:
    label: str
    colour: tuple[int, int, int]
    steps: list[int] = field(default_factory=list)  # every step that arrived (drawn up to ``shown``)
    loss: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    loo: tuple[int, float] | None = None  # (last step, leave-one-out accuracy there)
    loo_curve: np.ndarray | None = None  # leave-one-out accuracy per step (NaN where not scored)
    shown: int = -1  # the last step drawn (the animation reveals the steps one frame at a time)
    items: list = field(default_factory=list)
    faded: bool = False


def _style_axes(plot: pg.PlotItem) -> None:
    """Readable ticks: a fixed font, integer steps on x, room for the labels."""
    font = QFont()
    font.setPointSize(AXIS_FONT_PT)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setTickFont(font)
        axis.setStyle(tickTextOffset=4, autoExpandTextSpace=True)
    plot.getAxis("left").setWidth(44)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()


class _StepAxis(pg.AxisItem):
    """Integer ticks only (steps), never more than about eight labels."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        span = max(1.0, maxVal - minVal)
        spacing = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200) if span / s <= 8)
        first = int(np.ceil(max(minVal, 0) / spacing) * spacing)
        return [(float(spacing), [float(v) for v in range(first, int(maxVal) + 1, spacing)])]


class AdaptationChart(pg.GraphicsLayoutWidget):
    """Support loss (left) and accuracy (right: support, solid; leave-one-out, dashed) per adaptation step.

    A run is one model adapting once; each Adapt starts a run (two when a second
    model is compared) and earlier runs stay visible, faded, so two settings or
    two models can be compared. The animation reveals a run's steps one frame at
    a time (:meth:`reveal`); a vertical cursor marks the step the other views show.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.setMinimumHeight(220)
        self.loss_plot = self.addPlot(row=0, col=0, axisItems={"bottom": _StepAxis("bottom")})
        self.loss_plot.setTitle("support loss", size="10pt")
        self.acc_plot = self.addPlot(row=0, col=1, axisItems={"bottom": _StepAxis("bottom")})
        self.acc_plot.setTitle("accuracy", size="10pt")
        for plot in (self.loss_plot, self.acc_plot):
            _style_axes(plot)
            plot.setLabel("bottom", "step")
        self.acc_plot.setYRange(-0.06, 1.08, padding=0)  # room for the "0%" and "100%" labels
        self.acc_plot.getAxis("left").setTicks(PERCENT_TICKS)
        self.loss_plot.enableAutoRange(y=True)
        self.loss_plot.setLimits(yMin=0)
        self.cursors = [pg.InfiniteLine(angle=90, pen=pg.mkPen((90, 90, 90), width=1, style=Qt.PenStyle.DashLine))
                        for _ in range(2)]
        for plot, line in zip((self.loss_plot, self.acc_plot), self.cursors):
            plot.addItem(line, ignoreBounds=True)
            line.setVisible(False)
        self.ci.layout.setColumnStretchFactor(0, 1)
        self.ci.layout.setColumnStretchFactor(1, 1)
        self.legend = pg.LegendItem(labelTextSize="9pt", colCount=2)  # below the plots: never over a curve
        self.addItem(self.legend, row=1, col=0, colspan=2)
        grey = (120, 120, 120)  # what the two accuracy line styles mean, once
        self._keys = [
            pg.PlotDataItem([], [], pen=pg.mkPen(grey, width=2), symbol="o", symbolSize=6, symbolBrush=grey,
                            symbolPen=None),
            pg.PlotDataItem([], [], pen=pg.mkPen(grey, width=2, style=Qt.PenStyle.DashLine), symbol="d",
                            symbolSize=9, symbolBrush="w", symbolPen=pg.mkPen(grey, width=1.5)),
        ]
        self.legend.addItem(self._keys[0], "support examples")
        self.legend.addItem(self._keys[1], "leave-one-out (held-out shots)")
        self.runs: list[_Run] = []
        self._count = 0
        self._longest = 1

    def start_run(self, label: str, steps: int = 1, fade_others: bool = True) -> _Run:
        """Begin a run of up to ``steps`` steps; fade the earlier ones (unless ``fade_others``: a run
        compared side by side with the one just started) and keep the last few."""
        if fade_others:
            for run in self.runs:
                self._fade(run, True)
        colour = RUN_COLOURS[self._count % len(RUN_COLOURS)]
        self._count += 1
        run = _Run(f"#{self._count}: {label}", colour)
        if len(self.runs) >= MAX_RUNS:  # the oldest run's items, in the same colour, serve this one (cheaper than new)
            old = self.runs.pop(0)
            self.legend.removeItem(old.items[1])
            run.items = old.items
            for item in run.items:
                item.setData([], [])
        else:
            run.items = [
                self.loss_plot.plot([], [], symbol="o", symbolSize=6),
                self.acc_plot.plot([], [], symbol="o", symbolSize=6),
                self.acc_plot.plot([], [], symbol="d", symbolSize=9),
            ]
            self._style(run)
        for item in run.items:
            item.setZValue(self._count)  # the newest run is drawn over the faded ones
        run.faded = True  # (items reused from a faded run)
        self._fade(run, False)
        self.runs.append(run)
        self.legend.addItem(run.items[1], run.label)
        self._longest = max([steps, 1] + [r.steps[-1] for r in self.runs if r.steps])
        for plot in (self.loss_plot, self.acc_plot):
            plot.setXRange(-0.4, self._longest + 0.4, padding=0)
        return run

    def add_step(self, step: int, loss: float, accuracy: float, loo: float | None, run: _Run | None = None) -> None:
        """Record one step of ``run`` (the newest by default) and draw it at once (see :meth:`reveal`)."""
        run = run or (self.runs[-1] if self.runs else self.start_run(""))
        self.record_step(run, step, loss, accuracy, loo)
        self.reveal(run, step)
        self.set_cursor(step)

    def record_step(self, run: _Run, step: int, loss: float, accuracy: float, loo: float | None = None) -> None:
        """Keep one step of ``run``; it is drawn when the animation reaches it."""
        run.steps.append(step)
        run.loss.append(loss)
        run.acc.append(accuracy)
        if loo is not None:
            run.loo = (step, loo)

    def reveal(self, run: _Run, step: int) -> None:
        """Draw ``run``'s steps up to ``step`` (never fewer than already drawn)."""
        run.shown = max(run.shown, step)
        n = int(np.searchsorted(run.steps, run.shown, side="right"))
        steps = np.asarray(run.steps[:n], dtype=float)
        loss_item, acc_item, loo_item = run.items
        loss = np.asarray(run.loss[:n], dtype=float)
        loss[~np.isfinite(loss)] = np.nan  # a diverged step leaves a gap, not an infinite axis
        loss_item.setData(steps, loss, connect="finite")
        acc_item.setData(steps, np.asarray(run.acc[:n]))
        self._draw_loo(run)

    def set_cursor(self, step: int | None) -> None:
        """Mark ``step`` on both plots (None hides the cursor)."""
        for line in self.cursors:
            line.setVisible(step is not None)
            if step is not None:
                line.setValue(step)

    def add_loo(self, step: int, accuracy: float, curve: np.ndarray | None = None, run: _Run | None = None) -> None:
        """The leave-one-out accuracy of ``run`` (the newest by default): at its last step, and per step
        when ``curve`` is given (its K folds run after the Adapt is ready, so it arrives last)."""
        run = run or (self.runs[-1] if self.runs else None)
        if run is None:
            return
        run.loo = (step, accuracy)
        run.loo_curve = None if curve is None else np.asarray(curve, dtype=float)
        self._draw_loo(run)

    def _draw_loo(self, run: _Run) -> None:
        if run.loo_curve is not None:
            x = np.arange(len(run.loo_curve), dtype=float)
            keep = np.isfinite(run.loo_curve) & (x <= max(run.shown, 0))
            run.items[2].setData(x[keep], run.loo_curve[keep])
        elif run.loo is not None:
            run.items[2].setData([float(run.loo[0])], [run.loo[1]])

    def _fade(self, run: _Run, faded: bool) -> None:
        """Draw ``run`` faded (an earlier run) or in full; opacity only, so its symbols are not drawn anew."""
        if run.faded != faded:
            run.faded = faded
            for item in run.items:
                item.setOpacity(FADED_OPACITY if faded else 1.0)

    def _style(self, run: _Run) -> None:
        """Pens and symbols in ``run``'s colour (once per set of items: the colours repeat every MAX_RUNS runs)."""
        colour = run.colour
        loss_item, acc_item, loo_item = run.items
        for item in (loss_item, acc_item):
            item.setPen(pg.mkPen(colour, width=2))
            item.setSymbolBrush(pg.mkBrush(colour))
            item.setSymbolPen(None)
        loo_item.setPen(pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine))
        loo_item.setSymbolBrush(pg.mkBrush(255, 255, 255))
        loo_item.setSymbolPen(pg.mkPen(colour, width=1.5))


class ProbabilityBars(pg.PlotWidget):
    """One bar per class with its probability written above it; the top guess is drawn in its class colour.

    The y range is fixed (0 to 100%, plus headroom that holds a label even above a full
    bar: :data:`HEADROOM` of the height, and the widget never gets shorter than
    ``minimumHeight``), so no label is ever clipped, whatever the probabilities.
    """

    HEADROOM = 0.32  # of the full bar's height, above it, for the labels
    MAX_LABELS = 8  # more classes than this: only the top guess is labelled

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setTitle("class probabilities", size="10pt")
        self.setMinimumSize(160, 150)
        item = self.getPlotItem()
        _style_axes(item)
        item.showGrid(x=False, y=True, alpha=0.2)
        self.setYRange(0, 1 + self.HEADROOM, padding=0)
        self.getAxis("left").setTicks([[(v, f"{100 * v:.0f}%") for v in (0.0, 0.5, 1.0)]])
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.addItem(self.bars)
        self.probabilities = np.zeros(0)
        self.names: list[str] = []
        self.top = -1
        self.labels: list[pg.TextItem] = []
        self.top_label = pg.TextItem(anchor=(0.5, 1.0), color=(0, 0, 0))  # the top guess's own label

    def set_probabilities(self, probabilities: np.ndarray, names: list[str]) -> None:
        p = np.asarray(probabilities, dtype=float)
        self.probabilities, self.top = p, int(p.argmax()) if len(p) else -1
        x = np.arange(len(p))
        brushes = [pg.mkBrush(*class_colour(i)) if i == self.top else pg.mkBrush(200, 200, 200) for i in x]
        pens = [pg.mkPen("k", width=2) if i == self.top else pg.mkPen(150, 150, 150) for i in x]
        self.bars.setOpts(x=x, height=p, width=0.7, brushes=brushes, pens=pens)
        self.names = list(names)
        self._label_classes()
        labelled = list(x) if len(p) <= self.MAX_LABELS else [self.top]
        while len(self.labels) < len(labelled):
            label = pg.TextItem(anchor=(0.5, 1.0), color=(0, 0, 0))
            self.addItem(label)
            self.labels.append(label)
        for label, i in zip(self.labels, labelled):
            label.setText(f"{100 * p[i]:.0f}%")
            label.setColor((0, 0, 0) if i == self.top else (110, 110, 110))
            label.setPos(float(i), p[i] + 0.03)  # bottom-anchored just above the bar, inside the headroom
            label.setVisible(True)
        for label in self.labels[len(labelled):]:
            label.setVisible(False)
        if self.top >= 0:
            name = names[self.top] if self.top < len(names) else str(self.top)
            self.top_label.setText(f"{name}  {100 * p[self.top]:.0f}%")
            self.setToolTip(f"top guess: {self.top_label.toPlainText()}")
        self.setXRange(-0.6, max(len(p) - 0.4, 1.4), padding=0)

    def _label_classes(self) -> None:
        """Class names under the bars, shortened to what fits the width of a bar (never on top of each other)."""
        n = len(getattr(self, "probabilities", ()))  # resizeEvent comes during __init__ too
        if not n:
            return
        chars = max(2, int(self.getPlotItem().vb.width() / n / 7))  # about 7 px a character at 9 pt
        names = [self.names[i] if i < len(self.names) else str(i) for i in range(n)]
        short = [name if len(name) <= chars else name[: chars - 1] + "…" for name in names]
        self.getAxis("bottom").setTicks([list(enumerate(short))])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._label_classes()

    def clear_probabilities(self) -> None:
        self.probabilities, self.top = np.zeros(0), -1
        self.bars.setOpts(x=[], height=[])
        self.top_label.setText("")
        self.setToolTip("")
        for label in self.labels:
            label.setVisible(False)


class EmbeddingView(pg.PlotWidget):
    """Support examples (dots), class means (stars), class weights (diamonds) and the query (black cross)
    in 2-D PCA.

    During an Adapt the view animates through the steps on axes fixed at step 0
    (``engine.api.AdaptStep.view``): the dots move for models that adapt their
    features, the diamonds (each class's weights) for models that adapt a head
    only. The visible range only grows during an Adapt, so the picture does
    not jump from frame to frame.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self._title(weights=False)
        self.setToolTip(
            "The model's features of the examples in 2-D (principal components fitted at step 0 of the Adapt). "
            "During an Adapt the dots move for models that adapt their features (MAML), the diamonds (where each "
            "class's weights put it) for models that adapt a head (Proto-head)."
        )
        self.setMinimumSize(220, 200)
        _style_axes(self.getPlotItem())
        self.setMouseEnabled(x=True, y=True)
        self.setAspectLocked(False)
        self.support = pg.ScatterPlotItem(size=9, pen=pg.mkPen(None))
        self.weights = pg.ScatterPlotItem(size=15, symbol="d", pen=pg.mkPen("k", width=1.5))
        self.prototypes = pg.ScatterPlotItem(size=20, symbol="star", pen=pg.mkPen("k", width=1))
        self.query = pg.ScatterPlotItem(size=18, symbol="x", brush=pg.mkBrush(0, 0, 0), pen=pg.mkPen("k", width=1))
        for item in (self.support, self.weights, self.prototypes, self.query):
            self.addItem(item)
        self.getAxis("bottom").setLabel("PC 1")
        self.getAxis("left").setLabel("PC 2")
        self.view: dict[str, np.ndarray] = {}
        self._bounds: np.ndarray | None = None  # [[xmin, ymin], [xmax, ymax]] shown during this Adapt
        self._brushes: tuple[tuple, list] = ((), [])  # (labels, brushes): made once per support set

    def _title(self, weights: bool) -> None:
        """The title is the legend (the plot has no room for one)."""
        self.setTitle("● examples  ★ means  " + ("◆ class weights  " if weights else "") + "✕ query", size="9pt")

    def begin_animation(self) -> None:
        """A new Adapt: the next views set a new range."""
        self._bounds = None

    def set_view(self, view: dict[str, np.ndarray]) -> None:
        if self.view and view.get("support") is self.view.get("support"):  # a new query on the same support set
            self.view = view
            self.query.setData(pos=view["query"])
            return
        self.view = view
        labels = view["support_labels"]
        key = tuple(int(c) for c in labels)
        if self._brushes[0] != key:
            self._brushes = (key, [pg.mkBrush(*class_colour(c), 190) for c in key])
        self.support.setData(pos=view["support"], brush=self._brushes[1])
        protos = view["prototypes"]
        class_brushes = [pg.mkBrush(*class_colour(i)) for i in range(len(protos))]
        self.prototypes.setData(pos=protos, brush=class_brushes)
        weights = view.get("weights")
        if (weights is not None) != bool(len(self.weights.data)):
            self._title(weights is not None)
        self.weights.setData(pos=weights if weights is not None else np.zeros((0, 2)),
                             brush=class_brushes if weights is not None else [])
        self.query.setData(pos=view["query"])
        ratio = view.get("explained")
        if ratio is not None and len(ratio) == 2:
            self.getAxis("bottom").setLabel(f"PCA 1 ({100 * ratio[0]:.0f}%)")  # share of the variance at step 0
            self.getAxis("left").setLabel(f"PCA 2 ({100 * ratio[1]:.0f}%)")
        self._grow_range(view)

    def _grow_range(self, view: dict[str, np.ndarray]) -> None:
        parts = [view[k] for k in ("support", "prototypes", "weights", "query") if view.get(k) is not None]
        points = np.concatenate([p.reshape(-1, 2) for p in parts])
        if not len(points) or not np.isfinite(points).all():
            return
        lo, hi = points.min(0).astype(float), points.max(0).astype(float)  # float64: pyqtgraph compares with 1e308
        if self._bounds is not None:
            lo, hi = np.minimum(lo, self._bounds[0]), np.maximum(hi, self._bounds[1])
            if np.array_equal(lo, self._bounds[0]) and np.array_equal(hi, self._bounds[1]):
                return
        self._bounds = np.stack([lo, hi])
        pad = np.maximum((hi - lo) * 0.08, 0.5)
        x, y = (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1]))
        self.setRange(xRange=x, yRange=y, padding=0)

    def clear_view(self) -> None:
        self.view = {}
        self._bounds = None
        for item in (self.support, self.weights, self.prototypes, self.query):
            item.setData(pos=np.zeros((0, 2)))
