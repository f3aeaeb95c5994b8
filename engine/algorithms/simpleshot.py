"""SimpleShot: an ordinary classifier's features, L2-normalised, nearest class mean.

References: Wang, Chao, Weinberger & van der Maaten, "SimpleShot: Revisiting
Nearest-Neighbor Classification for Few-Shot Learning", arXiv:1911.04623, 2019.

Meta-training is the fine-tune baseline's (:mod:`.finetune`): every image of a
task is classified among all meta-training classes by one big linear head.
Adaptation differs: the head is dropped, each new class is the mean of its
support examples' L2-normalised embeddings, and a query takes the nearest
(ProtoNet's rule on the unit sphere). No step is taken, so adapting costs one
forward pass.

Why it is here: on Omniglot small1 it is the fastest route to a useful model.
Trained on many-class batches with many small steps (the recipe in
``engine.config.QUICK_RECIPE``) it scores more on held-out alphabets in a
minute than ProtoNet's episodes do (BENCHMARKS.md, "Time to a useful model");
the normalisation alone is worth most of a point there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import apply_views, view_maps
from ..deformation import TemplateDistance
from ..framing import BothFramings
from ..tasks import Task
from .base import Learner, StepCallback, accuracy, ways_of
from .finetune import DISTANCE_SCALE, Finetune
from .local_match import LocalMaps, LocalMatchLearner
from .protonet import ProtoLearner
from .template_join import TemplateJoin


class Normalized(nn.Module):
    """``features`` followed by L2 normalisation, scaled so that squared distances are logits. With several
    ``members`` (an ensemble's embeddings side by side) each member's part is normalised on its own and the
    whole scaled back to unit length: a squared distance is then the members' mean, and the nearest-mean
    logits the average of each member's."""

    def __init__(self, features: nn.Module, members: int = 1) -> None:
        super().__init__()
        self.features, self.members = features, members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features(x)
        if self.members > 1:
            # (unflatten, not view(len(feats), ...): an exported program keeps the batch size free)
            feats = F.normalize(feats.unflatten(1, (self.members, -1)), dim=2).flatten(1) / self.members**0.5
        else:
            feats = F.normalize(feats, dim=1)
        return feats * DISTANCE_SCALE**0.5


class ViewMean(nn.Module):
    """``features`` averaged over an image and ``views`` fixed distortions of it (test-time augmentation):
    small rotations, shears, shifts and, with ``strokes``, pen widths. A class mean over these is less tied to
    the one drawing given, and a query's embedding less to its drawer's hand. Each view is the same map for
    every image, so scores stay inductive (BatchNorm statistics come from the support rows of each view).

    An image of several channels is one drawing read several ways (engine.framing.BothFramings: framed by its
    ink's moments and by its box): each channel and its views are views of it too."""

    def __init__(self, features: nn.Module, views: int, strokes: bool = False) -> None:
        super().__init__()
        self.features, self.views, self.strokes = features, views, strokes
        self.maps = view_maps(views, seed=0, strokes=strokes)  # (drawn once: an export keeps them as constants)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(self._one_way(way) for way in x.split(1, dim=1)) / x.shape[1]

    def _one_way(self, x: torch.Tensor) -> torch.Tensor:
        total = self.features(x)
        for view in apply_views(x, *self.maps):
            total = total + self.features(view)
        return total / (self.views + 1)


class SimpleShot(Finetune):
    """Pre-train over all training classes; adapt = nearest mean of L2-normalised features."""

    name = "simpleshot"
    adapts_by_steps = False
    paper = "Wang, Chao, Weinberger & van der Maaten, SimpleShot, arXiv:1911.04623, 2019"
    summary = (
        "Trains one ordinary classifier over all training classes; a new class is the mean of its "
        "examples' normalised features and a query takes the nearest. Adapting is one forward pass."
    )

    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        on_step: StepCallback | None = None,
        inner_lr: float | None = None,
    ) -> Learner:
        learner = ProtoLearner(self.normalized(self.embedding()), support_x, support_y, ways_of(support_y))
        learner = self.matched(learner, support_x, support_y, self.local_maps(), self.templates(support_x, support_y))
        return learner.report_support_fit(support_x, support_y, on_step)

    def episode_loss(self, task: Task) -> tuple[torch.Tensor, float]:
        """The nearest-mean rule's cross-entropy on ``task``'s queries, differentiable in the backbone (the
        episodic finish, engine.finish): class means of the support set's normalised features, BatchNorm's
        statistics from the whole episode; and the queries' accuracy."""
        logits = self.episode_logits(self.model.features(torch.cat([task.support_x, task.query_x])), task)
        return F.cross_entropy(logits, task.query_y), accuracy(logits.detach(), task.query_y)

    @property
    def reads_two_framings(self) -> bool:
        """Its drawings come framed both ways, two channels (engine.framing.BothFramings)."""
        return isinstance(self.config.frame_ink, BothFramings)

    def normalized(self, features: nn.Module) -> Normalized:
        """``features`` normalised as nearest-mean adaptation compares them (member by member in an ensemble)."""
        return Normalized(features, self.members)

    def local_maps(self) -> LocalMaps | None:
        """The last block's unpooled maps over the same views as :meth:`embedding`, when the config asks for local
        matching (``local_match``); one per adaptation, so that a learner's support pass is reused."""
        if not self.config.local_match:
            return None
        return LocalMaps(self.model.features, self.config.tta, self.config.tta_strokes, self.config.local_levels)

    def templates(self, support_x: torch.Tensor, support_y: torch.Tensor) -> TemplateDistance | None:
        """The support set's deformable templates when the config joins their distance (``template_weight``), each
        fit started from ``template_turn``'s turns too; one per adaptation, shared by its steps' learners, so that a
        query is fitted once."""
        if not self.config.template_weight:
            return None
        return TemplateDistance(support_x, support_y, ways_of(support_y), turn=self.config.template_turn,
                                hubness=self.config.template_hubness)

    def matched(self, learner: Learner, support_x: torch.Tensor, support_y: torch.Tensor,
                maps: LocalMaps | None, templates: TemplateDistance | None = None) -> Learner:
        """``learner`` whose scores are joined by local-descriptor matching with ``maps`` and by the template
        distance of ``templates`` (none: as it is)."""
        if maps is not None:
            learner = LocalMatchLearner(learner, maps, support_x, support_y)
        if templates is not None:
            learner = TemplateJoin(learner, templates, self.config.template_weight)
        return learner

    def embedding(self) -> nn.Module:
        """The features new classes are told apart by: the backbone's, averaged over ``tta`` views of each
        image when the config asks for test-time augmentation (:class:`ViewMean`), and over the ways a drawing
        is read when it is framed both ways (two channels)."""
        if not (self.config.tta or self.reads_two_framings):
            return self.model.features
        return ViewMean(self.model.features, self.config.tta, self.config.tta_strokes)
