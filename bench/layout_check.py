"""The fast CPU path against the plain Conv-4: same maths, same accuracy after the same iterations.

Ours: engine.models.Conv4, whose convolutions run large batches channels-last on
the CPU (so batch norm and max-pooling do too), for every algorithm. Plain: the Conv-4 as usually written
(NCHW throughout, bench/common.plain_conv4) holding the same initial weights.
Both fp32, one process, the same seed and episodes: first the meta-gradient of
one meta-batch from the same weights, then validation accuracy on the same
fixed episodes after the same number of meta-iterations. The performance issue
counts a speed-up only with accuracy within 1 point of the fp32 reference.
``--control`` adds a third run, the plain network on PyTorch's own (non-oneDNN)
convolutions: as correct as the reference, so its distance from it is what
float32 rounding alone does to a run's accuracy after the same iterations.

    python bench/layout_check.py [--algo maml] [--iterations 60] [--meta-batch 32] [--episodes 300] [--seed 0]
        [--control]

Single runs of the same maths drift apart by up to 2 points after 60 iterations, so
judge a change over seeds (BENCHMARKS.md: seeds 0-11 for second-order MAML).
"""

from __future__ import annotations

import argparse

from common import OMNIGLOT_DIR, add_accuracy_check_args, emit, load_pool, machine, plain_conv4, train_and_score


def main() -> None:
    ap = argparse.ArgumentParser()
    add_accuracy_check_args(ap)
    ap.add_argument("--seed", type=int, default=0, help="initial weights and training episodes")
    ap.add_argument("--control", action="store_true",
                    help="also train the plain network with PyTorch's own convolutions instead of oneDNN's: another "
                         "correct fp32 implementation, to show how far two equally valid runs drift apart")
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
        workers=1,
        seed=args.seed,
    )

    def build(layout: str):
        torch.backends.mkldnn.enabled = layout != "plain_native"
        algo = build_model_and_algorithm(base, torch.device("cpu"))
        if layout.startswith("plain"):
            algo.model = plain_conv4(algo.model)
        return algo

    layouts = ("ours", "plain", "plain_native") if args.control else ("ours", "plain")

    tasks = TaskSampler(pool, "train", 5, 1, 15, seed=0).batch(0, 8)
    grads = {}
    for layout in ("ours", "plain"):
        algo = build(layout)
        algo.meta_gradient(tasks)
        grads[layout] = torch.cat([p.grad.flatten() for p in algo.model.parameters() if p.grad is not None])
    rel = ((grads["ours"] - grads["plain"]).norm() / grads["plain"].norm()).item()
    val = TaskSampler(pool, "val", 5, 1, 15, seed=7).fixed(args.episodes)
    result = {
        "machine": machine(),
        "algo": args.algo,
        "seed": args.seed,
        "iterations": args.iterations,
        "meta_batch": args.meta_batch,
        "meta_gradient_relative_difference": float(f"{rel:.3g}"),
    }
    for layout in layouts:
        train_and_score(layout, base, pool, val, build(layout), result)
    result["speedup"] = round(result["ours_tasks_per_s"] / result["plain_tasks_per_s"], 3)
    result["accuracy_difference_points"] = round(100 * (result["ours_val_acc"] - result["plain_val_acc"]), 2)
    if args.control:
        result["control_difference_points"] = round(100 * (result["plain_native_val_acc"] - result["plain_val_acc"]), 2)
    emit(result)


if __name__ == "__main__":
    main()
