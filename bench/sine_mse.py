"""MAML against the pre-trained baseline on sine regression after the same meta-training time.

Finn et al. 2017, section 5.1: each algorithm meta-trains for ``--seconds`` of
wall time (one after the other, never side by side, one thread each), then
adapts to the same ``--tasks`` fixed test waves (K support points, 100 query
points each) and reports the query MSE after 0..10 gradient steps at the
inner learning rate it trained with (0.01), with 95% CIs.

    python bench/sine_mse.py --shots 5 --seconds 60
    python bench/sine_mse.py --shots 10 --seconds 60

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json

from common import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tasks", type=int, default=600)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--algos", default="maml,finetune")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import torch

    from engine.config import REGRESSION_DEFAULTS, TrainConfig
    from engine.metrics import mean_ci95
    from engine.regression import EVAL_QUERIES, SineTasks, mse_by_step, use_one_thread
    from engine.trainer import build_model_and_algorithm, run

    use_one_thread()
    tests = SineTasks(args.shots, EVAL_QUERIES, seed=args.seed + 1000, split="test").fixed(args.tasks)
    results = {}
    for name in args.algos.split(","):
        config = TrainConfig(
            dataset="sine",
            algo=name,
            iterations=10**7,
            time_budget=args.seconds,
            val_every=0,
            seed=args.seed,
            workers=1,
            device="cpu",
            **{**REGRESSION_DEFAULTS, "shots": args.shots},
        )
        algo = build_model_and_algorithm(config, torch.device("cpu"))
        finished = list(run(config, algo=algo))[-1]
        rows = np.array(mse_by_step(algo, tests, args.steps))
        by_step = [mean_ci95(list(rows[:, s])) for s in range(args.steps + 1)]
        results[name] = {
            "iterations": finished.iterations,
            "seconds": round(finished.seconds, 1),
            "mse_by_step": [round(m, 4) for m, _ in by_step],
            "ci95_by_step": [round(c, 4) for _, c in by_step],
        }
        print(
            f"{name}: {finished.iterations} iterations in {finished.seconds:.1f} s; MSE after 0/1/{args.steps} steps "
            + " / ".join(f"{by_step[s][0]:.3f} +- {by_step[s][1]:.3f}" for s in (0, 1, args.steps))
        )
    print(
        json.dumps(
            {
                "shots": args.shots,
                "seconds": args.seconds,
                "tasks": args.tasks,
                "query_points": EVAL_QUERIES,
                "inner_lr": REGRESSION_DEFAULTS["inner_lr"],
                "meta_batch": REGRESSION_DEFAULTS["meta_batch"],
                "results": results,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
