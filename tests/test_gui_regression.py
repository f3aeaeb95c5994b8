"""The Regression tab as a person uses it: place points, adapt, drag, remove; meta-train; New sine."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from gui.regression import RegressionTab


@pytest.fixture(scope="module")
def sine_model(tmp_path_factory):
    """A briefly meta-trained MAML sine model (engine.api_regression handle)."""
    from engine import api_regression
    from engine.config import REGRESSION_DEFAULTS, TrainConfig
    from engine.trainer import run

    path = tmp_path_factory.mktemp("sine") / "maml.pt"
    config = TrainConfig(
        dataset="sine",
        algo="maml",
        iterations=30,
        val_every=0,
        checkpoint=str(path),
        **{**REGRESSION_DEFAULTS, "shots": 5},
    )
    assert list(run(config))[-1].reason == "completed"
    return api_regression.load_model(str(path), "MAML")


@pytest.fixture
def tab(qtbot):
    widget = RegressionTab()
    qtbot.addWidget(widget)
    widget.resize(1200, 720)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def pixel(tab: RegressionTab, x: float, y: float) -> QPoint:
    return tab.points_plot.view_pixel(x, y).toPoint()


def drawn_curves(tab: RegressionTab, kind: str = "maml") -> list[np.ndarray]:
    return [item.yData for item in tab.points_plot._curves[kind] if item.yData is not None and len(item.yData)]


def test_place_adapt_drag_and_remove_points(qtbot, tab, sine_model):
    tab.set_model("maml", sine_model)
    tab.steps.setValue(5)
    viewport = tab.points_plot.viewport()
    for x, y in ((-3.0, 1.0), (0.0, -2.0), (2.5, 2.0)):
        with qtbot.waitSignal(tab.curvesShown, timeout=10_000):
            qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pixel(tab, x, y))
    px, py = tab.points_plot.points()
    np.testing.assert_allclose(px, [-3.0, 0.0, 2.5], atol=0.05)
    np.testing.assert_allclose(py, [1.0, -2.0, 2.0], atol=0.05)
    qtbot.waitUntil(lambda: not tab.adapter.busy)
    curves = drawn_curves(tab)
    assert len(curves) == 6  # the prior and each of 5 steps
    request, result = tab._last
    assert len(request.x) == 3
    fit = result[0][1]
    assert fit.support_mse[-1] < fit.support_mse[0]  # the steps fit the points better

    # drag the middle point up: the point follows the mouse and the curves are re-fitted to it
    start, end = pixel(tab, 0.0, -2.0), pixel(tab, 0.0, 3.0)
    with qtbot.waitSignal(tab.curvesShown, timeout=10_000, check_params_cb=lambda r: abs(r.y[1] - 3.0) < 0.1):
        qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
        for t in np.linspace(0, 1, 6)[1:]:
            qtbot.mouseMove(viewport, pos=start + (end - start) * t)
        qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    px, py = tab.points_plot.points()
    assert abs(px[1]) < 0.05 and abs(py[1] - 3.0) < 0.05
    qtbot.waitUntil(lambda: not tab.adapter.busy)
    after = drawn_curves(tab)[-1]
    i = np.argmin(np.abs(result[0][1].grid_x))
    assert after[i] > curves[-1][i] + 0.5  # the fitted curve moved up where the point went

    # a right click on a point removes it
    with qtbot.waitSignal(tab.curvesShown, timeout=10_000, check_params_cb=lambda r: len(r.x) == 2):
        qtbot.mouseClick(viewport, Qt.MouseButton.RightButton, pos=pixel(tab, 2.5, 2.0))
    np.testing.assert_allclose(tab.points_plot.points()[0], [-3.0, 0.0], atol=0.05)


def test_adapt_reveals_the_steps_one_by_one(qtbot, tab, sine_model):
    tab.set_model("maml", sine_model)
    tab.points_plot.set_points(np.array([-2.0, 1.0, 3.0]), np.array([1.0, 0.5, -1.0]), emit=False)
    tab.steps.setValue(4)
    qtbot.waitUntil(lambda: not tab.adapter.busy and not tab.animating)
    seen = []
    tab.curvesShown.connect(lambda _r: seen.append(len(drawn_curves(tab))))
    qtbot.mouseClick(tab.adapt_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(seen) > 0, timeout=10_000)
    assert seen[0] == 1  # the prior first, then one more step every ANIMATION_MS
    qtbot.waitUntil(lambda: not tab.animating, timeout=10_000)
    assert len(drawn_curves(tab)) == 5
    assert "after 4 step(s)" in tab.status.text()


def test_new_sine_draws_a_hidden_task_and_its_points(qtbot, tab, sine_model):
    tab.set_model("maml", sine_model)
    tab.shots.setValue(7)
    with qtbot.waitSignal(
        tab.curvesShown, timeout=20_000, check_params_cb=lambda r: len(r.x) == 7 and r.true_y is not None
    ):
        qtbot.mouseClick(tab.new_sine, Qt.MouseButton.LeftButton)
    x, y = tab.points_plot.points()
    assert len(x) == 7 and tab.points_plot.true_curve.yData is not None
    true_x, true_y = tab.points_plot.true_curve.xData, tab.points_plot.true_curve.yData
    np.testing.assert_allclose(np.interp(x, true_x, true_y), y, atol=0.05)  # the points lie on the true curve
    assert "amplitude" in tab.status.text()


def test_meta_training_from_the_run_controls_gives_both_models(qtbot, tab):
    tab.seconds.setValue(2)
    tab.shots.setValue(5)
    assert tab.run_controls.start_button.isEnabled()
    with qtbot.waitSignal(tab.controller.runFinished, timeout=60_000):
        qtbot.mouseClick(tab.run_controls.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: set(tab.models) == {"maml", "baseline"}, timeout=20_000)
    tab.loss_plot.redraw_now()
    for kind in ("maml", "baseline"):  # the loss curves are in the plot, with data
        curve = tab.loss_plot.curves[kind]
        assert (
            curve in tab.loss_plot.getPlotItem().items
            and len(curve.getData()[0]) == tab.loss_plot.series[kind].size > 0
        )
    assert tab.controller.state == "idle" and tab.run_controls.start_button.isEnabled()
    scratch = tab._run_dir
    assert scratch is not None and any(scratch.rglob("*.pt"))  # the runs' checkpoints, loaded into memory by now
    tab.shutdown()
    assert not scratch.exists()  # closing the window leaves nothing behind in the temporary folder


def test_a_tab_that_never_trains_makes_no_scratch_folder(tab):
    assert tab._run_dir is None
    tab.shutdown()
    assert tab._run_dir is None


def test_the_tab_reaches_the_engine_only_through_its_facade():
    """gui/regression imports no torch, and from the engine only engine.api_regression (events and config allowed)."""
    import ast

    from conftest import REPO

    for path in sorted((REPO / "gui" / "regression").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                assert name.split(".")[0] != "torch", f"{path.name} imports {name}"
                allowed = ("engine.api_regression", "engine.events", "engine.config")
                if name.startswith("engine") and name != "engine":  # a module, or a name from one (events' classes)
                    assert name in allowed or name.rsplit(".", 1)[0] in allowed, f"{path.name} imports {name}"
