"""MAML's Adapt in the engine alone (10 steps at 0.4, 5-way 5-shot, a fresh Conv-4, two torch threads):
the median of 15 calls after 3 warm-ups, and the first prediction of the adapted learner. Written to run
unchanged in older trees too (before engine/build.py existed), to compare the engine across commits:

    cd TREE && PYTHONPATH=. python /path/to/bench/maml_adapt_engine.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.getcwd())

from engine.config import TrainConfig  # noqa: E402

if os.path.exists("engine/build.py"):
    from engine.build import build_model_and_algorithm
else:  # trees before the seam
    from engine.trainer import build_model_and_algorithm


def main() -> None:
    torch.set_num_threads(2)
    config = TrainConfig(algo="maml", ways=5, shots=5, inner_steps=10, inner_lr=0.4)
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(25, 1, 28, 28, generator=g) > 0.8).float()
    y = torch.arange(5).repeat_interleave(5)
    query = (torch.rand(1, 1, 28, 28, generator=g) > 0.8).float()
    adapt, predict = [], []
    for _ in range(18):
        began = time.perf_counter()
        learner = algo.adapt(x, y, steps=10)
        adapt.append(time.perf_counter() - began)
        began = time.perf_counter()
        learner.logits(query)
        predict.append(time.perf_counter() - began)
    print(f"{os.getcwd()}: adapt {1000 * statistics.median(adapt[3:]):.1f} ms, "
          f"first prediction {1000 * statistics.median(predict[3:]):.2f} ms")


if __name__ == "__main__":
    main()
