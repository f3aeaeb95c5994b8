"""Closing the window while background work is in flight leaves nothing running (issue 21).

Found by bench/monkey.py --seed 101 ("3 pool workers" left after close and reopen): a call that
finished while the window was shutting down delivered its result afterwards, and its handler started
new work (a loaded data set samples an episode, a finished run loads its model into the New classes
tab) on a window that had already waited for its workers.
"""

from __future__ import annotations

from PySide6.QtCore import QThreadPool


def test_work_that_ends_during_close_starts_no_new_work(qtbot, make_window, tmp_path):
    from PIL import Image

    window = make_window(ways=2, shots=1, queries=1, val_every=0)
    for c in range(4):
        (tmp_path / "data" / f"c{c}").mkdir(parents=True)
        for i in range(3):
            Image.new("L", (28, 28), 40 * c + i).save(tmp_path / "data" / f"c{c}" / f"{i}.png")
    started = []
    window.data.episodeReady.connect(lambda *_: started.append("episode"))
    window.data_panel.set_source("folder", str(tmp_path / "data"))  # a load on a worker; its result samples
    window.close()  # waits for the load; its result is queued and must not start an episode sample now
    qtbot.wait(200)  # deliver whatever was queued (a wait for something that must NOT happen)
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    assert started == []


def test_closing_during_a_long_adapt_does_not_wait_for_it(qtbot):
    """Found by tests/test_monkey.py (seed 21): an Adapt of 200 steps with many examples per class (its
    leave-one-out estimate adapts once more per example) kept the closing window waiting 40 s, then ran on
    with the window gone. Now it stops at its next step or fold."""
    import time

    import numpy as np

    from engine import api
    from engine.config import TrainConfig
    from gui.workspace import NewClassesWorkspace

    workspace = NewClassesWorkspace()
    qtbot.addWidget(workspace)
    workspace.set_model(api.new_model(TrainConfig(algo="maml", ways=2, shots=1, device="cpu")))
    workspace.board.set_count(2)
    rng = np.random.default_rng(0)
    for c in range(2):
        workspace.board.add(c, list(rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)))
    workspace.steps.setValue(200)
    with qtbot.waitSignal(workspace._relay.step, timeout=30_000):
        workspace.adapt()
    began = time.perf_counter()
    workspace.wait_for_workers()
    assert time.perf_counter() - began < 5.0
    assert QThreadPool.globalInstance().activeThreadCount() == 0
