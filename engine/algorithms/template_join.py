"""A learner's logits joined by a deformable template's distance (engine.deformation): the network's reading and
the pixels' second opinion together.

Each query's distance to each class (what is left after the class's drawing is carried onto the query by a fitted
smooth map) is taken as a logarithm and standardised over the classes, so that its scale is the same for every query
and data set, and subtracted from the logits times ``weight``. The logarithm weighs a distance by its ratio to the
others: the classes nearest the query, the ones to tell apart, are spread as far as the far ones, whose few large
distances would otherwise set the spread. The softmax and the argmax are those of the log-probabilities joined the
same way, the form measured on Lake's stand-in runs (BENCHMARKS.md, "Deformations fitted between two drawers'
drawings", weight 3: 12.2% -> 11.1% over two seeds with the distance itself; "The distance's logarithm": 10.78%
with its logarithm).
"""

from __future__ import annotations

import torch

from ..deformation import TemplateDistance
from .base import JoinedLearner, Learner
from .local_match import standardised


class TemplateJoin(JoinedLearner):
    """``base`` whose logits are lowered by ``weight`` times each query's standardised log template distance to
    each class (:func:`lowered`). Embedding, head and support embedding are ``base``'s; the distance object is
    shared by the learners of one adaptation's steps, so a query is fitted once however often the steps are probed."""

    def __init__(self, base: Learner, distance: TemplateDistance, weight: float) -> None:
        super().__init__(base)
        self.distance, self.weight = distance, weight
        self.support_x = distance.support_x  # (where its tensors live: engine.adaptation reads it)

    def joined(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return logits - self.weight * lowered(self.distance(x)).to(logits.dtype)


#: distances are floored here before their logarithm (a drawing carried onto its own copy leaves 0)
FLOOR = 1e-8


def lowered(distances: torch.Tensor) -> torch.Tensor:
    """[n, ways]: each row of template ``distances``' logarithms standardised over the classes, by which the
    classes' logits are lowered (times the join's weight)."""
    return standardised(distances.clamp_min(FLOOR).log())
