"""MAML and first-order MAML on functional parameters.

References: Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast
Adaptation of Deep Networks", ICML 2017.

The inner loop never clones a module: parameters live in a dict and the
network is run with ``torch.func.functional_call``. Each inner step is
``theta' = theta - lr * grad``; with ``create_graph=True`` the outer backward
differentiates through it (second order), while first-order MAML detaches the
inner gradients, so the meta-gradient is the query gradient at ``theta'``.

Subclasses change what adapts (ANIL: the head only) or how (Meta-SGD:
learned per-parameter rates) by overriding ``adapted_keys`` / ``inner_rate``.
"""

from __future__ import annotations

import warnings
from typing import Callable, ClassVar, Iterator

import torch
from torch import nn
from torch.func import functional_call, grad

from ..models import channels_last_small_batches, with_support
from ..tasks import Task
from .base import Algorithm, Interrupted, Learner, StepCallback, StepStats, ways_of
from .batched import batched_meta_gradient, can_batch

Params = dict[str, torch.Tensor]


def sub_params(params: Params, prefix: str) -> Params:
    """The entries of ``params`` under ``prefix.`` with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def inner_steps(
    forward: Callable[[Params, torch.Tensor], torch.Tensor],
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    params: Params,
    keys: list[str],
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    rate: Callable[[str], float | torch.Tensor],
    first_order: bool,
    report: Callable[[int, torch.Tensor, torch.Tensor, Params], None] | None = None,
    under_vmap: bool = False,
) -> Params:
    """MAML's inner loop, the one both meta-gradient paths run: ``steps`` times
    ``theta[k] -= rate(k) * d loss(forward(theta, x), y) / d theta[k]`` for every k in ``keys``.

    Per task (the default) the gradient is ``torch.autograd.grad``, with the graph kept
    for second order so that the outer ``backward`` differentiates through the steps.
    ``under_vmap`` (engine.algorithms.batched: the meta-batch in one ``vmap``) takes it with
    ``torch.func.grad`` instead, which composes with ``vmap`` where ``autograd.grad``
    cannot; per task it measured 1.4-1.7x slower for Conv-4 MAML, so each path keeps
    its primitive and shares the rest. ``first_order`` treats the inner gradients as
    constants. ``report(step, loss, outputs, params)``, per task only, sees the support
    loss before each step (at the parameters it starts from) and after the last.
    """
    def support_loss(adapted: Params, fixed: Params) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        out = forward({**fixed, **adapted}, x)
        value = loss(out, y)
        return value, (value, out)

    for step in range(steps):
        adapted = {k: params[k] for k in keys}
        fixed = {k: v for k, v in params.items() if k not in adapted}
        if under_vmap:
            grads, (value, out) = grad(support_loss, has_aux=True)(adapted, fixed)
        else:
            value, (_, out) = support_loss(adapted, fixed)
            grads = dict(zip(keys, torch.autograd.grad(value, list(adapted.values()), create_graph=not first_order)))
        if report is not None:
            report(step, value, out, params)
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        params = {**params, **{k: params[k] - rate(k) * grads[k] for k in keys}}
    if report is not None:
        out = forward(params, x)
        report(steps, loss(out, y), out, params)
    return params


class FunctionalLearner(Learner):
    """A model evaluated with adapted parameters.

    BatchNorm uses batch statistics, so queries run in one batch with the support
    set and are normalised with the support rows' statistics (``with_support``):
    a query's prediction depends on the support set and itself alone.
    """

    def __init__(self, model: nn.Module, params: Params, support_x: torch.Tensor, ways: int) -> None:
        self.model, self.params, self.support_x, self.ways = model, params, support_x, ways

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = with_support(lambda b: functional_call(self.model, self.params, (b,)), self.support_x, x)
        return out[len(self.support_x):]

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        features = sub_params(self.params, "features")
        return with_support(lambda b: functional_call(self.model.features, features, (b,)), self.support_x, x)

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)[len(self.support_x):]

    @torch.no_grad()
    def support_features(self, support_x: torch.Tensor) -> torch.Tensor:
        if self.support_embedding is not None or not torch.equal(support_x, self.support_x):
            return super().support_features(support_x)
        return functional_call(self.model.features, sub_params(self.params, "features"), (support_x,))

    def head_weights(self) -> torch.Tensor:
        return torch.cat([self.params["head.weight"], self.params["head.bias"][:, None]], 1)

    @torch.no_grad()
    def logits_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self._features(x)
        logits = functional_call(self.model.head, sub_params(self.params, "head"), (feats,))
        n = len(self.support_x)
        return logits[n:], feats[n:]


def _embedded(learner: Learner, support_features: torch.Tensor | None) -> Learner:
    """``learner`` knowing its support set's features (computed by the step that made it)."""
    if support_features is not None:
        learner.support_embedding = support_features.detach()
    return learner


