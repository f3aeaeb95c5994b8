"""The one interface every algorithm implements.

The trainer owns the outer optimiser, the loop and the metrics; an algorithm
only says how a meta-batch turns into meta-gradients (``meta_gradient``) and
how a support set turns into a classifier (``adapt``). The GUI, the CLI and
the tests all go through these two methods.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Callable, ClassVar, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import AlgoConfig, refusal
from ..errors import DataError
from ..events import StepStats
from ..framing import Frame
from ..tasks import Task
from .objective import Objective, accuracy, objective_for


class Interrupted(Exception):
    """Raised inside a meta-step when a stop was requested; the partial step is discarded."""


StepCallback = Callable[[StepStats], None]


def ways_of(support_y: torch.Tensor) -> int:
    """Number of classes of a support set labelled 0..N-1; outputs per example of regression targets [n, d]."""
    if support_y.is_floating_point():
        return support_y.shape[-1]
    return int(support_y.max().item()) + 1


class Learner(ABC):
    """A classifier adapted to one support set."""

    ways: int
    #: ``embed(support_x)`` when a one-pass learner already computed it (see report_support_fit)
    support_embedding: torch.Tensor | None = None
    #: trained on drawings framed to their ink (engine.data.images.frame_ink): its inputs should be too
    #: (0: as drawn; 1: framed; more than 1: framed and stretched that much at most)
    frame_ink: Frame = 0.0

    @abstractmethod
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores for query images [n, 1, 28, 28]."""

    @abstractmethod
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Feature-space embedding of images, for the embedding view."""

    def support_features(self, support_x: torch.Tensor) -> torch.Tensor:
        """The support set's embedding (what ``embed(support_x)`` gives), reusing one already computed."""
        if self.support_embedding is not None:
            return self.support_embedding
        return self.embed(support_x)

    def head_weights(self) -> torch.Tensor | None:
        """The linear head as [ways, dim + 1] (bias last) when the learner has one on its embedding."""
        return None

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities [n, ways] for query images."""
        return F.softmax(self.logits(x), dim=-1)

    @torch.no_grad()
    def logits_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``logits(x)`` and ``embed(x)`` together; learners whose scores are computed from the
        embedding override it to run the backbone once (a drawn query is scored on every stroke)."""
        return self.logits(x), self.embed(x)

    @torch.no_grad()
    def report_support_fit(
        self, support_x: torch.Tensor, support_y: torch.Tensor, on_step: "StepCallback | None"
    ) -> "Learner":
        """For learners made in one pass: report how they fit their support set as step 0.

        The pass's embedding of the support set is kept as ``support_embedding``: it is
        exactly ``embed(support_x)``, which the embedding view would otherwise compute again.
        """
        if on_step is not None:
            logits, self.support_embedding = self.logits_and_embedding(support_x)
            loss, acc = F.cross_entropy(logits, support_y).item(), accuracy(logits, support_y)
            on_step(StepStats(0, loss, acc, state=lambda: self))
        return self


