"""The Meta-train tab end to end, offscreen: runs, pause/resume/stop, closing, refusal, files.

Runs are tiny (a few iterations of a 5-way task on the small glyph pool) so
each test takes seconds; waits are on signals or conditions, never sleeps.
"""

from __future__ import annotations

import time

import pytest

TINY = {"iterations": 5, "meta_batch": 2, "queries": 5, "val_every": 5, "val_episodes": 5, "ways": 5, "shots": 1}
LONG = {**TINY, "iterations": 100_000, "val_every": 0}


def iterations_plotted(window) -> int:
    return window.plot.current.train.size if window.plot.current is not None else 0


def test_a_short_run_started_from_the_gui_fills_the_plots_and_finishes(qtbot, make_window):
    window = make_window(**TINY)
    assert window.windowTitle() == "Meta Playground"
    assert window.run_controls.start_button.isEnabled() and not window.run_controls.stop_button.isEnabled()
    # (5 s alone; a 60-s wait once ran out beside other heavy jobs on the 2-core machine, so the wait is generous)
    with qtbot.waitSignal(window.controller.runFinished, timeout=180_000) as blocker:
        window.start_action.trigger()  # Ctrl+R
        assert window.controller.state == "running"
        assert window.run_controls.stop_button.isEnabled() and not window.run_controls.start_button.isEnabled()
    generation, finished = blocker.args
    assert finished.reason == "completed" and finished.iterations == 5
    window.plot.redraw_now()
    x, y = window.plot.loss_raw.getData()
    assert list(x) == [1, 2, 3, 4, 5] and all(v > 0 for v in y)
    assert len(window.plot.acc_smooth.getData()[0]) == 5
    vx, vacc = window.plot.val_curve.getData()
    assert list(vx) == [5] and 0 <= vacc[0] <= 100
    assert window.run_controls.progress.value() == 1000
    assert window.run_controls.start_button.isEnabled() and not window.run_controls.pause_button.isEnabled()
    assert "validation accuracy" in window.statusBar().currentMessage()


def test_pause_resume_and_stop(qtbot, make_window):
    window = make_window(**LONG)
    controller = window.controller
    window.start_run()
    qtbot.waitUntil(lambda: iterations_plotted(window) >= 2, timeout=30_000)
    window.pause_action.trigger()  # Space / Ctrl+P
    assert controller.state == "paused" and window.run_controls.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: controller.worker_is_paused, timeout=10_000)
    qtbot.waitUntil(lambda: not controller.has_pending_events, timeout=5_000)
    held = iterations_plotted(window)
    qtbot.wait(300)  # the worker is blocked in the pause: nothing may arrive meanwhile
    assert iterations_plotted(window) == held
    window.pause_action.trigger()
    assert controller.state == "running" and window.run_controls.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: iterations_plotted(window) > held, timeout=30_000)
    with qtbot.waitSignal(controller.runFinished, timeout=5_000) as blocker:
        window.stop_action.trigger()  # Esc
        assert controller.state == "stopping" and not window.run_controls.stop_button.isEnabled()
    assert blocker.args[1].reason == "stopped"
    assert controller.state == "idle" and window.run_controls.start_button.isEnabled()


@pytest.mark.parametrize("paused", [False, True], ids=["running", "paused"])
def test_a_stop_request_ends_the_worker_within_a_second(qtbot, make_window, paused):
    # a big meta-batch, so that the stop lands in the middle of one
    window = make_window(**{**LONG, "meta_batch": 64})
    window.start_run()
    qtbot.waitUntil(lambda: iterations_plotted(window) >= 1, timeout=60_000)
    if paused:
        window.controller.pause()
    with qtbot.waitSignal(window.controller.runFinished, timeout=5_000):
        began = time.perf_counter()
        window.controller.stop()
    assert time.perf_counter() - began < 1.0
    assert not window.controller.is_active


def test_closing_during_a_run_stops_it_and_leaves_no_thread(qtbot, make_window):
    window = make_window(**LONG)
    window.start_run()
    qtbot.waitUntil(lambda: iterations_plotted(window) >= 1, timeout=30_000)
    thread = window.controller._thread
    began = time.perf_counter()
    window.close()
    assert time.perf_counter() - began < 5.0
    assert not thread.isRunning() and not window.controller.is_active
    # (the autouse fixture in conftest.py also fails the test if any thread is left)


def test_events_of_an_older_run_are_dropped(qtbot, make_window):
    from engine.events import IterationMetrics

    window = make_window(**TINY)
    for _ in range(2):
        with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
            window.start_run()
    seen = []
    window.controller.eventsArrived.connect(lambda generation, events: seen.extend(events))
    window.controller._queue.append((1, IterationMetrics(1, 6, 5, 9.9, 0.5, 1.0, 1.0)))
    window.controller._on_drain()
    assert seen == [] and iterations_plotted(window) == 5
    assert len(window.plot.earlier) == 1  # the first run stays, faded, for comparison


