"""Backbones. Every backbone exposes ``features`` (image -> flat embedding) and
``head`` (embedding -> logits) so that ANIL, ProtoNet and the fine-tune baseline
can reuse the same network, and ``functional_call`` can swap in adapted
parameters without cloning modules.

BatchNorm follows the MAML paper: statistics come from the current batch and
no running statistics are kept, so nothing leaks between tasks. When an adapted
learner scores queries (:func:`with_support`), the statistics come from the
support rows alone, so a query's prediction never depends on the other queries
scored with it (inductive scoring; ``scoring_protocol("transductive")`` restores
statistics over the whole batch, for comparison with papers that use them).
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SIZE = 28


# set by with_support: BatchNorm takes its statistics from the first N rows of the batch (the support set)
_STATISTICS_ROWS: contextvars.ContextVar[int | None] = contextvars.ContextVar("statistics_rows", default=None)
# "inductive" (support-set statistics) or "transductive" (statistics over support and every query together)
_PROTOCOL = contextvars.ContextVar("scoring_protocol", default="inductive")
PROTOCOLS = ("inductive", "transductive")


@contextlib.contextmanager
def scoring_protocol(protocol: str) -> Iterator[None]:
    """Score queries inductively (each on its own with the support set: the default) or transductively
    (BatchNorm statistics over the support set and all queries of the batch), in this thread only."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use inductive or transductive")
    token = _PROTOCOL.set(protocol)
    try:
        yield
    finally:
        _PROTOCOL.reset(token)


@contextlib.contextmanager
def support_statistics(rows: int) -> Iterator[None]:
    """Within this block (this thread), BatchNorm normalises every batch with the statistics of its
    first ``rows`` rows, the support set (unless the protocol is transductive); see :func:`with_support`."""
    token = _STATISTICS_ROWS.set(None if _PROTOCOL.get() == "transductive" else rows)
    try:
        yield
    finally:
        _STATISTICS_ROWS.reset(token)


# set by reuse_support_passes: a learner's cache of support passes (see with_support)
_SUPPORT_PASSES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("support_passes", default=None)
# while a support pass is recorded: the (mean, var) of each BatchNorm call in order; while replayed: their iterator
_RECORDING: contextvars.ContextVar[list | None] = contextvars.ContextVar("recording", default=None)
_REPLAYING: contextvars.ContextVar[Iterator | None] = contextvars.ContextVar("replaying", default=None)


@contextlib.contextmanager
def reuse_support_passes(cache: dict) -> Iterator[None]:
    """Within this block (this thread, no gradients), :func:`with_support` forwards the support set once per
    ``cache`` and function: later calls reuse its output rows and BatchNorm statistics and forward only the
    new rows. ``cache`` belongs to one learner, whose weights and support set never change (the window's
    predictions: one query costs a one-image forward instead of the support set's too)."""
    token = _SUPPORT_PASSES.set(cache)
    try:
        yield
    finally:
        _SUPPORT_PASSES.reset(token)


