"""Long-run soaks: flat memory over 10,000 headless meta-iterations; no thread left by 100 GUI start/stop cycles.

Not part of the test suite (the full runs take long). Targets (issue 8):
resident memory grows by at most 5% from iteration 500 to 10,000; 100 Start
then Stop cycles in the main window leave 0 threads and no memory growth.

    python bench/soak.py headless [--iterations 10000] [--from 500]
    QT_QPA_PLATFORM=offscreen python bench/soak.py gui [--cycles 100]

Each prints progress lines, then one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from common import emit, machine, rss_mb


def os_threads() -> int:
    """Every thread of the process (Qt's and torch's included), from /proc."""
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def headless(args: argparse.Namespace) -> dict:
    """ProtoNet, meta-batch 1, 5-way 1-shot, 5 queries, synthetic glyphs, no validation."""
    from engine.config import TrainConfig
    from engine.data import make_glyph_pool
    from engine.events import Finished, IterationMetrics
    from engine.trainer import run

    pool = make_glyph_pool(classes={"train": 60, "val": 10, "test": 10}, examples_per_class=20)
    config = TrainConfig(algo="protonet", ways=5, shots=1, queries=5, meta_batch=1, iterations=args.iterations,
                         val_every=0, device="cpu", seed=0)
    samples: dict[int, float] = {}
    began = time.perf_counter()
    finished = None
    for event in run(config, pool=pool):
        if isinstance(event, IterationMetrics):
            i = event.iteration
            if i == args.start or i % 1000 == 0 or i == args.iterations:
                samples[i] = round(rss_mb(), 1)
                print(f"iteration {i}: {samples[i]} MB, {time.perf_counter() - began:.0f} s", flush=True)
        elif isinstance(event, Finished):
            finished = event
    start, end = samples[args.start], samples[args.iterations]
    return {"machine": machine(), "soak": "headless", "iterations": finished.iterations, "reason": finished.reason,
            f"rss_mb_{args.start}": start, f"rss_mb_{args.iterations}": end,
            "growth_pct": round(100 * (end - start) / start, 2), "samples": samples,
            "seconds": round(time.perf_counter() - began, 1)}


def gui(args: argparse.Namespace) -> dict:
    """Start then Stop a run in the main window ``cycles`` times, offscreen; count threads and memory."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QThreadPool
    from PySide6.QtTest import QTest

    from engine.data import make_glyph_pool
    from gui.app import application
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    app = application()

    def wait_until(condition, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the window did not reach the expected state")
            QTest.qWait(5)  # runs the Qt event loop meanwhile

    threads_at_start = len(threading.enumerate())
    pool = make_glyph_pool(classes={"train": 40, "val": 10, "test": 10}, examples_per_class=20)
    tmp = Path(tempfile.mkdtemp(prefix="soak-gui-"))
    window = MainWindow(settings=open_settings(tmp / "settings.ini"), pool=pool)
    window.resize(1280, 800)
    window.show()
    window.start_loading()
    wait_until(lambda: window.ready and window.data.pool is not None)
    window.algorithm_panel.set_values({**window.algorithm_panel.values(), "iterations": 100_000, "val_every": 0,
                                       "meta_batch": 1, "queries": 5, "ways": 5, "shots": 1})
    controller = window.controller
    rss, native = {}, {}
    for cycle in range(1, args.cycles + 1):
        window.start_action.trigger()
        wait_until(lambda: controller.state == "running")
        wait_until(lambda: window.plot.current is not None and window.plot.current.train.size >= 1)
        window.stop_action.trigger()
        wait_until(lambda: controller.state == "idle" and not controller.is_active)
        if cycle == 1 or cycle % 10 == 0 or cycle == args.cycles:
            app.processEvents()
            rss[cycle], native[cycle] = round(rss_mb(), 1), os_threads()
            print(
                f"cycle {cycle}: {rss[cycle]} MB, {len(threading.enumerate())} Python threads, "
                f"{native[cycle]} OS threads, "
                f"{QThreadPool.globalInstance().activeThreadCount()} pool threads active",
                flush=True,
            )
    QThreadPool.globalInstance().waitForDone(2000)
    threads_idle = len(threading.enumerate()) - threads_at_start
    pool_active = QThreadPool.globalInstance().activeThreadCount()
    window.close()
    wait_until(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=10)
    threads_after_close = len(threading.enumerate()) - threads_at_start
    first, last = rss[1], rss[args.cycles]
    return {
        "machine": machine(),
        "soak": "gui",
        "cycles": args.cycles,
        "threads_left_idle": threads_idle,
        "pool_threads_active": pool_active,
        "threads_left_after_close": threads_after_close,
        "rss_mb_cycle1": first,
        f"rss_mb_cycle{args.cycles}": last,
        "growth_pct": round(100 * (last - first) / first, 2),
        "samples": rss,
        "os_threads_cycle1": native[1],
        f"os_threads_cycle{args.cycles}": native[args.cycles],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="soak", required=True)
    h = sub.add_parser("headless")
    h.add_argument("--iterations", type=int, default=10_000)
    h.add_argument("--from", dest="start", type=int, default=500)
    g = sub.add_parser("gui")
    g.add_argument("--cycles", type=int, default=100)
    args = ap.parse_args()
    emit(headless(args) if args.soak == "headless" else gui(args))


if __name__ == "__main__":
    main()
