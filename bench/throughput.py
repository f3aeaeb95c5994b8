"""Meta-training throughput (tasks/s): our MAML (second and first order) and ProtoNet,
beside the fp32 supervised ceiling, measured in one run with the methods alternating.

Config (the performance issue's): Omniglot small1 28x28 with rotations, Conv-4 with
batch-statistics BatchNorm, 5-way 1-shot, 15 queries per class, meta-batch 32,
inner lr 0.4 (1 step), Adam 0.003. The ceiling is a plain supervised forward +
backward + Adam step of the same Conv-4 over the same 32 x 80 images in 32
batches of 80 (``ceiling``: our Conv4, which runs channels-last on the CPU;
``ceiling_plain``: the Conv-4 as usually written, NCHW, as the issue measured it).
Sampling the episodes is inside the timed region for every method.

Methods named ``NAME_x2`` run the same algorithm with two processes sharing each
meta-batch (engine.task_workers, one torch thread each: what the app does on 2
cores); plain names run in one process with torch's default threads;
``maml_vmap`` and ``fomaml_vmap`` compute each meta-batch in one batched pass
(``--batch-tasks on``, engine/algorithms/batched.py: slower on a CPU, meant
for GPUs). ``--device cuda`` runs ours (one process) and the peer on the GPU. With
``--peer PYTHON`` (a venv with learn2learn, see bench/l2l_peer.py) each round also
runs learn2learn's MAML (second order, then first order) in that python, so ours
and theirs alternate within the same run.

    python bench/throughput.py [--rounds 3] [--iters 3] [--data omniglot|synthetic]
        [--methods maml,maml_x2,...] [--peer PYTHON] [--device cpu|cuda]

On a GPU machine: ``--device cuda --methods maml,maml_vmap,fomaml,fomaml_vmap,protonet,ceiling,ceiling_plain``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from common import emit, load_pool, machine, median, plain_conv4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=3, help="meta-iterations per method per round")
    ap.add_argument("--data", default="omniglot")
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--methods", default="maml,maml_x2,fomaml,fomaml_x2,protonet,protonet_x2,ceiling,ceiling_plain")
    ap.add_argument("--peer", default=None, help="a python with learn2learn installed (benchmark-only)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--peer-extra", action="store_true",
                    help="also run learn2learn's second-order MAML on our Conv4 (our pooling kernel) and with our "
                         "allocator settings (engine/allocator.py), to show what each gives it")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    from engine.allocator import MMAP_THRESHOLD, TOP_PAD, TRIM_THRESHOLD, keep_freed_memory
    from engine.config import TrainConfig
    from engine.task_workers import TaskWorkers
    from engine.tasks import TaskSampler
    from engine.trainer import build_model_and_algorithm, meta_step

    tuned = keep_freed_memory()  # what every training run does (engine.trainer.run)
    pool = load_pool(args.data)
    sampler = TaskSampler(pool, "train", 5, 1, 15, seed=0)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU is available")
    if device.type == "cuda" and any("_x" in m for m in args.methods.split(",")):
        raise SystemExit("helper processes (NAME_x2) are a CPU technique; on a GPU use NAME and NAME_vmap")

    def batch(it: int) -> list:
        return [t.to(device) for t in sampler.batch(it, args.meta_batch)]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
    base_threads = torch.get_num_threads()
    runners, helpers = {}, []
    for name in args.methods.split(","):
        algo_name, _, times = name.partition("_x")
        processes = int(times or 1)
        algo_name, batched = algo_name.removesuffix("_vmap"), name.endswith("_vmap")
        if name in ("ceiling", "ceiling_plain"):
            algo = build_model_and_algorithm(TrainConfig(algo="protonet", ways=5), device)
            model = algo.model if name == "ceiling" else plain_conv4(algo.model).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=0.003)

            def step(it: int, model=model, opt=opt) -> None:
                torch.set_num_threads(base_threads)
                tasks = batch(it)
                opt.zero_grad(set_to_none=True)
                for t in tasks:
                    x = torch.cat([t.support_x, t.query_x])
                    y = torch.cat([t.support_y, t.query_y])
                    F.cross_entropy(model(x), y).backward()
                opt.step()
                sync()
        else:
            cfg = TrainConfig(algo=algo_name, ways=5, shots=1, queries=15, meta_batch=args.meta_batch, inner_steps=1,
                              inner_lr=0.4, outer_lr=0.003, workers=processes, batch_tasks="on" if batched else "off")
            algo = build_model_and_algorithm(cfg, device)
            opt = torch.optim.Adam(algo.outer_parameters(), lr=cfg.outer_lr)
            workers = TaskWorkers(cfg.to_dict(), processes) if processes > 1 else None
            if workers is not None:
                helpers.append(workers)

            def step(it: int, algo=algo, opt=opt, workers=workers) -> None:
                torch.set_num_threads(1 if workers is not None else base_threads)
                meta_step(algo, opt, batch(it), workers=workers)
                sync()
        runners[name] = step

    for workers in helpers:  # the helpers' start-up (about 2 s) is not what we measure
        while workers.active() < len(workers.helpers):
            time.sleep(0.1)
    peers = {}
    if args.peer:
        script = str(Path(__file__).with_name("l2l_peer.py"))
        # glibc reads these at start-up: the same thresholds keep_freed_memory() sets with mallopt
        tuned_env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
                     "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD), "MALLOC_TOP_PAD_": str(TOP_PAD)}
        variants = [("l2l_second", "second", "plain", None), ("l2l_first", "first", "plain", None)]
        if args.peer_extra:
            variants += [
                ("l2l_second_ourmodel", "second", "ours", None),
                ("l2l_second_tuned", "second", "plain", tuned_env),
                ("l2l_second_ourmodel_tuned", "second", "ours", tuned_env),
            ]
        for label, order, model, env in variants:

            def peer_step(it: int, order=order, model=model, env=env) -> float:
                out = subprocess.run(
                    [
                        args.peer,
                        script,
                        "--order",
                        order,
                        "--iters",
                        str(args.iters),
                        "--data",
                        args.data,
                        "--meta-batch",
                        str(args.meta_batch),
                        "--start-iteration",
                        str(it),
                        "--model",
                        model,
                        "--device",
                        args.device,
                    ],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                if out.returncode:
                    raise SystemExit(f"the peer failed: {out.stderr[-500:]}")
                return json.loads(out.stdout.strip().splitlines()[-1])["tasks_per_s"]

            peers[label] = peer_step

    for name, step in runners.items():  # warm-up, untimed
        step(0)
    rates: dict[str, list[float]] = {n: [] for n in [*runners, *peers]}
    it = 1
    for _ in range(args.rounds):
        for name, step in runners.items():
            t0 = time.perf_counter()
            for _ in range(args.iters):
                step(it)
                it += 1
            rates[name].append(args.iters * args.meta_batch / (time.perf_counter() - t0))
        for name, peer_step in peers.items():
            rates[name].append(peer_step(it))
            it += args.iters + 1
    for workers in helpers:
        workers.close()
    result = {
        "machine": machine(),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "data": args.data,
        "meta_batch": args.meta_batch,
        "allocator_tuned": tuned,
    }
    for name, r in rates.items():
        result[f"{name}_tasks_per_s"] = round(median(r), 2)
        print(f"{name:10s} tasks/s median {median(r):6.2f}  rounds {[round(x, 2) for x in r]}")
    for ceiling in ("ceiling", "ceiling_plain"):
        if ceiling in rates:
            for name in rates:
                if not name.startswith("ceiling"):
                    result[f"{name}_vs_{ceiling}"] = round(median(rates[name]) / median(rates[ceiling]), 3)
    for ours, theirs in (
        ("maml", "l2l_second"),
        ("maml_x2", "l2l_second"),
        ("fomaml", "l2l_first"),
        ("fomaml_x2", "l2l_first"),
        ("maml_vmap", "l2l_second"),
        ("fomaml_vmap", "l2l_first"),
        ("maml_x2", "l2l_second_ourmodel"),
        ("maml_x2", "l2l_second_tuned"),
        ("maml_x2", "l2l_second_ourmodel_tuned"),
    ):
        if ours in rates and theirs in rates:
            result[f"{ours}_vs_{theirs}"] = round(median(rates[ours]) / median(rates[theirs]), 3)
    emit(result)


if __name__ == "__main__":
    main()
