"""Shared test setup: headless Qt, small thread counts, shared data fixtures."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTEST_QT_API", "pyside6")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL1 = REPO.parent / "shared" / "datasets" / "omniglot" / "images_background_small1.zip"


@pytest.fixture(scope="session")
def glyph_pool():
    """The built-in glyph set, rendered once per test session."""
    from engine.data import make_glyph_pool

    return make_glyph_pool()


@pytest.fixture(scope="session")
def small_glyph_pool():
    """A small glyph set for fast tests."""
    from engine.data import make_glyph_pool

    return make_glyph_pool(classes={"train": 40, "val": 10, "test": 10}, examples_per_class=20)


@pytest.fixture(scope="session")
def omniglot_small1() -> Path:
    if not SMALL1.is_file():
        pytest.skip(f"real Omniglot not found at {SMALL1} (the shared data folder is absent)")
    return SMALL1


@pytest.fixture(scope="session")
def omniglot_small1_pool(omniglot_small1, tmp_path_factory):
    """Omniglot small1 decoded once per session (from a symlink to the shared zip, rotations on)."""
    from engine.data.omniglot import load_omniglot

    root = tmp_path_factory.mktemp("omniglot-small1")
    (root / omniglot_small1.name).symlink_to(omniglot_small1)
    return load_omniglot(root)
