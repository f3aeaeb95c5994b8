"""The workspace's model: N named classes, each with its example images, with undo.

Examples are uint8 [28, 28] numpy arrays (already what the model sees), never
modified in place, so an undo snapshot is a cheap copy of the lists.
Every change goes through a method here, which records a snapshot and emits
``changed``; the cards only display this state.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

MIN_CLASSES, MAX_CLASSES = 2, 20
UNDO_DEPTH = 100

Snapshot = tuple[list[str], list[list[np.ndarray]], int]


class ClassBoard(QObject):
    """Class names, their examples and which class is selected."""

    changed = Signal()  # names, examples or the class count changed
    selectionChanged = Signal(int)  # the selected class index

    def __init__(self, classes: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.names: list[str] = [self.default_name(i) for i in range(classes)]
        self.examples: list[list[np.ndarray]] = [[] for _ in range(classes)]
        self.selected = 0
        self._undo: list[Snapshot] = []

    @staticmethod
    def default_name(index: int) -> str:
        return f"class {index + 1}"

    # -- queries ---------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self.names)

    def shots(self) -> list[int]:
        return [len(e) for e in self.examples]

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """All examples as uint8 [M, 28, 28] plus labels [M], in class order."""
        images = [x for ex in self.examples for x in ex]
        labels = [c for c, ex in enumerate(self.examples) for _ in ex]
        if not images:
            return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
        return np.stack(images), np.array(labels, dtype=np.int64)

    def missing(self) -> list[int]:
        """Indices of classes without examples."""
        return [i for i, e in enumerate(self.examples) if not e]

    def can_undo(self) -> bool:
        return bool(self._undo)

    # -- changes (each undoable) -----------------------------------------------
    def _snapshot(self) -> None:
        self._undo.append((list(self.names), [list(e) for e in self.examples], self.selected))
        del self._undo[:-UNDO_DEPTH]

    def set_count(self, n: int) -> None:
        """Grow or shrink to ``n`` classes (2..20); removed classes come back with undo."""
        n = max(MIN_CLASSES, min(MAX_CLASSES, int(n)))
        if n == self.count:
            return
        self._snapshot()
        while self.count < n:
            self.names.append(self.default_name(self.count))
            self.examples.append([])
        del self.names[n:], self.examples[n:]
        self.selected = min(self.selected, n - 1)
        self.changed.emit()

    def rename(self, index: int, name: str) -> None:
        name = name.strip() or self.default_name(index)
        if self.names[index] != name:
            self._snapshot()
            self.names[index] = name
            self.changed.emit()

    def add(self, index: int, images: list[np.ndarray]) -> None:
        """Append examples (uint8 [28, 28] each) to class ``index``."""
        if not images:
            return
        self._snapshot()
        self.examples[index].extend(np.ascontiguousarray(x, dtype=np.uint8) for x in images)
        self.changed.emit()

    def remove(self, index: int, position: int) -> None:
        self._snapshot()
        del self.examples[index][position]
        self.changed.emit()

    def clear(self, index: int | None = None) -> None:
        """Remove the examples of one class, or of all classes."""
        targets = range(self.count) if index is None else [index]
        if not any(self.examples[i] for i in targets):
            return
        self._snapshot()
        for i in targets:
            self.examples[i] = []
        self.changed.emit()

    def remove_class(self, index: int) -> bool:
        """Remove class ``index`` with its name and examples (undoable); refused below two classes."""
        if self.count <= MIN_CLASSES or not 0 <= index < self.count:
            return False
        self._snapshot()
        del self.names[index], self.examples[index]
        self.selected = min(self.selected if self.selected < index else max(self.selected - 1, 0), self.count - 1)
        self.changed.emit()
        return True

    def replace(self, names: list[str], examples: list[list[np.ndarray]]) -> None:
        """Load a whole class set (a loaded file or folder); undo brings the previous one back."""
        self._snapshot()
        self.names = list(names)[:MAX_CLASSES]
        self.examples = [list(e) for e in examples][:MAX_CLASSES]
        while self.count < MIN_CLASSES:
            self.names.append(self.default_name(self.count))
            self.examples.append([])
        self.selected = min(self.selected, self.count - 1)
        self.changed.emit()

    def undo(self) -> bool:
        if not self._undo:
            return False
        self.names, self.examples, selected = self._undo.pop()
        self.changed.emit()
        self.select(min(selected, self.count - 1))
        return True

    def select(self, index: int) -> None:
        if 0 <= index < self.count:
            self.selected = index
            self.selectionChanged.emit(index)
