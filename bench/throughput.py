"""Meta-training throughput (tasks/s): our MAML (second and first order) and ProtoNet,
beside the fp32 supervised ceiling, measured in one run with the methods alternating.

Config (the performance issue's): Omniglot small1 28x28 with rotations, Conv-4 with
batch-statistics BatchNorm, 5-way 1-shot, 15 queries per class, meta-batch 32,
inner lr 0.4 (1 step), Adam 0.003. The ceiling is a plain supervised forward +
backward + Adam step of the same Conv-4 over the same 32 x 80 images in 32
batches of 80. Sampling the episodes is inside the timed region for every method.

    python bench/throughput.py [--rounds 3] [--iters 3] [--data omniglot|synthetic] [--peer PYTHON]
"""

from __future__ import annotations

import argparse
import subprocess
import time

from common import emit, load_pool, machine, median


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=3, help="meta-iterations per method per round")
    ap.add_argument("--data", default="omniglot")
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--methods", default="maml,fomaml,protonet,ceiling")
    ap.add_argument("--peer", default=None, help="a python with learn2learn installed (benchmark-only)")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    from engine.config import TrainConfig
    from engine.tasks import TaskSampler
    from engine.trainer import build_model_and_algorithm, meta_step

    pool = load_pool(args.data)
    sampler = TaskSampler(pool, "train", 5, 1, 15, seed=0)
    device = torch.device("cpu")
    runners = {}
    for name in args.methods.split(","):
        if name == "ceiling":
            algo = build_model_and_algorithm(TrainConfig(algo="protonet", ways=5), device)
            model = algo.model
            opt = torch.optim.Adam(model.parameters(), lr=0.003)

            def step(it: int, model=model, opt=opt) -> None:
                tasks = sampler.batch(it, args.meta_batch)
                opt.zero_grad(set_to_none=True)
                for t in tasks:
                    x = torch.cat([t.support_x, t.query_x])
                    y = torch.cat([t.support_y, t.query_y])
                    F.cross_entropy(model(x), y).backward()
                opt.step()
        else:
            cfg = TrainConfig(algo=name, ways=5, shots=1, queries=15, meta_batch=args.meta_batch, inner_steps=1, inner_lr=0.4, outer_lr=0.003)
            algo = build_model_and_algorithm(cfg, device)
            opt = torch.optim.Adam(algo.outer_parameters(), lr=cfg.outer_lr)

            def step(it: int, algo=algo, opt=opt) -> None:
                meta_step(algo, opt, sampler.batch(it, args.meta_batch))
        runners[name] = step

    for name, step in runners.items():  # warm-up, untimed
        step(0)
    rates: dict[str, list[float]] = {n: [] for n in runners}
    it = 1
    for _ in range(args.rounds):
        for name, step in runners.items():
            t0 = time.perf_counter()
            for _ in range(args.iters):
                step(it)
                it += 1
            rates[name].append(args.iters * args.meta_batch / (time.perf_counter() - t0))
    result = {"machine": machine(), "data": args.data, "meta_batch": args.meta_batch}
    for name, r in rates.items():
        result[f"{name}_tasks_per_s"] = round(median(r), 2)
        print(f"{name:10s} tasks/s median {median(r):6.2f}  rounds {[round(x, 2) for x in r]}")
    if "ceiling" in rates:
        for name in rates:
            if name != "ceiling":
                result[f"{name}_vs_ceiling"] = round(median(rates[name]) / median(rates["ceiling"]), 3)
    if args.peer:
        out = subprocess.run([args.peer, str(__import__("pathlib").Path(__file__).with_name("l2l_peer.py"))], capture_output=True, text=True)
        result["peer"] = out.stdout.strip().splitlines()[-1] if out.returncode == 0 else f"failed: {out.stderr[-300:]}"
    emit(result)


if __name__ == "__main__":
    main()
