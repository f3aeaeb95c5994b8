"""The app's meta-training with helper processes (Algorithm ▸ Processes): shown, stopped, cleaned up."""

from __future__ import annotations

import os

import pytest
from conftest import child_pids

pytestmark = pytest.mark.skipif(os.name != "posix", reason="helper processes need POSIX")

RUN = {
    "algo": "fomaml",
    "ways": 5,
    "shots": 1,
    "queries": 2,
    "meta_batch": 4,
    "iterations": 100_000,
    "val_every": 0,
    "workers": 2,
}


def test_a_run_with_two_processes_says_so_and_stops_without_leftovers(qtbot, make_window):
    before = child_pids()
    window = make_window(**RUN)
    assert window.algorithm_panel.values()["workers"] == 2
    window.start_run()
    # the helper joins once it has imported torch; the status line then names the processes
    qtbot.waitUntil(lambda: "2 processes" in window.run_controls.rate_label.text(), timeout=90_000)
    assert child_pids() - before, "no helper process was started"
    with qtbot.waitSignal(window.controller.runFinished, timeout=10_000) as blocker:
        window.stop_action.trigger()
    assert blocker.args[1].reason == "stopped"
    qtbot.waitUntil(lambda: not (child_pids() - before), timeout=5_000)


def test_processes_default_to_auto(make_window):
    window = make_window()
    panel = window.algorithm_panel
    assert panel.values()["workers"] == 0 and panel.workers.text() == "Auto"
    panel.workers.setValue(3)
    assert panel.values()["workers"] == 3


def test_closing_the_window_mid_run_ends_the_helper_too(qtbot, make_window):
    before = child_pids()
    window = make_window(**RUN)
    window.start_run()
    qtbot.waitUntil(lambda: "2 processes" in window.run_controls.rate_label.text(), timeout=90_000)
    window.close()
    assert not window.controller.is_active
    qtbot.waitUntil(lambda: not (child_pids() - before), timeout=5_000)
