"""Helper processes that compute the meta-gradient of part of each meta-batch.

On a 2-core CPU, one process splitting each small convolution over two
threads leaves the cores half idle (28x28 images in batches of 5 to 80 give
each thread little work); two single-threaded processes, each taking half of
the meta-batch's tasks, measured 1.47x faster (BENCHMARKS.md). ``torchrun``
gives that to the command line; this module gives it to every run, the
app's included, with nothing to launch: :class:`TaskWorkers` starts helper
processes in the background, and until a helper reports ready the run simply
goes on alone, so starting never waits for a child's ``import torch``.

Validation episodes are shared the same way (:meth:`TaskWorkers.evaluate`:
200 Omniglot episodes in 5.0 s instead of 9.4 s, the same accuracies).

Each meta-step the parent sends a ready helper the current outer parameters
and its share of the tasks (the parent sampled them all, so the tasks, and
therefore the maths, are exactly those of a one-process run), computes its own
share meanwhile, then sums the helpers' gradients into its own in a fixed
order, weighted by share. A helper that dies or fails is dropped and its
share computed in the parent: a run never breaks because a helper did.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .algorithms.base import Algorithm
from .allocator import keep_freed_memory
from .build import build_model_and_algorithm
from .config import TrainConfig
from .tasks import Task

# A helper runs at this lower priority: on a busy machine the scheduler then serves the window's
# thread first (with both cores computing, a GUI probe measured p99 45 ms and 77 ms stalls
# without it); on an idle machine it costs nothing.
HELPER_NICENESS = 10
# helpers inherit a socket by its descriptor number (POSIX); elsewhere a run uses one process
SUPPORTED = os.name == "posix"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def default_workers() -> int:
    """The processes a run uses unless told otherwise: one per core, at most 2 (measured best on 2 cores).

    ``META_PLAYGROUND_WORKERS=N`` overrides it (the test suite sets 1, so that only the tests
    written for helpers start them).
    """
    if not SUPPORTED:
        return 1
    override = os.environ.get("META_PLAYGROUND_WORKERS", "")
    if override.isdigit() and int(override) >= 1:
        return int(override)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(2, cores))


# Tensors cross the pipe as numpy arrays (plain bytes): torch's own pickling of tensors for
# multiprocessing passes shared-memory handles, which needs a resource-sharer thread per parent.
def _pack_tensors(tensors: list[torch.Tensor]) -> list[np.ndarray]:
    return [t.detach().cpu().numpy() for t in tensors]


def _unpack_tensors(arrays: list[np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(a) for a in arrays]


def _pack_task(task: Task) -> tuple:
    return (*_pack_tensors([task.support_x, task.support_y, task.query_x, task.query_y]), task.classes)


def _unpack_task(packed: tuple) -> Task:
    return Task(*_unpack_tensors(list(packed[:4])), packed[4])


def plan_workers(requested: int, algo: Algorithm, device: torch.device, meta_batch: int, distributed: bool) -> int:
    """Processes a run should use: ``requested`` (0 = :func:`default_workers`), or 1 where sharing cannot
    help or would be wrong (CUDA, torchrun, an algorithm that cannot share, a meta-batch of one)."""
    if distributed or device.type != "cpu" or not algo.shares_tasks or not SUPPORTED:
        return 1
    if algo.objective.name == "regression":  # a sine task's meta-gradient takes a millisecond: less than a round trip
        return 1
    return max(1, min(requested or default_workers(), meta_batch))


def serve(fd: int) -> None:
    """A helper's whole life (run as ``python -c``): read the config, build the model once, then answer
    meta-gradient requests until told to stop or the parent goes away."""
    conn = Connection(fd)
    try:
        config = conn.recv()
    except (EOFError, OSError):
        return
    keep_freed_memory()
    torch.set_num_threads(1)
    try:
        os.nice(HELPER_NICENESS)
    except OSError:  # not permitted here: run at the parent's priority
        pass
    algo = build_model_and_algorithm(TrainConfig.from_dict(config), torch.device("cpu"))
    params = list(algo.outer_parameters())
    targets = params + algo.shared_state()  # what the parent sends each step, in this order
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if request is None:
            return
        kind, values, packed_tasks, precision = request
        try:
            tasks = [_unpack_task(t) for t in packed_tasks]
            with torch.no_grad():
                for p, v in zip(targets, _unpack_tensors(values)):
                    p.copy_(v)
            if kind == "evaluate":  # query accuracy of each task after adapting, as the parent would
                conn.send(("ok", evaluate_each(algo, tasks)))
                continue
            for p in params:
                p.grad = None
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss, acc = algo.meta_gradient(tasks)
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
            conn.send(("ok", loss, acc, _pack_tensors(grads)))
        except Exception as exc:  # reported to the parent, which computes this share itself
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _Helper:
    """One helper process, started with a plain ``python -c`` (multiprocessing's spawn would re-run the
    parent's main script, which a user's unguarded script cannot survive)."""

    def __init__(self, config: dict) -> None:
        ours, theirs = socket.socketpair()
        path = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        code = f"from engine.task_workers import serve; serve({theirs.fileno()})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            # a session of its own: Ctrl+C in a terminal reaches the terminal's whole process group, and the parent
            # decides what it means (the window closes, the CLI stops its run) and ends its helpers; a helper that
            # died of it first would print a traceback for nothing. It still ends with its parent (its socket closes)
            start_new_session=True,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.ready = False
        self.failed = False
        self.busy = False  # a request is out and its reply not read
        self.dropped = False  # closed by TaskWorkers._drop, its problem recorded
        try:
            self.conn.send(config)
        except OSError:  # it exited already (it could not start): reported by TaskWorkers.active
            self.failed = True

    def poll_ready(self) -> bool:
        if not self.ready and not self.failed:
            try:
                if self.conn.poll():
                    self.ready = self.conn.recv()[0] == "ready"
                    self.failed = not self.ready
            except (EOFError, OSError):
                self.failed = True
        return self.ready and not self.failed

    def send(self, request: tuple) -> None:
        self.conn.send(request)
        self.busy = True

    def close(self) -> None:
        """End the helper: politely when idle and ready; at once when busy or still starting (it holds
        no state worth waiting for, and a Stop must not wait for its import of torch)."""
        if self.ready and not self.busy:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.conn.close()


class TaskWorkers:
    """``count - 1`` helper processes beside this one; :meth:`meta_gradient` shares a meta-batch with them.

    Use as a context manager, or call :meth:`close`; a helper also ends when
    this process does (its socket closes).
    """

    def __init__(self, config: dict, count: int) -> None:
        self.helpers = [_Helper(config) for _ in range(max(0, count - 1))] if SUPPORTED else []
        self.problems: list[str] = []
        self._threads_before: int | None = None

    def __enter__(self) -> "TaskWorkers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def active(self) -> int:
        """Helpers ready now (checked without waiting); one that could not start is recorded in ``problems``."""
        ready = 0
        for helper in self.helpers:
            if helper.poll_ready():
                ready += 1
            elif helper.failed and not helper.dropped:
                self._drop(helper, "a helper process could not start")
        return ready

    def meta_gradient(
        self, algo: Algorithm, tasks: list[Task], should_stop: Callable[[], bool] | None = None, precision: str = "fp32"
    ) -> tuple[float, float]:
        """``algo.meta_gradient(tasks)`` computed by this process and the ready helpers together.

        Leaves the mean meta-gradient over all ``tasks`` in ``.grad`` and
        returns the mean loss and accuracy, as ``algo.meta_gradient`` does.
        """
        algo.prepare(tasks)  # state for the whole meta-batch, sent with the weights
        own, sent = self._dispatch("gradient", algo, tasks, precision)
        if not sent:
            return algo.meta_gradient(tasks, should_stop=should_stop)
        params = list(algo.outer_parameters())
        try:
            loss, acc = algo.meta_gradient(own, should_stop=should_stop)
        except BaseException:  # a stop request (or an error) here: the helpers' replies would be stale
            self._drop_busy(sent)
            raise
        total_loss, total_acc = loss * len(own), acc * len(own)
        for p in params:
            if p.grad is not None:
                p.grad.mul_(len(own))
        for helper, part in sent:
            reply = self._receive(helper) if helper is not None else None
            if reply is None:  # compute the lost share here, with the same weighting
                saved = [None if p.grad is None else p.grad.clone() for p in params]
                for p in params:
                    p.grad = None
                part_loss, part_acc = algo.meta_gradient(part, should_stop=should_stop)
                grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
                for p, g in zip(params, saved):
                    p.grad = g
            else:
                part_loss, part_acc, packed = reply
                grads = _unpack_tensors(packed)
            total_loss += part_loss * len(part)
            total_acc += part_acc * len(part)
            for p, g in zip(params, grads):
                g = g.to(p.device) * len(part)
                p.grad = g if p.grad is None else p.grad.add_(g)
        for p in params:
            if p.grad is not None:
                p.grad.div_(len(tasks))
        return total_loss / len(tasks), total_acc / len(tasks)

    def evaluate(
        self, algo: Algorithm, tasks: list[Task], should_stop: Callable[[], bool] | None = None
    ) -> list[float]:
        """``[algo.evaluate(t) for t in tasks]``, in order, computed by this process and the ready helpers.

        A stop request between this process's tasks raises ``Interrupted`` (the
        helpers' replies are then dropped with them).
        """
        own, sent = self._dispatch("evaluate", algo, tasks, "fp32")
        try:
            accs = evaluate_each(algo, own, should_stop)
            for helper, part in sent:
                reply = self._receive(helper) if helper is not None else None
                accs += list(reply[0]) if reply is not None else evaluate_each(algo, part, should_stop)
        except BaseException:  # a stop request (or an error) here: the helpers' replies would be stale
            self._drop_busy(sent)
            raise
        return accs

    def _dispatch(self, kind: str, algo: Algorithm, tasks: list[Task], precision: str) -> tuple[list[Task], list]:
        """Send each ready helper a contiguous share of ``tasks`` with the current weights.

        Returns this process's share (the first) and ``(helper, part)`` for every share sent
        (``helper`` None where sending failed: that part is computed here). With no helper
        ready, everything is this process's and nothing is sent.
        """
        ready = [h for h in self.helpers if h.poll_ready()][: len(tasks) - 1]  # every process gets a task
        if not ready:
            return tasks, []
        if self._threads_before is None and torch.get_num_threads() > 1:
            # the cores are the processes' now: one intra-op thread each (restored by close)
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        shares = _split(len(tasks), len(ready) + 1)
        values = _pack_tensors(list(algo.outer_parameters()) + algo.shared_state())
        start, sent = shares[0], []
        for helper, size in zip(ready, shares[1:]):
            part = tasks[start : start + size]
            start += size
            try:
                helper.send((kind, values, [_pack_task(t) for t in part], precision))
                sent.append((helper, part))
            except (OSError, ValueError) as exc:
                self._drop(helper, f"could not reach a helper process ({exc})")
                sent.append((None, part))
        return tasks[: shares[0]], sent

    def _drop_busy(self, sent: list) -> None:
        for helper, _ in sent:
            if helper is not None and helper.busy:
                self._drop(helper, "")

    def _receive(self, helper: _Helper) -> tuple | None:
        """The reply's values after ``"ok"``; None (and the helper dropped) when it died or failed."""
        try:
            reply = helper.conn.recv()
            helper.busy = False
        except (EOFError, OSError) as exc:
            self._drop(helper, f"a helper process ended unexpectedly ({exc or 'no reply'})")
            return None
        if reply[0] != "ok":
            self._drop(helper, f"a helper process failed: {reply[1]}")
            return None
        return reply[1:]

    def _drop(self, helper: _Helper, problem: str) -> None:
        helper.failed = helper.dropped = True
        if problem:
            self.problems.append(problem)
        helper.close()

    def close(self) -> None:
        """Ask every helper to finish, then make sure it has (terminating a busy one)."""
        for helper in self.helpers:
            helper.close()
        self.helpers = []
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None


def evaluate_each(algo: Algorithm, tasks: list[Task], should_stop: Callable[[], bool] | None = None) -> list[float]:
    """Query accuracy of each task after adapting, in order; a stop request between tasks raises ``Interrupted``."""
    from .algorithms import Interrupted

    accs = []
    for task in tasks:
        if should_stop is not None and should_stop():
            raise Interrupted
        accs.append(algo.evaluate(task))
    return accs


def _split(n: int, parts: int) -> list[int]:
    """``n`` tasks in ``parts`` contiguous shares, as even as possible, larger first."""
    base, extra = divmod(n, parts)
    return [base + (i < extra) for i in range(parts)]
