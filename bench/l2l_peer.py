"""learn2learn's MAML throughput (tasks/s) in our benchmark configuration: a peer for bench/throughput.py.

Benchmark-only. learn2learn is NOT a dependency of this project and is never
installed into the project's venv; this script runs under a separate venv
outside the repo (``bench/throughput.py --peer /work/peer-l2l/bin/python``
runs it and records its JSON line). It measures the standard learn2learn loop
(``l2l.algorithms.MAML`` + ``clone()`` / ``adapt()``) on exactly our episodes
(engine.tasks.TaskSampler over the same pool, seed 0, sampling inside the timed
region), our Conv-4 (engine.models, seeded init; its batch-statistics
TaskBatchNorm2d clones fine under ``l2l.clone_module``), 5-way 1-shot, 15
queries per class, meta-batch 32, inner lr 0.4, Adam 0.003.

Building the peer venv (learn2learn 0.2.0 ships C files from an old Cython that
do not compile on Python 3.11, upstream issue #413, so regenerate them; the venv
reuses the project's torch/torchvision/numpy/pillow through a .pth file)::

    python3 -m venv /work/peer-l2l
    echo /work/main/.venv/lib/python3.11/site-packages > /work/peer-l2l/lib/python3.11/site-packages/_main_venv.pth
    /work/peer-l2l/bin/pip download --no-binary :all: --no-deps learn2learn==0.2.0
    tar xzf learn2learn-0.2.0.tar.gz && cd learn2learn-0.2.0
    /work/peer-l2l/bin/pip install "cython>=3"
    rm -rf .eggs learn2learn/data/*.c && for f in learn2learn/data/*.pyx; do /work/peer-l2l/bin/cython -3 "$f"; done
    /work/peer-l2l/bin/pip install --no-deps .
    /work/peer-l2l/bin/pip install requests gym scipy   # what `import learn2learn` needs

Run (from the repo root; the last stdout line is one JSON object)::

    /work/peer-l2l/bin/python bench/l2l_peer.py [--order second|first] [--steps 1] [--meta-batch 32]
        [--iters 3] [--warmup 1] [--start-iteration 1000] [--data omniglot|synthetic] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

from common import emit, load_pool, machine, plain_conv4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", choices=("second", "first"), default="second")
    ap.add_argument("--steps", type=int, default=1, help="inner adaptation steps")
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--iters", type=int, default=3, help="timed meta-iterations")
    ap.add_argument("--warmup", type=int, default=1, help="untimed meta-iterations first")
    ap.add_argument("--start-iteration", type=int, default=1000, help="episode index offset (fresh batches)")
    ap.add_argument("--data", choices=("omniglot", "synthetic"), default="omniglot")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--model", choices=("plain", "ours"), default="plain",
                    help="plain: the Conv-4 as usually written (conv, BN, ReLU, nn.MaxPool2d), what a learn2learn "
                         "user runs; ours: engine.models.Conv4 with its CPU pooling kernel (engine/pooling.py)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = ap.parse_args()
    if args.iters < 1 or args.warmup < 0 or args.steps < 1 or args.meta_batch < 1:
        ap.error("--iters, --steps and --meta-batch must be >= 1, --warmup >= 0")

    import learn2learn as l2l
    import torch
    import torch.nn.functional as F

    from engine.models import build_backbone
    from engine.tasks import TaskSampler

    if args.threads:
        torch.set_num_threads(args.threads)
    pool = load_pool(args.data)
    sampler = TaskSampler(pool, "train", 5, 1, 15, seed=0)

    torch.manual_seed(0)  # as engine.trainer.build_model_and_algorithm (config seed 0)
    model = build_backbone("conv4", 5)
    if args.model == "plain":
        model = plain_conv4(model)
    device = torch.device(args.device)
    model = model.to(device)
    maml = l2l.algorithms.MAML(model, lr=0.4, first_order=args.order == "first")
    opt = torch.optim.Adam(maml.parameters(), 0.003)

    def step(it: int) -> float:
        tasks = [t.to(device) for t in sampler.batch(it, args.meta_batch)]
        opt.zero_grad()
        total = 0.0
        for t in tasks:
            learner = maml.clone()
            for _ in range(args.steps):
                learner.adapt(F.cross_entropy(learner(t.support_x), t.support_y))
            loss = F.cross_entropy(learner(t.query_x), t.query_y)
            (loss / args.meta_batch).backward()
            total += loss.item()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return total / args.meta_batch

    it = args.start_iteration
    first_loss = None
    for _ in range(args.warmup):
        loss = step(it)
        first_loss = loss if first_loss is None else first_loss
        it += 1
    t0 = time.perf_counter()
    for _ in range(args.iters):
        loss = step(it)
        first_loss = loss if first_loss is None else first_loss
        it += 1
    seconds = time.perf_counter() - t0
    rate = args.iters * args.meta_batch / seconds

    print(f"learn2learn {l2l.__version__} MAML ({args.order} order, {args.steps} step) on {args.data}, "
          f"meta-batch {args.meta_batch}, {torch.get_num_threads()} threads")
    print(f"  {args.iters} timed meta-iterations in {seconds:.2f} s: {rate:.2f} tasks/s; "
          f"loss {first_loss:.4f} (first) -> {loss:.4f} (last)")
    emit({
        "library": "learn2learn",
        "version": l2l.__version__,
        "data": args.data,
        "order": args.order,
        "steps": args.steps,
        "meta_batch": args.meta_batch,
        "iters": args.iters,
        "warmup": args.warmup,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "model": {"plain": "Conv-4, nn layers (batch-statistics BN)", "ours": "engine.models.Conv4"}[args.model],
        "tasks_per_s": round(rate, 2),
        "final_loss": round(loss, 4),
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
