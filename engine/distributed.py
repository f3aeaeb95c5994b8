"""Meta-training across processes and machines with ``torch.distributed``.

``torchrun --nproc_per_node=N main.py train ...`` starts N copies of the CLI;
each reads its rank from the environment (``init_from_env``). The global
meta-batch is split across ranks: rank ``r`` meta-trains on tasks
``[r * share, (r + 1) * share)`` of exactly the meta-batch one process would
sample, its meta-gradient is the mean over its share, and averaging those over
ranks (one all-reduce) gives the single-process mean. Rank 0 alone decides
when to stop, validates and writes checkpoints; the others follow its
broadcast decision, so no rank waits forever in a collective.

Backend gloo on CPU, nccl on CUDA (each process on GPU ``LOCAL_RANK``).
Without torchrun (``WORLD_SIZE`` unset or 1) every helper is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.distributed as tdist

from .data.base import DataError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly one-process) distributed run.

    Attributes
    ----------
    rank : this process's index in ``[0, world_size)``
    world_size : number of processes meta-training together
    backend : ``"gloo"`` or ``"nccl"``, ``None`` when not distributed
    local_rank : index on this machine (selects the GPU with nccl)
    """

    rank: int = 0
    world_size: int = 1
    backend: str | None = None
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 prints, validates and writes checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def comm_device(self) -> torch.device:
        """Where collective buffers live: nccl talks CUDA tensors, gloo CPU ones."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise DataError(
            f"environment variable {name}={raw!r} is not an integer; launch with torchrun or unset it"
        ) from None


def init_from_env(device: str = "auto") -> DistContext:
    """Join the process group torchrun describes (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``, ...).

    With ``WORLD_SIZE`` unset or 1, return the one-process context and touch
    nothing. ``device`` is the run's ``--device``: CUDA (asked for, or
    ``auto`` with a GPU present) selects nccl and GPU ``LOCAL_RANK``.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistContext()
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if cuda else "gloo"
    if cuda:
        if local_rank >= torch.cuda.device_count():
            raise DataError(
                f"process {rank} has LOCAL_RANK {local_rank} but this machine has {torch.cuda.device_count()} GPU(s); "
                "start at most one process per GPU (--nproc_per_node)"
            )
        torch.cuda.set_device(local_rank)
    if not tdist.is_initialized():
        try:
            tdist.init_process_group(backend=backend, init_method="env://", world_size=world, rank=rank)
        except ValueError as exc:  # a rendezvous variable is missing or malformed
            raise DataError(
                f"WORLD_SIZE={world} asks for a distributed run, but {str(exc).splitlines()[0]}; "
                "start it with torchrun, which sets MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE"
            ) from None
    return DistContext(rank=rank, world_size=world, backend=backend, local_rank=local_rank)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (safe to call when not distributed or already left)."""
    if ctx.enabled and tdist.is_initialized():
        tdist.destroy_process_group()


def shard(meta_batch: int, ctx: DistContext) -> tuple[int, int]:
    """(share, offset): this rank's tasks are ``[offset, offset + share)`` of the global meta-batch."""
    if meta_batch % ctx.world_size:
        raise DataError(
            f"--meta-batch {meta_batch} cannot be split evenly across {ctx.world_size} processes; "
            f"use a multiple of {ctx.world_size} (it is the global meta-batch, shared by all processes)"
        )
    share = meta_batch // ctx.world_size
    return share, ctx.rank * share


def average_gradients(params: Iterable[torch.nn.Parameter], ctx: DistContext) -> None:
    """Replace each ``.grad`` by its mean over ranks, in one all-reduce.

    A rank whose parameter has no gradient contributes zeros; a parameter
    that has no gradient on any rank keeps ``.grad = None`` (as one process
    would, so the optimiser skips it on every rank alike).
    """
    if not ctx.enabled:
        return
    params = list(params)
    if not params:
        return
    dtype = params[0].dtype  # from the parameters, not the grads: the same buffer on every rank
    device = ctx.comm_device
    pieces = [
        (
            p.grad.detach().reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=dtype, device=p.device)
        ).to(device, dtype)
        for p in params
    ]
    present = torch.tensor([p.grad is not None for p in params], dtype=dtype, device=device)
    buffer = torch.cat(pieces + [present])
    tdist.all_reduce(buffer, op=tdist.ReduceOp.SUM)
    buffer /= ctx.world_size
    present = buffer[-len(params) :] > 0
    start = 0
    for p, has_grad in zip(params, present.tolist()):
        n = p.numel()
        p.grad = buffer[start : start + n].view_as(p).to(p.device, p.dtype).clone() if has_grad else None
        start += n


def average_scalars(values: Sequence[float], ctx: DistContext) -> list[float]:
    """The mean of each value over ranks (float64), identical on every rank."""
    if not ctx.enabled:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=ctx.comm_device)
    tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return (t / ctx.world_size).tolist()


def broadcast_int(value: int, ctx: DistContext) -> int:
    """Rank 0's ``value``, on every rank."""
    if not ctx.enabled:
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.int64, device=ctx.comm_device)
    tdist.broadcast(t, src=0)
    return int(t.item())


def broadcast_flag(flag: bool, ctx: DistContext) -> bool:
    """Rank 0's decision (stop, time budget), followed by every rank."""
    return bool(broadcast_int(int(flag), ctx))


def broadcast_parameters(params: Iterable[torch.nn.Parameter], ctx: DistContext) -> None:
    """Copy rank 0's parameter values to every rank (one broadcast), so all start alike."""
    if not ctx.enabled:
        return
    params = list(params)
    if not params:
        return
    buffer = torch.cat([p.detach().reshape(-1).to(ctx.comm_device, params[0].dtype) for p in params])
    tdist.broadcast(buffer, src=0)
    start = 0
    with torch.no_grad():
        for p in params:
            p.copy_(buffer[start : start + p.numel()].view_as(p))
            start += p.numel()


def sync_step(params: Iterable[torch.nn.Parameter], loss: float, acc: float, ctx: DistContext) -> tuple[float, float]:
    """Average the meta-gradient and the (loss, accuracy) of one meta-step over ranks.

    Afterwards every rank holds the same gradients and loss, so the trainer's
    finiteness check gives the same verdict everywhere.
    """
    average_gradients(params, ctx)
    loss, acc = average_scalars([loss, acc], ctx)
    return loss, acc
