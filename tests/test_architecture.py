"""The engine never imports Qt or the GUI (it must run headless, in the CLI and in tests)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

FORBIDDEN = {"PySide6", "shiboken6", "pyqtgraph", "superqt", "gui", "PyQt5", "PyQt6"}
ENGINE_FILES = sorted((REPO / "engine").rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    """Top-level package names a module imports (relative imports stay inside the engine)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                roots.add(node.args[0].value.split(".")[0])
    return roots


def test_engine_files_found():
    assert len(ENGINE_FILES) > 10
    assert REPO / "engine" / "trainer.py" in ENGINE_FILES


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_engine_never_imports_qt_or_gui(path):
    bad = imported_roots(path) & FORBIDDEN
    assert not bad, f"{path.relative_to(REPO)} imports {', '.join(sorted(bad))}"


def test_scanner_detects_forbidden_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom PySide6.QtCore import Qt\ndef f():\n    import pyqtgraph as pg\n    from gui.app import run_app\n")
    assert imported_roots(sample) & FORBIDDEN == {"PySide6", "pyqtgraph", "gui"}


def test_importing_the_engine_loads_no_qt():
    """Transitive check: importing every engine module pulls no Qt module into the process."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in %r))" % (FORBIDDEN,)
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
