"""Distributed meta-training (torchrun, gloo on CPU) gives the single-process result.

The equivalence test runs two real gloo processes, each with half of a
16-task MAML meta-batch, through the trainer's own ``meta_step`` and
``sync_step``; their averaged meta-gradient must equal one process's
meta-gradient over all 16 tasks. The CLI test runs ``torchrun`` itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from conftest import REPO

from engine.config import TrainConfig
from engine.data import DataError, make_glyph_pool
from engine.distributed import (
    DistContext,
    average_gradients,
    average_scalars,
    broadcast_flag,
    init_from_env,
    shard,
    shutdown,
    sync_step,
)
from engine.tasks import TaskSampler
from engine.trainer import build_model_and_algorithm, meta_step, restore, run

WORLD = 2
CONFIG = TrainConfig(algo="maml", ways=5, shots=1, queries=2, inner_steps=1, meta_batch=16, device="cpu", seed=3)
DIST_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE", "GROUP_RANK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pool():
    return make_glyph_pool(classes={"train": 20, "val": 5, "test": 5})


def sampler(pool) -> TaskSampler:
    return TaskSampler(pool, "train", CONFIG.ways, CONFIG.shots, CONFIG.queries, seed=CONFIG.seed)


def float64_algo_and_tasks(pool, size: int, offset: int = 0):
    """Second-order MAML on Conv-4 and its tasks in float64, where summation order costs ~1e-15, not float32 noise."""
    algo = build_model_and_algorithm(CONFIG, torch.device("cpu"))
    algo.model.double()
    tasks = [
        replace(t, support_x=t.support_x.double(), query_x=t.query_x.double())
        for t in sampler(pool).batch(0, size, offset)
    ]
    return algo, tasks


def _worker(rank: int, port: int, pool, out_dir: str) -> None:
    """One torchrun-like process: join via env://, meta-step on its share, save what it holds."""
    torch.set_num_threads(1)
    os.environ.update(
        WORLD_SIZE=str(WORLD), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    ctx = init_from_env("cpu")
    try:
        share, offset = shard(CONFIG.meta_batch, ctx)  # as the trainer splits it
        algo, tasks = float64_algo_and_tasks(pool, share, offset)
        optimizer = torch.optim.SGD(algo.outer_parameters(), lr=0.0)  # a step that leaves weights and .grad as they are
        sync = lambda loss, acc: sync_step(algo.outer_parameters(), loss, acc, ctx)  # noqa: E731
        loss, acc = meta_step(algo, optimizer, tasks, sync=sync)
        grads = {k: p.grad.clone() for k, p in algo.model.named_parameters()}

        # parameters with a gradient on some ranks only, or on none
        both, only0, none = (torch.nn.Parameter(torch.zeros(3)) for _ in range(3))
        both.grad = torch.full((3,), float(rank + 1))
        if rank == 0:
            only0.grad = torch.full((3,), 2.0)
        average_gradients([both, only0, none], ctx)
        torch.save(
            {
                "ctx": (ctx.rank, ctx.world_size, ctx.backend, ctx.is_main),
                "grads": grads,
                "loss_acc": (loss, acc),
                "partial": (both.grad, only0.grad, none.grad),
                "scalars": average_scalars([float(rank), 10.0], ctx),
                "flag": broadcast_flag(rank == 0, ctx),  # rank 0 decides
            },
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        shutdown(ctx)


def spawn(pool, out_dir, timeout: float = 120.0, attempts: int = 2) -> list[dict]:
    """Run ``_worker`` on WORLD processes (killed, and the test failed, if they hang).

    A worker that dies in native code without a Python error (once in a full-suite run:
    gloo's "terminate called without an active exception", the other rank then SIGTERMed,
    on a free port that another process may have taken) is retried once on a new port; a
    Python exception in a worker, or wrong results, fail at once.
    """
    for attempt in range(attempts):
        context = torch.multiprocessing.spawn(_worker, args=(free_port(), pool, str(out_dir)), nprocs=WORLD, join=False)
        deadline = time.monotonic() + timeout
        try:
            while not context.join(timeout=1):
                if time.monotonic() > deadline:
                    for process in context.processes:
                        process.kill()
                    pytest.fail(f"distributed workers still running after {timeout:.0f} s")
        except torch.multiprocessing.ProcessExitedException:
            if attempt + 1 == attempts:
                raise
            continue
        return [torch.load(out_dir / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    raise AssertionError("unreachable")


@pytest.fixture
def one_thread():
    """One intra-op thread here too: the workers use one each, and the machine is small."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_processes_give_the_single_process_meta_gradient(pool, tmp_path, one_thread):
    results = spawn(pool, tmp_path)
    assert [r["ctx"] for r in results] == [(0, 2, "gloo", True), (1, 2, "gloo", False)]

    algo, tasks = float64_algo_and_tasks(pool, CONFIG.meta_batch)
    loss, acc = algo.meta_gradient(tasks)  # one process, the whole meta-batch
    reference = {k: p.grad for k, p in algo.model.named_parameters()}
    assert all(g.abs().sum() > 0 for g in reference.values())
    for r in results:
        assert r["grads"].keys() == reference.keys()
        for k, g in reference.items():
            assert r["grads"][k].dtype == torch.float64
            torch.testing.assert_close(r["grads"][k], g, atol=1e-10, rtol=1e-8, msg=f"rank {r['ctx'][0]}, {k}")
        assert r["loss_acc"][0] == pytest.approx(loss, rel=1e-10) and r["loss_acc"][1] == pytest.approx(acc, abs=1e-12)
    for k in reference:  # after the all-reduce every rank holds the very same gradient
        assert torch.equal(results[0]["grads"][k], results[1]["grads"][k])

    for r in results:
        both, only0, none = r["partial"]
        torch.testing.assert_close(both, torch.full((3,), 1.5))
        torch.testing.assert_close(only0, torch.full((3,), 1.0))  # a missing gradient counts as zeros
        assert none is None  # no rank had one: stays None, as in one process
        assert r["scalars"] == [0.5, 10.0]
        assert r["flag"] is True


def test_meta_batch_must_split_evenly(pool):
    config = CONFIG.replace(meta_batch=10, iterations=1, val_every=0)
    with pytest.raises(DataError, match="--meta-batch 10 cannot be split evenly across 3 processes"):
        next(run(config, pool=pool, dist=DistContext(rank=0, world_size=3, backend="gloo")))


def test_without_torchrun_the_context_is_one_process(monkeypatch):
    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    ctx = init_from_env("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.enabled) == (0, 1, True, False)
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(DataError, match="WORLD_SIZE"):
        init_from_env("cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")  # but no MASTER_ADDR: not started by torchrun
    with pytest.raises(DataError, match="MASTER_ADDR.*start it with torchrun"):
        init_from_env("cpu")


def test_torchrun_cli_trains_and_rank0_writes_one_json_line_and_checkpoint(tmp_path):
    path = tmp_path / "dist.pt"
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port",
            str(free_port()),
            "main.py",
            "train",
            "--iterations",
            "3",
            "--meta-batch",
            "4",
            "--val-every",
            "3",
            "--val-episodes",
            "4",
            "--queries",
            "5",
            "--device",
            "cpu",
            "--json",
            "--checkpoint",
            str(path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    json_lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(json_lines) == 1, result.stdout  # rank 0 alone prints it
    summary = json.loads(json_lines[0])
    assert summary["world_size"] == 2 and summary["iterations"] == 3 and summary["reason"] == "completed"
    assert summary["checkpoint"] == str(path) and 0.0 <= summary["val_acc"] <= 1.0
    assert result.stderr.count("validation accuracy") == 1  # only rank 0 validates and reports
    algo, config, payload = restore(str(path))
    assert config.meta_batch == 4 and payload["iteration"] == 3
    assert len(payload["history"]["loss"]) == 3
