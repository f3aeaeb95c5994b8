"""Resident memory over a long meta-training run: flat means no leak.

Records RSS at iteration ``--from`` and at the end; the performance target is
<= 5% growth from iteration 200 to 2,000. The run uses the default processes
(a helper on 2 cores): ``helper_mb`` is the helpers' resident memory, which
must stay flat too.

    python bench/memory.py [--iterations 2000] [--from 200] [--algo protonet] [--meta-batch 2]
"""

from __future__ import annotations

import argparse

from common import emit, load_pool, machine, rss_mb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--from", dest="start", type=int, default=200)
    ap.add_argument("--algo", default="protonet")
    ap.add_argument("--meta-batch", type=int, default=2)
    ap.add_argument("--data", default="synthetic")
    args = ap.parse_args()

    import os
    from pathlib import Path

    from engine.config import TrainConfig
    from engine.events import IterationMetrics
    from engine.trainer import run

    def helpers_mb() -> float:
        """Resident memory of this process's children (the helper processes), in MiB."""
        total = 0.0
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
                except (OSError, IndexError):
                    pass
        return round(total, 1)

    pool = load_pool(args.data)
    config = TrainConfig(
        algo=args.algo, iterations=args.iterations, meta_batch=args.meta_batch, val_every=500, val_episodes=20
    )
    samples, helpers = {}, {}
    for event in run(config, pool=pool):
        if isinstance(event, IterationMetrics) and (
            event.iteration == args.start or event.iteration % 500 == 0 or event.iteration == args.iterations
        ):
            samples[event.iteration], helpers[event.iteration] = round(rss_mb(), 1), helpers_mb()
            print(f"iteration {event.iteration}: {samples[event.iteration]} MB, helpers {helpers[event.iteration]} MB")
    start, end = samples[args.start], samples[args.iterations]
    emit(
        {
            "machine": machine(),
            "algo": args.algo,
            "iterations": args.iterations,
            "rss_mb_start": start,
            "rss_mb_end": end,
            "growth_pct": round(100 * (end - start) / start, 2),
            "samples": samples,
            "helper_mb_start": helpers[args.start],
            "helper_mb_end": helpers[args.iterations],
        }
    )


if __name__ == "__main__":
    main()
