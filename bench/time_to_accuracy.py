"""Time to a useful model: meta-train with the app's default settings on Omniglot
small1 until the held-out-alphabet 5-way 1-shot accuracy reaches the target.

Every ``--check-every`` iterations the bench itself scores 5-way 1-shot on fixed
episodes of the validation alphabets, and that decides when to stop. ``seconds``
is meta-training time: the trainer's clock minus the time of those checks (they
only decide when to stop; the app validates far less often), and ``wall`` is the
whole run, checks included. The reported accuracy is then measured on the test
alphabets, which took no part in the decision. ``--ways``, ``--queries``,
``--meta-batch``, ``--outer-lr`` and ``--augment`` change the *training* tasks only
(to compare recipes); evaluation is always 5-way 1-shot. ``--as-app`` instead runs
the window's settings exactly as Start does (its iteration count and its own
validation, all timed) and scores the model the run finishes with.

    python bench/time_to_accuracy.py [--target 0.95] [--budget 60] [--algo protonet]
"""

from __future__ import annotations

import argparse
import time

from common import OMNIGLOT_DIR, emit, load_pool, machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--budget", type=float, default=60.0, help="give up after this many seconds of meta-training")
    ap.add_argument("--algo", default=None, help="default: the window's (engine.config.app_defaults)")
    ap.add_argument("--check-every", type=int, default=100)
    ap.add_argument("--as-app", action="store_true",
                    help="run the window's settings exactly as Start does (its iterations, its own validation) and "
                         "score the finished model: seconds = the whole run, validation included")
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--data", default="omniglot")
    for flag in ("--ways", "--queries", "--meta-batch"):
        ap.add_argument(flag, type=int, default=None, help="training tasks only (default: the app's)")
    ap.add_argument("--outer-lr", type=float, default=None, help="default: the app's")
    ap.add_argument("--iterations", type=int, default=None, help="with --as-app: default the window's")
    ap.add_argument("--seed", type=int, default=None, help="the training run's seed (default: the window's, 0)")
    ap.add_argument("--augment", action="store_true", help="jitter the training images (engine/augment.py)")
    args = ap.parse_args()

    import tempfile
    from pathlib import Path

    import torch

    from engine.checkpoint import save_checkpoint
    from engine.config import app_defaults, recommended_shape
    from engine.events import IterationMetrics, Started
    from engine.tasks import TaskSampler
    from engine.trainer import RunControl, build_model_and_algorithm, evaluate, restore, run

    pool = load_pool(args.data)
    base = app_defaults().replace(dataset=args.data, data_root=str(OMNIGLOT_DIR) if args.data == "omniglot" else None)
    if args.algo and args.algo != base.algo:  # another algorithm starts with its own task shape, as in the window
        base = base.replace(algo=args.algo, **recommended_shape(args.algo))
    overrides = {
        k: v
        for k, v in (
            ("ways", args.ways),
            ("queries", args.queries),
            ("meta_batch", args.meta_batch),
            ("outer_lr", args.outer_lr),
            ("seed", args.seed),
            ("iterations", args.iterations),
        )
        if v is not None
    }
    if args.augment:
        overrides["augment"] = True
    if args.as_app:
        return as_app(base.replace(**overrides), pool, args.episodes, args.target)
    config = base.replace(**{**overrides, "iterations": 1_000_000, "val_every": 0})
    val_tasks = TaskSampler(pool, "val", 5, 1, 15, seed=0).fixed(args.episodes)
    control = RunControl()
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    events = run(config, control, pool=pool, algo=algo)  # trained in place: scored between iterations below
    assert isinstance(next(events), Started)
    checking, seconds, best, processes = 0.0, 0.0, None, 1
    began = time.perf_counter()
    ckpt = Path(tempfile.mkdtemp()) / "tta.pt"
    for event in events:
        if not isinstance(event, IterationMetrics):
            continue
        seconds = event.elapsed - checking
        processes = max(processes, event.processes)
        if event.iteration % args.check_every == 0 or seconds >= args.budget:
            t0 = time.perf_counter()
            acc, ci = evaluate(algo, val_tasks, "cpu")
            save_checkpoint(
                ckpt, config=config.to_dict(), model_state=algo.model.state_dict(), extra_state=algo.extra_state()
            )
            checking += time.perf_counter() - t0
            best = (event.iteration, seconds, acc, ci)
            print(
                f"{seconds:6.1f} s  iteration {event.iteration}: "
                f"validation alphabets {100 * acc:.1f}% +- {100 * ci:.1f}"
            )
            if acc >= args.target or seconds >= args.budget:
                control.stop()
    wall = time.perf_counter() - began
    # Confirm on the test alphabets, which played no part in deciding when to stop.
    final, _, _ = restore(str(ckpt))
    test_acc, test_ci = evaluate(final, TaskSampler(pool, "test", 5, 1, 15, seed=1).fixed(args.episodes), "cpu")
    iteration, seconds, val_acc, _ = best
    print(f"test alphabets: {100 * test_acc:.1f}% +- {100 * test_ci:.1f} after {seconds:.1f} s of meta-training")
    emit(
        {
            "machine": machine(),
            "algo": config.algo,
            "target": args.target,
            "train": {k: getattr(config, k) for k in ("ways", "shots", "queries", "meta_batch", "outer_lr", "augment")},
            "processes": processes,
            "seconds": round(seconds, 1),
            "wall": round(wall, 1),
            "iteration": iteration,
            "val_accuracy": val_acc,
            "accuracy": test_acc,
            "ci95": test_ci,
            "reached": bool(test_acc >= args.target),
        }
    )


def as_app(config, pool, episodes: int, target: float) -> None:
    """Press Start with ``config`` (the window's settings) and score the model it ends with."""
    import torch

    from engine.events import Finished, ValidationMetrics
    from engine.tasks import TaskSampler
    from engine.trainer import build_model_and_algorithm, evaluate, run

    algo = build_model_and_algorithm(config, torch.device("cpu"))
    began = time.perf_counter()
    for event in run(config, pool=pool, algo=algo):
        if isinstance(event, ValidationMetrics):
            print(
                f"{time.perf_counter() - began:6.1f} s  iteration {event.iteration}: the run's validation "
                f"({config.ways}-way) {100 * event.accuracy:.1f}%"
            )
        if isinstance(event, Finished):
            seconds, iterations = time.perf_counter() - began, event.iterations
    test_acc, test_ci = evaluate(algo, TaskSampler(pool, "test", 5, 1, 15, seed=1).fixed(episodes), "cpu")
    print(f"test alphabets: {100 * test_acc:.1f}% +- {100 * test_ci:.1f} after {seconds:.1f} s from Start to finished")
    emit(
        {
            "machine": machine(),
            "algo": config.algo,
            "target": target,
            "as_app": True,
            "train": {
                k: getattr(config, k)
                for k in (
                    "ways",
                    "shots",
                    "queries",
                    "meta_batch",
                    "outer_lr",
                    "iterations",
                    "val_every",
                    "val_episodes",
                )
            },
            "seconds": round(seconds, 1),
            "iteration": iterations,
            "accuracy": test_acc,
            "ci95": test_ci,
            "reached": bool(test_acc >= target and seconds <= 60.0),
        }
    )


if __name__ == "__main__":
    main()
