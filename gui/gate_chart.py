"""The mixture of experts' gate as a small bar chart.

Two uses: the gate over many evaluation tasks (compare mode: mean weight per
expert and how often each expert weighs most, which says whether the experts
specialise), and the gate of one task (a workspace's current support set).

For one task, the weights come with the adaptation (``engine.api.AdaptResult.gate``,
``None`` for algorithms without a gate); pass that numpy array to
:meth:`GateChart.show_task` on the GUI thread.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

MEAN_COLOR = (31, 119, 180)
TOP_COLOR = (255, 127, 14)


class GateChart(QWidget):
    """Bars per expert: the gate's weights (one task) or mean weight and top share (many tasks)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(150)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setLabel("bottom", "expert")
        self.plot.showGrid(y=True, alpha=0.2)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.caption)
        self._bars: list[pg.BarGraphItem] = []
        self.values: dict[str, np.ndarray] = {}  # what is drawn, by series name (for tests and tools)

    def _reset(self, experts: int) -> None:
        for bar in self._bars:
            self.plot.removeItem(bar)
        self._bars, self.values = [], {}
        axis = self.plot.getAxis("bottom")
        axis.setTicks([[(i, str(i + 1)) for i in range(experts)]])
        self.plot.setXRange(-0.6, experts - 0.4, padding=0)

    def _add_bars(
        self, name: str, values: np.ndarray, offset: float, width: float, color: tuple[int, int, int]
    ) -> None:
        x = np.arange(len(values)) + offset
        bar = pg.BarGraphItem(x=x, height=values, width=width, brush=pg.mkBrush(*color), pen=pg.mkPen(None))
        self.plot.addItem(bar)
        self._bars.append(bar)
        self.values[name] = values

    def show_summary(
        self,
        mean_gate: Sequence[float],
        top_share: Sequence[float],
        tasks: int,
        mean_entropy: float,
        max_entropy: float,
    ) -> None:
        """Gate over ``tasks`` evaluation tasks: mean weight and top share per expert."""
        mean_gate, top_share = np.asarray(mean_gate, float), np.asarray(top_share, float)
        self._reset(len(mean_gate))
        self._add_bars("mean weight", mean_gate, -0.2, 0.38, MEAN_COLOR)
        self._add_bars("share of tasks where it weighs most", top_share, 0.2, 0.38, TOP_COLOR)
        self.plot.setTitle(f"moe: its gate over {tasks} test tasks")
        specialised = 1.0 - mean_entropy / max_entropy if max_entropy > 0 else 0.0
        blue, orange = (f"<span style='color: rgb{c}'>■</span>" for c in (MEAN_COLOR, TOP_COLOR))
        self.caption.setText(
            f"The mixture of experts' gate reads each task's support set and weighs {len(mean_gate)} experts. "
            f"{blue} mean weight per expert, {orange} share of tasks where it weighs most. "
            f"Mean entropy {mean_entropy:.2f} of at most {max_entropy:.2f} nats: "
            f"{100 * specialised:.0f}% of the way from an even split to one expert per task."
        )

    def show_task(self, weights: np.ndarray) -> None:
        """The gate's weights for one task (e.g. from :func:`task_gate`)."""
        weights = np.asarray(weights, float)
        self._reset(len(weights))
        self._add_bars("gate weight", weights, 0.0, 0.6, MEAN_COLOR)
        self.plot.setTitle("The gate for this task")
        top = int(np.argmax(weights)) + 1 if len(weights) else 0
        self.caption.setText(
            f"Expert {top} weighs most ({100 * weights.max():.0f}%) for these support examples." if top else ""
        )
