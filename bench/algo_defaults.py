"""Every algorithm with its own recipe, after the same short meta-training time.

Each algorithm in turn (never two at once) meta-trains from its recipe
(engine.recipes: what ``train --algo X`` and picking X in the window bring) for
``--budget`` seconds on the chosen data, then is scored on fixed 5-way 1-shot
episodes of the held-out split, inductively (each query on its own with the
support set). ``--set KEY=VALUE`` overrides recipe settings, to compare
candidates; ``--iterations N`` trains N meta-iterations instead of a time budget
(a fair comparison on a busy machine); ``--shared`` uses the old shared defaults (TrainConfig's) instead
of the recipes, the baseline.

    python bench/algo_defaults.py [--data synthetic] [--budget 60 | --iterations 300] \
        [--algos maml,fomaml] [--set inner_steps=5] [--episodes 200]
"""

from __future__ import annotations

import argparse
import os
import time

from common import OMNIGLOT_DIR, emit, load_pool, machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of meta-training per algorithm")
    ap.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="train this many meta-iterations instead of --budget seconds (fair comparisons on a busy machine)",
    )
    ap.add_argument("--algos", default=None, help="comma-separated (default: every algorithm)")
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--shared", action="store_true", help="the shared TrainConfig defaults instead of each recipe")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    args = ap.parse_args()

    import torch

    from engine.config import ALGORITHM_CHOICES, TrainConfig
    from engine.events import Finished
    from engine.recipes import recipe_for_algorithm
    from engine.tasks import TaskSampler
    from engine.trainer import build_model_and_algorithm, evaluate, run

    pool = load_pool(args.data)
    tests = TaskSampler(pool, "test", 5, 1, 15, seed=1).fixed(args.episodes)
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        kind = type(getattr(TrainConfig(), key))
        overrides[key] = kind(value) if kind is not bool else value.lower() in ("1", "true", "yes")
    results = []
    for algo_name in args.algos.split(",") if args.algos else ALGORITHM_CHOICES:
        settings = {"algo": algo_name} if args.shared else recipe_for_algorithm(algo_name)
        config = TrainConfig(**{**settings, **overrides}).replace(
            dataset=args.data,
            data_root=str(OMNIGLOT_DIR) if args.data == "omniglot" else None,
            iterations=args.iterations or 1_000_000,
            time_budget=None if args.iterations else args.budget,
            val_every=0,
            workers=1,
        )
        algo = build_model_and_algorithm(config, torch.device("cpu"))
        cpu_start = time.process_time()
        for event in run(config, pool=pool, algo=algo):
            if isinstance(event, Finished):
                iterations, seconds = event.iterations, event.seconds
        cpu_seconds = time.process_time() - cpu_start  # this process's CPU time: less load-dependent than wall time
        acc, ci = evaluate(algo, tests, "cpu")
        row = {
            "algo": algo_name,
            "accuracy": acc,
            "ci95": ci,
            "iterations": iterations,
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
            "train": {
                k: getattr(config, k)
                for k in ("ways", "shots", "queries", "meta_batch", "inner_steps", "inner_lr", "outer_lr")
            },
        }
        print(
            f"{algo_name:10s} {100 * acc:5.1f}% +- {100 * ci:.1f}  ({iterations} iterations in {seconds:.0f} s, "
            f"{cpu_seconds:.0f} s CPU; "
            f"{row['train']})",
            flush=True,
        )
        results.append(row)
    emit(
        {
            "machine": machine(),
            "data": args.data,
            "budget": None if args.iterations else args.budget,
            "iterations": args.iterations,
            "load_average": os.getloadavg(),
            "shared_defaults": args.shared,
            "protocol": "inductive",
            "test": "5-way 1-shot, 15 queries",
            "episodes": args.episodes,
            "results": results,
        }
    )


if __name__ == "__main__":
    main()