@pytest.mark.parametrize(
    "values, expected",
    [({"ways": 50}, "50-way tasks need 50 classes"), ({"shots": 0}, "shots must be at least 1")],
    ids=["ways-50-on-a-small-pool", "zero-shots"],
)
def test_an_impossible_setting_is_refused_with_a_visible_message(make_window, values, expected):
    window = make_window(**TINY)
    assert window.run_controls.start_button.isEnabled()
    window.algorithm_panel.set_values({**window.algorithm_panel.values(), **values})
    assert window.invalid_label.isVisible() and expected in window.invalid_label.text()
    assert not window.run_controls.start_button.isEnabled() and not window.start_action.isEnabled()
    window.start_action.trigger()
    assert not window.controller.is_active
    window.algorithm_panel.set_values(TINY)
    assert not window.invalid_label.isVisible() and window.run_controls.start_button.isEnabled()


def test_a_data_error_is_shown_in_the_data_panel(qtbot, make_window, tmp_path):
    window = make_window(**TINY)
    empty = tmp_path / "no-classes"
    empty.mkdir()
    window.data_panel.set_source("folder", str(empty))
    qtbot.waitUntil(lambda: "no class subfolders" in window.data_panel.message.text(), timeout=10_000)
    assert "color: #b00020" in window.data_panel.message.styleSheet()
    assert not window.run_controls.start_button.isEnabled()


def test_save_open_and_export_from_the_file_menu(qtbot, make_window, tmp_path):
    from engine.checkpoint import load_checkpoint

    window = make_window(**TINY)
    assert not window.files.save_model(str(tmp_path / "none.pt"))
    assert "no model to save" in window.run_controls.message.text()
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
        window.start_run()
    assert window.files.save_model(str(tmp_path / "model.pt"))
    assert load_checkpoint(tmp_path / "model.pt")["iteration"] == 5
    assert window.files.export_csv(str(tmp_path / "metrics.csv"))
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("iteration,loss") and len(lines) == 6 and lines[-1].split(",")[-2] != ""
    assert window.files.export_png(str(tmp_path / "plots.png"))
    assert (tmp_path / "plots.png").read_bytes()[:4] == b"\x89PNG"

    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    window.files.open_model(str(tmp_path / "bad.pt"))
    qtbot.waitUntil(lambda: "Could not open the model" in window.run_controls.message.text(), timeout=10_000)
    assert "not a Meta Playground checkpoint" in window.statusBar().currentMessage()

    window.algorithm_panel.set_values({"ways": 3})
    with qtbot.waitSignal(window.modelChanged, timeout=20_000):
        window.files.open_model(str(tmp_path / "model.pt"))
    assert window.algorithm_panel.ways.value() == 5  # the model's settings come back with it
    assert window.plot.current.train.size == 5 and window.checkpoint == str(tmp_path / "model.pt")


def test_preferences_survive_a_restart(qtbot, make_window):
    window = make_window(**{**TINY, "ways": 7, "algo": "maml"})
    window.main_splitter.setSizes([560, 720])
    share = window.main_splitter.sizes()[0] / sum(window.main_splitter.sizes())
    window.close()
    again = make_window()
    values = again.algorithm_panel.values()
    assert values["ways"] == 7 and values["algo"] == "maml" and values["iterations"] == 5
    assert again.data_panel.source() == "synthetic"
    left, right = again.main_splitter.sizes()
    assert left / (left + right) == pytest.approx(share, abs=0.01)


def test_start_pressed_while_the_engine_loads_runs_once_ready(qtbot, tmp_path, small_glyph_pool):
    from gui.main_window import MainWindow
    from gui.settings import open_settings, write_json

    settings = open_settings(tmp_path / "settings.ini")
    write_json(settings, "run/hyperparameters", TINY)
    window = MainWindow(settings=settings, pool=small_glyph_pool)
    qtbot.addWidget(window)
    window.show()
    assert window.start_action.isEnabled() and not window.run_controls.start_button.isEnabled()
    window.start_action.trigger()  # Ctrl+R right after launch
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000) as blocker:
        window.start_loading()
    assert blocker.args[1].reason == "completed" and blocker.args[1].iterations == 5


def test_the_compare_and_regression_tabs_are_built_when_first_shown(qtbot, make_window):
    from gui.compare_view import CompareView
    from gui.regression import RegressionTab

    window = make_window()
    assert window.regression_tab is None and window._compare_view is None  # not needed to open the window
    assert window.show_tab("Compare")
    view = window._compare_view
    assert isinstance(view, CompareView)
    assert view.algo_list.count() > 0  # built after the engine loaded: it still lists the algorithms
    assert window.show_tab("Regression")
    tab = window.regression_tab
    assert isinstance(tab, RegressionTab)
    qtbot.waitUntil(tab.isVisible, timeout=5_000)  # a widget added to a shown layout shows on the next event loop
    assert window.show_tab("Meta-train") and window.show_tab("Regression") and window.show_tab("Compare")
    assert window.regression() is tab and window.compare_view is view  # built once


def test_an_episodic_finish_is_announced_when_it_begins_and_counted_when_the_run_ends(qtbot, make_window):
    window = make_window(**{**TINY, "iterations": 6, "val_every": 0, "algo": "protohead", "episodic_finish": 0.5})
    assert "the last 50% on 20-way one-alphabet episodes" in window.algorithm_panel.recipe_note.text()
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
        window.start_run()
    assert any("the episodic finish begins" in m for m in messages)
    assert any("the last 3 on 20-way 1-shot episodes of one alphabet" in m for m in messages)
