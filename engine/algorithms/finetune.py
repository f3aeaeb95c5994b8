"""The fine-tune baseline: pre-train a classifier, fit a fresh head per task.

References: Chen, Liu, Kira, Wang & Huang, "A Closer Look at Few-shot
Classification", ICLR 2019 (the "Baseline").

Meta-training is ordinary supervised learning: the images of each meta-batch
(support and query) are classified among *all* meta-training classes by their
global class ids (``Task.classes`` maps a local label to a pool class), with
the backbone's features and one big linear head, one row per class id up to
the largest training class's (the trainer sizes it: ``AlgoConfig.classes``);
only the classes seen so far take part in the softmax (a mask kept in the
extra state).
Adaptation throws the big head away and fits a fresh linear head (logistic
regression with Adam) on the frozen features of the support set.

On regression tasks (sine waves) the baseline is the one of Finn et al. 2017,
section 5.1: one network trained on the points of every task jointly, then
fine-tuned by gradient steps on the K points of a new task
(:class:`FinetuneRegression`, which ``--algo finetune`` builds there).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..data.base import DataError
from ..models import InputSize, Members, with_support
from ..tasks import Task
from .base import AlgoConfig, Algorithm, Learner, StepCallback, StepStats, accuracy, ways_of
from .local_match import level_similarities, pooled_and_maps
from .maml import MAML
from .protonet import compute_prototypes, squared_distances

#: squared distances between unit vectors lie in [0, 4]; as logits they would give a nearly flat
#: softmax, so they are scaled by this. 20 minimised the negative log-likelihood of 5-way 1-shot
#: validation queries on Omniglot (among 1-50; mean top probability 0.94 at 95% accuracy).
#: It changes the probabilities shown, never which class wins.
DISTANCE_SCALE = 20.0

CAPACITY = 8192  # the big head's rows when the config names none (checkpoints from before AlgoConfig.classes)
FIT_STEPS = 100  # Adam steps of the per-task logistic regression when none are asked for
FIT_LR = 0.01
COSINE_SCALE = 10.0  # cosine_head's logits: cosines (in [-1, 1]) times this, as Gidaris & Komodakis 2018 start
#: local_loss's logits: a query's mean best-place cosine to each class (in [0, 1] after the ReLU) times this. At 10
#: the loss cannot fall below about 1.7 on a held-out alphabet's runs (the cosines of the best and the next class
#: are close); 20 measured better on Lake's stand-in runs at 4,000 iterations (BENCHMARKS.md, "Places matched in
#: training")
LOCAL_SCALE = 20.0


@torch.no_grad()
def fit_logistic_regression(
    feats: torch.Tensor, labels: torch.Tensor, ways: int, steps: int, lr: float, on_step: StepCallback | None = None,
    init: torch.Tensor | None = None, learner_at: Callable[[nn.Linear], Learner] | None = None,
) -> nn.Linear:
    """A linear head fitted by full-batch Adam, from zero or from ``init`` [ways, dim + 1] (bias last)
    (hand-written gradient: no autograd, about 10x faster than ``torch.optim.Adam`` on a 5-example
    problem, where per-call overhead dominates). With ``learner_at`` each step's stats carry a
    ``state`` that builds the learner with that step's head (a copy of [ways, dim + 1] floats)."""
    weight = feats.new_zeros(ways, feats.shape[1] + 1) if init is None else init.clone()  # bias as the last column
    x = torch.cat([feats, feats.new_ones(len(feats), 1)], 1)
    target = F.one_hot(labels, ways).to(feats.dtype)
    m, v = torch.zeros_like(weight), torch.zeros_like(weight)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(steps + 1):
        logits = x @ weight.T
        if on_step is not None:
            state = None if learner_at is None else (lambda w=weight.clone(): learner_at(_as_linear(w)))
            on_step(StepStats(step, F.cross_entropy(logits, labels).item(), accuracy(logits, labels), state=state))
        if step == steps:
            break
        grad = (logits.softmax(1) - target).T @ x / len(x)  # d(mean cross-entropy)/d(weight)
        m.mul_(beta1).add_(grad, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        t = step + 1
        weight -= lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)
    return _as_linear(weight)


