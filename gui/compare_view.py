"""The Compare tab: meta-train several algorithms on the same data and score them on the same test tasks.

Settings other than the algorithm come from the Meta-train tab (its Data and
Algorithm panels, read through the window's :class:`gui.app_state.AppState`):
same data, seed, task shape, iterations and time budget, so the differences
are the algorithms'. The run itself is :func:`engine.api.compare_work`
(``engine.compare.compare``), driven on the Meta-train tab's kind of worker
(:class:`gui.training_controller.TrainingController` with ``work=``); this
view only folds its events (:class:`gui.compare_controller.CompareState`)
into overlaid curves, a results table and, for the mixture of experts, the
gate chart.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import api
from engine.config import SOURCE_LABELS, TrainConfig
from engine.events import Finished

from . import dialogs
from .app_state import AppState
from .compare_controller import CompareState
from .compare_insight import CompareInsightPanel
from .gate_chart import GateChart
from .metrics_plot import LEGEND_BRUSH, style_metric_plots
from .training_controller import TrainingController

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (23, 190, 207), (188, 189, 34), (127, 127, 127)]
COLUMNS = ("Algorithm", "Test accuracy ± 95% CI", "Training time", "Tasks/s", "Iterations", "Ended")
DEFAULT_CHECKED = ("protonet", "maml", "moe")
REDRAW_INTERVAL_MS = 100
ERROR_STYLE = "color: #b00020;"


def swatch(color: tuple[int, int, int]) -> QIcon:
    """A small square of an algorithm's curve colour."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(*color))
    return QIcon(pixmap)


