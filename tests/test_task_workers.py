"""Helper processes share a meta-batch (engine.task_workers) and give the one-process result.

Each test starts real helper processes (``python -c``, about 2 s to import torch).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from conftest import REPO, child_pids

from engine.config import TrainConfig
from engine.events import Finished, IterationMetrics, Started
from engine.task_workers import TaskWorkers, default_workers, plan_workers
from engine.tasks import TaskSampler
from engine.trainer import RunControl, build_model_and_algorithm, run

pytestmark = pytest.mark.skipif(os.name != "posix", reason="helpers inherit their socket by descriptor (POSIX)")


def wait_ready(workers: TaskWorkers, count: int) -> None:
    deadline = time.monotonic() + 60
    while workers.active() < count:
        assert time.monotonic() < deadline, f"helpers not ready: {workers.problems}"
        time.sleep(0.05)


def gradients(algo) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in algo.outer_parameters()]


def assert_same_gradients(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    """Equal up to float32 summation order, relative to the whole gradient's norm (a conv bias before
    BatchNorm has a gradient that is rounding noise, so per-tensor ratios mean nothing)."""
    g, w = torch.cat([t.flatten() for t in got]), torch.cat([t.flatten() for t in want])
    assert float((g - w).norm() / w.norm()) < 1e-5


@pytest.mark.parametrize("algo_name", ["maml", "metasgd", "blackbox", "reptile", "simpleshot"])
def test_shared_meta_gradient_equals_one_process(small_glyph_pool, algo_name):
    config = TrainConfig(algo=algo_name, queries=3, meta_batch=5, device="cpu", seed=1)
    tasks = TaskSampler(small_glyph_pool, "train", 5, 1, 3, seed=1).batch(0, 5)
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    loss, acc = algo.meta_gradient(tasks)
    expected = gradients(algo)
    for p in algo.outer_parameters():
        p.grad = None
    with TaskWorkers(config.to_dict(), 3) as workers:  # 3 processes: shares of 2, 2 and 1 tasks
        wait_ready(workers, 2)
        shared_loss, shared_acc = workers.meta_gradient(algo, tasks)
        assert workers.problems == []
    assert shared_loss == pytest.approx(loss, rel=1e-5) and shared_acc == pytest.approx(acc)
    assert_same_gradients(gradients(algo), expected)


@pytest.mark.parametrize("algo_name", ["maml", "protonet", "blackbox"])
def test_shared_evaluation_gives_the_one_process_accuracies_in_order(small_glyph_pool, algo_name):
    config = TrainConfig(algo=algo_name, queries=3, device="cpu", seed=2)
    tasks = TaskSampler(small_glyph_pool, "val", 5, 1, 3, seed=2).fixed(7)
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    alone = [algo.evaluate(t) for t in tasks]
    with TaskWorkers(config.to_dict(), 2) as workers:
        wait_ready(workers, 1)
        shared = workers.evaluate(algo, tasks)
        assert workers.problems == []
    assert len(shared) == len(alone)
    # the same episodes in the same order; float32 rounding in another process may at most flip one query
    assert sum(abs(a - b) for a, b in zip(shared, alone)) <= 1 / 15 + 1e-9


def test_a_helper_that_dies_is_replaced_by_the_parent(small_glyph_pool):
    config = TrainConfig(algo="maml", queries=3, meta_batch=4, device="cpu")
    tasks = TaskSampler(small_glyph_pool, "train", 5, 1, 3, seed=0).batch(0, 4)
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    algo.meta_gradient(tasks)
    expected = gradients(algo)
    for p in algo.outer_parameters():
        p.grad = None
    with TaskWorkers(config.to_dict(), 2) as workers:
        wait_ready(workers, 1)
        workers.helpers[0].process.kill()
        workers.helpers[0].process.wait()
        workers.meta_gradient(algo, tasks)
        assert len(workers.problems) == 1 and "helper" in workers.problems[0]
        assert workers.active() == 0  # dropped: later meta-batches stay in this process
        assert len(workers.problems) == 1  # and reported once
    assert_same_gradients(gradients(algo), expected)


def test_a_run_with_helpers_trains_stops_and_leaves_no_process(small_glyph_pool):
    before = child_pids()
    control = RunControl()
    config = TrainConfig(
        algo="fomaml", queries=3, meta_batch=4, iterations=10_000, val_every=0, device="cpu", workers=2
    )
    events = run(config, control, pool=small_glyph_pool)
    started = next(events)
    assert isinstance(started, Started) and started.processes == 2
    deadline = time.monotonic() + 90
    shared_steps, finished = 0, None
    for event in events:
        assert time.monotonic() < deadline, "the helper never joined"
        if isinstance(event, Finished):
            finished = event
            break
        shared_steps += event.processes == 2
        if shared_steps == 3:
            control.stop()
    assert finished is not None and finished.reason == "stopped"
    assert child_pids() - before == set()


def test_plan_workers(small_glyph_pool):
    cpu = torch.device("cpu")
    maml = build_model_and_algorithm(TrainConfig(algo="maml", device="cpu"), cpu)
    finetune = build_model_and_algorithm(TrainConfig(algo="finetune", device="cpu"), cpu)
    assert plan_workers(3, maml, cpu, meta_batch=8, distributed=False) == 3
    assert plan_workers(0, maml, cpu, meta_batch=8, distributed=False) == default_workers()
    assert plan_workers(4, maml, cpu, meta_batch=2, distributed=False) == 2  # one task per process at least
    assert (
        plan_workers(2, finetune, cpu, meta_batch=8, distributed=False) == 2
    )  # its mask of seen classes travels along
    finetune.shares_tasks = False
    assert plan_workers(2, finetune, cpu, meta_batch=8, distributed=False) == 1  # an algorithm that cannot share
    assert plan_workers(2, maml, cpu, meta_batch=8, distributed=True) == 1  # torchrun shares already
    assert plan_workers(2, maml, torch.device("meta"), meta_batch=8, distributed=False) == 1  # not the CPU


def test_default_workers_honours_the_override(monkeypatch):
    monkeypatch.setenv("META_PLAYGROUND_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("META_PLAYGROUND_WORKERS", "")
    assert 1 <= default_workers() <= 2


@pytest.mark.slow
def test_a_script_without_a_main_guard_can_use_helpers(tmp_path):
    """multiprocessing's spawn would re-run such a script in each child; helpers are started without it."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from engine.config import TrainConfig
        from engine.events import Finished, IterationMetrics
        from engine.trainer import run
        config = TrainConfig(algo="protonet", queries=3, meta_batch=4, iterations=10_000, time_budget=8,
                             val_every=0, device="cpu")
        most = 1
        for event in run(config):
            if isinstance(event, IterationMetrics):
                most = max(most, event.processes)
            if isinstance(event, Finished):
                print("finished", event.reason, "processes", most)
    """)
    )
    env = {**os.environ, "META_PLAYGROUND_WORKERS": "2"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "finished time budget processes 2" in out.stdout, out.stdout + out.stderr[-2000:]


def test_closing_helpers_that_are_still_starting_does_not_wait_for_them():
    before = child_pids()
    workers = TaskWorkers(TrainConfig(algo="protonet", device="cpu").to_dict(), 2)
    began = time.monotonic()
    workers.close()  # at once: the helper is still importing torch
    assert time.monotonic() - began < 0.5
    assert child_pids() - before == set()


def test_a_helper_that_cannot_start_is_reported(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a "python" that exits at once
    workers = TaskWorkers(TrainConfig(algo="protonet", device="cpu").to_dict(), 2)
    try:
        deadline = time.monotonic() + 60
        while not workers.problems:
            assert workers.active() == 0 and time.monotonic() < deadline
            time.sleep(0.05)
        assert workers.problems == ["a helper process could not start"]
    finally:
        workers.close()


def test_a_run_whose_helper_dies_goes_on_and_says_so(small_glyph_pool):
    before = child_pids()
    control = RunControl()
    config = TrainConfig(
        algo="protonet", queries=3, meta_batch=4, iterations=10_000, val_every=0, device="cpu", workers=2
    )
    deadline = time.monotonic() + 90
    shared, after_kill, finished = 0, 0, None
    for event in run(config, control, pool=small_glyph_pool):
        assert time.monotonic() < deadline
        if isinstance(event, Finished):
            finished = event
            break
        if not isinstance(event, IterationMetrics):
            continue
        if event.processes == 2:
            shared += 1
            if shared == 2:
                for pid in child_pids() - before:
                    os.kill(pid, 9)
        elif shared >= 2:
            after_kill += 1
            if after_kill == 3:
                control.stop()
    assert finished is not None and finished.reason == "stopped"
    assert "helper process" in finished.message and "computed in this process" in finished.message


def test_a_terminal_ctrl_c_does_not_reach_the_helpers(small_glyph_pool):
    """Ctrl+C signals the terminal's foreground process group: the helpers are not in it (their parent ends them),
    and the parent's run goes on sharing its meta-batches."""
    config = TrainConfig(algo="protonet", queries=3, meta_batch=4, device="cpu")
    tasks = TaskSampler(small_glyph_pool, "train", 5, 1, 3, seed=0).batch(0, 4)
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    with TaskWorkers(config.to_dict(), 2) as workers:
        helper = workers.helpers[0].process
        assert os.getpgid(helper.pid) != os.getpgid(0)
        wait_ready(workers, 1)
        workers.meta_gradient(algo, tasks)
        assert workers.problems == [] and workers.active() == 1
