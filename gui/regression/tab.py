"""The Regression tab: meta-train on MAML's sine waves, then place points and watch curves adapt.

Meta-training uses the Meta-train tab's machinery: a :class:`gui.training_controller.TrainingController`
runs ``engine.api_regression.train`` (the shared trainer, MAML then optionally the
fine-tune baseline for the same time) on its thread, and :class:`gui.run_controls.RunControls`
starts, pauses and stops it. Adapting runs on background threads through
:class:`gui.regression.adapter.Adapter`. Every engine call goes through
``engine.api_regression``, imported on worker threads or once the engine is loaded.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.events import Finished, IterationMetrics, Started, ValidationMetrics

from ..background import run_in_background, wait_for_background
from ..run_controls import RunControls
from ..training_controller import TrainingController
from .adapter import Adapter, AdaptRequest, now
from .charts import LossPlot, StepChart
from .points_plot import PointsPlot

ALGORITHMS = {"maml": "MAML", "fomaml": "First-order MAML", "metasgd": "Meta-SGD", "anil": "ANIL", "reptile": "Reptile"}
ANIMATION_MS = 120  # Adapt reveals one step's curve this often
ERROR_STYLE = "color: #b00020;"


class RegressionTab(QWidget):
    """Meta-train a sine regressor, then fit it to points the person places, step by step."""

    curvesShown = Signal(object)  # the AdaptRequest whose curves were just drawn (tests, latency bench)
    modelsChanged = Signal()  # a trained model (or the baseline) became available

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        pg.setConfigOptions(background="w", foreground="k")  # as the Meta-train tab's plots (gui.metrics_plot)
        self.models: dict[str, Any] = {}  # "maml" / "baseline" -> engine.api_regression.RegressionModel
        self._kind_of_run: str = "maml"
        # Scratch checkpoints of this window's sine runs: made by the first run, removed when the tab shuts down
        # (each model is loaded into memory when its run finishes, and the tab has nothing to save them to).
        self._run_dir: Path | None = None
        self._true: tuple[np.ndarray, np.ndarray] | None = None
        self._task_text = ""  # the hidden wave New sine drew, named in the status line
        self._seed = 0
        self._shown_steps = 0
        self._last: tuple[AdaptRequest, list] | None = None

        self.algo = QComboBox()
        for key, text in ALGORITHMS.items():
            self.algo.addItem(text, key)
        self.algo.setToolTip("The meta-learner to train on sine waves (Finn et al. 2017, section 5.1)")
        self.shots = QSpinBox()
        self.shots.setRange(1, 50)
        self.shots.setValue(10)
        self.shots.setToolTip("K: points per task during meta-training, and points New sine draws")
        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(2, 3600)
        self.seconds.setDecimals(0)
        self.seconds.setValue(30)
        self.seconds.setSuffix(" s")
        self.seconds.setToolTip("Meta-training time; the baseline, if asked for, then trains for the same time")
        self.baseline = QCheckBox("Train baseline too")
        self.baseline.setChecked(True)
        self.baseline.setToolTip(
            "Also pre-train one network on all tasks jointly (no meta-learning) for the same "
            "time, and draw its fine-tuned curves beside the meta-learned ones"
        )
        settings = QHBoxLayout()
        for label, widget in (("Algorithm", self.algo), ("K points", self.shots), ("Meta-train for", self.seconds)):
            settings.addWidget(QLabel(label))
            settings.addWidget(widget)
        settings.addWidget(self.baseline)
        settings.addStretch(1)
        self.run_controls = RunControls()
        self.run_controls.set_can_start(True)
        self.controller = TrainingController(self)

        self.new_sine = QPushButton("&New sine")
        self.new_sine.setToolTip("Sample a hidden sine task and K points on it; its true curve is drawn dashed (Alt+N)")
        self.clear_button = QPushButton("C&lear points")
        self.clear_button.setToolTip("Remove every point and the true curve (Alt+L)")
        self.steps = QSpinBox()
        self.steps.setRange(1, 100)
        self.steps.setValue(10)
        self.steps.setToolTip("Gradient steps of adaptation (the paper meta-trains with 1 and shows 10)")
        self.adapt_button = QPushButton("&Adapt")
        self.adapt_button.setToolTip(
            "Fit the trained model(s) to the points, drawing the curve after each step (Alt+A)"
        )
        tools = QHBoxLayout()
        tools.addWidget(self.new_sine)
        tools.addWidget(self.clear_button)
        tools.addWidget(QLabel("Steps"))
        tools.addWidget(self.steps)
        tools.addWidget(self.adapt_button)
        tools.addStretch(1)
        self.status = QLabel("Press Start to meta-train, then click on the plot to place points (or press New sine).")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.points_plot = PointsPlot()
        self.loss_plot = LossPlot()
        self.step_chart = StepChart()
        charts = QSplitter(Qt.Orientation.Vertical)
        charts.addWidget(self.loss_plot)
        charts.addWidget(self.step_chart)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(tools)
        right_layout.addWidget(self.points_plot, 1)
        right_layout.addWidget(self.status)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(charts)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([420, 860])
        layout = QVBoxLayout(self)
        layout.addLayout(settings)
        layout.addWidget(self.run_controls)
        layout.addWidget(split, 1)

        self.adapter = Adapter(self)
        self._animation = QTimer(self)
        self._animation.setInterval(ANIMATION_MS)
        self._animation.timeout.connect(self._on_animation_tick)

        self.run_controls.startRequested.connect(self.start_training)
        self.run_controls.pauseToggled.connect(self.controller.toggle_pause)
        self.run_controls.stopRequested.connect(self.controller.stop)
        self.controller.stateChanged.connect(self.run_controls.set_state)
        self.controller.eventsArrived.connect(self._on_events)
        self.controller.runFinished.connect(self._on_run_finished)
        self.controller.runFailed.connect(self._on_run_failed)
        self.new_sine.clicked.connect(self.sample_sine)
        self.clear_button.clicked.connect(self.clear_points)
        self.adapt_button.clicked.connect(lambda: self.adapt(animate=True))
        self.points_plot.pointsChanged.connect(lambda: self.adapt(animate=False))
        self.steps.valueChanged.connect(lambda _v: self.adapt(animate=False))
        self.adapter.adapted.connect(self._on_adapted)
        self.adapter.failed.connect(lambda message: self.show_status(message, error=True))

    # -- meta-training -----------------------------------------------------------
    def start_training(self) -> None:
        """Meta-train the chosen algorithm (then the baseline) on sine tasks for the chosen time."""
        if self.controller.is_active:
            return
        algo, shots, seconds, baseline = (
            self.algo.currentData(),
            self.shots.value(),
            self.seconds.value(),
            self.baseline.isChecked(),
        )
        if self._run_dir is None:
            self._run_dir = Path(tempfile.mkdtemp(prefix="meta-playground-sine-"))
        folder = str(self._run_dir / f"run-{self.controller.generation + 1}")
        Path(folder).mkdir(parents=True, exist_ok=True)

        def work(control: Any):
            from engine import api_regression

            return api_regression.train(algo, shots, seconds, folder, baseline, control)

        self.loss_plot.clear_runs()
        self.run_controls.begin(1, seconds)
        self.controller.start(None, work=work)
        self.show_status(
            f"Meta-training {ALGORITHMS[algo]} on sine waves with K={shots} for {seconds:.0f} s"
            + (", then the baseline for as long" if baseline else "")
            + "…"
        )

    def _on_events(self, _generation: int, events: list) -> None:
        for event in events:
            if isinstance(event, Started):
                algo = event.config["algo"]
                self._kind_of_run = "baseline" if algo == "finetune" else "maml"
                label = "baseline (pre-trained)" if algo == "finetune" else ALGORITHMS.get(algo, algo)
                self.loss_plot.begin(self._kind_of_run, label)
                self.run_controls.begin(event.config["iterations"], event.config["time_budget"])
            elif isinstance(event, IterationMetrics):
                self.loss_plot.add(self._kind_of_run, event.iteration, event.loss)
                self.run_controls.update_progress(event.iteration, event.total, event.elapsed)
            elif isinstance(event, ValidationMetrics):
                self.loss_plot.add_validation(self._kind_of_run, event.iteration, event.accuracy)
            elif isinstance(event, Finished):
                self._on_one_run_finished(self._kind_of_run, event)

    def _on_one_run_finished(self, kind: str, finished: Any) -> None:
        if finished.reason in ("diverged", "out of memory"):
            self.show_status(finished.message, error=True)
        if not finished.checkpoint or finished.iterations == 0 or not Path(finished.checkpoint).is_file():
            return
        label = "baseline" if kind == "baseline" else ALGORITHMS.get(Path(finished.checkpoint).stem, "model")

        def load(path: str = finished.checkpoint, text: str = label):
            from engine import api_regression

            return api_regression.load_model(path, text)

        run_in_background(
            load,
            on_done=lambda model, k=kind: self.set_model(k, model),
            on_error=lambda message, _d: self.show_status(message, error=True),
        )

    def _on_run_finished(self, _generation: int, finished: Any) -> None:
        self.run_controls.end(finished.message if finished is not None else "failed")

    def _on_run_failed(self, _generation: int, message: str, _details: str) -> None:
        self.show_status(message, error=True)

    def set_model(self, kind: str, model: Any) -> None:
        """Use ``model`` (an engine.api_regression.RegressionModel) as the "maml" or "baseline" fit."""
        self.models[kind] = model
        self.modelsChanged.emit()
        self.adapt(animate=True)

    # -- points and adaptation -------------------------------------------------------
    def sample_sine(self) -> None:
        """Draw a hidden sine task and its K points (New sine)."""
        self._seed += 1
        shots, seed = self.shots.value(), self._seed

        def sample():
            from engine import api_regression

            return api_regression.sample_sine(shots, seed)

        run_in_background(
            sample, on_done=self._on_sine, on_error=lambda message, _d: self.show_status(message, error=True)
        )

    def _on_sine(self, sample: Any) -> None:
        self._true = (sample.grid_x, sample.grid_y)
        self.points_plot.set_true_curve(sample.grid_x, sample.grid_y)
        self.points_plot.set_points(sample.x, sample.y, emit=False)
        self._task_text = f"Hidden wave (dashed): amplitude {sample.amplitude:.2f}, phase {sample.phase:.2f}. "
        self.show_status(self._task_text + f"{len(sample.x)} points on it.")
        self.adapt(animate=True)

    def clear_points(self) -> None:
        self._true, self._task_text = None, ""
        self.points_plot.set_true_curve(None, None)
        self.points_plot.set_points(np.empty(0), np.empty(0))

    def adapt(self, animate: bool = True) -> None:
        """Fit every trained model to the current points (the prior alone when there are none)."""
        if not self.models:
            x, _ = self.points_plot.points()
            if len(x):
                self.show_status("No model yet: press Start to meta-train one (about half a minute).")
            return
        x, y = self.points_plot.points()
        true_y = self._true[1] if self._true is not None else None
        models = tuple((k, self.models[k]) for k in ("maml", "baseline") if k in self.models)
        steps = self.steps.value() if len(x) else 0
        self.adapter.request(AdaptRequest(models, x, y, steps, true_y, animate, now()))

    def _on_adapted(self, request: AdaptRequest, result: list) -> None:
        self._last = (request, result)
        self._animation.stop()
        if request.animate and request.steps > 0:
            self._shown_steps = 1
            self._animation.start()
        else:
            self._shown_steps = request.steps + 1
        self._draw()
        self.curvesShown.emit(request)

    def _on_animation_tick(self) -> None:
        request, _ = self._last
        self._shown_steps += 1
        if self._shown_steps >= request.steps + 1:
            self._animation.stop()
        self._draw()

    @property
    def animating(self) -> bool:
        return self._animation.isActive()

    def _draw(self) -> None:
        request, result = self._last
        kinds = {kind for kind, _ in result}
        for kind in ("maml", "baseline"):
            if kind not in kinds:
                self.points_plot.clear_curves(kind)
                self.step_chart.clear_kind(kind)
        parts = []
        for kind, fit in result:
            self.points_plot.set_curves(kind, fit.label, fit.grid_x, fit.curves, self._shown_steps)
            self.step_chart.show_adaptation(kind, fit.label, fit.support_mse, fit.true_mse, self._shown_steps)
            if request.steps and len(request.x):
                s = min(self._shown_steps, len(fit.support_mse)) - 1
                true = f", {fit.true_mse[s]:.3f} against the true curve" if fit.true_mse is not None else ""
                parts.append(f"{fit.label} after {s} step(s): MSE {fit.support_mse[s]:.3f} on the points{true}")
        if parts:
            self.show_status(
                self._task_text + "; ".join(parts) + f" ({1000 * sum(f.seconds for _, f in result):.0f} ms)"
            )
        elif not len(request.x):
            self.show_status("The meta-learned prior (no points yet): click on the plot to place points.")

    def show_status(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(ERROR_STYLE if error else "")
        self.status.setText(text)

    # -- closing ---------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop training, wait for every worker (the window is closing) and remove the runs' scratch folder."""
        self._animation.stop()
        self.controller.shutdown()
        wait_for_background()
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