class JoinedLearner(Learner):
    """``base`` whose logits a second opinion joins (:meth:`joined`, for two classes or more); the embedding, head
    and support embedding are ``base``'s, so the embedding view and the charts see the same network."""

    def __init__(self, base: Learner) -> None:
        self.base = base
        self.ways, self.frame_ink = base.ways, base.frame_ink

    @abstractmethod
    def joined(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``logits`` [n, ways] of images ``x`` with the second opinion joined."""

    @property
    def support_embedding(self) -> torch.Tensor | None:  # type: ignore[override]
        return self.base.support_embedding

    @support_embedding.setter
    def support_embedding(self, value: torch.Tensor | None) -> None:
        self.base.support_embedding = value

    def _joined(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return logits if self.ways < 2 else self.joined(logits, x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._joined(self.base.logits(x), x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.embed(x)

    def head_weights(self) -> torch.Tensor | None:
        return self.base.head_weights()

    @torch.no_grad()
    def logits_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, embedding = self.base.logits_and_embedding(x)
        return self._joined(logits, x), embedding


def mean_gradient(
    task_loss: Callable[[Task], tuple[torch.Tensor, float]],
    tasks: list[Task],
    should_stop: Callable[[], bool] | None = None,
) -> tuple[float, float]:
    """Accumulate the mean over ``tasks`` of ``task_loss``'s gradient into ``.grad``, one task at a time (a stop
    request between tasks raises :class:`Interrupted`); the mean loss and accuracy."""
    total_loss, total_acc = 0.0, 0.0
    for task in tasks:
        if should_stop is not None and should_stop():
            raise Interrupted
        loss, acc = task_loss(task)
        (loss / len(tasks)).backward()
        total_loss += loss.item()
        total_acc += acc
    return total_loss / len(tasks), total_acc / len(tasks)


class Algorithm(ABC):
    """Base class: a model plus the rule that meta-learns it.

    Subclasses set ``name``, ``paper`` and ``summary`` (shown in the GUI),
    implement ``task_loss`` (or override ``meta_gradient``) and ``adapt``.
    """

    name: ClassVar[str]
    paper: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: its meta-gradient is the mean of per-task gradients that depend on the outer parameters
    #: and shared_state() alone, so helper processes may compute shares of a meta-batch (engine.task_workers)
    shares_tasks: ClassVar[bool] = True
    #: adapting takes gradient steps (False: it is one pass, e.g. computing class means; the
    #: window's adaptation chart then shows one point and ignores the steps setting)
    adapts_by_steps: ClassVar[bool] = True
    #: the task families (engine.algorithms.objective) it can learn; classifiers refuse regression
    objectives: ClassVar[tuple[str, ...]] = ("classification",)
    #: adapting changes the features (MAML's inner loop updates every weight), so the support points
    #: move in the embedding view; False: only a head on fixed features changes (its class weights move)
    adapts_features: ClassVar[bool] = False
    #: it trains one classifier over every training class, one row per class id, which the trainer sizes to
    #: the largest training class id + 1 (``size_class_head``; ``head_classes`` its rows)
    class_head: ClassVar[bool] = False

    def __init__(self, model: nn.Module, config: AlgoConfig) -> None:
        self.model = model
        self.config = config
        self.objective: Objective = objective_for(config.objective)
        #: meta-learned parts beyond the backbone (a gate, a support-set reader), trained and saved with it
        self.extra: nn.Module | None = None

    # -- meta-training -------------------------------------------------------
    def outer_parameters(self) -> Iterable[nn.Parameter]:
        """What the outer optimiser updates: the model, plus ``extra``'s meta-parameters."""
        if self.extra is None:
            return self.model.parameters()
        return itertools.chain(self.model.parameters(), self.extra.parameters())

    @abstractmethod
    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        """Differentiable meta-loss of one task and its query accuracy."""

    def meta_gradient(self, tasks: list[Task], should_stop: Callable[[], bool] | None = None) -> tuple[float, float]:
        """Accumulate the mean meta-gradient of ``tasks`` into ``.grad``.

        Tasks are processed one by one (a loop measured faster than ``vmap``
        on CPU, and it bounds memory); a stop request between tasks raises
        :class:`Interrupted`. Returns the mean query loss and accuracy.
        """
        self.prepare(tasks)
        return mean_gradient(self.task_loss, tasks, should_stop)

    def prepare(self, tasks: list[Task]) -> None:
        """Update, for a whole meta-batch at once, any state its meta-gradient reads (see
        :meth:`shared_state`), so that a meta-batch split across processes sees what one process would."""

    def shared_state(self) -> list[torch.Tensor]:
        """Tensors besides the outer parameters that the meta-gradient reads (the fine-tune head's mask
        of seen classes); helper processes receive them with the parameters every step."""
        return []

    # -- adaptation ----------------------------------------------------------
    @abstractmethod
    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        on_step: StepCallback | None = None,
        inner_lr: float | None = None,
    ) -> Learner:
        """Adapt to a support set; ``on_step`` sees each step's support loss/accuracy."""

    def evaluate(self, task: Task) -> float:
        """The objective's metric on the queries (accuracy, or MSE) after adapting to the support set."""
        learner = self.adapt(task.support_x, task.support_y)
        with torch.no_grad():
            return self.objective.metric(learner.logits(task.query_x), task.query_y)

    @classmethod
    def for_objective(cls, objective: str) -> type["Algorithm"]:
        """The class that learns ``objective`` tasks under this algorithm's name (the fine-tune baseline
        has a regression variant); a clear refusal when the algorithm does not apply."""
        if objective not in cls.objectives:
            raise DataError(refusal(cls.name, objective))
        return cls

    # -- persistence of meta-parameters that are not in the model ------------
    def extra_state(self) -> dict[str, torch.Tensor]:
        """Meta-parameters that live outside the model, for checkpoints."""
        return {} if self.extra is None else {k: v.detach() for k, v in self.extra.state_dict().items()}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        if self.extra is not None:
            self.extra.load_state_dict(state)
