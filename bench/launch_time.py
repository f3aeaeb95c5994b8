"""Seconds from launching ``python main.py`` to its window's first paint, and to its first paint with its tabs built.

    xvfb-run -a .venv/bin/python bench/launch_time.py [--runs 3]

The app prints ``window shown`` once its window is first painted and ``window loaded``
once it is painted with its tabs (trees older than 2026-12-03 built the tabs before the
first paint and print only the first; there the two are the same moment)
(META_PLAYGROUND_ANNOUNCE_SHOWN) and closes itself shortly after
(META_PLAYGROUND_QUIT_AFTER_MS); preferences go to a temporary file. Uses the
display of the environment (a real one, or Xvfb via xvfb-run); with neither,
QT_QPA_PLATFORM=offscreen. The last line of stdout is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def launch_once(settings: Path) -> tuple[float, float]:
    """(seconds to the first paint, seconds to the first paint with the tabs built)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), META_PLAYGROUND_SETTINGS=str(settings),
               META_PLAYGROUND_ANNOUNCE_SHOWN="1", META_PLAYGROUND_QUIT_AFTER_MS="300")
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py")], env=env, stdout=subprocess.PIPE, text=True)
    seen: dict[str, float] = {}
    for line in proc.stdout:
        seen.setdefault(line.strip(), time.perf_counter() - began)
    proc.wait(timeout=120)
    if "window shown" not in seen or proc.returncode != 0:
        raise SystemExit(f"the app exited with {proc.returncode} without showing its window")
    return seen["window shown"], seen.get("window loaded", seen["window shown"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = [launch_once(Path(tmp) / "settings.ini") for _ in range(args.runs)]
    for i, (shown, loaded) in enumerate(times, 1):
        print(f"launch {i}: window shown after {shown:.2f} s, with its tabs after {loaded:.2f} s")
    platform = os.environ.get("QT_QPA_PLATFORM") or ("xcb" if os.environ.get("DISPLAY") else "offscreen")
    print(
        json.dumps(
            {
                "seconds": round(statistics.median(t[0] for t in times), 3),
                "loaded_seconds": round(statistics.median(t[1] for t in times), 3),
                "runs": [round(t[0], 3) for t in times],
                "loaded_runs": [round(t[1], 3) for t in times],
                "platform": platform,
            }
        )
    )


if __name__ == "__main__":
    main()
