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
from PySide6.QtWidgets import QWidget

from engine import api

from .. import dialogs
from ..background import run_in_background, wait_for_background
from .board import ClassBoard
from .cards import array_to_pixmap
from .layout import build_ui
from .player import StepPlayer

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"


MAIN, COMPARE = 0, 1  # which model an adaptation step belongs to: the workspace's, or the one compared with it


class _Relay(QObject):
    """Carries adaptation steps from the worker threads to the GUI thread (queued)."""

    step = Signal(int, int, object)  # (generation, MAIN or COMPARE, api.AdaptStep)
    ready = Signal(int, object, object)  # (generation, api.AdaptResult, (images, labels, names))
    compare_ready = Signal(int, object)  # (generation, api.AdaptResult) of the compared model


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
    stepArrived = Signal(object)  # api.AdaptStep of the current Adapt's model, as the worker made it
    frameShown = Signal(int)  # the views now show this adaptation step (animation or slider)
    compareModelChanged = Signal(object)  # the second model (api.Model) adapted beside the first, or None
    compareDone = Signal(object)  # api.LeaveOneOut of the compared model: its Adapt is complete
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
        self._adapt_began = 0.0
        self._query: np.ndarray | None = None
        self._predicting = False
        self._pending_query: np.ndarray | None = None
        self._adapt_query: np.ndarray | None = None  # the drawing the Adapt's frames carry probabilities for
        self._predicted_step = -1  # the step whose model scored the last prediction asked for
        self.last_adapt_ms: float | None = None
        self._last_step = 0
        self._seen_model: object = None
        self._own_description = ""
        self._ready_text = ""
        self._view: dict | None = None  # the embedding view made at Adapt time (predictions reuse its axes)
        self._frames: list[api.AdaptStep] = []  # the current Adapt's steps (main model), in order
        self._controls: list[api.RunControl] = []  # stop requests of the Adapts in flight
        self._runs: dict[int, object] = {}  # MAIN / COMPARE -> the chart's run of the current Adapt
        self._compare_model: api.Model | None = None
        self._compare_ms: float | None = None
        self._planned = 0  # the steps the current Adapt will take
        self._waiting: set[int] = set()  # MAIN / COMPARE: the models of the current Adapt not yet ready
        self.board = ClassBoard(5, self)
        self._relay = _Relay(self)
        self._relay.step.connect(self._on_step)
        self._relay.ready.connect(self._on_adapted)
        self._relay.compare_ready.connect(self._on_compare_ready)
        self.player = StepPlayer(self)
        self.player.frameShown.connect(self._on_frame)
        self.player.finished.connect(self._on_animation_finished)
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
        self.step_slider, self.step_label, self.replay_button = ui.step_slider, ui.step_label, ui.replay_button
        self.compare_button, self.compare_label = ui.compare_button, ui.compare_label
        self.compare_clear_button = ui.compare_clear_button
        ui.step_slider.valueChanged.connect(self._on_slider)
        ui.replay_button.clicked.connect(self.player.replay)
        ui.compare_button.clicked.connect(self._on_compare_clicked)
        ui.compare_clear_button.clicked.connect(lambda: self.set_compare_model(None))
        for widget in (ui.chart, ui.embedding, ui.bars):  # arrow keys scrub there too (the slider has its own)
            for key, delta in ((Qt.Key.Key_Left, -1), (Qt.Key.Key_Right, 1)):
                QShortcut(QKeySequence(key), widget, lambda d=delta: self.show_step(self.player.shown + d),
                          context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
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
        from ..class_insight import install

        install(self)  # Per-class check + Export classifier, under the cards (gui/class_insight.py)

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
        self._cancel_adapts()  # an Adapt of the previous model stops at its next step
        self._view = None
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
        self._cancel_adapts()  # the window closing does not wait for an Adapt's remaining steps and folds
        wait_for_background(msecs)

    def show_message(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;" if error else "color: #333;")
        if error:
            self.failed.emit(text)

    # -- adapting --------------------------------------------------------------
    def adapt(self) -> None:
        """Adapt the current model (and the compared one) to the cards' examples on worker threads.

        A new Adapt stops the ones in flight at their next step (their late
        results are dropped by generation) and starts a new animation.
        """
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
        self._cancel_adapts()
        images, labels = self.board.support()
        steps, lr = self.steps.value(), self.inner_lr.value()
        self._generation += 1
        gen = self._generation
        self._frames, self._runs = [], {}
        self._waiting = {MAIN} | ({COMPARE} if self._compare_model is not None else set())
        self.player.reset()
        self._hold_views(True)
        self.embedding.begin_animation()
        is_proto = not model.adapts_by_steps  # adapting is one pass (class means)
        self._planned = 0 if is_proto else steps
        self._adapting, self._adapt_began = True, time.perf_counter()
        self._adapt_query = self._query
        names = list(self.board.names)
        # The worker starts first: the views are set up below while it computes (its steps are queued
        # signals, handled after this method returns).
        self._start_adapt(
            model, gen, MAIN, images, labels, steps, lr,
            on_ready=lambda result: self._relay.ready.emit(gen, result, (images, labels, names)),
            query=self._adapt_query,
            on_done=lambda loo: self._on_leave_one_out(gen, loo),
            on_error=lambda message: self._on_adapt_failed(gen, message),
        )
        self._set_slider(-1)
        self._runs[MAIN] = self.chart.start_run(
            f"{model.name}, " + ("prototypes" if is_proto else f"{steps} steps, lr {lr:g}"), 0 if is_proto else steps
        )
        k = min(self.board.shots())
        self.show_message(f"adapting to {len(self.board.names)} classes × {k}+ examples…")
        if self._compare_model is not None:
            self._adapt_compare(gen, images, labels, steps)

    def _start_adapt(self, model: api.Model, gen: int, which: int, images: np.ndarray, labels: np.ndarray,
                     steps: int, lr: float, on_ready: Callable, query: np.ndarray | None, on_done: Callable,
                     on_error: Callable) -> None:
        """``api.adapt`` on a worker, cancellable by the next Adapt; its steps reach the chart as ``which``."""
        control = api.RunControl()
        self._controls.append(control)
        relay = self._relay
        self._run(api.adapt, model, images, labels, steps, lr, lambda step: relay.step.emit(gen, which, step),
                  on_ready, query, control, on_done=on_done, on_error=on_error)

    def _adapt_compare(self, gen: int, images: np.ndarray, labels: np.ndarray, steps: int) -> None:
        """The second model adapts to the same examples with the same steps, at its own inner rate."""
        model = self._compare_model
        lr = model.inner_lr if model.inner_lr is not None else self.inner_lr.value()
        how = "prototypes" if not model.adapts_by_steps else f"{steps} steps, lr {lr:g}"
        self._runs[COMPARE] = self.chart.start_run(
            f"compared: {model.name}, {how}", steps if model.adapts_by_steps else 0, fade_others=False
        )
        self._start_adapt(
            model, gen, COMPARE, images, labels, steps, lr,
            on_ready=lambda result: self._relay.compare_ready.emit(gen, result),
            query=None,
            on_done=lambda loo: self._on_compare_loo(gen, loo),
            on_error=lambda message: self._on_adapt_failed(gen, f"the compared model: {message}", COMPARE),
        )

    def _cancel_adapts(self) -> None:
        for control in self._controls:
            control.stop()
        self._controls = []

    def _on_step(self, gen: int, which: int, step: api.AdaptStep) -> None:
        if gen != self._generation or which not in self._runs:
            return
        run = self._runs[which]
        self.chart.record_step(run, step.step, step.loss, step.accuracy, step.loo_accuracy)
        if step.step <= self.player.shown:  # the animation is past this step already (the slower of two models)
            self.chart.reveal(run, step.step)
        if which == MAIN:
            self._frames.append(step)
            self.stepArrived.emit(step)
        self.player.arrived(step.step)

    def _hold_views(self, hold: bool) -> None:
        """Hold (or let go) the chart's, embedding's and bars' painting: held from Adapt until its first
        frame is due or it is over, so painting the new run's set-up does not slow a short Adapt (see player)."""
        for view in (self.chart, self.embedding, self.bars):
            view.setUpdatesEnabled(not hold)

    def _on_frame(self, k: int) -> None:
        """Show step ``k``: the curves up to it and the cursor, the embedding and the query's probabilities."""
        self._hold_views(False)
        for run in self._runs.values():
            self.chart.reveal(run, k)
        self.chart.set_cursor(k)
        frame = self._frame(k)
        # the frames carry the drawing of Adapt time; one drawn since is scored again by the model on show
        redrawn = self._query is not None and self._query is not self._adapt_query
        if frame is not None and frame.view is not None:
            view = frame.view
            if redrawn and self.embedding.view:  # its last point stays until the new one arrives
                view = {**view, "query": self.embedding.view["query"]}
            self.embedding.set_view(view)
        if frame is not None and frame.probabilities is not None and self._query is not None and not redrawn:
            self.bars.set_probabilities(frame.probabilities, self._names or list(self.board.names))
        if self._learner is not None and self._query is not None and (redrawn or self.player.scrubbing):
            self._request_prediction(self._query)  # what the model at this step says of the query
        self._set_slider(k)
        self.frameShown.emit(k)

    def _frame(self, k: int) -> api.AdaptStep | None:
        """The main model's step ``k`` (its last one for the steps only the compared model has)."""
        if not self._frames:
            return None
        return self._frames[max(0, min(k, len(self._frames) - 1))]

    def _set_slider(self, k: int) -> None:
        self.step_slider.blockSignals(True)
        last = max(self._planned, self.player.available)  # the slider spans the planned steps; only arrived ones show
        self.step_slider.setMaximum(max(0, last))
        self.step_slider.setValue(max(0, k))
        self.step_slider.blockSignals(False)
        self.step_label.setText(f"step {k} of {last}" if k >= 0 else "step –")

    def show_step(self, k: int) -> None:
        """Show step ``k`` of the last Adapt (what the slider and the arrow keys do)."""
        if self.player.available < 0:
            return
        self.player.show(k)  # its frame asks the model at that step about the query (_on_frame)

    def _on_slider(self, k: int) -> None:
        if k != self.player.shown:
            self.show_step(k)

    def _on_animation_finished(self) -> None:
        if self._learner is not None and self._query is not None:
            self._request_prediction(self._query)

    def _on_adapted(self, gen: int, result: api.AdaptResult, support: tuple) -> None:
        """The learner is ready: testing can start while leave-one-out still runs."""
        if gen != self._generation:
            return
        self.last_adapt_ms = 1000 * (time.perf_counter() - self._adapt_began)
        self._hold_views(False)
        images, labels, names = support
        self._learner, self._support, self._names = result.learner, (images, labels), names
        self._view = result.view
        self._last_step = result.last_step
        if not self._frames or self._frames[-1].view is None:
            self.embedding.set_view(result.view)
        if result.gate is not None:
            self.gate.show_task(result.gate)
        self.gate.setVisible(result.gate is not None)
        run = self._runs.get(MAIN)
        acc = f"support accuracy {100 * run.acc[-1]:.0f}%" if run is not None and run.acc else ""
        self._ready_text = f"ready in {self.last_adapt_ms:.0f} ms: {acc}"
        k = min(self.board.shots()) if self.board.count == len(names) else 1
        self.show_message(
            self._ready_text
            + (" (leave-one-out accuracy on its way…)" if k >= 2 else "")
            + ". Draw a query to test it."
        )
        self.adapted.emit(result)
        self._model_ready(MAIN)
        if self._query is not None and not self.player.playing:
            self._request_prediction(self._query)

    def _on_compare_ready(self, gen: int, result: api.AdaptResult) -> None:
        if gen == self._generation:
            self._compare_ms = 1000 * result.seconds
            self._model_ready(COMPARE)

    def _model_ready(self, which: int) -> None:
        """One of the Adapt's models has made its last step; once all have, the animation may end."""
        self._waiting.discard(which)
        if not self._waiting:
            self.player.finish()

    def _on_leave_one_out(self, gen: int, loo: api.LeaveOneOut) -> None:
        if gen != self._generation or loo.cancelled:
            return
        self._adapting = False
        self.adapt_button.setEnabled(True)
        if loo.accuracy is not None:
            self.chart.add_loo(self._last_step, loo.accuracy, loo.per_step, run=self._runs.get(MAIN))
            self.show_message(
                f"{self._ready_text}, leave-one-out {100 * loo.accuracy:.0f}%. Draw a query to test it."
            )
        self.leaveOneOut.emit(loo.accuracy)

    def _on_compare_loo(self, gen: int, loo: api.LeaveOneOut) -> None:
        if gen != self._generation or loo.cancelled:
            return
        run = self._runs.get(COMPARE)
        if loo.accuracy is not None and run is not None:
            self.chart.add_loo(run.steps[-1] if run.steps else 0, loo.accuracy, loo.per_step, run=run)
        self.compareDone.emit(loo)

    def _on_adapt_failed(self, gen: int, message: str, which: int = MAIN) -> None:
        if gen == self._generation:
            self._hold_views(False)
            if which == MAIN:
                self._adapting = False
                self.adapt_button.setEnabled(self.current_model() is not None)
            self._model_ready(which)
            self.show_message(message, error=True)

    # -- the compared model ------------------------------------------------------
    def set_compare_model(self, model: object | None) -> None:
        """Adapt ``model`` (an api.Model or engine Algorithm) beside the main one at every Adapt; None stops."""
        self._compare_model = api.as_model(model) if model is not None else None
        m = self._compare_model
        self.compare_label.setText(
            f"Compared with: {m.description or m.name} (its own inner lr"
            f"{f' {m.inner_lr:g}' if m.inner_lr is not None else ''}): it adapts beside this model at every Adapt."
            if m is not None
            else ""
        )
        self.compare_clear_button.setVisible(m is not None)
        self.compare_label.setVisible(m is not None)
        self.compareModelChanged.emit(m)

    def load_compare_checkpoint(self, path: str) -> None:
        """Open a checkpoint on a worker as the model to compare with."""
        self.compare_label.setText("opening the model to compare with…")
        self.compare_label.setVisible(True)
        self._run(api.open_model, path, on_done=lambda opened: self.set_compare_model(opened.model))

    def _on_compare_clicked(self) -> None:
        path = dialogs.open_file(
            self, "Compare with a second model: open its checkpoint", "Checkpoints (*.pt *.pth);;All files (*)"
        )
        if path:
            self.load_compare_checkpoint(path)

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
        self._predicted_step = self.player.shown
        gen, (images, labels) = self._generation, self._support
        learner, view = self._learner, self._view
        frame = self._frame(self.player.shown)
        if frame is not None and frame.learner is not None and frame.view is not None:
            learner, view = frame.learner, frame.view  # the model at the step on show
        self._run(
            api.predict,
            learner,
            images,
            labels,
            query,
            view,
            on_done=lambda r: self._on_predicted(gen, r),
            on_error=self._on_predict_failed,
        )

    def _on_predicted(self, gen: int, result: api.PredictResult) -> None:
        self._predicting = False
        if gen == self._generation and self._query is not None:
            if self._predicted_step != self.player.shown and self._frames:  # the animation moved on meanwhile
                self._pending_query = self._pending_query if self._pending_query is not None else self._query
            else:
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
        paths = dialogs.open_files(self, "Add images to the selected class", IMAGE_FILTER)
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
        root = dialogs.existing_folder(self, "Open a class set, or a folder with one subfolder per class")
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
        root = dialogs.save_file(self, "Save the class set as a folder", "my-classes", "Class set folder (*)")
        if root:
            self.save_set(root)

    def _on_load_query(self) -> None:
        path = dialogs.open_file(self, "Load a query image", IMAGE_FILTER)
        if path:
            self._run(
                api.load_images,
                [path],
                on_done=lambda r: self.canvas.set_raster(r[0][0]) if r[0] else self.show_message(r[1][0], error=True),
            )
