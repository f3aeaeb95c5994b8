"""bf16 autocast against fp32: speed, meta-gradient difference, and accuracy after the same iterations.

Same seed, same episodes, same number of meta-iterations for both; validation
accuracy is measured in fp32 on the same fixed episodes of the validation
alphabet. The performance issue counts a speed-up only with accuracy within
1 point of the fp32 reference.

    python bench/precision.py [--algo maml] [--iterations 60] [--meta-batch 32] [--episodes 300]
"""

from __future__ import annotations

import argparse

from common import OMNIGLOT_DIR, add_accuracy_check_args, emit, load_pool, machine, train_and_score


def main() -> None:
    ap = argparse.ArgumentParser()
    add_accuracy_check_args(ap)
    args = ap.parse_args()

    import torch

    from engine.config import TrainConfig
    from engine.tasks import TaskSampler
    from engine.trainer import build_model_and_algorithm

    pool = load_pool("omniglot")
    base = TrainConfig(
        dataset="omniglot",
        data_root=str(OMNIGLOT_DIR),
        algo=args.algo,
        ways=5,
        shots=1,
        queries=15,
        meta_batch=args.meta_batch,
        inner_lr=0.4,
        outer_lr=0.003,
        iterations=args.iterations,
        val_every=0,
    )
    # the meta-gradient of one meta-batch from the same initial weights
    tasks = TaskSampler(pool, "train", 5, 1, 15, seed=0).batch(0, 8)
    grads = {}
    for precision in ("fp32", "bf16"):
        algo = build_model_and_algorithm(base, torch.device("cpu"))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            algo.meta_gradient(tasks)
        grads[precision] = torch.cat([p.grad.flatten() for p in algo.model.parameters() if p.grad is not None])
    rel = ((grads["bf16"] - grads["fp32"]).norm() / grads["fp32"].norm()).item()
    val = TaskSampler(pool, "val", 5, 1, 15, seed=7).fixed(args.episodes)
    result = {
        "machine": machine(),
        "algo": args.algo,
        "iterations": args.iterations,
        "meta_batch": args.meta_batch,
        "meta_gradient_relative_difference": round(rel, 4),
    }
    for precision in ("fp32", "bf16"):
        config = base.replace(precision=precision)
        train_and_score(precision, config, pool, val, build_model_and_algorithm(config, torch.device("cpu")), result)
    result["speedup"] = round(result["bf16_tasks_per_s"] / result["fp32_tasks_per_s"], 3)
    result["accuracy_difference_points"] = round(100 * (result["bf16_val_acc"] - result["fp32_val_acc"]), 2)
    emit(result)


if __name__ == "__main__":
    main()