@torch.no_grad()
def _as_linear(weight: torch.Tensor) -> nn.Linear:
    """[ways, dim + 1] (bias last) as a frozen ``nn.Linear``."""
    head = nn.Linear(weight.shape[1] - 1, weight.shape[0]).to(weight.device, weight.dtype).requires_grad_(False)
    head.weight.copy_(weight[:, :-1])
    head.bias.copy_(weight[:, -1])
    return head


class LinearProbe(Learner):
    """Frozen features plus a linear head fitted on the support set."""

    def __init__(
        self, features: nn.Module, head: nn.Linear, support_x: torch.Tensor, ways: int,
        support_embedding: torch.Tensor | None = None,
    ) -> None:
        self.features, self.head, self.support_x, self.ways = features, head, support_x, ways
        self.support_embedding = support_embedding  # features(support_x), when the caller has it

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return with_support(self.features, self.support_x, x)[len(self.support_x):]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    def head_weights(self) -> torch.Tensor:
        return torch.cat([self.head.weight, self.head.bias[:, None]], 1)

    @torch.no_grad()
    def logits_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embed(x)
        return self.head(emb), emb


def _rows(places: torch.Tensor) -> torch.Tensor:
    """[n, channels, places] as one row per place, [n * places, channels] (image by image)."""
    return places.transpose(1, 2).flatten(0, 1)


