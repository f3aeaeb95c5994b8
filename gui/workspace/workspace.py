"""The "New classes" workspace: teach the meta-learned model classes drawn or loaded by hand.

Layout: class cards (left), the drawing canvas with the model's 28x28 view
(middle), Adapt with its live chart, the class probabilities and the
embedding view (right). Torch never runs on the GUI thread: adapting,
predicting, loading and saving are :mod:`engine.api` calls on superqt workers
(:func:`gui.background.run_in_background`); the canvas preview calls
``api.sketch_to_input`` directly because it is numpy only.

Each Adapt gets a generation number; results of an older generation (a
worker still finishing after a newer Adapt was pressed) are dropped.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QWidget

from engine import api
from engine.events import StepStats

from ..background import run_in_background, wait_for_background
from .board import ClassBoard
from .cards import array_to_pixmap
from .layout import build_ui

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"


class _Relay(QObject):
    """Carries adaptation steps from the worker thread to the GUI thread (queued)."""

    step = Signal(int, object)  # (generation, StepStats)
    ready = Signal(int, object, object)  # (generation, api.AdaptResult, (images, labels, names))


class NewClassesWorkspace(QWidget):
    """Class cards, drawing canvas, Adapt with live curves, predictions and the embedding view.

    Parameters
    ----------
    model_source : returns the current model (an ``engine.api.Model``, or an
        engine Algorithm, which is wrapped; None when there is no meta-trained model)
    checkpoint : for standalone use: a checkpoint to restore in a worker
    """

    quickTrainRequested = Signal()  # the person asked for a quick meta-training run on the glyphs
    adapted = Signal(object)  # api.AdaptResult, after an Adapt finished
    predicted = Signal(object)  # api.PredictResult, after a query was scored
    failed = Signal(str)  # a problem shown in place (also emitted for tests and the main window)
    leaveOneOut = Signal(object)  # leave-one-out accuracy (or None for one shot): the Adapt is complete
    modelReady = Signal()  # a model is available for Adapt (loaded, quick-trained or from the source)
    modelChosen = Signal(str)  # the person picked another model (a checkpoint) in the model selector

    def __init__(self, model_source: Callable[[], object] | None = None, checkpoint: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Meta Playground - New classes")
        self._model_source = model_source
        self._own_model: api.Model | None = None
        self._learner: object = None  # api.AdaptResult.learner: an opaque handle for api.predict
        self._support: tuple[np.ndarray, np.ndarray] | None = None
        self._names: list[str] = []
        self._generation = 0
        self._adapting = False
        self._closing = False  # set when the window closes: an Adapt in flight stops at its next step
        self._adapt_began = 0.0
        self._query: np.ndarray | None = None
        self._predicting = False
        self._pending_query: np.ndarray | None = None
        self.last_adapt_ms: float | None = None
        self._last_step = 0
        self._seen_model: object = None
        self._own_description = ""
        self._ready_text = ""
        self.board = ClassBoard(5, self)
        self._relay = _Relay(self)
        self._relay.step.connect(self._on_step)
        self._relay.ready.connect(self._on_adapted)
        self._build()
        self.board.changed.connect(self._on_board_changed)
        self.board.selectionChanged.connect(self._on_selection_changed)
        QShortcut(
            QKeySequence.StandardKey.Undo, self, self.board.undo, context=Qt.ShortcutContext.WidgetWithChildrenShortcut
        )
        self._on_selection_changed(self.board.selected)
        if checkpoint:
            self.load_checkpoint(checkpoint)
        else:
            self.refresh_model()

    # -- layout ----------------------------------------------------------------
    def _build(self) -> None:
        """Create the widgets (layout.py), keep the ones this class uses and connect them to its slots."""
        ui = build_ui(self, self.board)
        self.banner, self.quick_train_button, self.class_count = ui.banner, ui.quick_train_button, ui.class_count
        self.model_choice = ui.model_choice
        ui.model_choice.activated.connect(lambda i: self.modelChosen.emit(str(ui.model_choice.itemData(i))))
        self.cards, self.canvas, self.preview, self.add_button = ui.cards, ui.canvas, ui.preview, ui.add_button
        self.steps, self.inner_lr, self.adapt_button, self.status = ui.steps, ui.inner_lr, ui.adapt_button, ui.status
        self.chart, self.bars, self.embedding, self.gate = ui.chart, ui.bars, ui.embedding, ui.gate
        ui.quick_train_button.clicked.connect(self.quickTrainRequested)
        ui.class_count.valueChanged.connect(self.board.set_count)
        ui.load_images_button.clicked.connect(self._on_load_images)
        ui.load_folder_button.clicked.connect(self._on_load_folder)
        ui.save_set_button.clicked.connect(self._on_save_set)
        ui.undo_button.clicked.connect(self.board.undo)
        ui.cards.filesDropped.connect(self._load_files_into)
        ui.canvas.strokeFinished.connect(self._on_drawing_changed)
        ui.canvas.cleared.connect(self._on_drawing_cleared)
        ui.add_button.clicked.connect(self.add_drawing)
        ui.load_query_button.clicked.connect(self._on_load_query)
        ui.adapt_button.clicked.connect(self.adapt)

    # -- the model -------------------------------------------------------------
    def current_model(self) -> api.Model | None:
        """The model to adapt: the one loaded here, else the model source's, else None."""
        if self._own_model is not None:
            return self._own_model
        source = self._model_source() if self._model_source is not None else None
        return api.as_model(source) if source is not None else None

    def set_model(self, model: object, description: str = "") -> None:
        """Use ``model`` (an api.Model or an engine Algorithm, e.g. after a quick meta-training run); earlier
        adaptations are dropped."""
        self._own_model, self._own_description = api.as_model(model, description), description
        self._generation += 1  # an Adapt of the previous model still in flight is dropped when it lands
        self._adapting = False
        self.adapt_button.setEnabled(True)
        self._learner = None
        self._view: dict | None = None  # the embedding view made at Adapt time (predictions reuse its axes)
        # what the previous model said no longer holds: no stale probabilities, embedding or "ready in" text
        self.bars.clear_probabilities()
        self.embedding.clear_view()
        self._ready_text = ""
        self.show_message("Model changed: press Adapt to fit it to your classes.")
        self.refresh_model(description)

    def set_model_choices(self, choices: list[tuple[str, str]], current: str | None) -> None:
        """Fill the model selector with (description, checkpoint) pairs and show ``current`` as chosen."""
        combo = self.model_choice
        combo.blockSignals(True)
        combo.clear()
        for text, path in choices:
            combo.addItem(text, path)
        index = combo.findData(current) if current is not None else -1
        combo.setCurrentIndex(index)
        combo.blockSignals(False)
        combo.setVisible(bool(choices))

    def load_checkpoint(self, path: str) -> None:
        """Load a model from a checkpoint file on a worker; it becomes this workspace's own copy.

        A private copy matters: the main window may start training again, and one
        module must never run in two threads (``functional_call`` swaps its weights).
        """
        self._show_model_state("loading the model…")
        self._run(api.open_model, path, on_done=lambda opened: self.set_model(opened.model))

    def refresh_model(self, description: str = "") -> None:
        """Re-read the model source (the main window calls this when its model changes)."""
        model = self.current_model()
        if model is None:
            self._show_model_state(
                "No meta-trained model yet: meta-train one (or open a checkpoint) first, "
                "or start a quick run on the built-in glyphs.",
                need_model=True,
            )
            return
        if model.handle is not self._seen_model and model.inner_lr is not None:
            self.inner_lr.setValue(model.inner_lr)  # a new model: start from its own rate
        self._seen_model = model.handle
        description = description or model.description
        self._show_model_state(
            f"Model: {description or model.name}. Draw or load a few examples per class, then press Adapt."
        )
        self.modelReady.emit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Coming into view (e.g. the tab was chosen): the main window's model may have changed."""
        super().showEvent(event)
        if self._own_model is None:
            self.refresh_model()

    def _show_model_state(self, text: str, need_model: bool = False) -> None:
        self.banner.setText(text)
        self.banner.setStyleSheet("color: #a05000; font-weight: bold;" if need_model else "")
        self.quick_train_button.setVisible(need_model)

    # -- workers ---------------------------------------------------------------
    def _run(
        self, fn: Callable, *args: object, on_done: Callable, on_error: Callable[[str], None] | None = None
    ) -> None:
        """``fn(*args)`` on a worker; a job ending after its window closed (a checkpoint load at exit) tells nobody."""
        report = on_error or (lambda message: self.show_message(message, error=True))
        run_in_background(fn, *args, on_done=on_done, on_error=lambda message, _details: report(message), owner=self)

    def wait_for_workers(self, msecs: int = 10_000) -> None:
        """Block until the workers are done (before the application exits); an Adapt in flight gives up."""
        self._closing = True
        wait_for_background(msecs)

    def show_message(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;" if error else "color: #333;")
        if error:
            self.failed.emit(text)

    # -- adapting --------------------------------------------------------------
    def adapt(self) -> None:
        """Adapt the current model to the cards' examples on a worker thread."""
        model = self.current_model()
        self.refresh_model()
        if model is None:
            self.show_message("There is no meta-trained model to adapt yet (see the note at the top).", error=True)
            return
        missing = self.board.missing()
        if missing:
            names = ", ".join(self.board.names[i] for i in missing[:4])
            self.show_message(f"Every class needs at least one example; {names} has none.", error=True)
            return
        images, labels = self.board.support()
        steps, lr = self.steps.value(), self.inner_lr.value()
        self._generation += 1
        gen = self._generation
        is_proto = not model.adapts_by_steps  # adapting is one pass (class means)
        self.chart.start_run("prototypes" if is_proto else f"{steps} steps, lr {lr:g}", 0 if is_proto else steps)
        self._adapting, self._adapt_began = True, time.perf_counter()
        self.adapt_button.setEnabled(False)
        k = min(self.board.shots())
        self.show_message(f"adapting to {len(self.board.names)} classes × {k}+ examples…")
        names = list(self.board.names)
        relay = self._relay
        self._run(
            api.adapt,
            model,
            images,
            labels,
            steps,
            lr,
            lambda stats: relay.step.emit(gen, stats),
            lambda result: relay.ready.emit(gen, result, (images, labels, names)),
            lambda: self._closing,  # closing: do not make the window wait for the leave-one-out folds
            on_done=lambda loo: self._on_leave_one_out(gen, loo),
            on_error=lambda message: self._on_adapt_failed(gen, message),
        )

    def _on_step(self, gen: int, stats: StepStats) -> None:
        if gen == self._generation:
            self.chart.add_step(stats.step, stats.loss, stats.accuracy, stats.loo_accuracy)

    def _on_adapted(self, gen: int, result: api.AdaptResult, support: tuple) -> None:
        """The learner is ready: testing can start while leave-one-out still runs."""
        if gen != self._generation:
            return
        self.last_adapt_ms = 1000 * (time.perf_counter() - self._adapt_began)
        images, labels, names = support
        self._learner, self._support, self._names = result.learner, (images, labels), names
        self._view = result.view
        self._last_step = result.last_step
        self.embedding.set_view(result.view)
        if result.gate is not None:
            self.gate.show_task(result.gate)
        self.gate.setVisible(result.gate is not None)
        last = self.chart.runs[-1] if self.chart.runs else None
        acc = f"support accuracy {100 * last.acc[-1]:.0f}%" if last and last.acc else ""
        self._ready_text = f"ready in {self.last_adapt_ms:.0f} ms: {acc}"
        k = min(self.board.shots()) if self.board.count == len(names) else 1
        self.show_message(
            self._ready_text
            + (" (leave-one-out accuracy on its way…)" if k >= 2 else "")
            + ". Draw a query to test it."
        )
        self.adapted.emit(result)
        if self._query is not None:
            self._request_prediction(self._query)

    def _on_leave_one_out(self, gen: int, loo: float | None) -> None:
        if gen != self._generation:
            return
        self._adapting = False
        self.adapt_button.setEnabled(True)
        if loo is not None:
            self.chart.add_loo(self._last_step, loo)
            self.show_message(f"{self._ready_text}, leave-one-out {100 * loo:.0f}%. Draw a query to test it.")
        self.leaveOneOut.emit(loo)

    def _on_adapt_failed(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self._adapting = False
            self.adapt_button.setEnabled(self.current_model() is not None)
            self.show_message(message, error=True)

    # -- drawing and predicting -----------------------------------------------------
    def _on_drawing_changed(self, raster: np.ndarray) -> None:
        try:
            self._query = api.sketch_to_input(raster)
        except api.DataError as exc:  # nothing drawn
            self._on_drawing_cleared()
            self.show_message(str(exc))
            return
        self.preview.setPixmap(array_to_pixmap(self._query, 112))
        if self._learner is not None:
            self._request_prediction(self._query)

    def _on_drawing_cleared(self) -> None:
        self._query = None
        self.preview.clear()
        self.bars.clear_probabilities()
        if self.embedding.view:
            self.embedding.query.setData(pos=np.zeros((0, 2)))

    def _request_prediction(self, query: np.ndarray) -> None:
        """Score ``query``; while one prediction runs, only the newest waiting drawing is kept."""
        if self._predicting:
            self._pending_query = query
            return
        self._predicting = True
        gen, (images, labels) = self._generation, self._support
        self._run(
            api.predict,
            self._learner,
            images,
            labels,
            query,
            self._view,
            on_done=lambda r: self._on_predicted(gen, r),
            on_error=self._on_predict_failed,
        )

    def _on_predicted(self, gen: int, result: api.PredictResult) -> None:
        self._predicting = False
        if gen == self._generation and self._query is not None:
            self.bars.set_probabilities(result.probabilities, self._names)
            self.embedding.set_view(result.view)
            self.predicted.emit(result)
        if self._pending_query is not None and self._learner is not None:
            query, self._pending_query = self._pending_query, None
            self._request_prediction(query)

    def _on_predict_failed(self, message: str) -> None:
        self._predicting, self._pending_query = False, None
        self.show_message(message, error=True)

    def add_drawing(self) -> None:
        """Put the model's view of the drawing on the selected card and clear the canvas."""
        if self._query is None:
            self.show_message("Draw something first, then press Add to class.", error=True)
            return
        self.board.add(self.board.selected, [self._query])
        self.canvas.clear()

    # -- the cards ---------------------------------------------------------------
    def _on_board_changed(self) -> None:
        self.class_count.blockSignals(True)
        self.class_count.setValue(self.board.count)
        self.class_count.blockSignals(False)
        self._on_selection_changed(self.board.selected)
        if self._learner is not None and self.board.count != len(self._names):
            self._learner = None
            self.bars.clear_probabilities()
            self.embedding.clear_view()
            self.show_message("The number of classes changed: press Adapt again.")
        elif self._learner is not None:
            self._names = list(self.board.names)
            self.show_message("The classes changed: press Adapt to use the new examples.")

    def _on_selection_changed(self, index: int) -> None:
        if 0 <= index < self.board.count:
            self.add_button.setText(f"Add to “{self.board.names[index]}”")

    def _load_files_into(self, index: int, paths: list[str]) -> None:
        def done(result: tuple[list[np.ndarray], list[str]]) -> None:
            images, problems = result
            if index < self.board.count:
                self.board.add(index, images)
            note = (
                f"; skipped: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
                if problems
                else ""
            )
            self.show_message(
                f"added {len(images)} example(s) to {self.board.names[min(index, self.board.count - 1)]}{note}",
                error=bool(problems),
            )

        self._run(api.load_images, list(paths), on_done=done)

    def _on_load_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add images to the selected class", "", IMAGE_FILTER)
        if paths:
            self._load_files_into(self.board.selected, paths)

    def load_folder(self, root: str) -> None:
        """Replace the cards with a class set or a folder of class subfolders (undoable)."""

        def done(result: tuple[list[str], list[list[np.ndarray]], list[str]]) -> None:
            names, examples, problems = result
            self.board.replace(names, examples)
            self.show_message(
                f"loaded {len(names)} classes from {root}" + (f"; skipped: {problems[0]}" if problems else ""),
                error=bool(problems),
            )

        self._run(api.read_class_folder, root, on_done=done)

    def _on_load_folder(self) -> None:
        root = QFileDialog.getExistingDirectory(self, "Open a class set, or a folder with one subfolder per class")
        if root:
            self.load_folder(root)

    def save_set(self, root: str) -> None:
        self._run(
            api.save_classset,
            root,
            list(self.board.names),
            [list(e) for e in self.board.examples],
            on_done=lambda path: self.show_message(f"saved the class set to {path}"),
        )

    def _on_save_set(self) -> None:
        root, _ = QFileDialog.getSaveFileName(
            self, "Save the class set as a folder", "my-classes", "Class set folder (*)"
        )
        if root:
            self.save_set(root)

    def _on_load_query(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a query image", "", IMAGE_FILTER)
        if path:
            self._run(
                api.load_images,
                [path],
                on_done=lambda r: self.canvas.set_raster(r[0][0]) if r[0] else self.show_message(r[1][0], error=True),
            )
