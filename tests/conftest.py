"""Shared test setup: headless Qt, small thread counts, shared data fixtures."""

from __future__ import annotations

import atexit
import faulthandler
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTEST_QT_API", "pyside6")
# One intra-op thread (also inherited by CLI subprocesses): on this shared 2-core machine, torch's
# default 2 OpenMP threads ran a Conv-4 MAML task ~19x slower under load (spinning at barriers).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Runs use one process unless a test asks for helpers (tests/test_task_workers.py): a helper's
# import of torch costs ~2 s of CPU, which hundreds of short runs would pay for nothing.
os.environ.setdefault("META_PLAYGROUND_WORKERS", "1")
# Preferences that no test passes explicitly (the file dialogs' last folder, say) go to a private file,
# never to the person's own settings.
if "META_PLAYGROUND_SETTINGS" not in os.environ:
    _settings_dir = tempfile.mkdtemp(prefix="meta-playground-test-")
    atexit.register(shutil.rmtree, _settings_dir, ignore_errors=True)  # (subprocesses inherit the variable, not this)
    os.environ["META_PLAYGROUND_SETTINGS"] = os.path.join(_settings_dir, "settings.ini")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# A test that runs this long has hung (the slowest take ~40 s here): print every thread's stack and end the
# run, so that CI fails in minutes with the culprit named instead of waiting out its limit.
HUNG_AFTER_S = float(os.environ.get("META_PLAYGROUND_TEST_HANG_S", "420"))
_real_stderr: list = []


def pytest_configure(config):
    # capture is suspended while plugins configure, so this is the terminal's stderr, not a capture file
    _real_stderr.append(os.fdopen(os.dup(2), "w"))


def pytest_unconfigure(config):
    while _real_stderr:
        _real_stderr.pop().close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    faulthandler.dump_traceback_later(HUNG_AFTER_S, exit=True, file=_real_stderr[0])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session", autouse=True)
def _garbage_collected_on_the_gui_thread(qapp):
    """Collect cycles only on the GUI thread, as the app does (gui.gui_thread_gc).

    Otherwise a worker thread that allocates can run the collector over Qt objects that
    pytest-qt's waits and the windows leave in cycles: that hung a CI run.
    """
    from gui.gui_thread_gc import install_gui_thread_gc

    collector = install_gui_thread_gc(qapp)
    yield collector
    collector.stop()


@pytest.fixture(autouse=True)
def _collect_between_tests(_garbage_collected_on_the_gui_thread):
    yield
    _garbage_collected_on_the_gui_thread.collect_due()
SMALL1 = REPO.parent / "shared" / "datasets" / "omniglot" / "images_background_small1.zip"


@pytest.fixture(scope="session", autouse=True)
def _private_decode_cache(tmp_path_factory):
    """Keep the decode cache of the tests (and of the CLI they start) out of the user's cache folder."""
    old = os.environ.get("META_PLAYGROUND_CACHE_DIR")
    os.environ["META_PLAYGROUND_CACHE_DIR"] = str(tmp_path_factory.mktemp("decode-cache"))
    yield
    if old is None:
        os.environ.pop("META_PLAYGROUND_CACHE_DIR", None)
    else:
        os.environ["META_PLAYGROUND_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def glyph_pool():
    """The built-in glyph set, rendered once per test session."""
    from engine.data import make_glyph_pool

    return make_glyph_pool()


@pytest.fixture(scope="session")
def small_glyph_pool():
    """A small glyph set for fast tests."""
    from engine.data import make_glyph_pool

    return make_glyph_pool(classes={"train": 40, "val": 10, "test": 10}, examples_per_class=20)


@pytest.fixture(scope="session")
def omniglot_small1() -> Path:
    if not SMALL1.is_file():
        pytest.skip(f"real Omniglot not found at {SMALL1} (the shared data folder is absent)")
    return SMALL1


@pytest.fixture(scope="session")
def omniglot_small1_pool(omniglot_small1, tmp_path_factory):
    """Omniglot small1 decoded once per session (from a symlink to the shared zip, rotations on)."""
    from engine.data.omniglot import load_omniglot

    root = tmp_path_factory.mktemp("omniglot-small1")
    (root / omniglot_small1.name).symlink_to(omniglot_small1)
    return load_omniglot(root)


@pytest.fixture(autouse=True)
def _no_dangling_gui_threads(request, monkeypatch):
    """Fail a GUI test (tests/test_gui_*.py) that leaves a QThread or worker thread running.

    Records every QThread started during the test (as napari's conftest does) and,
    after the test and its widgets are torn down, fails if one still runs, or if the
    global QThreadPool or Python's ``threading`` still has workers the test started.
    """
    if not request.module.__name__.rpartition(".")[2].startswith("test_gui"):
        yield
        return
    import threading
    import traceback
    import weakref

    from PySide6.QtCore import QThread, QThreadPool

    started: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
    base_start = QThread.start

    def start_and_record(self, *args):
        started[self] = "".join(traceback.format_stack(limit=6)[:-1])
        return base_start(self, *args)

    monkeypatch.setattr(QThread, "start", start_and_record)
    before = set(threading.enumerate())
    yield
    leaks = []
    for thread, where in list(started.items()):
        try:
            running = thread.isRunning() and not thread.wait(200)  # grace for a thread that is just ending
        except RuntimeError:  # its C++ object is already gone, so it is not running
            continue
        if running:
            leaks.append(f"{type(thread).__name__} started at:\n{where}")
    if not QThreadPool.globalInstance().waitForDone(200):
        leaks.append(f"{QThreadPool.globalInstance().activeThreadCount()} QThreadPool workers still active")
    for thread in set(threading.enumerate()) - before:
        if isinstance(thread, threading._DummyThread):  # a Qt pool thread Python code looked at (torch.export
            continue  # does): not Python's to join; the QThreadPool check above covers it
        thread.join(0.2)
        if thread.is_alive():
            leaks.append(f"Python thread {thread.name!r} still alive")
    if leaks:
        pytest.fail("the test left threads running:\n" + "\n".join(leaks), pytrace=False)


def child_pids() -> set[int]:
    """Process ids of this process's children (Linux /proc), collected over all its threads."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            pass  # the thread ended between listing and reading (CI hit this race)
    return pids


@pytest.fixture
def make_window(qtbot, tmp_path, small_glyph_pool):
    """Build a window on a private settings file and the small glyph pool; wait until it is ready."""
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    def make(pool=None, **values):
        window = MainWindow(settings=open_settings(tmp_path / "settings.ini"), pool=pool or small_glyph_pool)
        qtbot.addWidget(window)
        window.resize(1280, 800)  # the offscreen screen is 800x600; restoreGeometry would shrink the window to it
        window.show()
        with qtbot.waitSignal(window.engineReady, timeout=60_000):
            window.start_loading()
        qtbot.waitUntil(lambda: window.data.pool is not None, timeout=10_000)
        if values:
            window.algorithm_panel.set_values({**window.algorithm_panel.values(), **values})
        return window

    return make