class Finetune(Algorithm):
    """Pre-train over all training classes; adapt = logistic regression on frozen features."""

    name = "finetune"
    paper = "Chen et al., A Closer Look at Few-shot Classification (Baseline), ICLR 2019"
    summary = (
        "No meta-learning: trains one ordinary classifier over all training classes, then "
        "fits a fresh linear head on each support set. The baseline to beat."
    )
    class_head = True

    def __init__(self, model: nn.Module, config: AlgoConfig) -> None:
        super().__init__(model, config)
        self.size_class_head(config.classes or CAPACITY)

    @property
    def head_classes(self) -> int:
        """Rows of the big head: the class ids it can train."""
        return len(self.seen)

    @property
    def members(self) -> int:
        """Networks side by side in the backbone (an ensemble, ``--members``); 1 for a single network."""
        return getattr(self.model, "members", 1)

    def size_class_head(self, classes: int) -> None:
        """A fresh big head of ``classes`` rows, nothing seen yet (no change if it has that many already)."""
        if getattr(self, "seen", None) is not None and len(self.seen) == classes:
            return
        self.config = replace(self.config, classes=classes)
        dim, device = self.model.head.in_features, self.model.head.weight.device
        self.big_head = nn.Linear(dim, classes).to(device)
        self.seen = torch.zeros(classes, dtype=torch.bool, device=device)

    @classmethod
    def for_objective(cls, objective: str) -> type[Algorithm]:
        """Regression tasks get :class:`FinetuneRegression` (not subclasses such as SimpleShot, which refuse)."""
        return FinetuneRegression if objective == "regression" and cls is Finetune else super().for_objective(objective)

    def outer_parameters(self) -> Iterable[nn.Parameter]:
        return itertools.chain(self.model.features.parameters(), self.big_head.parameters())

    def global_labels(self, task: Task) -> torch.Tensor:
        """Pool class ids of the task's support then query examples."""
        if max(task.classes) >= len(self.seen):
            raise DataError(
                f"this model's classifier holds {len(self.seen):,} training classes, but the data has class id "
                f"{max(task.classes):,}; train a new model on this data"
            )
        ids = torch.tensor(task.classes, device=task.support_y.device)
        return ids[torch.cat([task.support_y, task.query_y])]

    def prepare(self, tasks: list[Task]) -> None:
        """Mark the meta-batch's classes seen before any of its tasks is scored (in the parent process,
        which sends the mask to the helpers with the weights)."""
        for task in tasks:
            self.seen[self.global_labels(task)] = True

    def shared_state(self) -> list[torch.Tensor]:
        return [self.seen]

    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        """Cross-entropy over every class seen so far; accuracy among the task's own classes on its queries."""
        labels = self.global_labels(task)
        self.seen[labels] = True
        x = torch.cat([task.support_x, task.query_x])
        places = maps = None
        if self.config.dense_loss or self.config.local_loss:  # (both from one pass: the unpooled maps and their pool)
            feats, maps = pooled_and_maps(self.model.features, x, self.config.local_levels if self.config.local_loss
                                          else 1)
            places = _rows(maps[0]) if self.config.dense_loss else None
        else:
            feats = self.model.features(x)
        logits = self.class_logits(feats).masked_fill(~self.seen, float("-inf"))
        if logits.dim() == 3:  # an ensemble: each member its own cross-entropy (the mean), scored by their mean
            loss = F.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]))
            logits = logits.mean(1)
        else:
            loss = F.cross_entropy(logits, labels)
        if places is not None:  # dense classification: every place of the last map told its image's class
            dense = self.class_logits(places).masked_fill(~self.seen, float("-inf"))
            each = labels.repeat_interleave(len(places) // len(x))
            loss = loss + self.config.dense_loss * F.cross_entropy(dense, each)
        if self.config.episode_loss:
            loss = loss + self.config.episode_loss * self.batch_episode_loss(feats, task)
        if self.config.local_loss:
            loss = loss + self.config.local_loss * self.local_episode_loss(maps, task)
        if self.config.mixup:
            loss = loss + self.config.mixup * self.mixup_loss(x, labels)
        ids = torch.tensor(task.classes, device=logits.device)
        local = logits[len(task.support_x) :, ids].detach()
        return loss, accuracy(local, task.query_y)

    def episode_logits(self, feats: torch.Tensor, task: Task, members: int | None = None) -> torch.Tensor:
        """[queries, ways]: ``task`` scored as SimpleShot adapts, from the features of its support then query
        images: the negative squared distance of each query to each class's mean, features normalised (each
        ensemble member on its own, as :class:`.simpleshot.Normalized` does; ``members`` 1 for one member's
        features) and scaled."""
        members = self.members if members is None else members
        z = F.normalize(feats.view(len(feats), members, -1), dim=2).flatten(1) * (DISTANCE_SCALE / members) ** 0.5
        n = len(task.support_x)
        return -squared_distances(z[n:], compute_prototypes(z[:n], task.support_y, ways_of(task.support_y)))

    def batch_episode_loss(self, feats: torch.Tensor, task: Task) -> torch.Tensor:
        """The training batch read as the episode it is (``episode_loss``): the nearest-mean rule's cross-entropy
        among the batch's classes. The big head's loss tells each class from all the others; this one trains the
        rule a new task is scored by, on classes that share a batch (with ``same_alphabet``, one alphabet's, as
        Lake's runs do)."""
        # an ensemble: each member's own episode (the mean of their losses), so the members train independently
        each = feats.view(len(feats), self.members, -1).unbind(1)
        return sum(F.cross_entropy(self.episode_logits(f, task, 1), task.query_y) for f in each) / len(each)

    def local_episode_loss(self, maps: list[torch.Tensor], task: Task) -> torch.Tensor:
        """The training batch's episode scored as local matching scores a new task (``local_loss``; DN4's
        image-to-class measure, Li et al., CVPR 2019, which trains by it): each query place's nearest place among a
        class's support maps, the cosines averaged over places (and over the levels' maps), times LOCAL_SCALE, and
        the cross-entropy among the batch's classes. ``maps`` are the support then query images' maps."""
        sims = level_similarities(maps, len(task.support_x), task.support_y, ways_of(task.support_y))
        return F.cross_entropy(LOCAL_SCALE * sum(sims) / len(sims), task.query_y)

    def mixup_loss(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Manifold mixup (Verma et al., ICML 2019; with few-shot features, Mangla et al., "Charting the Right
        Manifold", WACV 2020): the batch mixed with itself shuffled, at a weight drawn from Beta(2, 2), at the input
        or after the first or second block (one drawn at random; an ensemble at the input), and the big head's
        cross-entropy against both classes at that weight. Features between two classes should be between them,
        not confidently one of them."""
        features = self.model.features
        start = next(i for i, m in enumerate(features) if not isinstance(m, InputSize))
        cut = start + (0 if isinstance(features[-1], Members) else int(torch.randint(0, 3, ())))
        weight = float(torch.distributions.Beta(2.0, 2.0).sample())
        order = torch.randperm(len(x), device=x.device)
        h = features[:cut](x)
        logits = self.class_logits(features[cut:](weight * h + (1 - weight) * h[order]))
        logits = logits.masked_fill(~self.seen, float("-inf"))
        mixed = labels[order]
        if logits.dim() == 3:  # an ensemble: each member's own loss
            members = logits.shape[1]
            logits = logits.flatten(0, 1)
            labels, mixed = labels.repeat_interleave(members), mixed.repeat_interleave(members)
        return weight * F.cross_entropy(logits, labels) + (1 - weight) * F.cross_entropy(logits, mixed)

    def class_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """The big head's logits: linear, or with ``cosine_head`` the cosine between the normalised features
        and each class's normalised weights times COSINE_SCALE (the geometry nearest-mean adaptation uses).
        An ensemble backbone (``members`` > 1) gets [n, members, classes]: each member's features through its
        own part of the head's weights (the bias shared), so the members train independently."""
        members = self.members
        if members > 1:
            weight = self.big_head.weight.view(len(self.big_head.weight), members, -1)
            return torch.einsum("nmd,cmd->nmc", feats.view(len(feats), members, -1), weight) + self.big_head.bias
        if not self.config.cosine_head:
            return self.big_head(feats)
        return COSINE_SCALE * F.normalize(feats, dim=1) @ F.normalize(self.big_head.weight, dim=1).T

    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        on_step: StepCallback | None = None,
        inner_lr: float | None = None,
    ) -> Learner:
        ways = ways_of(support_y)
        steps = FIT_STEPS if steps is None else steps
        with torch.no_grad():
            feats = self.model.features(support_x)
        lr = FIT_LR if inner_lr is None else inner_lr
        probe = lambda head: LinearProbe(self.model.features, head, support_x, ways, feats)  # noqa: E731
        return probe(fit_logistic_regression(feats, support_y, ways, steps, lr, on_step, learner_at=probe))

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {
            "big_head.weight": self.big_head.weight.detach(),
            "big_head.bias": self.big_head.bias.detach(),
            "seen": self.seen,
        }

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        if len(state["seen"]) != len(self.seen):  # (a checkpoint from before the head was sized to its classes)
            self.size_class_head(len(state["seen"]))
        with torch.no_grad():
            self.big_head.weight.copy_(state["big_head.weight"])
            self.big_head.bias.copy_(state["big_head.bias"])
            self.seen.copy_(state["seen"])


class FinetuneRegression(MAML):
    """Pre-train one network on every task's points jointly (no inner loop); adapt = MAML's gradient
    steps on the support points from those weights (``--inner-lr``, ``--inner-steps``)."""

    name = "finetune"
    paper = "Finn, Abbeel & Levine 2017, section 5.1 (the pre-trained baseline)"
    summary = (
        "No meta-learning: trains one network on the points of all tasks together, then "
        "fine-tunes it by gradient steps on a new task's points. The baseline to beat."
    )
    objectives = ("regression",)
    batches_tasks = False  # its task loss is a plain forward: the per-task loop

    def task_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        """The loss on all of the task's points at the shared weights; the metric on its queries."""
        out = self.model(torch.cat([task.support_x, task.query_x]))
        loss = self.objective.loss(out, torch.cat([task.support_y, task.query_y]))
        return loss, self.objective.metric(out[len(task.support_x):], task.query_y)
