"""Python's cycle collector runs on the GUI thread only (gui.gui_thread_gc).

A worker that allocates must not collect cycles made on the GUI thread: those can
hold Qt objects, and destroying them off their thread crashed or hung the app.
"""

from __future__ import annotations

import gc
import threading
import weakref

from gui.app import application
from gui.gui_thread_gc import install_gui_thread_gc


class Node:
    pass


def make_garbage_cycle() -> weakref.ref:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def allocate_a_lot() -> list:
    """Many live GC-tracked objects: CPython would collect (gen 0 counts allocations minus frees)."""
    return [[] for _ in range(20_000)]


def test_the_app_collects_on_its_own_thread_only(qapp):
    assert application() is qapp
    assert install_gui_thread_gc(qapp) is install_gui_thread_gc(qapp)
    assert not gc.isenabled()


def test_a_worker_that_allocates_leaves_cycles_to_the_gui_thread(qtbot, qapp):
    collector = install_gui_thread_gc(qapp)
    ref = make_garbage_cycle()
    found_off_thread = []

    def work() -> None:
        kept = allocate_a_lot()
        del kept
        found_off_thread.append(collector.collect_due())  # refused off the GUI thread

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert ref() is not None, "a worker thread ran the cycle collector"
    assert found_off_thread == [0]
    kept = allocate_a_lot()  # past the thresholds, so the GUI-thread timer has something due
    qtbot.waitUntil(lambda: ref() is None, timeout=5_000)
    del kept


WARM_CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
from engine.api import load_engine
load_engine()
before = set(sys.modules)
import torch
from engine.config import TrainConfig
from engine.trainer import RunControl, run
from engine.data import load_source
list(run(TrainConfig(iterations=1, val_every=0, workers=1), RunControl(), pool=load_source("synthetic")))
print(len(set(sys.modules) - before))
"""


def test_the_engine_loader_imports_what_the_first_run_needs():
    """Objects that modules create are frozen out of the GUI thread's collections only if they exist when
    the window settles (right after load_engine). The first Adam imports ~900 modules (torch._dynamo);
    made at the first Start instead, they stalled collections on the GUI thread for up to 114 ms."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", WARM_CHECK, str(repo)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) < 20, "a first run imported modules that load_engine should have"
