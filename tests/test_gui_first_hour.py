"""What a newcomer meets in the first hour: runs keep their models, status text that is never stale.

Offscreen, on the small glyph pool, with tiny runs; waits are on signals or conditions.
"""

from __future__ import annotations

from pathlib import Path

from test_gui_window import LONG, TINY, iterations_plotted


def _finish_a_run(qtbot, window):
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000) as blocker:
        window.start_run()
    return blocker.args[1]


def test_a_stopped_run_never_replaces_a_finished_model_silently(qtbot, make_window):
    window = make_window(**TINY)
    first = _finish_a_run(qtbot, window)
    assert first.reason == "completed"
    assert window.checkpoint == first.checkpoint
    qtbot.waitUntil(lambda: window.workspace.model_choice.count() == 1, timeout=5_000)

    window.algorithm_panel.set_values({**window.algorithm_panel.values(), **LONG})
    window.start_run()
    qtbot.waitUntil(lambda: iterations_plotted(window) >= 1, timeout=30_000)
    with qtbot.waitSignal(window.controller.runFinished, timeout=10_000) as blocker:
        window.controller.stop()
    stopped = blocker.args[1]
    assert stopped.reason == "stopped" and Path(stopped.checkpoint).is_file()
    # the finished model stays in use; the stopped one is kept and offered, and the window says so
    assert window.checkpoint == first.checkpoint
    assert "still uses the finished model of #1" in window.run_controls.message.text()
    combo = window.workspace.model_choice
    qtbot.waitUntil(lambda: combo.count() == 2, timeout=5_000)
    assert combo.currentData() == first.checkpoint
    assert "stopped" in combo.itemText(combo.findData(stopped.checkpoint))

    # choosing the stopped run on the New classes tab makes it the current model
    with qtbot.waitSignal(window.modelChanged, timeout=5_000):
        combo.activated.emit(combo.findData(stopped.checkpoint))
    assert window.checkpoint == stopped.checkpoint


def test_run_models_outlive_the_window(qtbot, make_window):
    window = make_window(**TINY)
    finished = _finish_a_run(qtbot, window)
    window.close()
    assert Path(finished.checkpoint).is_file()


def test_a_finished_run_after_a_stopped_one_takes_over(qtbot, make_window):
    window = make_window(**LONG)
    window.start_run()
    qtbot.waitUntil(lambda: iterations_plotted(window) >= 1, timeout=30_000)
    with qtbot.waitSignal(window.controller.runFinished, timeout=10_000) as blocker:
        window.controller.stop()
    assert window.checkpoint == blocker.args[1].checkpoint  # nothing better was there: the stopped model is used
    window.algorithm_panel.set_values({**window.algorithm_panel.values(), **TINY})
    second = _finish_a_run(qtbot, window)
    assert window.checkpoint == second.checkpoint
