"""A learner's logits joined by a deformable template's distance (engine.deformation): the network's reading and
the pixels' second opinion together.

Each query's distance to each class (what is left after the class's drawing is carried onto the query by a fitted
smooth map) is standardised over the classes, so that its scale is the same for every query and data set, and
subtracted from the logits times ``weight``. The softmax and the argmax are those of the log-probabilities joined
the same way, the form measured on Lake's stand-in runs (BENCHMARKS.md, "Deformations fitted between two drawers'
drawings": weight 3, 12.2% -> 11.1% over two seeds).
"""

from __future__ import annotations

import torch

from ..deformation import TemplateDistance
from .base import Learner
from .local_match import standardised


class TemplateJoin(Learner):
    """``base`` whose logits are lowered by ``weight`` times each query's standardised template distance to each
    class. Embedding, head and support embedding are ``base``'s; the distance object is shared by the learners of
    one adaptation's steps, so a query is fitted once however often the steps are probed."""

    def __init__(self, base: Learner, distance: TemplateDistance, weight: float) -> None:
        self.base, self.distance, self.weight = base, distance, weight
        self.ways, self.frame_ink = base.ways, base.frame_ink
        self.support_x = distance.support_x  # (where its tensors live: engine.adaptation reads it)

    @property
    def support_embedding(self) -> torch.Tensor | None:  # type: ignore[override]
        return self.base.support_embedding

    @support_embedding.setter
    def support_embedding(self, value: torch.Tensor | None) -> None:
        self.base.support_embedding = value

    def _joined(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.ways < 2:
            return logits
        return logits - self.weight * standardised(self.distance(x)).to(logits.dtype)

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
