"""What a task family asks of a learner: the loss it minimises and the metric it reports.

Image tasks are classification (cross-entropy, accuracy: higher is better);
sine tasks are regression (mean squared error for both: lower is better).
An algorithm reads ``self.objective`` wherever it used to call
``F.cross_entropy`` / ``accuracy``, so MAML, Reptile, ANIL... run unchanged on
either family; which one applies comes from the data set
(:meth:`engine.config.TrainConfig.algo_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(-1) == labels).float().mean().item()


def mse(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    return F.mse_loss(predictions.detach(), targets).item()


@dataclass(frozen=True)
class Objective:
    """A loss (differentiable, mean over examples) and a metric (a float, e.g. for validation)."""

    name: str  # "classification" or "regression"
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metric: Callable[[torch.Tensor, torch.Tensor], float]
    metric_name: str  # "accuracy" or "mse"
    higher_is_better: bool


CLASSIFICATION = Objective("classification", F.cross_entropy, accuracy, "accuracy", True)
REGRESSION = Objective("regression", F.mse_loss, mse, "mse", False)
OBJECTIVES = {o.name: o for o in (CLASSIFICATION, REGRESSION)}


def objective_for(name: str) -> Objective:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}") from None
