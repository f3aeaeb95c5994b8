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
With ``adapt_block`` the steps also refine the backbone's last block (Adam on
the block and the head together, the first three blocks frozen and run once):
the head alone barely moves a prediction (the support set is fitted at step 0
already), while the block lets the features of the new classes move apart.
At 5-way 5-shot on Omniglot's held-out alphabet this is the part that helps
(BENCHMARKS.md, "Proto-head"); the support points then move in the
embedding view along with the class weights.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .base import Learner, StepCallback, StepStats, accuracy, ways_of
from .finetune import LinearProbe, _as_linear, fit_logistic_regression
from .protonet import compute_prototypes
from .simpleshot import SimpleShot

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
        "classifier), then a few gradient steps on the examples refine the class weights (and, in the quick "
        "recipe, the network's last block)."
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
        if self.adapts_features and steps:
            return self._adapt_with_block(support_x, support_y, ways, steps, lr, on_step)
        features = self.normalized(self.embedding())
        with torch.no_grad():
            feats = features(support_x)
        maps, templates = self.local_maps(), self.templates(support_x, support_y)
        probe = lambda head: self.matched(  # noqa: E731
            LinearProbe(features, head, support_x, ways, feats), support_x, support_y, maps, templates)
        init = prototype_head(feats, support_y, ways)
        return probe(fit_logistic_regression(feats, support_y, ways, steps, lr, on_step, init, learner_at=probe))

    @property
    def adapts_features(self) -> bool:  # type: ignore[override]
        """The steps refine the last block too (``adapt_block``; not with test-time views, which average the
        whole backbone over distortions, nor a drawing's two framings, nor with local matching, which reads the
        meta-trained last block)."""
        features = self.model.features
        return bool(self.config.adapt_block and not self.config.tta and not self.config.local_match
                    and not self.reads_two_framings and isinstance(features, nn.Sequential) and len(features) > 2)

    def _adapt_with_block(
        self, support_x: torch.Tensor, support_y: torch.Tensor, ways: int, steps: int, lr: float,
        on_step: StepCallback | None,
    ) -> Learner:
        """Adam steps on a copy of the last block and the head together; step 0 is still SimpleShot exactly."""
        backbone = self.model.features
        lower, top = backbone[:-2], backbone[-2:]  # (the last conv block and Flatten)
        with torch.no_grad():
            inputs = lower(support_x)  # frozen: the first blocks run once
            init = prototype_head(self.normalized(top)(inputs), support_y, ways)
        block = copy.deepcopy(top).requires_grad_(True)
        head = init.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([head, *block.parameters()], lr=lr)
        templates = self.templates(support_x, support_y)

        def learner(trained: nn.Module, weight: torch.Tensor, feats: torch.Tensor) -> Learner:
            """The classifier of one step: ``trained`` (a copy of the block, kept as it is) and its head."""
            features = self.normalized(nn.Sequential(lower, trained.requires_grad_(False)))
            return self.matched(LinearProbe(features, _as_linear(weight), support_x, ways, feats), support_x,
                                support_y, None, templates)

        for step in range(steps + 1):
            with torch.enable_grad():
                feats = self.normalized(block)(inputs)
                logits = feats @ head[:, :-1].T + head[:, -1]
                loss = F.cross_entropy(logits, support_y)
            if step == steps:
                break
            if on_step is not None:  # (this step's state is copied now: the next step changes the block in place)
                snapshot = copy.deepcopy(block), head.detach().clone(), feats.detach()
                on_step(StepStats(step, loss.item(), accuracy(logits.detach(), support_y),
                                  state=lambda s=snapshot: learner(*s)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        final = learner(block, head.detach(), feats.detach())
        if on_step is not None:
            on_step(StepStats(steps, loss.item(), accuracy(logits.detach(), support_y), state=lambda: final))
        return final
