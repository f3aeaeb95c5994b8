"""The engine's errors in words, importable without torch (the window catches them at start-up)."""

from __future__ import annotations


class DataError(ValueError):
    """Bad or missing input data; the message says what is wrong and how to fix it."""


class CheckpointError(DataError):
    """A checkpoint that cannot be used; the message says why."""
