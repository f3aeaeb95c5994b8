"""The adaptation view of the New classes workspace: steps stream in order and animate the chart and the
embedding, the step slider shows step k's model, a second Adapt cancels the first, a compared model gets
its own curves."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from engine.algorithms.base import Algorithm, Learner, StepStats
from engine.config import AlgoConfig, TrainConfig
from engine.trainer import build_model_and_algorithm
from gui.workspace import NewClassesWorkspace

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample_classes"


def _algo(name):
    return build_model_and_algorithm(TrainConfig(algo=name, device="cpu"), torch.device("cpu"))


@pytest.fixture
def workspace(qtbot):
    made = []

    def make(algo):
        ws = NewClassesWorkspace(lambda: algo)
        qtbot.addWidget(ws)
        made.append(ws)
        ws.load_folder(str(SAMPLE))
        qtbot.waitUntil(lambda: ws.board.shots() == [5] * 5, timeout=10_000)
        return ws

    yield make
    for ws in made:
        ws._cancel_adapts()
        ws.wait_for_workers()


def _drawn(run):
    """The x values the chart draws for a run's support-accuracy curve."""
    x, _ = run.items[1].getData()
    return [] if x is None else [int(v) for v in x]


def test_steps_arrive_in_order_and_each_is_drawn(workspace, qtbot):
    ws = workspace(_algo("protohead"))
    ws.steps.setValue(6)
    ws.inner_lr.setValue(0.05)
    arrived, shown, drawn = [], [], []
    ws.stepArrived.connect(lambda s: arrived.append(s.step))

    def on_frame(k):
        shown.append(k)
        drawn.append(_drawn(ws.chart.runs[-1]))

    ws.frameShown.connect(on_frame)
    with qtbot.waitSignal(ws.player.finished, timeout=60_000):
        ws.adapt()
    assert arrived == list(range(7))
    assert shown == list(range(7))  # the animation showed every step, in order, once
    assert drawn == [list(range(k + 1)) for k in range(7)]  # ...with the curves drawn up to that step
    run = ws.chart.runs[-1]
    assert run.steps == list(range(7)) and ws.chart.cursors[0].value() == 6
    # the embedding shows the last step: Proto-head's class weights, which moved from the class means
    weights = ws.embedding.weights.data["x"], ws.embedding.weights.data["y"]
    np.testing.assert_allclose(np.stack(weights, 1), ws._frames[-1].view["weights"], atol=1e-5)
    assert not np.allclose(ws._frames[-1].view["weights"], ws._frames[0].view["weights"])
    assert ws.step_slider.maximum() == 6 and ws.step_slider.value() == 6 and ws.step_label.text() == "step 6 of 6"


def test_the_slider_shows_step_ks_model(workspace, qtbot):
    ws = workspace(_algo("maml"))
    ws.steps.setValue(4)
    images, _ = ws.board.support()
    ws.canvas.set_raster(np.kron(images[7], np.ones((10, 10), np.uint8)))  # a query drawn before Adapt
    # (either may come first: on a fast machine leave-one-out ends before the animation's last step)
    with qtbot.waitSignals([ws.player.finished, ws.leaveOneOut], timeout=60_000):
        ws.adapt()
    qtbot.waitUntil(lambda: not ws._predicting, timeout=30_000)
    ws.step_slider.setFocus()
    with qtbot.waitSignal(ws.predicted, timeout=30_000) as blocker:
        ws.step_slider.setValue(1)  # as a drag would
    frame = ws._frames[1]
    assert ws.player.shown == 1 and ws.chart.cursors[1].value() == 1 and ws.step_label.text() == "step 1 of 4"
    np.testing.assert_allclose(ws.embedding.support.data["x"], frame.view["support"][:, 0])  # step 1's points
    np.testing.assert_allclose(blocker.args[0].probabilities, frame.probabilities, atol=1e-5)  # step 1's model
    np.testing.assert_allclose(ws.bars.probabilities, frame.probabilities, atol=1e-5)
    with qtbot.waitSignal(ws.frameShown, timeout=5_000) as key:
        qtbot.keyClick(ws.step_slider, Qt.Key.Key_Right)
    assert key.args == [2] and ws.chart.cursors[0].value() == 2
    np.testing.assert_allclose(ws.embedding.support.data["y"], ws._frames[2].view["support"][:, 1])
    # the curves stay whole while scrubbing back: only the cursor moves
    assert _drawn(ws.chart.runs[-1]) == [0, 1, 2, 3, 4]
    qtbot.waitUntil(lambda: not ws._predicting, timeout=30_000)


