"""Meta Playground's engine: PyTorch and numpy only, never Qt.

The seed article's API is importable from here::

    from engine import MetaLearner, ConvNet, EpisodeLoader
"""

from .models import Conv4, ConvNet
from .seed_api import EpisodeLoader, MetaLearner

__all__ = ["Conv4", "ConvNet", "EpisodeLoader", "MetaLearner"]
