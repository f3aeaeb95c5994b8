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