class _Endless(Algorithm):
    """Adapts forever, one cheap step at a time, until its caller stops it: only a second Adapt ends it."""

    name = "endless"

    def task_loss(self, task):  # pragma: no cover - never meta-trained
        raise NotImplementedError

    def adapt(self, support_x, support_y, steps=None, on_step=None, inner_lr=None) -> Learner:
        for step in itertools.count():
            on_step(StepStats(step, 1.0 / (step + 1), 0.5))
        raise AssertionError("unreachable")


def test_a_second_adapt_cancels_the_first(workspace, qtbot):
    ws = workspace(_Endless(torch.nn.Linear(1, 1), AlgoConfig()))
    seen: list[tuple[int, int]] = []
    ws._relay.step.connect(lambda gen, _which, step: seen.append((gen, step.step)))
    failed = []
    ws.failed.connect(failed.append)
    ws.adapt()
    first = ws._generation
    first_control = ws._controls[0]
    qtbot.waitUntil(lambda: len(ws._frames) >= 3, timeout=30_000)  # it is streaming
    ws.set_model(_algo("protohead"))
    with qtbot.waitSignal(ws.leaveOneOut, timeout=60_000):
        ws.adapt()  # the new Adapt stops the endless one
    assert first_control.stop_requested
    ws.wait_for_workers()  # returns: the endless worker ended
    late = [s for g, s in seen if g == first]
    assert late == list(range(len(late)))  # the first Adapt's steps came in order, then stopped
    assert ws.chart.runs[-1].label.startswith(f"#{len(ws.chart.runs)}: protohead")
    assert [f.step for f in ws._frames] == list(range(ws.steps.value() + 1))  # only the new Adapt's steps
    assert not failed  # a cancelled Adapt is not an error


def test_a_compared_model_adapts_to_the_same_classes_with_its_own_curves(workspace, qtbot):
    ws = workspace(_algo("protohead"))
    ws.steps.setValue(3)
    ws.set_compare_model(_algo("maml"))
    assert ws.compare_clear_button.isVisibleTo(ws) and "maml" in ws.compare_label.text()
    with qtbot.waitSignals([ws.leaveOneOut, ws.compareDone], timeout=90_000):
        ws.adapt()
    main, other = ws.chart.runs[-2:]
    assert "protohead" in main.label and "compared: maml" in other.label and "lr 0.4" in other.label
    assert main.steps == other.steps == [0, 1, 2, 3]
    qtbot.waitUntil(lambda: _drawn(other) == [0, 1, 2, 3], timeout=10_000)
    assert main.loo_curve is not None and other.loo_curve is not None and other.loo_curve.shape == (4,)
    ws.set_compare_model(None)
    with qtbot.waitSignal(ws.leaveOneOut, timeout=60_000):
        ws.adapt()
    assert "compared" not in ws.chart.runs[-1].label and not ws.compare_clear_button.isVisibleTo(ws)


def test_a_query_drawn_during_the_animation_is_scored_by_each_steps_model_and_stays_in_view(workspace, qtbot):
    from engine import api

    ws = workspace(_algo("maml"))
    ws.steps.setValue(6)
    with qtbot.waitSignal(ws.adapted, timeout=60_000):
        ws.adapt()
    qtbot.waitUntil(lambda: not ws.player.playing, timeout=30_000)
    # played again with its clock held on step 0 until the drawing is scored (however slow the machine), then let go
    ws.player._frame_ms = 60_000
    ws.player.replay()
    scored_at, points_after = [], []
    ws.predicted.connect(lambda result: scored_at.append(ws.player.shown))
    ws.frameShown.connect(lambda k: points_after.append(len(ws.embedding.view["query"])) if scored_at else None)
    with qtbot.waitSignal(ws.predicted, timeout=30_000):
        ws.canvas.draw_stroke([(60, 60), (220, 220)])
    assert ws.player.playing and scored_at == [0]  # drawn mid-animation, scored by step 0's model
    with qtbot.waitSignal(ws.player.finished, timeout=30_000):
        ws.player._frame_ms = 100
        ws.player._timer.setInterval(100)
    qtbot.waitUntil(lambda: scored_at[-1] == 6 and not ws._predicting, timeout=30_000)
    assert len(set(scored_at)) >= 2  # scored again by the model of a later step as the animation went on
    assert points_after and all(n == 1 for n in points_after)  # its point never left the view
    images, labels = ws._support
    expected = api.predict(ws._frames[-1].learner, images, labels, ws._query, ws._frames[-1].view)
    np.testing.assert_allclose(ws.bars.probabilities, expected.probabilities, atol=1e-5)
