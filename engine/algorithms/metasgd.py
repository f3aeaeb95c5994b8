"""Meta-SGD: MAML with learned per-parameter inner learning rates.

References: Li, Zhou, Chen & Li, "Meta-SGD: Learning to Learn Quickly for
Few-Shot Learning", arXiv:1707.09835, 2017.

Every parameter tensor gets a same-shaped tensor of inner learning rates,
initialised to ``config.inner_lr`` and meta-trained with the weights (they are
outer parameters, so the outer optimiser updates them, and they are saved in
the checkpoint's extra state). An inner step is ``theta - alpha * grad``
elementwise, so both the direction and the size of adaptation are learned.
"""

from __future__ import annotations

import itertools
from typing import Iterable

import torch
from torch import nn

from .base import AlgoConfig
from .maml import MAML, Params

PREFIX = "lr."


class MetaSGD(MAML):
    """MAML whose inner step sizes are learned, one per weight."""

    name = "metasgd"
    paper = "Li, Zhou, Chen & Li, Meta-SGD: Learning to Learn Quickly for Few-Shot Learning, 2017"
    summary = (
        "MAML that also learns a step size for every single weight: adaptation follows a "
        "learned, per-parameter scaled gradient instead of a fixed learning rate."
    )
    batches_tasks = False  # its learned per-weight rates live outside the model: always the per-task loop

    def __init__(self, model: nn.Module, config: AlgoConfig) -> None:
        super().__init__(model, config)
        self.rates: dict[str, nn.Parameter] = {
            k: nn.Parameter(torch.full_like(p.detach(), config.inner_lr)) for k, p in model.named_parameters()
        }

    def outer_parameters(self) -> Iterable[nn.Parameter]:
        return itertools.chain(self.model.parameters(), self.rates.values())

    def base_params(self, ways: int) -> Params:
        self._ways = ways  # the head that inner_rate will be asked about
        return super().base_params(ways)

    def inner_rate(self, key: str, lr: float) -> torch.Tensor:
        """The learned rates of ``key`` (scaled by ``lr / config.inner_lr`` if another lr is asked for).

        A head resized for a different number of ways uses the mean learned head rate.
        """
        rate = self.rates[key]
        if key.startswith("head.") and rate.shape[0] != getattr(self, "_ways", rate.shape[0]):
            rate = rate.mean()
        return rate if lr == self.config.inner_lr else rate * (lr / self.config.inner_lr)

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {PREFIX + k: v.detach() for k, v in self.rates.items()}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, v in self.rates.items():
                v.copy_(state[PREFIX + k])
