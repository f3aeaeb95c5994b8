"""What the classifier head's size costs a training step: a fixed 8,192 rows against one per training class.

Proto-head (the lake recipe's training) classifies each image among every training class. Before
2026-12-03 that head had a fixed 8,192 rows; the trainer now sizes it to the training classes. This
times the same steps (the lake recipe's batches: 32 classes x 2 augmented images, Adam) on Omniglot
small1 with mirror images, both head sizes side by side, with the usual 64-value embedding and the
576-value unpooled feature map, alternating the two in rounds so that a drift of the machine's speed
falls on both.

    python bench/class_head_cost.py [--steps 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import OMNIGLOT_DIR, emit, machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100, help="timed steps a measurement")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import torch

    from engine.algorithms.finetune import CAPACITY
    from engine.build import build_model_and_algorithm
    from engine.config import TrainConfig
    from engine.data import load_source
    from engine.recipes import recipe
    from engine.tasks import TaskSampler

    pool = load_source("omniglot", OMNIGLOT_DIR).with_mirrored_classes("train")
    classes = max(pool.split_classes("train")) + 1
    sampler = TaskSampler(pool, "train", 32, 1, 1, seed=0, augment=True, strength=2.0, elastic=0.08)
    tasks = [sampler.episode(i) for i in range(args.steps + 5)]
    setups = {}
    for feature_map in (False, True):
        for rows in (CAPACITY, classes):
            config = TrainConfig(**{**recipe("lake"), "feature_map": feature_map, "head_classes": rows})
            algo = build_model_and_algorithm(config, torch.device("cpu"))
            setups[(feature_map, rows)] = (algo, torch.optim.Adam(algo.outer_parameters(), lr=0.002))

    def step(algo, optimizer, task) -> None:
        optimizer.zero_grad(set_to_none=True)
        algo.meta_gradient([task])
        optimizer.step()

    times: dict = {key: [] for key in setups}
    for _ in range(args.rounds):
        for key, (algo, optimizer) in setups.items():
            for task in tasks[:5]:  # warm-up
                step(algo, optimizer, task)
            began = time.perf_counter()
            for task in tasks[5:]:
                step(algo, optimizer, task)
            times[key].append((time.perf_counter() - began) / args.steps * 1000)
    rows = []
    for (feature_map, head), ms in times.items():
        rows.append({"embedding": 576 if feature_map else 64, "head_rows": head,
                     "ms_per_step_median": statistics.median(ms), "ms_per_step_all": ms})
        print(f"embedding {576 if feature_map else 64:>3}, head {head:>5} rows: {statistics.median(ms):6.1f} ms a step "
              f"(rounds: {', '.join(f'{t:.1f}' for t in ms)})")
    emit({"task": "Proto-head training step: 32 classes x 2 augmented images, Omniglot small1 + mirrors, Adam",
          "training_classes": classes, "steps": args.steps, "rounds": args.rounds, "rows": rows,
          "machine": machine()})


if __name__ == "__main__":
    main()
