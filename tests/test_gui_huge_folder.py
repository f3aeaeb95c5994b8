"""A folder of 10,000 images (issue 21): progress is shown, the window stays responsive, and the load can
be cancelled (by choosing another source, or by closing the window) without waiting for the decoding."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QThreadPool, QTimer

IMAGES = 10_000


@pytest.fixture(scope="module")
def huge_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("huge folder ñ")
    rng = np.random.default_rng(0)
    for c in range(100):
        folder = root / f"class {c:03d}"
        folder.mkdir()
        for i in range(IMAGES // 100):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def _longest_gap_while(qtbot, condition, timeout_ms: int) -> float:
    """Wait for ``condition`` while a 20 ms heartbeat measures the longest the event loop went unserved (ms)."""
    gaps, last = [0.0], [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(1000 * (now - last[0]) - 20)
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(20)
    try:
        qtbot.waitUntil(condition, timeout=timeout_ms)
    finally:
        timer.stop()
    return max(gaps)


@pytest.mark.slow
def test_a_huge_folder_shows_progress_stays_responsive_and_can_be_cancelled(qtbot, make_window, huge_folder):
    window = make_window()
    progress = []
    window.data.loadProgress.connect(lambda done, total: progress.append((done, total)))
    window.data_panel.set_source("folder", str(huge_folder))
    gap = _longest_gap_while(qtbot, lambda: len(progress) >= 2, 60_000)
    assert progress[-1][1] == IMAGES and 0 <= progress[0][0] < progress[-1][0] < IMAGES
    assert "of 10,000" in window.data_panel.message.text()
    assert gap < 3000, f"the event loop went unserved for {gap:.0f} ms while the folder loaded"
    began = time.perf_counter()
    window.data_panel.set_source("synthetic")  # cancels the folder load
    qtbot.waitUntil(lambda: window.data.pool is not None, timeout=10_000)
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=5_000)
    assert time.perf_counter() - began < 5.0
    assert window.data_panel.source() == "synthetic" and "of 10,000" not in window.data_panel.message.text()


@pytest.mark.slow
def test_closing_while_a_huge_folder_loads_does_not_wait_for_it(qtbot, make_window, huge_folder):
    window = make_window()
    progress = []
    window.data.loadProgress.connect(lambda done, total: progress.append(done))
    window.data_panel.set_source("folder", str(huge_folder))
    qtbot.waitUntil(lambda: len(progress) >= 1, timeout=60_000)
    began = time.perf_counter()
    window.close()
    assert time.perf_counter() - began < 5.0
    assert QThreadPool.globalInstance().activeThreadCount() == 0
