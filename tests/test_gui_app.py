"""Launching the app: main.py smoke test, the missing-display message, and the plot buffers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(PYTHONPATH=str(REPO), META_PLAYGROUND_SETTINGS=str(tmp_path / "settings.ini"), **extra)
    return env


def test_main_py_opens_the_window_and_quits_by_itself(tmp_path):
    env = _env(
        tmp_path, QT_QPA_PLATFORM="offscreen", META_PLAYGROUND_QUIT_AFTER_MS="1500", META_PLAYGROUND_ANNOUNCE_SHOWN="1"
    )
    proc = subprocess.run([sys.executable, str(REPO / "main.py")], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # the shell is painted first, then the tabs are built and painted
    assert "window shown" in lines and "window loaded" in lines
    assert lines.index("window shown") < lines.index("window loaded")
    assert "Traceback" not in proc.stderr and "QThread" not in proc.stderr
    assert (tmp_path / "settings.ini").is_file()  # preferences were written to the redirected file only


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_terminal_ctrl_c_or_a_kill_closes_the_window_as_quit_does(tmp_path, number):
    env = _env(tmp_path, QT_QPA_PLATFORM="offscreen", META_PLAYGROUND_ANNOUNCE_SHOWN="1")
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # (blocks until the window has built its tabs)
            if line.strip() == "window loaded":
                break
        proc.send_signal(number)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert (tmp_path / "settings.ini").is_file()  # the window closed as Quit closes it: its preferences kept


def test_a_signal_closes_an_open_dialog_first_then_the_window(qtbot):
    from PySide6.QtWidgets import QMessageBox, QWidget

    from gui.app import close_on_signals

    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    dialog = QMessageBox(QMessageBox.Icon.Question, "Save?", "Save the model?", QMessageBox.StandardButton.Yes
                         | QMessageBox.StandardButton.Save, window)  # nothing for Escape: close() is ignored
    dialog.setModal(True)
    dialog.show()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        close_on_signals(window, (signal.SIGTERM,))
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not dialog.isVisible()


def test_without_a_display_the_app_says_what_to_do_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "main.py")], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "QT_QPA_PLATFORM=offscreen" in lines[0]


def test_display_problem_names_the_missing_xcb_libraries():
    from gui.app import XCB_PACKAGES, display_problem

    missing = display_problem({"DISPLAY": ":0"}, "linux", find_library=lambda name: None)
    assert XCB_PACKAGES in missing and "QT_QPA_PLATFORM=offscreen" in missing
    assert display_problem({"DISPLAY": ":0"}, "linux", find_library=lambda name: "libxcb-cursor.so.0") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None


def test_growing_series_doubles_and_keeps_its_data():
    from gui.metrics_plot import GrowingSeries, RunMetrics

    series = GrowingSeries(2, capacity=4)
    for i in range(10):
        series.append(i, 2 * i)
    assert series.capacity == 16 and series.size == 10
    assert np.array_equal(series.column(1), 2 * np.arange(10))
    run = RunMetrics()
    for i, loss in enumerate([1.0, 3.0], start=1):
        run.add_iteration(i, loss, 50.0)
    # the smoothed loss is a bias-corrected EMA: it starts at the first value, then weights the newest by ~alpha
    assert run.train.column(2)[0] == pytest.approx(1.0)
    assert run.train.last(2) == pytest.approx((0.95 * 0.05 * 1.0 + 0.05 * 3.0) / (1 - 0.95**2))


def test_episode_mosaic_puts_each_class_on_its_own_row():
    from gui.episode_view import GAP, SECTION_GAP, mosaic

    support = np.stack([np.full((2, 28, 28), 10 * (c + 1), np.uint8) for c in range(3)])  # 3-way 2-shot
    queries = np.stack([np.full((4, 28, 28), 200 + c, np.uint8) for c in range(3)])
    image = mosaic(support, queries)
    assert image.shape == (3 * (28 + GAP), 2 * (28 + GAP) + SECTION_GAP + 4 * (28 + GAP))
    for c in range(3):
        row = c * (28 + GAP) + 5
        assert image[row, 5] == 10 * (c + 1) and image[row, 28 + GAP + 5] == 10 * (c + 1)
        assert image[row, 2 * (28 + GAP) + SECTION_GAP + 5] == 200 + c


def test_episode_mosaic_wraps_many_classes_into_blocks():
    from gui.episode_view import BLOCK_GAP, GAP, SECTION_GAP, choose_blocks, mosaic

    assert choose_blocks(5, 1, 5) == 1  # a usual 5-way task stays one block of rows
    blocks = choose_blocks(32, 1, 1)  # SimpleShot's batch: one thin column otherwise
    assert blocks > 1
    support = np.stack([np.full((1, 28, 28), c + 1, np.uint8) for c in range(32)])
    queries = np.stack([np.full((1, 28, 28), 100 + c, np.uint8) for c in range(32)])
    image = mosaic(support, queries, blocks=blocks)
    rows = -(-32 // blocks)
    width = (28 + GAP) + SECTION_GAP + (28 + GAP)
    assert image.shape == (rows * (28 + GAP), blocks * width + (blocks - 1) * BLOCK_GAP)
    assert 1.0 < image.shape[1] / image.shape[0] < 2.6
    for c in range(32):  # class c: block c // rows, row c % rows; support then query
        x0, y = (c // rows) * (width + BLOCK_GAP), (c % rows) * (28 + GAP) + 5
        assert image[y, x0 + 5] == c + 1 and image[y, x0 + 28 + GAP + SECTION_GAP + 5] == 100 + c
