"""Build what a config describes: the device and the model with its algorithm.

Shared by the trainer, the helper processes (engine.task_workers) and the
facade (engine.api), so none of them imports another for it.
"""

from __future__ import annotations

import torch

from .algorithms import Algorithm, build_algorithm
from .config import TrainConfig
from .errors import DataError
from .models import build_backbone


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DataError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


def build_model_and_algorithm(config: TrainConfig, device: torch.device) -> Algorithm:
    """The model and algorithm a config describes, on ``device`` (seeded init)."""
    torch.manual_seed(config.seed)
    model = build_backbone(config.backbone, config.ways, config.image_size, config.channels,
                           config.feature_map, config.global_pool, config.stem, config.members).to(device)
    return build_algorithm(config.algo, model, config.algo_config(device.type))
