"""Could torch.distributed (gloo, processes started locally) replace engine/task_workers.py for the window?

``python bench/dist_for_window.py [--iterations 40] [--algo maml]`` meta-trains the same config three ways,
in this process as the window does (the trainer on a worker-less thread, no launcher):

- ``one``: one process, a torch thread per core;
- ``task_workers``: the window's mechanism today, one helper process (``--workers 2``);
- ``gloo``: this process joins a 2-process gloo group as rank 0 (TCP store on localhost) and starts rank 1
  as ``python -c`` (no ``__main__`` re-import, so an unguarded user script would be safe too); both run
  ``engine.trainer.run`` with that ``DistContext``, as torchrun's ranks do.

Then it checks the window's guarantees with gloo: a helper killed mid-run (what rank 0 sees, how long it
takes), and Stop (does the helper end, is anything left). Timings on a shared 2-core machine are noisy:
compare the ratios within one run. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HELPER = """
import os, sys
sys.path.insert(0, {repo!r})
import torch, torch.distributed as tdist
from engine.config import TrainConfig
from engine.distributed import DistContext
from engine.trainer import run
torch.set_num_threads(1)
tdist.init_process_group("gloo", init_method="tcp://127.0.0.1:{port}", rank=1, world_size=2,
                         timeout=__import__("datetime").timedelta(seconds={timeout}))
for _ in run(TrainConfig.from_dict({config!r}), dist=DistContext(1, 2, "gloo")):
    pass
tdist.destroy_process_group()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children() -> set[int]:
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return pids


def train(config, **kw) -> tuple[list, float]:
    from engine.trainer import run

    began = time.perf_counter()
    events = list(run(config, **kw))
    return events, time.perf_counter() - began


def gloo_run(config, timeout_s: float, on_iteration=None, control=None) -> dict:
    """Rank 0 here, rank 1 a child; returns what happened."""
    import torch.distributed as tdist

    from engine.distributed import DistContext
    from engine.events import Finished, IterationMetrics
    from engine.trainer import run

    port = free_port()
    child = subprocess.Popen([sys.executable, "-c", HELPER.format(repo=str(REPO), port=port, timeout=timeout_s,
                                                                  config=config.to_dict())],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    began = time.perf_counter()
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=2,
                             timeout=timedelta(seconds=timeout_s))
    joined = time.perf_counter() - began
    out = {"join_seconds": round(joined, 2)}
    try:
        for event in run(config, control=control, dist=DistContext(0, 2, "gloo")):
            if isinstance(event, IterationMetrics) and on_iteration is not None:
                on_iteration(event, child)
            if isinstance(event, Finished):
                out.update(
                    reason=event.reason, iterations=event.iterations, tasks_per_second=round(event.tasks_per_second, 2)
                )
    except Exception as exc:  # noqa: BLE001 - what a broken group raises is the measurement
        out.update(
            error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}",
            error_after_seconds=round(time.perf_counter() - began, 2),
        )
    finally:
        try:
            tdist.destroy_process_group()
        except Exception as exc:  # noqa: BLE001
            out["destroy_error"] = f"{type(exc).__name__}"
    try:
        child.wait(timeout=timeout_s + 10)
    except subprocess.TimeoutExpired:
        out["helper_left_running"] = True
        child.kill()
        child.wait()
    out["helper_exit"] = child.returncode
    out["children_left"] = len(children())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--algo", default="maml")
    ap.add_argument("--timeout", type=float, default=30.0, help="gloo collective timeout in seconds [30]")
    args = ap.parse_args()

    import torch

    from engine.config import TrainConfig
    from engine.control import RunControl
    from engine.events import Finished

    cores = os.cpu_count() or 1
    base = TrainConfig(algo=args.algo, iterations=args.iterations, val_every=0, meta_batch=8, queries=5, device="cpu")
    result: dict = {
        "algo": args.algo,
        "task": "5-way 1-shot 5-query, meta-batch 8, synthetic glyphs",
        "iterations": args.iterations,
        "cpus": os.cpu_count(),
    }
    train(base.replace(iterations=3, workers=1))  # warm the decode cache and the allocator

    for name, config in (("one", base.replace(workers=1)), ("task_workers", base.replace(workers=2))):
        torch.set_num_threads(cores)  # as the window's training thread does (helpers, once joined, drop it to 1)
        events, seconds = train(config)
        done = next(e for e in events if isinstance(e, Finished))
        result[name] = {"tasks_per_second": round(done.tasks_per_second, 2), "seconds": round(seconds, 2)}
        print(name, result[name], flush=True)

    torch.set_num_threads(1)  # one thread per process, as torchrun's ranks run here
    result["gloo"] = gloo_run(base.replace(workers=1), args.timeout)
    print("gloo", result["gloo"], flush=True)

    def kill_at_5(event, child) -> None:
        if event.iteration == 5 and child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)

    result["gloo_helper_killed"] = gloo_run(
        base.replace(workers=1, iterations=10_000), args.timeout, on_iteration=kill_at_5
    )
    print("gloo, helper killed at iteration 5:", result["gloo_helper_killed"], flush=True)

    control = RunControl()
    timer: list[float] = []

    def stop_at_5(event, child) -> None:
        if event.iteration == 5 and not timer:
            timer.append(time.perf_counter())
            control.stop()

    stopped = gloo_run(
        base.replace(workers=1, iterations=10_000), args.timeout, on_iteration=stop_at_5, control=control
    )
    stopped["stop_to_end_seconds"] = round(time.perf_counter() - timer[0], 2) if timer else None
    result["gloo_stop"] = stopped
    print("gloo, Stop at iteration 5:", stopped, flush=True)
    result["threads_left"] = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