class CompareView(QWidget):
    """Checkable algorithm list, Start/Stop, overlaid curves, results table, gate chart, Export CSV."""

    def __init__(self, app: AppState, parent: QWidget | None = None) -> None:
        """``app``: the window's shared state (the Meta-train tab's engine, data, settings and run)."""
        super().__init__(parent)
        self.app = app
        self.state: CompareState | None = None
        self.controller = TrainingController(self)
        self.curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem, pg.PlotDataItem]] = {}
        self.colors: dict[str, tuple[int, int, int]] = {}
        self._dirty = False

        self.algo_list = QListWidget()
        self.algo_list.setToolTip("Tick two or more algorithms; hover one to read what it does differently")
        self.algo_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.note = QLabel("The algorithms appear once the engine has loaded.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(dark);")
        self.test_episodes = QSpinBox()
        self.test_episodes.setRange(1, 5000)
        self.test_episodes.setValue(100)
        self.test_episodes.setSingleStep(50)
        self.test_episodes.setToolTip("Every algorithm is scored on these same test tasks (held-out classes); "
                                      "more tasks give a tighter 95% CI but take longer")
        self.shared = QLabel("")
        self.shared.setWordWrap(True)
        self.start_button = QPushButton("Start comparison")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip(
            "End the comparison after the current task; algorithms already scored stay in the table"
        )
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<b>Algorithms to compare</b>"))
        left_layout.addWidget(self.algo_list, 2)
        left_layout.addWidget(self.note)
        episodes_row = QHBoxLayout()
        episodes_row.addWidget(QLabel("Test tasks (shared)"))
        episodes_row.addWidget(self.test_episodes)
        left_layout.addLayout(episodes_row)
        left_layout.addWidget(QLabel("<b>Shared settings</b> (from the Meta-train tab)"))
        left_layout.addWidget(self.shared)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.stop_button)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.message)
        left_layout.addStretch(1)
        left.setMinimumWidth(300)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.loss_plot = self.graphics.addPlot(row=0, col=0, title="Meta-training loss (smoothed)")
        self.acc_plot = self.graphics.addPlot(row=0, col=1, title="Accuracy: validation (dots), training (dashed)")
        style_metric_plots(self.loss_plot, self.acc_plot)
        self.acc_plot.setYRange(0, 100, padding=0.02)
        self.acc_plot.enableAutoRange(axis="y", enable=False)
        self.legend = self.loss_plot.addLegend(offset=(-10, 10), brush=LEGEND_BRUSH)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table_caption = QLabel("Results appear here as each algorithm is scored.")
        self.table_caption.setWordWrap(True)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.export_button.setToolTip("Save the results table (one row per algorithm) as a CSV file")
        self.gate_chart = GateChart()
        self.gate_chart.setVisible(False)

        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        caption_row = QHBoxLayout()
        caption_row.addWidget(self.table_caption, 1)
        caption_row.addWidget(self.export_button)
        table_layout.addLayout(caption_row)
        table_layout.addWidget(self.table, 1)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(table_box)
        bottom.addWidget(self.gate_chart)
        self.insight = CompareInsightPanel()  # per-class accuracy and confusions, per algorithm
        bottom.addWidget(self.insight)
        bottom.setSizes([600, 360, 520])
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.graphics)
        right.addWidget(bottom)
        right.setSizes([430, 300])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 960])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.controller.stop)
        self.export_button.clicked.connect(lambda: self.export_csv())
        self.algo_list.currentItemChanged.connect(self._on_current_algo)
        self.controller.stateChanged.connect(self._on_state_changed)
        self.controller.eventsArrived.connect(self._on_events)
        self.controller.runFinished.connect(self._on_run_finished)
        self.controller.runFailed.connect(
            lambda _g, message, _d: self.show_message(f"The comparison failed: {message}", error=True)
        )
        app.engineReady.connect(self._on_engine_ready)
        if app.engine is not None:  # built after the engine loaded (the window builds this tab when first shown)
            self._on_engine_ready(app.engine)
        app.settingsChanged.connect(self.refresh_shared)
        app.poolChanged.connect(lambda _pool: self.refresh_shared())
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_redraw)
        self._timer.start()

    # -- setup -----------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Coming into view (its tab was chosen): the Meta-train tab's settings may have changed meanwhile."""
        super().showEvent(event)
        self.refresh_shared()

    def _on_engine_ready(self, engine: api.EngineInfo) -> None:
        for index, info in enumerate(a for a in engine.algorithms if a.available):
            self.colors[info.name] = PALETTE[index % len(PALETTE)]
            item = QListWidgetItem(info.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if info.name in DEFAULT_CHECKED else Qt.CheckState.Unchecked)
            item.setToolTip(f"{info.summary}\n\n{info.paper}".strip())
            item.setData(Qt.ItemDataRole.UserRole, info)
            item.setIcon(swatch(self.colors[info.name]))
            self.algo_list.addItem(item)
        self.algo_list.setCurrentRow(0)
        self.refresh_shared()

    def _on_current_algo(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        info = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if info is not None:
            self.note.setText(f"<b>{info.name}</b>: {info.summary}<br><i>{info.paper}</i>")

    # -- queries -----------------------------------------------------------------
    def checked_algorithms(self) -> list[str]:
        items = (self.algo_list.item(i) for i in range(self.algo_list.count()))
        return [it.text() for it in items if it.checkState() == Qt.CheckState.Checked]

    def set_checked(self, names: list[str]) -> None:
        for i in range(self.algo_list.count()):
            item = self.algo_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)

    def _configs(self) -> list[TrainConfig]:
        """One TrainConfig per ticked algorithm, or a DataError saying why it cannot start."""
        app = self.app
        if not app.ready:
            raise api.DataError("the engine is still loading")
        if app.training_active:
            raise api.DataError(
                "a meta-training run is active in the Meta-train tab; stop it first "
                "(two runs would share the CPU and distort the timings)"
            )
        if app.pool is None:
            raise api.DataError("the data is not loaded yet (see the Meta-train tab's Data panel)")
        algos = self.checked_algorithms()
        if len(algos) < 2:
            raise api.DataError("tick two or more algorithms to compare")
        configs = api.compare_configs(app.current_config(), algos)
        api.check_compare(app.pool, configs[0])
        return configs

    def refresh_shared(self) -> None:
        """Describe the settings every algorithm will share (they are edited in the Meta-train tab)."""
        if not self.app.ready:
            return
        c = self.app.current_config()
        budget = f"{c.iterations:,} meta-iterations" + (
            f" or {c.time_budget:.0f} s, whichever comes first" if c.time_budget else ""
        )
        val = (
            f"validation every {c.val_every} it. on {c.val_episodes} tasks"
            if c.val_every
            else "no validation curve (Validation every 0)"
        )
        self.shared.setText(
            f"Data: {SOURCE_LABELS.get(c.dataset, c.dataset)}<br>"
            f"Tasks: {c.ways}-way {c.shots}-shot, {c.queries} queries per class, meta-batch {c.meta_batch}<br>"
            f"Each algorithm trains for {budget}<br>{val}<br>"
            f"Seed {c.seed}; inner steps {c.inner_steps}, inner LR {c.inner_lr:g}, outer LR {c.outer_lr:g}"
        )
        if not self.controller.is_active:
            self.start_button.setEnabled(True)

    # -- the run -------------------------------------------------------------------
    def start(self) -> None:
        """Start comparing the ticked algorithms (refused, with the reason shown, when it cannot)."""
        if self.controller.is_active:
            return
        try:
            configs = self._configs()
        except api.DataError as exc:
            self.show_message(f"Cannot start: {str(exc).replace('--', '')}", error=True)
            return
        self.state = CompareState([c.algo for c in configs])
        self._clear_results()
        pool = self.app.pool
        episodes = self.test_episodes.value()
        self.show_message(f"Comparing {', '.join(self.state.algos)} one after the other…")
        self.controller.start(configs[0], pool, work=api.compare_work(configs, episodes, pool))

    def stop(self) -> None:
        self.controller.stop()

    def shutdown(self) -> None:
        """Stop any comparison and wait for its thread (window closing)."""
        self._timer.stop()
        self.controller.shutdown()

    def _clear_results(self) -> None:
        for items in self.curves.values():
            for item in items:
                (self.loss_plot if item is items[0] else self.acc_plot).removeItem(item)
        self.legend.clear()
        self.curves.clear()
        self.table.setRowCount(0)
        self.export_button.setEnabled(False)
        self.gate_chart.setVisible(False)
        self.insight.clear()
        self.table_caption.setText("Results appear here as each algorithm is scored.")

    def _on_state_changed(self, state: str) -> None:
        active = state != "idle"
        self.start_button.setEnabled(not active)
        self.stop_button.setEnabled(state in ("running", "paused"))
        self.algo_list.setEnabled(not active)
        self.test_episodes.setEnabled(not active)
        if state == "stopping":
            self.show_message("Stopping after the current task…")

    def _on_events(self, _generation: int, events: list) -> None:
        state = self.state
        for item in events:
            kind = state.add(item)
            if kind == "curve":
                self._dirty = True
            elif kind == "started":
                self._ensure_curves(item.algo)
            elif kind == "row":
                self._fill_row(item.algo)
            elif kind == "gate":
                g = item
                self.gate_chart.show_summary(g.mean_gate, g.top_share, g.tasks, g.mean_entropy, g.max_entropy)
                self.gate_chart.setVisible(True)
            elif kind == "confusion":
                self.insight.add(item.algo, item.confusion)
        if state.current is not None and state.current in state.per_algo:
            p = state.per_algo[state.current]
            n = state.algos.index(state.current) + 1
            step = (
                "scoring on the test tasks"
                if p.finished is not None
                else f"iteration {p.metrics.train.size:,} of {p.total:,}"
            )
            self.show_message(f"Training {state.current} ({n} of {len(state.algos)}): {step}…")

    def _on_run_finished(self, _generation: int, _finished: Finished | None) -> None:
        self._on_redraw(force=True)
        results = self.state.results if self.state is not None else None
        if results is None:
            return  # the failure is already shown
        if results.rows:
            best = max(range(len(results.rows)), key=lambda i: results.rows[i].accuracy)
            for col in range(self.table.columnCount()):
                item = self.table.item(self._row_of(results.rows[best].algo), col)
                if item is not None:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
        c = self.app.current_config() if self.app.ready else None
        chance = f" Chance is {100 / c.ways:.0f}%." if c is not None else ""
        done = "" if results.complete else " Stopped early: only the algorithms scored before the stop are listed."
        self.table_caption.setText(
            f"All algorithms were scored on the same {results.episodes} test tasks of held-out classes.{chance}{done}"
        )
        self.export_button.setEnabled(bool(results.rows))
        self.show_message(
            f"Comparison {'finished' if results.complete else 'stopped'}: {len(results.rows)} algorithm(s) scored."
        )

    # -- drawing ---------------------------------------------------------------------
    def _ensure_curves(self, algo: str) -> None:
        if algo in self.curves:
            return
        color = self.colors.get(algo, PALETTE[len(self.curves) % len(PALETTE)])
        loss = self.loss_plot.plot(pen=pg.mkPen(color, width=2), name=algo)
        train = self.acc_plot.plot(pen=pg.mkPen((*color, 140), width=1, style=Qt.PenStyle.DashLine))
        val = self.acc_plot.plot(pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6, symbolBrush=color)
        for curve in (loss, train):
            curve.setSkipFiniteCheck(True)
        self.curves[algo] = (loss, train, val)

    def _on_redraw(self, force: bool = False) -> None:
        if not (self._dirty or force) or self.state is None:
            return
        self._dirty = False
        for algo, progress in self.state.per_algo.items():
            self._ensure_curves(algo)
            loss, train, val = self.curves[algo]
            m = progress.metrics
            x = m.train.column(0)
            loss.setData(x, m.train.column(2))
            train.setData(x, m.train.column(4))
            val.setData(m.val.column(0), m.val.column(1))

    def _row_of(self, algo: str) -> int:
        return list(self.state.per_algo).index(algo)

    def _fill_row(self, algo: str) -> None:
        row = self._row_of(algo)
        if self.table.rowCount() <= row:
            self.table.setRowCount(row + 1)
        p = self.state.per_algo[algo]
        f, e = p.finished, p.evaluated
        accuracy = (
            f"{100 * e.accuracy:.1f}% ± {100 * e.ci95:.1f}"
            if e is not None
            else "scoring…"
            if f is not None
            else "training…"
        )
        cells = (
            algo,
            accuracy,
            f"{f.seconds:.1f} s" if f is not None else "",
            f"{f.tasks_per_second:.1f}" if f is not None else "",
            f"{f.iterations:,}" if f is not None else "",
            f.reason if f is not None else "",
        )
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if col == 0:
                item.setIcon(swatch(self.colors.get(algo, (0, 0, 0))))
                info = next(
                    (a for a in (self.app.engine.algorithms if self.app.engine else []) if a.name == algo), None
                )
                item.setToolTip(f"{info.summary}\n\n{info.paper}".strip() if info is not None else algo)
            elif col < 5:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, col, item)

    # -- output ------------------------------------------------------------------------
    def export_csv(self, path: str | None = None) -> str | None:
        """Write the results table as CSV (asks for a file when ``path`` is None); returns the path."""
        results = self.state.results if self.state is not None else None
        if results is None or not results.rows:
            return None
        if path is None:
            path = dialogs.save_file(self, "Export the results table", "compare.csv", "CSV files (*.csv)")
            if not path:
                return None
        try:
            api.write_compare_csv(results, path)
        except OSError as exc:
            self.show_message(f"Could not save {path}: {exc.strerror or exc}", error=True)
            return None
        self.show_message(f"Saved {len(results.rows)} rows to {path}")
        return path

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet(ERROR_STYLE if error else "")
        self.message.setText(text)
