"""Per-class insight: which classes a model gets wrong, and as what.

Two sources, one result type: test episodes (``eval --per-class`` and the
Compare tab; rows are the data set's classes that the episodes drew) and
leave-one-out over a person's own classes (the New classes tab; the folds of
:func:`engine.adaptation.leave_one_out_predictions`). A
:class:`Confusion` counts true class (row) against predicted class (column)
and keeps a few of the images behind each cell, so a view can show what was
confused with what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:  # torch is imported inside the functions: the window reads Confusion without it
    import torch

    from .algorithms.base import Algorithm
    from .tasks import Task

KEEP_PER_CELL = 12  # images kept per cell (the view shows these; counts are always complete)


@dataclass
class Confusion:
    """Counts [C, C] of true (row) vs predicted (column) class, with example images per cell.

    ``images[(i, j)]`` holds up to ``KEEP_PER_CELL`` uint8 [28, 28] images of class i predicted as j.
    """

    class_names: list[str]
    counts: np.ndarray
    images: dict[tuple[int, int], list[np.ndarray]] = field(default_factory=dict)
    source: str = ""  # a line saying what was scored ("200 test episodes, 5-way 1-shot")

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """Fraction of each class's queries classified correctly (NaN for a class never scored)."""
        totals = self.counts.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, np.diag(self.counts) / np.maximum(totals, 1), np.nan)

    @property
    def accuracy(self) -> float:
        total = self.counts.sum()
        return float(np.trace(self.counts) / total) if total else float("nan")

    def fractions(self) -> np.ndarray:
        """Each row divided by its total (the share of class i predicted as j)."""
        totals = self.counts.sum(1, keepdims=True)
        return self.counts / np.maximum(totals, 1)

    def worst(self, limit: int) -> "Confusion":
        """The ``limit`` classes with the lowest accuracy (for a readable view of many classes)."""
        if len(self.class_names) <= limit:
            return self
        keep = np.argsort(np.nan_to_num(self.per_class_accuracy, nan=2.0), kind="stable")[:limit]
        keep = np.sort(keep)
        where = {int(old): new for new, old in enumerate(keep)}
        images = {(where[i], where[j]): v for (i, j), v in self.images.items() if i in where and j in where}
        return Confusion(
            [self.class_names[k] for k in keep],
            self.counts[np.ix_(keep, keep)],
            images,
            f"{self.source}; the {limit} least accurate of {len(self.class_names)} classes",
        )

    def to_json(self) -> dict:
        """Per-class accuracy and the row-normalised matrix as fractions in [0, 1] (with the raw counts)."""
        acc = self.per_class_accuracy
        return {
            "classes": list(self.class_names),
            "per_class_accuracy": {n: (None if np.isnan(a) else float(a)) for n, a in zip(self.class_names, acc)},
            "confusion": [[float(v) for v in row] for row in self.fractions()],
            "counts": self.counts.astype(int).tolist(),
        }


class _Counter:
    def __init__(self, size: int) -> None:
        self.counts = np.zeros((size, size), np.int64)
        self.images: dict[tuple[int, int], list[np.ndarray]] = {}

    def add(self, true: Sequence[int], predicted: Sequence[int], images: np.ndarray) -> None:
        for t, p, img in zip(true, predicted, images):
            self.counts[t, p] += 1
            kept = self.images.setdefault((int(t), int(p)), [])
            if len(kept) < KEEP_PER_CELL:
                kept.append(img)


def _uint8(x: "torch.Tensor") -> np.ndarray:
    """Model input float [n, 1, 28, 28] in [0, 1] -> uint8 [n, 28, 28] for the view."""
    import torch

    return (x[:, 0].float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def episode_confusion(
    algo: Algorithm,
    tasks: Iterable[Task],
    class_names: Sequence[str],
    device: torch.device | str = "cpu",
    should_stop: Callable[[], bool] | None = None,
) -> Confusion:
    """Confusion over the data set's classes from test episodes: adapt to each support set, score its queries.

    Scoring is :meth:`Algorithm.evaluate`'s (``learner.logits`` on the episode's queries), so the overall
    accuracy equals ``eval``'s on the same episodes. Rows and columns are only the classes the episodes drew.
    """
    import torch

    from .algorithms.base import Interrupted

    tasks = list(tasks)
    used = sorted({c for t in tasks for c in t.classes})
    where = {c: i for i, c in enumerate(used)}
    counter = _Counter(len(used))
    for task in tasks:
        if should_stop is not None and should_stop():
            raise Interrupted
        task = task.to(device)
        learner = algo.adapt(task.support_x, task.support_y)
        with torch.no_grad():
            predicted = learner.logits(task.query_x).argmax(-1).cpu().tolist()
        to_pool = [where[c] for c in task.classes]
        counter.add(
            [to_pool[y] for y in task.query_y.cpu().tolist()], [to_pool[p] for p in predicted], _uint8(task.query_x)
        )
    ways = tasks[0].ways if tasks else 0
    return Confusion(
        [str(class_names[c]) for c in used], counter.counts, counter.images, f"{len(tasks)} test episodes, {ways}-way"
    )


def leave_one_out_confusion(
    algo: Algorithm,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    steps: int | None = None,
    inner_lr: float | None = None,
) -> Confusion:
    """Confusion over a person's own classes: each example of a class with two or more is held out in turn."""
    import torch

    from .adaptation import as_model_input, check_support, leave_one_out_predictions

    device = next(algo.model.parameters()).device
    x = as_model_input(images, device)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=device)
    ways = check_support(y)
    held, predicted = leave_one_out_predictions(algo, x, y, steps, inner_lr)
    counter = _Counter(ways)
    # (as the episodes' images are kept: a drawing read two ways is shown by its first)
    counter.add(y[held].cpu().tolist(), predicted.cpu().tolist(), _uint8(x[held]))
    return Confusion(
        [str(n) for n in class_names],
        counter.counts,
        counter.images,
        f"leave-one-out over {len(held)} held-out example(s)",
    )


def format_per_class(confusion: Confusion, limit: int = 40) -> str:
    """Plain-text per-class accuracy, least accurate first, with each class's most frequent confusion."""
    acc = confusion.per_class_accuracy
    order = np.argsort(np.nan_to_num(acc, nan=2.0), kind="stable")
    width = max(len(n) for n in confusion.class_names) if confusion.class_names else 5
    lines = [f"per-class accuracy ({confusion.source}), least accurate first:"]
    for i in order[:limit]:
        row = confusion.counts[i].copy()
        row[i] = 0
        worst = int(row.argmax())
        also = f"  most often taken for {confusion.class_names[worst]} ({row[worst]}x)" if row[worst] else ""
        value = "  n/a" if np.isnan(acc[i]) else f"{100 * acc[i]:5.1f}%"
        lines.append(f"  {confusion.class_names[i]:<{width}}  {value}  of {int(confusion.counts[i].sum())}{also}")
    if len(order) > limit:
        lines.append(f"  ... {len(order) - limit} more classes (all in --json)")
    return "\n".join(lines)
