"""The CPU speed-ups change no maths: channels-last convolutions (engine.models.Conv2d) and the
allocator thresholds (engine.allocator)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.algorithms import AlgoConfig, build_algorithm
from engine.algorithms.maml import MAML
from engine.allocator import keep_freed_memory
from engine.models import CHANNELS_LAST_MIN_BATCH, Conv2d, Conv4, use_channels_last
from engine.tasks import Task

REPO = Path(__file__).resolve().parents[1]


def plain_copy(model: Conv4) -> Conv4:
    """The same network and weights with every convolution a stock (NCHW) nn.Conv2d."""
    plain = Conv4(ways=model.head.out_features).to(next(model.parameters()).dtype)
    for block in plain.features:
        if isinstance(block, nn.Sequential) and isinstance(block[0], Conv2d):
            old = block[0]
            block[0] = nn.Conv2d(old.in_channels, old.out_channels, 3, padding=1).to(old.weight.dtype)
    plain.load_state_dict(model.state_dict())
    assert not any(isinstance(m, Conv2d) for m in plain.modules())
    return plain


def strokes(n: int, generator: torch.Generator) -> torch.Tensor:
    """Binary strokes on a flat background, like Omniglot (flat regions tie in max-pooling)."""
    return (torch.rand(n, 1, 28, 28, generator=generator) > 0.8).double()


def test_large_batches_run_channels_last_and_parameters_do_not():
    model = Conv4(ways=5)
    out = model.features[0][0](torch.rand(CHANNELS_LAST_MIN_BATCH, 1, 28, 28))
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    # a support set stays NCHW (the accuracy of MAML's second-order gradient, see engine.models.Conv2d)
    assert model.features[0][0](torch.rand(5, 1, 28, 28)).is_contiguous()
    # checkpoints, Adam and the helpers' byte transfers see ordinary tensors
    assert all(p.is_contiguous() for p in model.parameters())


@pytest.mark.parametrize("name", ["maml", "fomaml", "metasgd", "anil", "protonet"])
def test_every_algorithm_runs_large_batches_channels_last_and_it_can_be_turned_off(name):
    """Second order included: over twelve seeds its accuracy stayed within the float32 noise (BENCHMARKS.md)."""
    model = Conv4(ways=5)
    build_algorithm(name, model, AlgoConfig())
    convs = [m for m in model.modules() if isinstance(m, Conv2d)]
    assert len(convs) == 4 and all(c.channels_last for c in convs)
    assert not model.features[0][0](torch.rand(CHANNELS_LAST_MIN_BATCH, 1, 28, 28)).is_contiguous()
    use_channels_last(model, False)  # the comparison runs of bench/layout_check.py
    assert model.features[0][0](torch.rand(CHANNELS_LAST_MIN_BATCH, 1, 28, 28)).is_contiguous()


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_meta_gradient_equals_the_plain_nchw_network(first_order):
    torch.manual_seed(0)
    ours = Conv4(ways=3).double()
    plain = plain_copy(ours)
    g = torch.Generator().manual_seed(4)
    # a small support set (NCHW) and a query batch large enough for channels-last
    queries = CHANNELS_LAST_MIN_BATCH // 3 + 1
    task = Task(
        strokes(6, g),
        torch.arange(3).repeat(2),
        strokes(3 * queries, g),
        torch.arange(3).repeat(queries),
        classes=(0, 1, 2),
    )
    grads = []
    for model in (ours, plain):
        algo = MAML(model, AlgoConfig(ways=3, inner_lr=0.4, inner_steps=2, first_order=first_order))
        use_channels_last(model, model is ours)  # compare the fast path itself, in either order
        model.zero_grad()
        loss, _ = algo.task_loss(task)
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


FAULTS = textwrap.dedent(
    """
    import ctypes, resource, sys
    sys.path.insert(0, sys.argv[1])
    import torch
    from engine import allocator
    if sys.argv[2] == "tuned":
        applied = allocator.keep_freed_memory()
    else:
        # glibc's starting thresholds (128 KiB), held fixed. Its real defaults move with past frees, so
        # whether they fault here depends on the heap's layout (with PYTHONHASHSEED=2 they did not).
        libc = ctypes.CDLL("libc.so.6")
        applied = all(libc.mallopt(p, 128 << 10) == 1 for p in (allocator.M_MMAP_THRESHOLD, allocator.M_TRIM_THRESHOLD))

    def step():  # a training step's pattern: many activations alive at once, then all freed
        live = [torch.ones(2 << 20) for _ in range(10)]  # 10 x 8 MB, touched
        del live

    for _ in range(3):
        step()  # warm-up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def page_faults(mode: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", FAULTS, str(REPO), mode],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "META_PLAYGROUND_ALLOCATOR": ""},
    )
    assert out.returncode == 0, out.stderr
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not keep_freed_memory(), reason="glibc's mallopt is not available here")
def test_freed_buffers_are_reused_without_new_page_faults():
    tuned_applied, tuned = page_faults("tuned")
    default_applied, default = page_faults("glibc-start")
    assert (tuned_applied, default_applied) == ("True", "True")
    # 5 steps x 80 MB = 102,400 pages: with glibc's thresholds every step maps and faults them in again
    assert default > 50_000
    assert tuned < default / 20


def _conv_output_layouts(model: nn.Module) -> list[bool]:
    """Hooks recording, per call of the first Conv2d, whether its output came out channels-last."""
    seen: list[bool] = []
    conv = next(m for m in model.modules() if isinstance(m, Conv2d))
    conv.register_forward_hook(
        lambda _m, _i, out: seen.append(
            out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
        )
    )
    return seen


def test_small_batches_run_channels_last_only_inside_the_context_and_only_in_its_thread():
    import threading

    from engine.models import channels_last_small_batches

    model = Conv4(ways=5)
    seen = _conv_output_layouts(model)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        model(x)
        with channels_last_small_batches():
            model(x)
            other = threading.Thread(target=lambda: model(x))  # a training thread beside the adaptation
            other.start()
            other.join()
        model(x)
    assert seen == [False, True, False, False]


def test_maml_adaptation_runs_its_support_steps_channels_last():
    algo = build_algorithm("maml", Conv4(ways=5), AlgoConfig(ways=5))
    seen = _conv_output_layouts(algo.model)
    g = torch.Generator().manual_seed(0)
    support = strokes(10, g).float()
    algo.adapt(support, torch.arange(5).repeat(2), steps=3)
    assert seen and all(seen)  # a 10-image support set: NCHW in meta-training, channels-last here
    seen.clear()
    algo.task_loss(
        Task(support, torch.arange(5).repeat(2), strokes(10, g).float(), torch.arange(5).repeat(2), tuple(range(5)))
    )
    assert seen and not any(seen)  # meta-training keeps small batches NCHW
