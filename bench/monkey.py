"""Soak the main window with a seeded random walk of user actions (issue 21); see tests/monkey_actions.py.

    QT_QPA_PLATFORM=offscreen python bench/monkey.py --actions 2000 --seed 1 [--seeds 5] [--stall-limit-ms 1000]

``--seeds K`` walks seeds S, S+1, ... S+K-1 one after the other in this
process (one QApplication). Progress and every failure (with its seed and the
actions before it) go to stdout; the last line is one JSON object: actions,
uncaught_exceptions, qt_messages, threads_left, processes_left, max_stall_ms,
p99_stall_ms, seconds, rss_start_mb, rss_end_mb, per seed figures.
Exit status 0 only when nothing was uncaught and nothing was left running
(stalls over the limit are counted and reported, and fail only with --strict-stalls:
on a loaded machine they measure the load).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("META_PLAYGROUND_WORKERS", "1")  # no helper processes: runs stay tiny
os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import REPO, emit, rss_mb  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=1000, help="actions per seed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1, help="how many consecutive seeds to walk")
    ap.add_argument("--stall-limit-ms", type=float, default=1000.0)
    ap.add_argument("--strict-stalls", action="store_true", help="a stall over the limit also fails the run")
    args = ap.parse_args()

    from monkey_actions import Monkey

    from engine.data import make_glyph_pool
    from gui.app import application

    application()
    pool = make_glyph_pool(classes={"train": 40, "val": 10, "test": 10}, examples_per_class=20)
    rss_start = rss_mb()
    began = time.perf_counter()
    total: dict = {"actions": 0, "skipped": 0, "uncaught_exceptions": 0, "qt_messages": 0, "threads_left": 0,
                   "processes_left": 0, "stalls_over_limit": 0, "closes": 0}
    gaps: list[float] = []
    per_seed = []
    by_action: dict[str, list[int]] = {}  # action -> [done, found disabled]
    failures = []
    for seed in range(args.seed, args.seed + args.seeds):
        with tempfile.TemporaryDirectory(prefix=f"monkey-{seed}-") as tmp:
            monkey = Monkey(seed, Path(tmp), pool=pool, stall_limit_ms=args.stall_limit_ms,
                            log=lambda text: print(text, flush=True))
            figures = monkey.walk(args.actions, progress_every=max(50, args.actions // 10))
        for key in total:
            total[key] += getattr(figures, key)
        gaps += figures.gaps_ms
        per_seed.append({"seed": seed, "actions": figures.actions, "failures": len(monkey.failures),
                         "closes": figures.closes, "windows_alive_after_close": figures.windows_alive,
                         "rss_mb": round(rss_mb(), 1),
                         **figures.stall_summary()})
        for name, (done, disabled) in figures.by_action.items():
            by_action.setdefault(name, [0, 0])
            by_action[name][0] += done
            by_action[name][1] += disabled
        bad = [f for f in monkey.failures if not f.startswith("GUI stall")]
        if bad:
            failures.append(seed)
            trail = Path(tempfile.gettempdir()) / f"monkey-seed-{seed}-actions.json"
            trail.write_text(monkey.replay_text(), encoding="utf-8")
            print(f"seed {seed} FAILED ({len(bad)}): reproduce with python bench/monkey.py --actions "
                  f"{args.actions} --seed {seed}; every action in order: {trail}", flush=True)
        print(f"seed {seed}: {figures.actions} actions, {len(monkey.failures)} failures, "
              f"{figures.stall_summary()}, rss {rss_mb():.0f} MB", flush=True)
    from monkey_actions import Figures

    stalls = Figures(gaps_ms=gaps).stall_summary()
    result = {**total, "seeds": list(range(args.seed, args.seed + args.seeds)), "failed_seeds": failures,
              "max_stall_ms": stalls["max_stall_ms"], "p99_stall_ms": stalls["p99_stall_ms"],
              "median_stall_ms": stalls["median_stall_ms"], "stall_limit_ms": args.stall_limit_ms,
              "seconds": round(time.perf_counter() - began, 1), "rss_start_mb": round(rss_start, 1),
              "rss_end_mb": round(rss_mb(), 1), "load_average": os.getloadavg()[0], "per_seed": per_seed,
              "by_action_done_disabled": by_action}
    emit(result)
    ok = not (total["uncaught_exceptions"] or total["qt_messages"] or total["threads_left"]
              or total["processes_left"] or (args.strict_stalls and total["stalls_over_limit"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
