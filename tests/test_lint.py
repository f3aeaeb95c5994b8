"""The code passes the linter configured in pyproject.toml ([tool.ruff]: pyflakes, pycodestyle, import order,
pep8 naming, lines up to 120)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

TARGETS = ["engine", "gui", "tests", "bench", "main.py"]


def _ruff() -> list[str] | None:
    """ruff next to this interpreter (the [test] extra installs it), else on PATH."""
    here = Path(sys.executable).with_name("ruff")
    if here.is_file():
        return [str(here)]
    found = shutil.which("ruff")
    return [found] if found else None


def test_ruff_finds_nothing():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed: pip install -e '.[test]' (or pip install ruff) to lint")
    out = subprocess.run([*ruff, "check", "--no-cache", "--output-format", "concise", *TARGETS], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    findings = out.stdout[-4000:] + out.stderr[-2000:]
    assert out.returncode == 0, "ruff findings (ruff check --fix repairs import order):\n" + findings
