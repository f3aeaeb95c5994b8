"""The main window: tabs, the Meta-train tab's layout, menus, and the wiring between parts.

It opens before torch is imported: ``start_loading()`` (called right after
``show()``) builds the plots and imports the engine on a worker thread; the
Data and Algorithm panels appear when the engine is ready (``engineReady``).
It reaches the engine only through :mod:`engine.api` (plus the torch-free
``engine.events`` and ``engine.config``) and shares what the other views need
through one :class:`gui.app_state.AppState`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget

from engine import api
from engine.config import SOURCE_LABELS, TrainConfig
from engine.events import Finished, IterationMetrics, Started, ValidationMetrics

from .app_state import AppState
from .background import run_in_background, shut_down, wait_for_background
from .data_browser import DataBrowser, install_data_browser
from .data_panel import SOURCE_HELP, DataPanel
from .file_actions import FileActions
from .run_controls import RunControls
from .runs import RunList, RunRecord, prune_run_files, runs_folder
from .settings import open_settings, read_json, settings_problem, write_json
from .training_controller import TrainingController

if TYPE_CHECKING:  # imported when first needed (after show()): pyqtgraph and the tabs cost launch time
    from .algorithm_panel import AlgorithmPanel
    from .compare_view import CompareView
    from .data_controller import DataController
    from .metrics_plot import MetricsPlot
    from .regression import RegressionTab
    from .workspace import NewClassesWorkspace

ERROR_STYLE = "color: #b00020;"
LOADING_ENGINE = "the engine is still loading"
LOADING_DATA = "the data is still loading"
TAB_TITLES = ("Meta-train", "New classes", "Compare", "Regression")  # View menu order, Ctrl+1..4
QUICK_TRAIN_SECONDS = 60.0  # the New classes tab's "quick meta-training" on the built-in glyphs
#: why a curve looks as it does, said under the plots (the loss of a classifier over all training classes
#: rises at first: each new class seen adds a term the head has not learnt yet)
_CLASSIFIER_NOTE = ("Its loss is over every training class seen so far, so it rises at first while new classes "
                    "keep arriving, then falls")
LOSS_NOTES = {"simpleshot": _CLASSIFIER_NOTE, "protohead": _CLASSIFIER_NOTE, "finetune": _CLASSIFIER_NOTE}


class MainWindow(QMainWindow):
    """Meta Playground's window; ``add_workspace_tab`` adds further workspaces as tabs."""

    engineReady = Signal()  # panels built, settings restored
    modelChanged = Signal(str)  # path of the checkpoint of the current model (trained or opened)

    def __init__(self, settings: QSettings | None = None, pool: object = None, parent: QWidget | None = None) -> None:
        """``settings``: a QSettings (default: :func:`gui.settings.open_settings`); ``pool``: an api.Pool (or an
        engine ClassPool) used instead of the built-in glyphs."""
        super().__init__(parent)
        self.settings = settings if settings is not None else open_settings()
        self.injected_pool = pool
        self.state = AppState(self)  # what the other views share (engine, pool, settings, run, model)
        self.state.modelChanged.connect(self.modelChanged)
        self.data: DataController | None = None  # once the engine is loaded
        self.data_panel: DataPanel | None = None
        self.algorithm_panel: AlgorithmPanel | None = None
        self.plot: MetricsPlot | None = None
        # every run's model is kept (gui/runs.py): in a folder that outlives the window, newest 30 runs
        self._run_dir = runs_folder(self.settings)
        prune_run_files(self._run_dir)
        self._run_stamp = time.strftime("%Y%m%d-%H%M%S")
        self.runs = RunList(self)
        self._last_state = "idle"
        self._phase = "train"  # the IterationMetrics phase last shown ("finish": the episodic finish, engine.finish)
        self._data_error: str | None = None  # why the current source failed to load (until it is changed)
        self._run_labels: dict[int, str] = {}  # run number -> its label
        self._run_shapes: dict[int, str] = {}  # run number -> the task shape its validation scores
        self._episode_index = 0
        self._closed = False
        self._start_when_ready = False  # Start was pressed while the engine or data was loading
        self._compare_view: CompareView | None = None  # the Compare tab's content, built when first needed
        self.workspace: NewClassesWorkspace | None = None  # the New classes tab (gui/workspace), built in start_loading
        self.regression_tab: RegressionTab | None = None  # the Regression tab's content, built when first shown
        self._compare_page: QWidget | None = None  # the two tabs' pages, added by start_loading
        self._regression_page: QWidget | None = None
        self._page_builders: dict[QWidget, Callable[[], QWidget]] = {}  # pages whose content is not built yet

        self.setWindowTitle("Meta Playground")
        self.resize(1280, 800)
        self.setMinimumSize(900, 600)
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)

        self.train_tab = QWidget()
        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.left_splitter = QSplitter(Qt.Orientation.Vertical)
        self.left_placeholder = QLabel("Loading PyTorch and the built-in data…")
        self.left_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.left_splitter.addWidget(self.left_placeholder)
        self.invalid_label = QLabel("")
        self.invalid_label.setWordWrap(True)
        self.invalid_label.setStyleSheet(ERROR_STYLE)
        self.invalid_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.left_splitter, 1)
        left_layout.addWidget(self.invalid_label)
        left.setMinimumWidth(330)

        self.run_controls = RunControls()
        self.plot_placeholder = QLabel("")
        right = QWidget()
        self.right_layout = QVBoxLayout(right)
        self.right_layout.addWidget(self.run_controls)
        self.right_layout.addWidget(self.plot_placeholder, 1)
        self.main_splitter.addWidget(left)
        self.main_splitter.addWidget(right)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setSizes([420, 860])
        tab_layout = QVBoxLayout(self.train_tab)
        tab_layout.addWidget(self.main_splitter)
        self.tabs.addTab(self.train_tab, "Meta-train")

        self.controller = TrainingController(self)
        self.controller.stateChanged.connect(lambda _state: self.state.set_training_active(self.controller.is_active))
        self.controller.stateChanged.connect(self._on_state_changed)
        self.controller.eventsArrived.connect(self._on_events)
        self.controller.runFinished.connect(self._on_run_finished)
        self.controller.runFailed.connect(self._on_run_failed)
        self.run_controls.startRequested.connect(self.start_run)
        self.run_controls.pauseToggled.connect(self.controller.toggle_pause)
        self.run_controls.stopRequested.connect(self.controller.stop)
        self.files = FileActions(self.state, lambda: self.plot, self)
        self.files.status.connect(lambda text: self.statusBar().showMessage(text))
        self.files.error.connect(self.show_error)
        self.files.opened.connect(self._on_model_opened)
        self._build_menus()
        self.browse_action = install_data_browser(self, self.state)  # Data > Browse data…
        self.statusBar().showMessage("Loading PyTorch…")
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        self._sync_actions()

    # -- public ----------------------------------------------------------------
    @property
    def engine(self) -> api.EngineInfo | None:
        """What the engine offers, once loaded."""
        return self.state.engine

    @property
    def checkpoint(self) -> str | None:
        """The current model's checkpoint file (trained here or opened)."""
        return self.state.checkpoint

    @property
    def data_browser(self) -> DataBrowser | None:
        """The data browser, once opened (Data > Browse data…)."""
        return self.findChild(DataBrowser)

    def add_workspace_tab(self, widget: QWidget, title: str) -> int:
        """Add a workspace (e.g. the "New classes" tab) right after Meta-train; returns its index."""
        return self.tabs.insertTab(1, widget, title)

    def start_loading(self) -> None:
        """Build the plots and import the engine in the background (call after ``show()``)."""
        from .metrics_plot import MetricsPlot
        from .workspace import NewClassesWorkspace

        self.plot = MetricsPlot()
        self.right_layout.replaceWidget(self.plot_placeholder, self.plot)
        self.plot_placeholder.deleteLater()
        # the Compare and Regression tabs are built when first shown: nothing on them is needed to open the
        # window (about 0.1 s and 60 ms of its start)
        self._compare_page = self._add_lazy_tab("Compare", self._build_compare)
        self._regression_page = self._add_lazy_tab("Regression", self._build_regression)
        self.tabs.currentChanged.connect(lambda index: self._build_page(self.tabs.widget(index)))
        self.workspace = NewClassesWorkspace()
        self.workspace.quickTrainRequested.connect(self.quick_train)
        self.modelChanged.connect(self.workspace.load_checkpoint)
        self.modelChanged.connect(lambda _path: self._on_runs_changed())
        self.runs.changed.connect(self._on_runs_changed)
        self.workspace.modelChosen.connect(self._on_model_chosen)
        self.add_workspace_tab(self.workspace, "New classes")
        sample = Path(__file__).resolve().parents[1] / "resources" / "sample_classes"
        if sample.is_dir():  # a new user can press Adapt as soon as there is a model
            self.workspace.load_folder(str(sample))
        run_in_background(api.load_engine, on_done=self._on_engine_loaded, on_error=self._on_engine_failed, owner=self)

    def quick_train(self) -> None:
        """The workspace's way out when there is no model: the quick recipe (SimpleShot) on the built-in glyphs
        for a minute.

        The person watches it learn on the Meta-train tab; when it finishes the
        New classes tab receives the model (``modelChanged``).
        """
        self.data_panel.set_source("synthetic")
        self.algorithm_panel.set_values(
            {**self.engine.quick_recipe, "iterations": 100_000, "time_budget": QUICK_TRAIN_SECONDS}
        )
        self.tabs.setCurrentIndex(0)
        self.start_run()

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def current_config(self) -> TrainConfig:
        """The TrainConfig the panels describe (not validated)."""
        values = {**self.engine.defaults, **self.algorithm_panel.values()}
        values.update(dataset=self.data_panel.source(), data_root=self.data_panel.folder() or None)
        return TrainConfig.from_dict(values)

    def start_run(self) -> None:
        """Start meta-training with the current settings (Start / Ctrl+R)."""
        if not self.run_controls.start_button.isEnabled():
            if self._invalid_reason() in (LOADING_ENGINE, LOADING_DATA) and not self.controller.is_active:
                self._start_when_ready = True
                self.statusBar().showMessage("The run will start as soon as the data is loaded…")
            return
        self._start_when_ready = False
        number = self.controller.generation + 1
        config = self.current_config().replace(checkpoint=str(self._run_dir / f"run-{self._run_stamp}-{number}.pt"))
        source = SOURCE_LABELS.get(config.dataset, config.dataset)
        label = f"#{number} {config.algo} {config.ways}-way {config.shots}-shot, {source}"
        self._run_labels[number] = label
        self._run_shapes[number] = f"{config.ways}-way {config.shots}-shot"
        self.plot.begin_run(label, self._run_shapes[number], LOSS_NOTES.get(config.algo, ""))
        self.plot.set_run_active(True)
        self.run_controls.begin(config.iterations, config.time_budget)
        self.run_controls.show_message("")
        self.controller.start(config, self.data.pool)
        self.statusBar().showMessage(f"Run {label} started")

    # -- engine and data -------------------------------------------------------
    def _on_engine_loaded(self, info: api.EngineInfo) -> None:
        if self._closed:
            return
        from .algorithm_panel import AlgorithmPanel
        from .data_controller import DataController
        from .gui_thread_gc import settle_after_startup

        settle_after_startup()  # torch is imported: freeze what start-up made (see gui.gui_thread_gc)
        self.state.engine = info
        self.data = DataController(self.injected_pool, self)
        self.data.poolChanged.connect(
            lambda pool: self.state.set_pool(pool, SOURCE_LABELS.get(self.data_panel.source(), ""))
        )
        self.data_panel = DataPanel(info.sources)
        self.algorithm_panel = AlgorithmPanel(
            info.defaults, info.algorithms, info.backbones, info.cuda, shapes=info.shapes, recipes=info.recipes
        )
        self.algorithm_panel.set_values(read_json(self.settings, "run/hyperparameters", {}) or {})
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.algorithm_panel)
        self.left_splitter.replaceWidget(0, self.data_panel)
        self.left_placeholder.deleteLater()
        self.left_splitter.addWidget(scroll)
        self.left_splitter.setSizes([300, 460])
        self._restore_splitter(self.main_splitter, "window/main_splitter")
        self._restore_splitter(self.left_splitter, "window/left_splitter")

        self.data.poolReady.connect(self._on_pool_ready)
        self.data.poolFailed.connect(self._on_pool_failed)
        self.data.episodeReady.connect(self._on_episode_ready)
        self.data.episodeFailed.connect(lambda message: self.data_panel.episode_view.show_text(message))
        self.data.loadProgress.connect(
            lambda done, total: self.data_panel.show_message(f"Loading the images: {done:,} of {total:,}…"))
        self.data_panel.sourceChanged.connect(self._on_source_changed)
        self.data_panel.sourceChanged.connect(lambda *_: self.state.settingsChanged.emit())
        self.data_panel.resampleRequested.connect(self._on_resample)
        self.data_panel.browseDataRequested.connect(self.browse_action.trigger)
        self.algorithm_panel.changed.connect(self._on_settings_changed)
        self.algorithm_panel.changed.connect(self.state.settingsChanged)
        self.statusBar().showMessage("Ready. Pick data and an algorithm, then press Start (Ctrl+R).", 8000)
        problem = settings_problem(self.settings)
        if problem:  # said once: closing rewrites the store
            self.run_controls.show_message(f"Started on the default settings: {problem}.")
        self.data_panel.set_source(
            str(self.settings.value("data/source", "synthetic")), str(self.settings.value("data/folder", "") or "")
        )
        self._validate()
        self.state.set_engine(info, self.current_config)
        self._sync_actions()  # File > Open needs the panels, which exist from here on
        self.engineReady.emit()

    def _on_engine_failed(self, message: str, details: str) -> None:
        self.left_placeholder.setText(f"The engine could not be loaded: {message}")
        self.left_placeholder.setStyleSheet(ERROR_STYLE)
        self.statusBar().showMessage(f"The engine could not be loaded: {message}")

    def _on_source_changed(self, name: str, folder: str) -> None:
        self.data_panel.resample_button.setEnabled(False)
        self._data_error = None
        if name != "synthetic" and not folder:
            self.data.pool = None
            self.data_panel.show_message(
                SOURCE_HELP.get(name, "Choose the folder that holds this data set (Browse…)."), error=False
            )
            self.data_panel.episode_view.show_text("No data yet: choose its folder above.")
            self._validate()
            return
        self.data_panel.show_message(f"Loading {SOURCE_LABELS.get(name, name)}…")
        self.data_panel.episode_view.show_text("Loading…")
        self._validate()
        self.data.load(name, folder, self.algorithm_panel.seed.value())

    def _on_pool_ready(self, pool: api.Pool) -> None:
        summary = pool.summary
        counts = " / ".join(str(summary[s]["classes"]) for s in ("train", "val", "test") if s in summary)
        self.data_panel.show_message(f"{counts} classes for meta-training / validation / test.")
        source = SOURCE_LABELS.get(self.data_panel.source(), "Data")
        self.statusBar().showMessage(f"{source} loaded: {counts} classes.", 8000)  # replaces an earlier data error
        self.data_panel.resample_button.setEnabled(True)
        self._validate()
        self._sample_episode()
        if self._start_when_ready:
            self.start_run()

    def _on_pool_failed(self, message: str) -> None:
        self._data_error = message
        self.data_panel.show_message(message, error=True)
        self.data_panel.episode_view.show_text("No episode: the data could not be loaded.")
        self.statusBar().showMessage(f"Data: {message}")
        self._validate()

    def _on_resample(self) -> None:
        self._episode_index += 1
        self._sample_episode()

    def _sample_episode(self) -> None:
        if self.data.pool is None:
            return
        if not self._validate():  # say why instead of leaving "Loading…" in the preview
            self.data_panel.episode_view.show_text(f"No episode to show: {self._invalid_reason()}.")
            return
        v = self.algorithm_panel.values()
        self.data.sample(v["ways"], v["shots"], v["queries"], v["seed"], self._episode_index)

    def _on_episode_ready(self, support: np.ndarray, queries: np.ndarray, names: tuple[str, ...]) -> None:
        self.data_panel.episode_view.show_episode(support, queries)
        ways, shots = support.shape[:2]
        shown = min(queries.shape[1], self.data_panel.episode_view.shown[2])
        more = f" ({shown} of {queries.shape[1]})" if shown < queries.shape[1] else ""
        self.data_panel.episode_caption.setText(
            f"One {ways}-way {shots}-shot task, a row per class:\nsupport | queries to classify{more}"
        )

    def _on_settings_changed(self) -> None:
        if self._validate():
            self._sample_episode()

    def _validate(self) -> bool:
        """Check the settings against the engine's rules; show the reason and gate Start."""
        reason = self._invalid_reason()
        self.invalid_label.setText(f"Cannot start: {reason}" if reason else "")
        self.invalid_label.setVisible(bool(reason))
        self.run_controls.set_can_start(reason is None)
        self.run_controls.start_button.setToolTip(
            f"Cannot start: {reason}" if reason else "Meta-train with the settings on the left (Ctrl+R)"
        )
        self._sync_actions()
        return reason is None

    def _invalid_reason(self) -> str | None:
        if self.engine is None:
            return LOADING_ENGINE
        config = self.current_config()
        try:
            config.validate()
            if not any(a.name == config.algo and a.available for a in self.engine.algorithms):
                raise api.DataError(f"the algorithm {config.algo} is not available yet")
            if self.data.pool is None:
                if self._data_error:
                    return "the data could not be loaded (see the Data panel)"
                return (
                    LOADING_DATA
                    if config.dataset == "synthetic" or config.data_root
                    else "choose the data folder first"
                )
            api.check_episodes(self.data.pool, config, ("train", "val") if config.val_every else ("train",))
        except api.DataError as exc:
            return str(exc).replace("--", "")
        return None

    # -- the run ---------------------------------------------------------------
    def _on_state_changed(self, state: str) -> None:
        self.run_controls.set_state(state)
        active = state != "idle"
        if self.data_panel is not None:
            self.algorithm_panel.setEnabled(not active)
            self.data_panel.source_combo.setEnabled(not active)
            self.data_panel.folder_row.setEnabled(not active and self.data_panel.source() != "synthetic")
        if state == "paused":
            self.statusBar().showMessage("Paused: press Resume (Space) to continue, or Stop.")
        elif state == "stopping":
            self.statusBar().showMessage("Stopping…")
        elif state == "running" and self._last_state == "paused":
            self.statusBar().showMessage("Resumed.")
        self._last_state = state
        self._sync_actions()

    def _on_events(self, generation: int, events: list) -> None:
        last_iteration = None
        for event in events:
            if isinstance(event, IterationMetrics):
                self.plot.add_iteration(event.iteration, event.loss, event.accuracy)
                if event.phase == "finish" and self._phase != "finish":
                    self.statusBar().showMessage(
                        f"Iteration {event.iteration}: the episodic finish begins: the rest of the run trains on "
                        "20-way 1-shot episodes of one alphabet by the nearest-mean rule (so the training loss and "
                        "accuracy now are an episode's)"
                    )
                self._phase = event.phase
                last_iteration = event
            elif isinstance(event, ValidationMetrics):
                self.plot.add_validation(
                    event.iteration, event.accuracy, event.ci95, event.standard_accuracy, event.standard_ci95
                )
                standard = (
                    f"; 5-way 1-shot {100 * event.standard_accuracy:.1f}% ± {100 * event.standard_ci95:.1f}"
                    if event.standard_accuracy is not None
                    else ""
                )
                self.statusBar().showMessage(
                    f"Iteration {event.iteration}: validation accuracy {100 * event.accuracy:.1f}% ± "
                    f"{100 * event.ci95:.1f} on {event.episodes} {event.shape} tasks of held-out classes{standard}"
                )
            elif isinstance(event, Started):
                self._phase = "train"
                self.statusBar().showMessage(f"Training on {event.device.upper()}: {event.parameters:,} parameters")
        if last_iteration is not None:
            self.run_controls.update_progress(
                last_iteration.iteration,
                last_iteration.total,
                last_iteration.elapsed,
                last_iteration.processes,
            )

    def _on_run_finished(self, generation: int, finished: Finished | None) -> None:
        self.plot.set_run_active(False)
        self.plot.redraw_now()
        if finished is None:
            self.run_controls.end("failed")
            return
        text = f"Run {generation} {finished.message}"
        if finished.val_acc is not None:
            text += (f": validation accuracy {100 * finished.val_acc:.1f}% ± {100 * (finished.val_ci95 or 0):.1f} "
                     f"({finished.val_shape})")
        if finished.val_standard_acc is not None:
            text += f", 5-way 1-shot {100 * finished.val_standard_acc:.1f}% ± {100 * finished.val_standard_ci95:.1f}"
        self.run_controls.end(finished.message)
        self.run_controls.show_message(text, error=finished.reason in ("diverged", "out of memory"))
        self.statusBar().showMessage(text)
        if finished.checkpoint and Path(finished.checkpoint).is_file():
            self._keep_run_model(generation, finished, text)

    def _keep_run_model(self, generation: int, finished: Finished, text: str) -> None:
        """List the run's model; it becomes the current one unless that would put a stopped run in place of a
        finished one (then the person picks it on the New classes tab)."""
        record = RunRecord(generation, self._run_labels.get(generation, f"#{generation}"), finished.checkpoint,
                           finished.reason, finished.iterations, finished.val_acc, self._run_shapes.get(generation, ""))
        replace = self.runs.replaces_without_asking(record, self.state.checkpoint)
        self.runs.add(record)
        if replace:
            self.state.set_model(finished.checkpoint)
            return
        kept = self.runs.find(self.state.checkpoint)
        note = (f"{text}. Its model is kept, but the New classes tab still uses the finished model of {kept.label}: "
                "pick this run there to use it instead.")
        self.run_controls.show_message(note)
        self.statusBar().showMessage(note)

    def _on_runs_changed(self) -> None:
        if self.workspace is not None:
            self.workspace.set_model_choices([(r.describe(), r.checkpoint) for r in reversed(self.runs.records())],
                                             self.state.checkpoint)

    def _on_model_chosen(self, path: str) -> None:
        """The person picked a model on the New classes tab."""
        if path and path != self.state.checkpoint:
            record = self.runs.find(path)
            self.statusBar().showMessage(f"The New classes tab now uses {record.label if record else path}")
            self.state.set_model(path)

    def _on_model_opened(self, path: str, opened: api.OpenedModel) -> None:
        """File > Open model… succeeded: its settings and curves come back, and it becomes the current model."""
        self.algorithm_panel.set_values(opened.config.to_dict())
        self.plot.load_history(f"opened {Path(path).name}", opened.history)
        self.plot.redraw_now()
        val = opened.history.get("val_accuracy") or []
        acc = f", validation accuracy {100 * val[-1]:.1f}%" if val else ""
        c = opened.config
        self.statusBar().showMessage(
            f"Opened {Path(path).name}: {c.algo}, {c.backbone}, {c.ways}-way {c.shots}-shot, "
            f"trained {opened.iteration} iterations{acc}"
        )
        self.run_controls.show_message("")
        self.runs.add(RunRecord(0, f"opened {Path(path).name}", path, "opened", opened.iteration,
                                val[-1] if val else None, f"{c.ways}-way {c.shots}-shot"))
        self.state.set_model(path)

    def _on_run_failed(self, generation: int, message: str, details: str) -> None:
        self.show_error(f"Run {generation} failed: {message}")

    def _say(self, text: str) -> None:
        self.run_controls.show_message(text)
        self.statusBar().showMessage(text)

    def show_error(self, text: str) -> None:
        """An error in words, in place (under the run controls) and in the status bar."""
        self.run_controls.show_message(text, error=True)
        self.statusBar().showMessage(text)

    # -- menus, settings, closing ----------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for action in self.files.actions():
            file_menu.addAction(action)
        self.export_classifier_action = QAction("Export &classifier…", self, triggered=self._on_export_classifier)
        self.export_classifier_action.setToolTip(
            "Write the New classes tab's adapted classifier to one file plain PyTorch loads"
        )
        file_menu.addAction(self.export_classifier_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        file_menu.addAction(quit_action)
        run_menu = self.menuBar().addMenu("&Run")
        self.start_action = QAction("&Start", self, triggered=self.start_run)
        self.start_action.setShortcut(QKeySequence("Ctrl+R"))
        self.pause_action = QAction("&Pause / Resume", self, triggered=self.controller.toggle_pause)
        self.pause_action.setShortcuts([QKeySequence("Space"), QKeySequence("Ctrl+P")])
        self.stop_action = QAction("S&top", self, triggered=self.controller.stop)
        self.stop_action.setShortcuts([QKeySequence("Esc"), QKeySequence("Ctrl+.")])
        for action in (self.start_action, self.pause_action, self.stop_action):
            run_menu.addAction(action)
        run_menu.addSeparator()
        from .lake_challenge import install as install_lake_challenge

        self.lake_action = install_lake_challenge(
            self, run_menu, self.state, lambda text, error: self.show_error(text) if error else self._say(text)
        )
        view_menu = self.menuBar().addMenu("&View")
        self.tab_actions = []
        for n, title in enumerate(TAB_TITLES, 1):
            action = QAction(title, self, triggered=lambda _checked=False, t=title: self.show_tab(t))
            action.setShortcut(QKeySequence(f"Ctrl+{n}"))
            view_menu.addAction(action)
            self.tab_actions.append(action)

    def _on_export_classifier(self) -> None:
        """File > Export classifier: the New classes tab's export (it says there when nothing is adapted yet)."""
        if self.workspace is not None:
            self.show_tab("New classes")
            self.workspace.insight._on_export()

    def _add_lazy_tab(self, title: str, build: Callable[[], QWidget]) -> QWidget:
        """An empty page for tab ``title``; ``build()`` makes its content the first time the tab is shown."""
        page = QWidget()
        QVBoxLayout(page).setContentsMargins(0, 0, 0, 0)
        self._page_builders[page] = build
        self.tabs.addTab(page, title)
        return page

    def _build_page(self, page: QWidget | None) -> None:
        build = self._page_builders.pop(page, None)
        if build is not None:
            page.layout().addWidget(build())

    def _build_compare(self) -> QWidget:
        from .compare_view import CompareView

        self._compare_view = CompareView(self.state)
        return self._compare_view

    def _build_regression(self) -> QWidget:
        from .regression import RegressionTab

        self.regression_tab = RegressionTab()
        return self.regression_tab

    @property
    def compare_view(self) -> CompareView:
        """The Compare tab's content, built on first use (when its tab is first shown)."""
        self._build_page(self._compare_page)
        return self._compare_view

    def regression(self) -> RegressionTab:
        """The Regression tab's content, built on first use (when its tab is first shown)."""
        self._build_page(self._regression_page)
        return self.regression_tab

    def show_tab(self, title: str) -> bool:
        """Bring the tab called ``title`` to the front (View menu, Ctrl+1..4)."""
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                self.tabs.setCurrentIndex(i)
                return True
        return False

    def _sync_actions(self) -> None:
        if not hasattr(self, "start_action"):
            return
        loading = self.invalid_label.text().endswith((LOADING_ENGINE, LOADING_DATA)) or self.engine is None
        self.start_action.setEnabled(
            self.run_controls.start_button.isEnabled() or (loading and not self.controller.is_active)
        )
        self.pause_action.setEnabled(self.run_controls.pause_button.isEnabled())
        self.pause_action.setText("&Resume" if self.controller.state == "paused" else "&Pause")
        self.stop_action.setEnabled(self.run_controls.stop_button.isEnabled())
        self.files.sync(running=self.controller.is_active)

    def _restore_splitter(self, splitter: QSplitter, key: str) -> None:
        """Sizes are kept as proportions: the window may come back smaller (another screen)."""
        sizes = read_json(self.settings, key)
        if (
            isinstance(sizes, list)
            and len(sizes) == splitter.count()
            and all(isinstance(v, int) and v >= 0 for v in sizes)
            and any(sizes)
        ):
            splitter.setSizes(sizes)

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        write_json(self.settings, "window/main_splitter", self.main_splitter.sizes())
        if self.engine is not None:
            write_json(self.settings, "window/left_splitter", self.left_splitter.sizes())
            self.settings.setValue("data/source", self.data_panel.source())
            self.settings.setValue("data/folder", self.data_panel.folder())
            write_json(self.settings, "run/hyperparameters", self.algorithm_panel.values())
        self.settings.sync()

    def shutdown(self) -> None:
        """Stop any run, wait for every worker thread, keep the preferences (idempotent)."""
        if self._closed:
            return
        self._closed = True
        shut_down(self)  # no new work from here on, and no results delivered (they could start more)
        if self.data is not None:
            self.data.cancel()  # a folder still decoding stops within one image
        self.controller.shutdown()
        if self._compare_view is not None:
            self._compare_view.shutdown()
        if self.regression_tab is not None:
            self.regression_tab.shutdown()
        if self.workspace is not None:
            self.workspace.wait_for_workers()
        wait_for_background()
        self.save_settings()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Run shortcuts pressed before the window was activated (no window manager) still act."""
        pressed = QKeySequence(event.keyCombination())
        for action in (self.start_action, self.pause_action, self.stop_action, *self.tab_actions):
            if action.isEnabled() and any(
                s.matches(pressed) == QKeySequence.SequenceMatch.ExactMatch for s in action.shortcuts()
            ):
                action.trigger()
                return
        super().keyPressEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)
