"""Injected faults: SIGKILL mid-save, NaN/inf losses, out of memory.

A process killed in the middle of writing a checkpoint or a class set must
leave the previous version loadable; a non-finite loss or gradient must stop
the run with a message and the last good weights; running out of memory must
end the run with a suggestion, and the command line must say so in one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

import engine.trainer as trainer
from engine.algorithms.protonet import ProtoNet
from engine.checkpoint import load_checkpoint
from engine.classset import load_classset
from engine.config import TrainConfig
from engine.events import Finished, IterationMetrics

# ---- SIGKILL in the middle of a save ----

CHECKPOINT_CHILD = """
import sys, time, torch
from engine.checkpoint import save_checkpoint
path, signal_file = sys.argv[1], sys.argv[2]
save_checkpoint(path, config={"version": 1}, model_state={"w": torch.full((1000,), 1.0)}, iteration=1)
real_save = torch.save
def half_then_hang(obj, f):
    import io
    buf = io.BytesIO()
    real_save(obj, buf)
    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    f.flush()
    open(signal_file, "w").close()
    time.sleep(120)
torch.save = half_then_hang
save_checkpoint(path, config={"version": 2}, model_state={"w": torch.full((400_000,), 2.0)}, iteration=2)
"""

CLASSSET_CHILD = """
import os, sys, time, numpy as np
import engine.classset as cs
from PIL import Image
path, signal_file, where = sys.argv[1], sys.argv[2], sys.argv[3]
examples = [[np.full((28, 28), 1, np.uint8)] * 2, [np.full((28, 28), 2, np.uint8)]]
cs.save_classset(path, cs.ClassSet(["one", "two"], examples))
def hang():
    open(signal_file, "w").close()
    time.sleep(120)
