"""Meta Playground's engine: PyTorch and numpy only, never Qt.

The seed article's API is importable from here::

    from engine import MetaLearner, ConvNet, EpisodeLoader

Those names load on first use (PEP 562), so importing a torch-free module
such as ``engine.api`` does not import torch through this package.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"Conv4": ".models", "ConvNet": ".models", "EpisodeLoader": ".seed_api", "MetaLearner": ".seed_api"}

__all__ = ["Conv4", "ConvNet", "EpisodeLoader", "MetaLearner"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
