"""Proto-head adaptation: accuracy after 0 steps (the nearest-mean classifier) and after N steps.

Meta-trains the quick recipe once (or loads ``--checkpoint``), then scores the same
features on fixed 5-way 1-shot and 5-shot test episodes of the held-out split,
inductively: SimpleShot (nearest normalised mean), proto-head after 0 steps (must
equal SimpleShot), and proto-head after each ``--steps`` at each ``--lr`` (head only,
and with ``--block 1`` the last block too). Each line gives the accuracy with its
95% CI and the mean per-episode difference from SimpleShot with its own CI. With
``--maml-checkpoint`` a MAML model is scored on the same episodes beside them.

    python bench/protohead_steps.py --data omniglot [--checkpoint F] [--steps 5,10,20] [--lr 0.01,0.05]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from common import OMNIGLOT_DIR, emit, load_pool, machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="omniglot")
    ap.add_argument(
        "--checkpoint", default=None, help="a SimpleShot/proto-head checkpoint; trained (and kept here) if missing"
    )
    ap.add_argument("--maml-checkpoint", default=None)
    ap.add_argument("--steps", default="10")
    ap.add_argument("--lr", default="0.01")
    ap.add_argument("--block", default="0", help="0, 1 or 0,1: the steps refine the last block too (adapt_block)")
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--shots", default="1,5", help="support shots of the 5-way test episodes")
    args = ap.parse_args()

    from pathlib import Path

    import torch

    from engine.algorithms.protohead import ProtoHead
    from engine.algorithms.simpleshot import SimpleShot
    from engine.checkpoint import save_checkpoint
    from engine.config import from_recipe
    from engine.metrics import mean_ci95
    from engine.task_workers import evaluate_each
    from engine.tasks import TaskSampler
    from engine.trainer import build_model_and_algorithm, restore, run

    pool = load_pool(args.data)
    root = str(OMNIGLOT_DIR) if args.data == "omniglot" else None
    trained_seconds = None
    if args.checkpoint is None or not Path(args.checkpoint).is_file():
        config = from_recipe("quick", dataset=args.data, data_root=root, val_every=0)
        algo = build_model_and_algorithm(config, torch.device("cpu"))
        began = time.perf_counter()
        for _ in run(config, pool=pool, algo=algo):
            pass
        trained_seconds = time.perf_counter() - began
        if args.checkpoint:
            save_checkpoint(
                args.checkpoint,
                config=config.to_dict(),
                model_state=algo.model.state_dict(),
                extra_state=algo.extra_state(),
            )
    else:
        algo, config, _ = restore(args.checkpoint)
    head = ProtoHead(algo.model, algo.config)
    simple = SimpleShot(algo.model, algo.config)  # the checkpoint may be either: both share the features
    maml = restore(args.maml_checkpoint)[0] if args.maml_checkpoint else None
    rows = []
    for shots in map(int, args.shots.split(",")):
        tasks = TaskSampler(pool, "test", 5, shots, 15, seed=1).fixed(args.episodes)

        base: list[float] = []

        def score(name: str, learner_algo, **cfg) -> None:
            """Mean accuracy +- 95% CI, and the mean per-episode difference from SimpleShot (the same episodes:
            a paired comparison, whose CI is far tighter than either accuracy's)."""
            if cfg:
                learner_algo.config = replace(learner_algo.config, **cfg)
            each = evaluate_each(learner_algo, [t.to("cpu") for t in tasks])
            acc, ci = mean_ci95(each)
            if not base:
                base.extend(each)
            diff, diff_ci = mean_ci95([a - b for a, b in zip(each, base)])
            rows.append({"shots": shots, "method": name, **cfg, "accuracy": acc, "ci95": ci,
                         "minus_simpleshot": diff, "minus_simpleshot_ci95": diff_ci})
            print(f"5-way {shots}-shot  {name:34s} {100 * acc:5.2f}% +- {100 * ci:.2f}   "
                  f"vs SimpleShot {100 * diff:+.2f} +- {100 * diff_ci:.2f} points", flush=True)

        score("simpleshot", simple)
        score("protohead 0 steps", head, inner_steps=0)
        for block in map(int, args.block.split(",")):
            for lr in map(float, args.lr.split(",")):
                for steps in map(int, args.steps.split(",")):
                    name = f"protohead {steps} steps lr {lr}" + (" +block" if block else "")
                    score(name, head, inner_steps=steps, inner_lr=lr, adapt_block=bool(block))
        if maml is not None:
            score("maml", maml)
    emit(
        {
            "machine": machine(),
            "data": args.data,
            "protocol": "inductive",
            "test": "5-way K-shot, 15 queries",
            "episodes": args.episodes,
            "trained_seconds": trained_seconds,
            "results": rows,
        }
    )


if __name__ == "__main__":
    main()
