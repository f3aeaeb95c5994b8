"""Meta-learning algorithms, one module each, behind :class:`Algorithm`."""

from __future__ import annotations

from torch import nn

from ..config import ALGORITHM_CHOICES
from .anil import ANIL
from .base import AlgoConfig, Algorithm, Interrupted, Learner, StepStats
from .blackbox import BlackBox
from .finetune import Finetune
from .maml import FOMAML, MAML
from .metasgd import MetaSGD
from .moe import MixtureOfExperts
from .protohead import ProtoHead
from .protonet import ProtoNet
from .reptile import Reptile
from .simpleshot import SimpleShot

_CLASSES = {
    cls.name: cls
    for cls in (
        MAML, FOMAML, Reptile, ANIL, MetaSGD, ProtoNet, BlackBox, MixtureOfExperts, Finetune, SimpleShot, ProtoHead
    )
}
#: Name -> class, in the order of the one list of names (engine.config.ALGORITHM_CHOICES, torch-free).
ALGORITHMS: dict[str, type[Algorithm]] = {name: _CLASSES[name] for name in ALGORITHM_CHOICES}


def build_algorithm(name: str, model: nn.Module, config: AlgoConfig) -> Algorithm:
    """Instantiate an algorithm by its CLI name, for the task family ``config.objective`` names
    (a DataError when the algorithm does not apply to it, e.g. ProtoNet on sine regression)."""
    try:
        cls = ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}") from None
    return cls.for_objective(config.objective)(model, config)


__all__ = ["ALGORITHMS", "AlgoConfig", "Algorithm", "Interrupted", "Learner", "StepStats", "build_algorithm"]