def with_support(fn: Callable[[torch.Tensor], torch.Tensor], support_x: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``fn(cat([support_x, x]))`` with BatchNorm statistics from the support rows alone.

    The support rows come out exactly as ``fn(support_x)`` would give them, and each
    query row depends only on the support set and itself: scored alone, in a batch
    or shuffled, a query gets the same prediction (Bronskill et al., "TaskNorm",
    ICML 2020, on why batch statistics over queries make scores unfair).
    Inside :func:`reuse_support_passes` the support rows are forwarded only the first time.
    """
    cache = _SUPPORT_PASSES.get()
    if cache is None or torch.is_grad_enabled() or _PROTOCOL.get() == "transductive":
        with support_statistics(len(support_x)):
            return fn(torch.cat([support_x, x]))
    key = (getattr(fn, "__code__", None) or id(fn), id(support_x), tuple(support_x.shape))
    if key not in cache:
        statistics: list = []
        token = _RECORDING.set(statistics)
        try:
            with support_statistics(len(support_x)):
                out = fn(torch.cat([support_x, x]))
        finally:
            _RECORDING.reset(token)
        cache[key] = (out[: len(support_x)].clone(), statistics)
        return out
    support_out, statistics = cache[key]
    token = _REPLAYING.set(iter(statistics))
    try:
        return torch.cat([support_out, fn(x)])
    finally:
        _REPLAYING.reset(token)


class TaskBatchNorm2d(nn.Module):
    """BatchNorm with batch statistics only (no running buffers).

    ``F.batch_norm`` with ``training=True`` and no running buffers is exact
    under second-order autograd (checked in the tests against a plain-op
    reference); we loop over tasks rather than ``vmap`` them, which is where
    ``nn.BatchNorm2d`` went wrong.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        replaying = _REPLAYING.get()
        if replaying is not None:  # the support pass was recorded (reuse_support_passes): its statistics
            mean, var = next(replaying)
            return F.batch_norm(x, mean, var, self.weight, self.bias, False, 0.0, self.eps)
        rows = _STATISTICS_ROWS.get()
        if rows is None or rows >= x.shape[0]:  # (not len(x): torch.export keeps x.shape[0] symbolic)
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        support = x[:rows]  # two passes: 1.3-6x faster than torch.var_mean on CPU here, NCHW or channels-last
        mean = support.mean(dim=(0, 2, 3))
        var = (support - mean[:, None, None]).square().mean(dim=(0, 2, 3))
        recording = _RECORDING.get()
        if recording is not None:
            recording.append((mean, var))
        return F.batch_norm(x, mean, var, self.weight, self.bias, False, 0.0, self.eps)


# batches at least this large run channels-last on the CPU (see Conv2d)
CHANNELS_LAST_MIN_BATCH = 32
# set (per thread) by channels_last_small_batches: every CPU batch runs channels-last
_SMALL_BATCHES_CHANNELS_LAST = contextvars.ContextVar("small_batches_channels_last", default=False)


@contextlib.contextmanager
def channels_last_small_batches() -> Iterator[None]:
    """Run small CPU batches channels-last too, in this thread only: adapting to drawn classes.

    MAML's 10 adaptation steps on a 5-way 5-shot support set take 150-166 ms instead of
    227-242 ms this way. After meta-training the result is the same: over 500 queries of 20
    such tasks no prediction changed and probabilities moved by 1e-4 on average (at most 0.014;
    changing the thread count moves them by up to 9e-4). Meta-training keeps small batches
    NCHW: from an untrained model, where ten steps at learning rate 0.4 amplify any rounding
    (the thread count alone moves probabilities by up to 0.37), the layouts part further.
    """
    token = _SMALL_BATCHES_CHANNELS_LAST.set(True)
    try:
        yield
    finally:
        _SMALL_BATCHES_CHANNELS_LAST.reset(token)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that runs large CPU batches channels-last, so the block after it does too.

    With its weight in channels-last layout the convolution writes a channels-last
    output, and batch norm and max-pooling are far faster on that layout than on
    NCHW: a Conv-4 forward + backward of 75 images takes 57 ms instead of 90 ms on
    one thread, and ProtoNet meta-trains 1.42x faster with the same accuracy after
    the same iterations (BENCHMARKS.md). Small batches (a support set) stay NCHW
    during meta-training: from an untrained model ten adaptation steps amplify any
    rounding, and the layouts part further than thread counts do. Adapting a
    meta-trained model to drawn classes runs them channels-last too
    (:func:`channels_last_small_batches`: 1.5x faster, the same predictions).

    Every algorithm uses it. Channels-last batch norm sums in another order, so
    runs drift apart from NCHW ones as any two float32 implementations do; for
    second-order MAML, whose meta-gradient carries that rounding through the
    support set's few-sample statistics, twelve seeds of 60 meta-iterations ended
    0.19 points below the NCHW reference on average (95% CI -0.94 to +0.56, 6 of
    12 below; +0.03 +- 0.68 over the 7 seeds run as the app runs, one thread per
    process), while running 1.35x faster (BENCHMARKS.md, "Meta-training throughput").
    :func:`use_channels_last` turns it off for comparisons. The parameter itself keeps the default layout
    (checkpoints, the optimizer and the helpers' transfers see ordinary tensors);
    the per-call copy of a 3x3 kernel is tiny.
    """

    channels_last = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if self.channels_last and x.device.type == "cpu" and (
            x.shape[0] >= CHANNELS_LAST_MIN_BATCH or _SMALL_BATCHES_CHANNELS_LAST.get()
        ):
            weight = weight.to(memory_format=torch.channels_last)  # (contiguous() keeps a 1-channel kernel as it is)
        return self._conv_forward(x, weight, self.bias)


def use_channels_last(model: nn.Module, enabled: bool) -> None:
    """Turn the channels-last fast path of every :class:`Conv2d` in ``model`` on or off."""
    for module in model.modules():
        if isinstance(module, Conv2d):
            module.channels_last = enabled


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def _conv_block(cin: int, cout: int, pool: str = "2x2", stride: int = 1) -> nn.Sequential:
    """conv3x3 - BN - ReLU - maxpool, computed as conv - BN - maxpool - ReLU.

    ReLU is monotonic, so max-pooling first gives exactly the same values and
    gradients while the ReLU (and its backward) runs on a 4x smaller tensor.
    ``pool``: "2x2" (stride 2), "global" (the max over the whole map) or "none".
    ``stride`` 2: a 5x5 convolution at stride 2 instead (a stem that reads an image twice
    the side at the cost of one half its side).
    """
    pooling = {"2x2": [nn.MaxPool2d(2)], "global": [nn.AdaptiveMaxPool2d(1)], "none": []}[pool]
    conv = Conv2d(cin, cout, 3, padding=1) if stride == 1 else Conv2d(cin, cout, 5, stride=stride, padding=2)
    return nn.Sequential(conv, TaskBatchNorm2d(cout), *pooling, nn.ReLU())


class InputSize(nn.Module):
    """Resize images to the side a network was trained at (bilinear), so that a model trained on
    larger drawings still takes the 28x28 images the window, export and predict hand it."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)


def input_size(model: nn.Module) -> int:
    """The image side ``model`` was built for: its :class:`InputSize`'s, else 28."""
    return next((m.size for m in model.modules() if isinstance(m, InputSize)), IMAGE_SIZE)


class Members(nn.Module):
    """Several networks side by side: their features concatenated, one member after another. Separate
    networks rather than one with grouped convolutions, which this CPU runs slower than K separate ones
    (4 members: 270 ms against 218 ms a step of 64 images)."""

    def __init__(self, networks: list[nn.Module]) -> None:
        super().__init__()
        self.networks = nn.ModuleList(networks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([network(x) for network in self.networks], 1)


class Conv4(nn.Module):
    """The standard few-shot backbone: four conv3x3-BN-ReLU-maxpool blocks.

    References: Vinyals et al. 2016 (Matching Networks); Finn et al. 2017 (MAML).
    On 28x28 input the embedding is 64-dimensional; at a larger ``image_size``
    inputs of any size are first resized to it, and the embedding is the last block's
    whole map (576 values at 56x56). ``feature_map``: the last block does not pool, so the
    embedding keeps where in the drawing each feature is (3x3x64 = 576 values at 28x28, at
    the same cost). ``global_pool``: the last block takes the max over its whole map, where
    the 2x2 pooling of a 3x3 map at 28x28 never looks at its last row and column. ``stem``: the
    first convolution is 5x5 at stride 2, so a 56x56 image costs about what a 28x28 one does and
    still has a 64-value embedding, where plain 56x56 costs 4-6x a step. ``members``: that many
    independent Conv-4s side by side (:class:`Members`), their embeddings concatenated member by
    member; the class-head algorithms train each with its own cross-entropy and average their
    nearest-mean votes.
    """

    def __init__(self, ways: int = 5, channels: int = 64, in_channels: int = 1, image_size: int = IMAGE_SIZE,
                 feature_map: bool = False, global_pool: bool = False, stem: bool = False, members: int = 1) -> None:
        super().__init__()
        self.members = members
        last = "none" if feature_map else "global" if global_pool else "2x2"

        def network() -> list[nn.Module]:
            return [_conv_block(in_channels, channels, stride=2 if stem else 1),
                    *(_conv_block(channels, channels) for _ in range(2)),
                    _conv_block(channels, channels, pool=last), Flatten()]

        blocks = network() if members == 1 else [Members([nn.Sequential(*network()) for _ in range(members)])]
        if image_size != IMAGE_SIZE:
            blocks.insert(0, InputSize(image_size))
        self.features = nn.Sequential(*blocks)
        side = image_size // 2 if stem else image_size  # the side the first pooling sees
        self.embedding_dim = members * channels * (1 if global_pool and not feature_map else
                                                   (side // (8 if feature_map else 16)) ** 2)
        self.head = nn.Linear(self.embedding_dim, ways)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ConvNet(nn.Module):
    """The seed article's network: conv5x5 (10) - conv5x5 (20) - fc 320->50 - fc 50->N.

    ``ConvNet()`` matches the article exactly (10 outputs); meta-learners
    resize the head to the number of ways of their tasks.
    """

    def __init__(self, ways: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 10, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(10, 20, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            Flatten(),
            nn.Linear(320, 50),
            nn.ReLU(),
        )
        self.embedding_dim = 50
        self.head = nn.Linear(50, ways)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Module):
    """The sine-regression network of Finn et al. 2017, section 5.1: 1 -> 40 -> 40 -> 1, ReLU.

    ``ways`` is accepted for the common constructor and ignored: a regression task has one output.
    """

    def __init__(self, ways: int = 1, hidden: int = 40, inputs: int = 1, outputs: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.embedding_dim = hidden
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


BACKBONES = {"conv4": Conv4, "seed": ConvNet, "mlp": MLP}
#: backbones for regression tasks (engine.regression); the others take 28x28 images
REGRESSION_BACKBONES = ("mlp",)


def build_backbone(name: str, ways: int, image_size: int = IMAGE_SIZE, channels: int = 64,
                   feature_map: bool = False, global_pool: bool = False, stem: bool = False,
                   members: int = 1) -> nn.Module:
    """Build a backbone by its CLI name (``conv4`` or ``seed``; ``mlp`` for sine regression); only conv4
    takes an ``image_size`` other than 28, a width other than 64 ``channels``, a ``feature_map``, a
    ``global_pool``, a strided ``stem`` or several ``members``."""
    try:
        cls = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}") from None
    if (image_size, channels, feature_map, global_pool, stem, members) != (IMAGE_SIZE, 64, False, False, False, 1):
        if cls is not Conv4:
            raise ValueError(f"the {name} backbone is fixed at 28x28 images and its own width; use conv4 for "
                             "--image-size, --channels, --feature-map, --global-pool, --stem or --members")
        return cls(ways=ways, image_size=image_size, channels=channels, feature_map=feature_map,
                   global_pool=global_pool, stem=stem, members=members)
    return cls(ways=ways)


def resize_head(model: nn.Module, ways: int) -> None:
    """Replace the head with a fresh one of ``ways`` outputs if the size differs."""
    head = model.head
    if head.out_features != ways:
        model.head = nn.Linear(head.in_features, ways).to(head.weight.device)
