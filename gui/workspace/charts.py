"""The workspace's three plots: adaptation curves, class probabilities, the embedding view.

Each one only displays numbers the engine computed (``StepStats``, a
probability vector, the dict of ``engine.adaptation.embedding_projection``);
plot items are created once per run and updated with ``setData``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from .cards import class_colour

MAX_RUNS = 4  # the current run and the three before it, faded
RUN_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


@dataclass
class _Run:
    label: str
    colour: tuple[int, int, int]
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    loo: tuple[int, float] | None = None
    items: list = field(default_factory=list)


class AdaptationChart(pg.GraphicsLayoutWidget):
    """Support loss (top) and support / leave-one-out accuracy (bottom) per adaptation step.

    Each Adapt starts a new run; earlier runs stay visible, faded, so two
    settings (steps, inner learning rate) can be compared side by side.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.loss_plot = self.addPlot(row=0, col=0)
        self.loss_plot.setTitle("support loss", size="9pt")
        self.acc_plot = self.addPlot(row=1, col=0)
        self.acc_plot.setTitle("accuracy: support (line), leave-one-out (◆)", size="9pt")
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(0, 1.05)
        self.acc_plot.setLabel("bottom", "adaptation step")
        for plot in (self.loss_plot, self.acc_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
        self.loss_plot.setLogMode(y=True)  # the first steps can drop the loss by orders of magnitude
        self.legend = pg.LegendItem(labelTextSize="8pt", colCount=2)  # below the plots: never over a curve
        self.addItem(self.legend, row=2, col=0)
        self.runs: list[_Run] = []
        self._count = 0

    def start_run(self, label: str, steps: int = 1) -> None:
        """Begin a new curve pair for up to ``steps`` steps; fade the previous ones (keep the last few)."""
        for run in self.runs:
            self._style(run, faded=True)
        if len(self.runs) >= MAX_RUNS:
            old = self.runs.pop(0)
            for item in old.items:
                (self.loss_plot if item in self.loss_plot.items else self.acc_plot).removeItem(item)
            self.legend.removeItem(old.items[1])
        colour = RUN_COLOURS[self._count % len(RUN_COLOURS)]
        self._count += 1
        run = _Run(f"#{self._count}: {label}", colour)
        run.items = [
            self.loss_plot.plot([], [], symbol="o", symbolSize=5),
            self.acc_plot.plot([], [], symbol="o", symbolSize=5),
            self.acc_plot.plot([], [], pen=None, symbol="d", symbolSize=11),
        ]
        self.runs.append(run)
        self.legend.addItem(run.items[1], run.label)
        self._style(run, faded=False)
        longest = max([steps, 1] + [r.steps[-1] for r in self.runs if r.steps])
        self.loss_plot.setXRange(-0.3, longest + 0.3, padding=0)

    def add_step(self, step: int, loss: float, accuracy: float, loo: float | None) -> None:
        """Append one step of the current run."""
        if not self.runs:
            self.start_run("")
        run = self.runs[-1]
        run.steps.append(step)
        run.loss.append(loss)
        run.acc.append(accuracy)
        if loo is not None:
            run.loo = (step, loo)
        loss_item, acc_item, loo_item = run.items
        steps = np.asarray(run.steps, dtype=float)
        loss_item.setData(steps, np.asarray(run.loss))
        acc_item.setData(steps, np.asarray(run.acc))
        if run.loo is not None:
            loo_item.setData([float(run.loo[0])], [run.loo[1]])

    def add_loo(self, step: int, accuracy: float) -> None:
        """The leave-one-out accuracy of the current run (computed after its last step)."""
        if self.runs:
            run = self.runs[-1]
            run.loo = (step, accuracy)
            run.items[2].setData([float(step)], [accuracy])

    def _style(self, run: _Run, faded: bool) -> None:
        alpha = 110 if faded else 255
        colour = (*run.colour, alpha)
        loss_item, acc_item, loo_item = run.items
        for item in (loss_item, acc_item):
            item.setPen(pg.mkPen(colour, width=1 if faded else 2))
            item.setSymbolBrush(pg.mkBrush(colour))
            item.setSymbolPen(None)
        loo_item.setSymbolBrush(pg.mkBrush(colour))
        loo_item.setSymbolPen(pg.mkPen((0, 0, 0, alpha)))


class ProbabilityBars(pg.PlotWidget):
    """One bar per class with its probability; the top guess is drawn in its class colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setTitle("class probabilities", size="9pt")
        self.setYRange(0, 1.18, padding=0)  # room above a full bar for its label
        self.getAxis("left").setTicks([[(v, f"{v:.1f}") for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]])
        self.setMouseEnabled(x=False, y=False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.addItem(self.bars)
        self.probabilities = np.zeros(0)
        self.top = -1
        self.top_label = pg.TextItem(anchor=(0.5, 1.0), color=(0, 0, 0))
        self.addItem(self.top_label)

    def set_probabilities(self, probabilities: np.ndarray, names: list[str]) -> None:
        p = np.asarray(probabilities, dtype=float)
        self.probabilities, self.top = p, int(p.argmax()) if len(p) else -1
        x = np.arange(len(p))
        brushes = [pg.mkBrush(*class_colour(i)) if i == self.top else pg.mkBrush(200, 200, 200) for i in x]
        pens = [pg.mkPen("k", width=2) if i == self.top else pg.mkPen(150, 150, 150) for i in x]
        self.bars.setOpts(x=x, height=p, width=0.7, brushes=brushes, pens=pens)
        self.getAxis("bottom").setTicks([[(i, names[i] if i < len(names) else str(i)) for i in x]])
        if self.top >= 0:
            self.top_label.setText(f"{names[self.top]}  {100 * p[self.top]:.0f}%")
            self.top_label.setPos(self.top, p[self.top] + 0.16)
        self.setXRange(-0.6, max(len(p) - 0.4, 1.4), padding=0)

    def clear_probabilities(self) -> None:
        self.probabilities, self.top = np.zeros(0), -1
        self.bars.setOpts(x=[], height=[])
        self.top_label.setText("")


class EmbeddingView(pg.PlotWidget):
    """Support examples (dots), class means (stars) and the query (black cross) in 2-D PCA."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setTitle("embedding: PCA of the model's features", size="9pt")
        self.setAspectLocked(False)
        self.support = pg.ScatterPlotItem(size=8, pen=pg.mkPen(None))
        self.prototypes = pg.ScatterPlotItem(size=20, symbol="star", pen=pg.mkPen("k", width=1))
        self.query = pg.ScatterPlotItem(size=18, symbol="x", brush=pg.mkBrush(0, 0, 0), pen=pg.mkPen("k", width=1))
        for item in (self.support, self.prototypes, self.query):
            self.addItem(item)
        self.getAxis("bottom").setLabel("PC 1")
        self.getAxis("left").setLabel("PC 2")
        self.view: dict[str, np.ndarray] = {}

    def set_view(self, view: dict[str, np.ndarray]) -> None:
        if self.view and view.get("support") is self.view.get("support"):  # a new query on the same support set
            self.view = view
            self.query.setData(pos=view["query"])
            return
        self.view = view
        labels = view["support_labels"]
        self.support.setData(pos=view["support"], brush=[pg.mkBrush(*class_colour(int(c)), 190) for c in labels])
        protos = view["prototypes"]
        self.prototypes.setData(pos=protos, brush=[pg.mkBrush(*class_colour(i)) for i in range(len(protos))])
        self.query.setData(pos=view["query"])
        ratio = view.get("explained")
        if ratio is not None and len(ratio) == 2:
            self.getAxis("bottom").setLabel(f"PC 1 ({100 * ratio[0]:.0f}% of variance)")
            self.getAxis("left").setLabel(f"PC 2 ({100 * ratio[1]:.0f}%)")

    def clear_view(self) -> None:
        self.view = {}
        for item in (self.support, self.prototypes, self.query):
            item.setData(pos=np.zeros((0, 2)))