class MAML(Algorithm):
    """Second-order MAML (``first_order=False``) or FOMAML (``first_order=True``)."""

    name: ClassVar[str] = "maml"
    paper = "Finn, Abbeel & Levine, Model-Agnostic Meta-Learning, ICML 2017"
    summary = (
        "Learns an initialisation from which a few gradient steps on the support set "
        "fit a new task; the meta-gradient differentiates through those steps."
    )
    first_order_default: ClassVar[bool] = False
    adapts_features = True
    #: its inner loop is the plain one over every weight, which engine.algorithms.batched can vmap
    batches_tasks: ClassVar[bool] = True
    objectives = ("classification", "regression")  # the loss and metric come from self.objective
    batching_failed = False  # set once a batched pass raised: the run goes on with the loop

    def adapted_keys(self) -> list[str]:
        """Names of the parameters the inner loop updates."""
        return [k for k, _ in self.model.named_parameters()]

    def inner_rate(self, key: str, lr: float) -> float | torch.Tensor:
        """The inner learning rate of parameter ``key``."""
        return lr

    def base_params(self, ways: int) -> Params:
        """The meta-learned parameters, with a zero head when ``ways`` differs from training."""
        params = dict(self.model.named_parameters())
        head = self.model.head
        if head.out_features != ways:
            params["head.weight"] = head.weight.new_zeros(ways, head.in_features)
            params["head.bias"] = head.bias.new_zeros(ways)
        return params

    def inner_loop(
        self,
        params: Params,
        x: torch.Tensor,
        y: torch.Tensor,
        steps: int,
        lr: float,
        create_graph: bool,
        on_step: StepCallback | None = None,
        forward: Callable[[Params, torch.Tensor], torch.Tensor] | None = None,
        learner_at: Callable[[Params], Learner] | None = None,
    ) -> Params:
        """Take ``steps`` gradient steps on (x, y) from ``params``; return the adapted dict.

        ``forward(params, x) -> logits`` defaults to the whole model; ANIL passes
        a head-only forward on precomputed features. With ``learner_at`` each step's
        stats carry a ``state`` that builds the learner with that step's parameters.
        The steps are :func:`inner_steps`, the loop the batched path runs too.
        """
        keys = [k for k in self.adapted_keys() if k in params]
        seen: dict[str, torch.Tensor] = {}  # the features of the step being reported (the embedding view's)
        if forward is None and on_step is not None and learner_at is not None:
            def forward(p: Params, inp: torch.Tensor) -> torch.Tensor:  # head(features(x)), keeping the features
                seen["features"] = functional_call(self.model.features, sub_params(p, "features"), (inp,))
                return functional_call(self.model.head, sub_params(p, "head"), (seen["features"],))
        report = None
        if on_step is not None:
            def report(step: int, loss: torch.Tensor, out: torch.Tensor, at: Params) -> None:
                f = seen.pop("features", None)
                state = None if learner_at is None else (lambda p=at, f=f: _embedded(learner_at(p), f))
                on_step(StepStats(step, loss.item(), self.objective.metric(out, y), state=state))
        return inner_steps(
            forward or self.forward, self.objective.loss, params, keys, x, y, steps,
            lambda key: self.inner_rate(key, lr), first_order=not create_graph, report=report,
        )

    def forward(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        """The whole model run with ``params``."""
        return functional_call(self.model, params, (x,))

    @property
    def first_order(self) -> bool:
        return self.config.first_order or self.first_order_default

    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        params = self.inner_loop(
            self.base_params(task.ways),
            task.support_x,
            task.support_y,
            self.config.inner_steps,
            self.config.inner_lr,
            create_graph=not self.first_order,
        )
        logits = functional_call(self.model, params, (task.query_x,))
        return self.objective.loss(logits, task.query_y), self.objective.metric(logits, task.query_y)

    def meta_gradient(self, tasks: list[Task], should_stop: Callable[[], bool] | None = None) -> tuple[float, float]:
        """The loop of :meth:`Algorithm.meta_gradient`, or with ``batch_tasks`` one vmap over the tasks."""
        if self.config.batch_tasks and not self.batching_failed and can_batch(self, tasks):
            if should_stop is not None and should_stop():
                raise Interrupted
            try:
                return batched_meta_gradient(self, tasks)  # writes .grad only once the whole pass succeeded
            except RuntimeError as error:  # out of device memory, or an op vmap cannot batch there
                self.batching_failed = True
                warnings.warn(
                    f"batched tasks failed, using the per-task loop from now on: {error}", RuntimeWarning, stacklevel=2
                )
        return super().meta_gradient(tasks, should_stop)

    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        on_step: StepCallback | None = None,
        inner_lr: float | None = None,
    ) -> Learner:
        ways = ways_of(support_y)
        steps = self.config.inner_steps if steps is None else steps
        lr = self.config.inner_lr if inner_lr is None else inner_lr
        params = {k: v.detach().requires_grad_() for k, v in self.base_params(ways).items()}
        learner = lambda p: FunctionalLearner(self.model, {k: v.detach() for k, v in p.items()}, support_x, ways)  # noqa: E731
        with torch.enable_grad(), channels_last_small_batches():  # 1.5x faster, same predictions (engine.models)
            params = self.inner_loop(
                params, support_x, support_y, steps, lr, create_graph=False, on_step=on_step, learner_at=learner
            )
        return learner(params)

    def adapt_steps(
        self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int, inner_lr: float | None = None
    ) -> Iterator[Learner]:
        """The learner after 0, 1, ..., ``steps`` inner steps, each step continuing from the last (the
        curves the Regression tab draws step by step, and eval's ``mse_by_step``): the same weights as
        ``adapt(steps=s)`` for every s, in ``steps`` steps rather than ``steps * (steps + 1) / 2``."""
        ways = ways_of(support_y)
        lr = self.config.inner_lr if inner_lr is None else inner_lr
        keys = set(self.adapted_keys())
        params = {k: v.detach() for k, v in self.base_params(ways).items()}
        for step in range(steps + 1):
            yield FunctionalLearner(self.model, params, support_x, ways)
            if step == steps:
                break
            start = {k: v.detach().requires_grad_(k in keys) for k, v in params.items()}
            with torch.enable_grad():
                params = {
                    k: v.detach()
                    for k, v in self.inner_loop(start, support_x, support_y, 1, lr, create_graph=False).items()
                }


class FOMAML(MAML):
    """First-order MAML: the inner gradients are treated as constants."""

    name = "fomaml"
    summary = (
        "MAML without second derivatives: the meta-gradient is the query gradient at the "
        "adapted weights. Cheaper per step, usually nearly as accurate."
    )
    first_order_default = True
