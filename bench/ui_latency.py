"""GUI-thread stalls while the app meta-trains: a 10 ms QTimer probe during a timed run.

    xvfb-run -a .venv/bin/python bench/ui_latency.py [--seconds 30]

Opens the real main window (preferences in a temporary file), waits for the
engine and the built-in glyphs, starts a run with the default settings and a
time budget, and records the interval between ticks of a 10 ms precise timer
on the GUI thread until the run ends. A responsive window keeps the intervals
near 10 ms; a stall shows up as a long one. The last line of stdout is a JSON
object with the interval percentiles (p50_ms, p99_ms, max_ms).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

PROBE_MS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="the run's time budget")
    parser.add_argument("--algo", default=None, help="default: the window's (engine.config.app_defaults)")
    args = parser.parse_args()

    from gui.app import application
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    app = application()
    tmp = tempfile.TemporaryDirectory()
    window = MainWindow(settings=open_settings(Path(tmp.name) / "settings.ini"))
    window.show()
    ticks: list[float] = []
    collections: list[tuple[float, float, int, float]] = []  # (start, wall ms, generation, CPU ms) of each collection
    gc_began: dict = {}

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_began["t"], gc_began["cpu"] = time.perf_counter(), time.thread_time()
        elif "t" in gc_began:
            collections.append((gc_began["t"], 1000 * (time.perf_counter() - gc_began.pop("t")), info["generation"],
                                1000 * (time.thread_time() - gc_began.pop("cpu"))))

    gc.callbacks.append(on_gc)
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PROBE_MS)
    cpu: list[float] = []  # the GUI thread's CPU time at each tick: busy itself, or kept waiting?
    probe.timeout.connect(lambda: (ticks.append(time.perf_counter()), cpu.append(time.thread_time())))
    result: dict = {}

    def start_when_ready() -> None:
        if window.data is None or window.data.pool is None:
            QTimer.singleShot(50, start_when_ready)
            return
        algo = {}
        if args.algo:  # another algorithm, with the task shape the window gives it
            from engine.config import recommended_shape

            algo = {"algo": args.algo, **recommended_shape(args.algo)}
        window.algorithm_panel.set_values({**algo, "iterations": 1_000_000, "time_budget": args.seconds})
        window.controller.runStarted.connect(lambda *_: probe.start())
        window.start_run()

    def on_finished(_generation, finished) -> None:
        probe.stop()
        result["iterations"] = finished.iterations if finished else 0
        result["run_seconds"] = round(finished.seconds, 2) if finished else 0
        window.close()

    window.controller.runFinished.connect(on_finished)
    QTimer.singleShot(0, window.start_loading)
    QTimer.singleShot(0, start_when_ready)
    app.exec()
    tmp.cleanup()
    gc.callbacks.remove(on_gc)
    intervals = np.diff(np.array(ticks)) * 1000.0
    p50, p99 = np.percentile(intervals, [50, 99])
    # what the longest stalls overlapped: a cycle collection (GUI thread, gui.gui_thread_gc) or not
    worst = np.argsort(intervals)[-8:][::-1]
    long = intervals > 25
    busy_share = float(np.sum(np.diff(np.array(cpu))[long] * 1000) / max(1e-9, np.sum(intervals[long])))
    print(f"{int(long.sum())} intervals over 25 ms; the GUI thread was busy for {100 * busy_share:.0f}% of their time")
    for i in worst:
        a, b = ticks[i], ticks[i + 1]
        during = [
            f"gen{g} {ms:.0f} ms ({cpu:.0f} ms CPU)" for t, ms, g, cpu in collections if t < b and t + ms / 1000 > a
        ]
        busy = 1000 * (cpu[i + 1] - cpu[i])
        print(
            f"stall {intervals[i]:.1f} ms at {a - ticks[0]:.1f} s, GUI thread busy {busy:.0f} ms of it; "
            f"collections during it: {', '.join(during) or 'none'}"
        )
    gc_ms = [ms for _, ms, _, _ in collections]
    print(
        f"{len(intervals)} probe intervals over a {result.get('run_seconds')} s run "
        f"of {result.get('iterations')} iterations"
    )
    print(f"interval between {PROBE_MS} ms ticks: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {intervals.max():.1f} ms")
    print(
        json.dumps(
            {
                "p50_ms": round(float(p50), 2),
                "p99_ms": round(float(p99), 2),
                "max_ms": round(float(intervals.max()), 2),
                "ticks": int(len(intervals)),
                "probe_ms": PROBE_MS,
                **result,
                "gc_collections": len(gc_ms),
                "gc_max_ms": round(max(gc_ms), 2) if gc_ms else 0.0,
                "platform": QApplication.platformName()
                if QApplication.instance()
                else os.environ.get("QT_QPA_PLATFORM", ""),
            }
        )
    )


if __name__ == "__main__":
    main()