if where == "images":
    real_save, calls = Image.Image.save, []
    def save_then_hang(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            hang()
        return real_save(self, *a, **k)
    Image.Image.save = save_then_hang
else:  # between the two renames of the swap: the old set is moved away, the new one not yet in place
    real_replace, calls = os.replace, []
    def replace_then_hang(a, b):
        real_replace(a, b)
        calls.append(1)
        if len(calls) == 1:
            hang()
    cs.os.replace = replace_then_hang
cs.save_classset(path, cs.ClassSet(["new"] * 3, [[np.full((28, 28), 7, np.uint8)] * 3] * 3))
"""


def kill_mid_save(script: str, *args: str, tmp_path: Path) -> None:
    """Run ``script`` in a child, wait (bounded) for it to signal it is mid-write, then SIGKILL it."""
    signal_file = tmp_path / "mid-write"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), args[0], str(signal_file), *args[1:]],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180
        while not signal_file.exists():
            assert child.poll() is None, f"the child ended early: {child.stderr.read().decode()}"
            assert time.monotonic() < deadline, "the child never reached the middle of the save"
            time.sleep(0.05)  # polling a file the child creates, bounded by the deadline above
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()


def test_sigkill_while_saving_a_checkpoint_keeps_the_previous_one(tmp_path):
    path = tmp_path / "model.pt"
    kill_mid_save(CHECKPOINT_CHILD, str(path), tmp_path=tmp_path)
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers and leftovers[0].stat().st_size > 0, "the kill did not land in the middle of the write"
    payload = load_checkpoint(path)
    assert payload["iteration"] == 1 and payload["config"] == {"version": 1}
    assert torch.equal(payload["model"]["w"], torch.full((1000,), 1.0))


@pytest.mark.parametrize("where", ["images", "swap"])
def test_sigkill_while_saving_a_class_set_keeps_the_previous_one(tmp_path, where):
    path = tmp_path / "set"
    kill_mid_save(CLASSSET_CHILD, str(path), where, tmp_path=tmp_path)
    if where == "swap":
        assert not path.exists(), "the kill did not land between the two renames"
    loaded = load_classset(path)
    assert loaded.names == ["one", "two"]
    assert [len(e) for e in loaded.examples] == [2, 1]
    assert np.all(loaded.examples[0][0] == 1) and np.all(loaded.examples[1][0] == 2)


# ---- non-finite losses and out of memory inside a meta-step ----


def tiny_config(tmp_path, **changes) -> TrainConfig:
    return TrainConfig(
        algo="protonet",
        ways=3,
        shots=1,
        queries=2,
        meta_batch=1,
        iterations=6,
        val_every=0,
        device="cpu",
        seed=3,
        checkpoint=str(tmp_path / "m.pt"),
    ).replace(**changes)


def run_with_fault(config, pool, monkeypatch, fault, at: int = 3):
    """Run with ``fault(algo, loss, acc)`` replacing meta-step number ``at``; return (events, algo, weights
    before it)."""
    original = ProtoNet.meta_gradient
    calls = {"n": 0}
    seen: dict = {}

    def faulty(self, tasks, should_stop=None):
        calls["n"] += 1
        if calls["n"] == at:
            seen["before"] = {k: v.clone() for k, v in self.model.state_dict().items()}
            seen["algo"] = self
            return fault(self, *original(self, tasks, should_stop=should_stop))
        return original(self, tasks, should_stop=should_stop)

    monkeypatch.setattr(ProtoNet, "meta_gradient", faulty)
    events = list(trainer.run(config, pool=pool))
    return events, seen["algo"], seen["before"]


def nan_loss(algo, loss, acc):
    return float("nan"), acc


def inf_loss(algo, loss, acc):
    return float("inf"), acc


def nan_gradient(algo, loss, acc):
    next(iter(algo.outer_parameters())).grad.fill_(float("nan"))
    return loss, acc


@pytest.mark.parametrize("fault", [nan_loss, inf_loss, nan_gradient], ids=["nan-loss", "inf-loss", "nan-gradient"])
def test_non_finite_step_stops_the_run_and_keeps_the_last_good_weights(tmp_path, small_glyph_pool, monkeypatch, fault):
    events, algo, before = run_with_fault(tiny_config(tmp_path), small_glyph_pool, monkeypatch, fault)
    end = events[-1]
    assert isinstance(end, Finished) and end.reason == "diverged" and end.iterations == 2
    assert "iteration 3" in end.message and "learning rate" in end.message
    assert [e.iteration for e in events if isinstance(e, IterationMetrics)] == [1, 2]
    after = algo.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items()), "the bad step changed the weights"
    saved = load_checkpoint(tmp_path / "m.pt")
    assert saved["iteration"] == 2 and all(torch.equal(saved["model"][k], v) for k, v in before.items())


def oom(algo, loss, acc):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def cpu_oom(algo, loss, acc):
    raise MemoryError


def runtime_oom(algo, loss, acc):
    raise RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: "
        "you tried to allocate 1 GB; out of memory"
    )


@pytest.mark.parametrize("fault", [oom, cpu_oom, runtime_oom], ids=["cuda-oom", "memory-error", "runtime-oom"])
def test_out_of_memory_ends_the_run_with_a_suggestion(tmp_path, small_glyph_pool, monkeypatch, fault):
    events, algo, before = run_with_fault(tiny_config(tmp_path, meta_batch=2), small_glyph_pool, monkeypatch, fault)
    end = events[-1]
    assert isinstance(end, Finished) and end.reason == "out of memory" and end.iterations == 2
    assert "--meta-batch" in end.message and "--queries" in end.message and "\n" not in end.message
    assert all(torch.equal(algo.model.state_dict()[k], v) for k, v in before.items())
    assert load_checkpoint(tmp_path / "m.pt")["iteration"] == 2


def test_other_runtime_errors_are_not_mistaken_for_out_of_memory(tmp_path, small_glyph_pool, monkeypatch):
    def bug(algo, loss, acc):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes"):
        run_with_fault(tiny_config(tmp_path), small_glyph_pool, monkeypatch, bug)


OOM_CLI = """
import sys, torch
from engine.algorithms.protonet import ProtoNet
def boom(self, tasks, should_stop=None):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
ProtoNet.meta_gradient = boom
from engine.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_out_of_memory_exits_2_with_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            OOM_CLI,
            "train",
            "--algo",  # the algorithm OOM_CLI makes run out of memory (train's default is the quick recipe's)
            "protonet",
            "--iterations",
            "3",
            "--meta-batch",
            "64",
            "--val-every",
            "0",
            "--device",
            "cpu",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "out of memory" in errors[0] and "--meta-batch" in errors[0], result.stderr
    assert result.stderr.rstrip().endswith(errors[0])
