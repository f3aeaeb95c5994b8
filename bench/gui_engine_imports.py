"""List every import of the engine (and of torch) in gui/, one line each: ``python bench/gui_engine_imports.py [ROOT]``.

The window may reach the engine only through ``engine.api`` (and ``engine.api_*``),
``engine.events`` and ``engine.config``, and never torch; ``tests/test_architecture.py``
enforces that with the same scan (:func:`engine_imports`). ROOT defaults to this
checkout; pass another tree (e.g. an older commit's ``git archive``) to compare.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

WATCHED = ("engine", "torch")


def _module(node: ast.ImportFrom, path: Path, root: Path) -> str:
    """The absolute dotted name an ``ImportFrom`` refers to (relative imports resolved against ``path``)."""
    if node.level == 0:
        return node.module or ""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def engine_imports(gui_dir: Path) -> list[tuple[str, int, str]]:
    """(file relative to the tree, line, imported module) for each engine or torch import under ``gui_dir``."""
    root = gui_dir.parent
    found = []
    for path in sorted(gui_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = _module(node, path, root)
                # ``from engine import api`` imports the module engine.api
                names = [f"{module}.{alias.name}" for alias in node.names] if module == "engine" else [module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in WATCHED:
                    found.append((path.relative_to(root).as_posix(), node.lineno, name))
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    found = engine_imports(root / "gui")
    for file, line, name in found:
        print(f"{file}:{line} {name}")
    modules = sorted({name for _, _, name in found})
    files = sorted({file for file, _, _ in found})
    print(
        f"{len(found)} import statements of {len(modules)} engine/torch modules in {len(files)} gui files: "
        + ", ".join(modules)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
