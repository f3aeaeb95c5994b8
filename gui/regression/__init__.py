"""The Regression tab: MAML's sine waves, points the person places, curves that adapt step by step."""

from .tab import RegressionTab

__all__ = ["RegressionTab"]
