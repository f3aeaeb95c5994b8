"""The Compare tab end to end, offscreen: a tiny 3-algorithm comparison, CSV export, stop, refusal, the gate chart.

Runs are tiny (5 iterations, as tasks/s leaves out the first 3; 5-way 1-shot on
the small glyph pool; 4 shared test tasks) so each test takes seconds; waits are on signals or conditions.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import Qt

TINY = {
    "iterations": 5,
    "meta_batch": 1,
    "queries": 2,
    "val_every": 5,
    "val_episodes": 2,
    "ways": 5,
    "shots": 1,
    "time_budget": None,
}
LONG = {**TINY, "iterations": 100_000, "val_every": 0}
ALGOS = ["protonet", "anil", "moe"]


@pytest.fixture
def make_window(make_window, qtbot):
    """conftest's main window, with the Compare tab in front and a small shared test set."""

    def make(**values):
        window = make_window(**values)
        qtbot.waitUntil(lambda: window.compare_view.algo_list.count() > 0, timeout=10_000)
        assert window.show_tab("Compare")
        window.compare_view.test_episodes.setValue(4)
        return window

    return make


def cell(view, row: int, column: int) -> str:
    return view.table.item(row, column).text()


def test_a_comparison_of_three_algorithms_fills_the_table_curves_gate_and_csv(qtbot, make_window, tmp_path):
    window = make_window(**TINY)
    view = window.compare_view
    view.set_checked(ALGOS)
    assert sorted(view.checked_algorithms()) == sorted(ALGOS)
    assert "5-way 1-shot" in view.shared.text() and "5 meta-iterations" in view.shared.text()
    with qtbot.waitSignal(view.controller.runFinished, timeout=120_000):
        view.start_button.click()
        assert view.controller.is_active and not view.start_button.isEnabled() and view.stop_button.isEnabled()
    order = view.state.algos
    assert sorted(order) == sorted(ALGOS) and view.table.rowCount() == 3
    for row, algo in enumerate(order):
        assert cell(view, row, 0) == algo
        accuracy, ci = cell(view, row, 1).rstrip().split("% ± ")
        assert 0.0 <= float(accuracy) <= 100.0 and float(ci) >= 0.0
        assert float(cell(view, row, 3)) > 0.0  # tasks/s
        assert (
            float(cell(view, row, 2).removesuffix(" s")) > 0.0
            and cell(view, row, 4) == "5"
            and cell(view, row, 5) == "completed"
        )
        loss, train, val = view.curves[algo]
        x, y = loss.getData()
        assert list(x) == [1, 2, 3, 4, 5] and np.all(y > 0)
        vx, vy = val.getData()
        assert list(vx) == [5] and 0.0 <= vy[0] <= 100.0
    assert sorted(item.text for item in [s[1] for s in view.legend.items]) == sorted(ALGOS)
    assert "same 4 test tasks" in view.table_caption.text() and "Chance is 20%" in view.table_caption.text()

    # the mixture of experts' gate over the same test tasks
    assert view.gate_chart.isVisible()
    mean, top = view.gate_chart.values["mean weight"], view.gate_chart.values["share of tasks where it weighs most"]
    assert len(mean) == len(top) >= 2 and mean.sum() == pytest.approx(1.0, abs=1e-5) and top.sum() == pytest.approx(1.0)
    assert view.state.gate.tasks == 4

    assert view.export_button.isEnabled()
    path = view.export_csv(str(tmp_path / "compare.csv"))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["algo"] for r in rows] == order
    for r, result in zip(rows, view.state.results.rows):
        assert 0.0 <= float(r["accuracy"]) <= 1.0 and float(r["accuracy"]) == pytest.approx(result.accuracy)
        assert float(r["tasks_per_second"]) > 0 and r["iterations"] == "5"


def test_stop_ends_the_comparison_and_leaves_no_thread(qtbot, make_window):
    window = make_window(**LONG)
    view = window.compare_view
    view.set_checked(["protonet", "moe"])
    view.start()
    qtbot.waitUntil(
        lambda: bool(view.state.per_algo) and next(iter(view.state.per_algo.values())).metrics.train.size >= 2,
        timeout=30_000,
    )
    with qtbot.waitSignal(view.controller.runFinished, timeout=5_000):
        view.stop_button.click()
        assert view.controller.state == "stopping"
    assert not view.controller.is_active and view.start_button.isEnabled() and not view.stop_button.isEnabled()
    assert not view.state.results.complete and view.state.results.rows == ()
    assert "Stopped early" in view.table_caption.text() and not view.export_button.isEnabled()
    first = next(iter(view.state.per_algo.values()))
    assert first.finished.reason == "stopped" and len(view.state.per_algo) == 1  # the second never started
    # (the autouse fixture in conftest.py fails the test if a thread is left)


def test_closing_the_window_during_a_comparison_stops_it(qtbot, make_window):
    window = make_window(**LONG)
    view = window.compare_view
    view.set_checked(["protonet", "anil"])
    view.start()
    qtbot.waitUntil(lambda: bool(view.state.per_algo), timeout=30_000)
    thread = view.controller._thread
    window.close()
    assert not thread.isRunning() and not view.controller.is_active


@pytest.mark.parametrize(
    "ticked, values, expected",
    [
        (["protonet"], {}, "tick two or more algorithms"),
        (["protonet", "moe"], {"ways": 20}, "20-way tasks need 20 classes"),
    ],
    ids=["one-algorithm", "too-many-ways-for-the-test-split"],
)
def test_an_impossible_comparison_is_refused_in_place(make_window, ticked, values, expected):
    window = make_window(**{**TINY, **values})
    view = window.compare_view
    view.set_checked(ticked)
    view.start()
    assert not view.controller.is_active and expected in view.message.text()
    assert view.message.text().startswith("Cannot start")


def test_task_gate_reads_one_tasks_gate_and_the_chart_shows_it(qtbot, small_glyph_pool):
    from engine.algorithms import AlgoConfig
    from engine.algorithms.moe import MixtureOfExperts
    from engine.algorithms.protonet import ProtoNet
    from engine.api import task_gate
    from engine.models import Conv4
    from engine.tasks import TaskSampler
    from gui.gate_chart import GateChart

    task = TaskSampler(small_glyph_pool, "test", 5, 1, 2, seed=0).episode(0)
    moe = MixtureOfExperts(Conv4(ways=5, channels=8), AlgoConfig(ways=5))
    weights = task_gate(moe.adapt(task.support_x, task.support_y))
    assert isinstance(weights, np.ndarray) and weights.shape == (4,) and weights.sum() == pytest.approx(1.0, abs=1e-5)
    assert (
        task_gate(ProtoNet(Conv4(ways=5, channels=8), AlgoConfig(ways=5)).adapt(task.support_x, task.support_y)) is None
    )
    chart = GateChart()
    qtbot.addWidget(chart)
    chart.show_task(weights)
    assert np.array_equal(chart.values["gate weight"], weights)
    assert f"Expert {int(weights.argmax()) + 1} weighs most" in chart.caption.text()


def test_each_algorithm_has_its_summary_as_tooltip_and_its_paper_in_the_side_note(make_window):
    window = make_window()
    view = window.compare_view
    infos = {a.name: a for a in window.engine.algorithms if a.available}
    assert view.algo_list.count() == len(infos)
    for i in range(view.algo_list.count()):
        item = view.algo_list.item(i)
        assert item.flags() & Qt.ItemFlag.ItemIsUserCheckable and infos[item.text()].summary in item.toolTip()
        view.algo_list.setCurrentRow(i)
        assert infos[item.text()].paper in view.note.text()
