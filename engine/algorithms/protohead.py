"""Proto-head: SimpleShot's features, a linear head that starts as the nearest-mean classifier
and takes a few gradient steps on the support set.

References: Triantafillou et al., "Meta-Dataset", ICLR 2020 (Proto-MAML's
prototype initialisation of the output layer); Tian, Wang, Krishnan, Tenenbaum &
Isola, "Rethinking Few-Shot Image Classification: a Good Embedding Is All You
Need?", ECCV 2020 (a linear head fitted on frozen features).

Meta-training is SimpleShot's (an ordinary classifier over all training classes).
Adaptation writes the nearest-mean rule as a linear layer: with unit-length
features scaled by ``sqrt(s)``, ``-|z - mu_c|^2 = 2 z.mu_c - |mu_c|^2 - s``, so a head
with weights ``2 mu_c`` and biases ``-|mu_c|^2`` gives exactly SimpleShot's
probabilities at step 0. Each further step is one full-batch Adam step of the
support set's cross-entropy on that head (features frozen), so the chart of an
adaptation shows a model that starts sensible and visibly fits the examples.
With ``adapt_views`` the steps also fit that many distorted copies of each
example (fixed small affine maps, scored with the support set's statistics like
any query), so they learn from more than the few drawings given.
"""

from __future__ import annotations

import torch

from ..augment import augment_views
from ..models import with_support
from .base import Learner, StepCallback, ways_of
from .finetune import LinearProbe, fit_logistic_regression
from .protonet import compute_prototypes
from .simpleshot import Normalized, SimpleShot

#: adaptation steps and Adam rate when the config asks for none (see the recipe in engine.recipes)
DEFAULT_STEPS = 10
DEFAULT_LR = 0.01


def prototype_head(feats: torch.Tensor, labels: torch.Tensor, ways: int) -> torch.Tensor:
    """[ways, dim + 1] weights (bias last) whose logits are the negative squared distances to the class
    means, up to a constant per query (the same softmax)."""
    means = compute_prototypes(feats, labels, ways)
    return torch.cat([2 * means, -means.pow(2).sum(1, keepdim=True)], 1)


class ProtoHead(SimpleShot):
    """SimpleShot whose nearest-mean classifier is a linear head refined by a few steps on the support set."""

    name = "protohead"
    adapts_by_steps = True
    paper = (
        "Triantafillou et al., Meta-Dataset (Proto-MAML head), ICLR 2020; Tian et al., Rethinking Few-Shot, ECCV 2020"
    )
    summary = (
        "SimpleShot's features; a new class starts as the mean of its examples (step 0 is the nearest-mean "
        "classifier), then a few gradient steps on the examples refine the class weights."
    )

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
        features = Normalized(self.embedding())
        with torch.no_grad():
            feats = features(support_x)
            fit_x, fit_y = feats, support_y
            views = self.config.adapt_views
            if views and steps:  # more examples for the steps: each support image under fixed small distortions
                distorted = augment_views(support_x, views, seed=1).flatten(0, 1)
                fit_x = torch.cat([feats, with_support(features, support_x, distorted)[len(support_x):]])
                fit_y = support_y.repeat(views + 1)
        probe = lambda head: LinearProbe(features, head, support_x, ways, feats)  # noqa: E731
        init = prototype_head(feats, support_y, ways)  # step 0: the undistorted examples' means, SimpleShot exactly
        head = fit_logistic_regression(
            fit_x, fit_y, ways, steps, lr, on_step, init, learner_at=probe, report_rows=len(support_x)
        )
        return probe(head)
