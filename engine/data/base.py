"""The one in-memory shape every data source is decoded into.

A source is decoded once into a contiguous ``uint8`` tensor of 28x28 images
(bright strokes on dark), with a class index per image, so that sampling an
episode only indexes a tensor and decodes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import torch

from ..errors import DataError
from ..framing import Frame

SPLITS = ("train", "val", "test")


@dataclass
class ClassPool:
    """Images grouped by class, with meta-train / validation / test class splits.

    Attributes
    ----------
    images : uint8 tensor [M, 28, 28]; or [M, C, 28, 28], each drawing read C ways (engine.framing.BothFramings: a
        pool to score such a model on; :meth:`framings_as_drawings` makes it one to train on)
    labels : int64 tensor [M], the class index of each image
    class_names : one name per class
    class_groups : one group (alphabet) name per class; episodes may be drawn
        from a single group (Lake's within-alphabet task)
    splits : split name -> list of class indices
    framed : each drawing was cropped to its ink and centred when decoded (Omniglot's ``frame``: 0 no, 1 yes,
        more than 1 yes and stretched that much at most; a MomentFraming or BothFramings as its name says)
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    class_groups: list[str]
    splits: dict[str, list[int]]
    name: str = "data"
    framed: Frame = 0.0
    _members: list[torch.Tensor] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() not in (3, 4):
            raise DataError("images must be a uint8 tensor [M, H, W] (or [M, C, H, W])")
        order = torch.argsort(self.labels, stable=True)
        counts = torch.bincount(self.labels, minlength=len(self.class_names)).tolist()
        self._members = list(torch.split(order, counts))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One image's shape as the model reads it: [1, H, W], or [C, H, W] for a drawing read C ways."""
        return (1, *self.images.shape[1:]) if self.images.dim() == 3 else tuple(self.images.shape[1:])

    def framings_as_drawings(self) -> "ClassPool":
        """A pool of drawings read several ways (images [M, C, H, W]) as one of C * M drawings [H, W], each way
        another drawing of its class, the first way's M first: to train on (a test drawing is read all ways at
        once, each training drawing a way at a time)."""
        if self.images.dim() == 3:
            return self
        ways = self.images.shape[1]
        images = self.images.transpose(0, 1).reshape(-1, *self.images.shape[2:])
        return ClassPool(images, self.labels.repeat(ways), self.class_names, self.class_groups, self.splits,
                         self.name, self.framed)

    def members(self, cls: int) -> torch.Tensor:
        """Indices (into ``images``) of the examples of class ``cls``."""
        return self._members[cls]

    def count(self, cls: int) -> int:
        return len(self._members[cls])

    def split_classes(self, split: str) -> list[int]:
        if split not in self.splits:
            raise DataError(f"unknown split {split!r}; expected one of {', '.join(self.splits)}")
        return self.splits[split]

    def with_splits(self, splits: dict[str, list[int]]) -> "ClassPool":
        """The same images with other class splits (no copy of the images)."""
        return ClassPool(self.images, self.labels, self.class_names, self.class_groups, splits, self.name, self.framed)

    def with_mirrored_classes(self, split: str = "train") -> "ClassPool":
        """This pool plus, for each class of ``split``, its mirror image as a new class of that split (named
        ``.../mirror``, in the same group). A mirrored character is another character a person could draw
        (b and d), so from few classes a learner sees twice as many without a new drawing."""
        classes = self.split_classes(split)
        if not classes:
            return self
        images, labels = [self.images], [self.labels]
        for new, cls in enumerate(classes, start=self.num_classes):
            members = self.members(cls)
            images.append(torch.flip(self.images[members], dims=(-1,)))
            labels.append(torch.full((len(members),), new, dtype=torch.int64))
        splits = {name: list(ids) for name, ids in self.splits.items()}
        splits[split] = [*splits[split], *range(self.num_classes, self.num_classes + len(classes))]
        names = [*self.class_names, *(f"{self.class_names[c]}/mirror" for c in classes)]
        groups = [*self.class_groups, *(self.class_groups[c] for c in classes)]
        return ClassPool(torch.cat(images).contiguous(), torch.cat(labels), names, groups, splits, self.name,
                         self.framed)

    def grouped(self, classes: Iterable[int]) -> list[list[int]]:
        """``classes`` gathered by group (alphabet), each group in the order its first class comes."""
        by_group: dict[str, list[int]] = {}
        for cls in classes:
            by_group.setdefault(self.class_groups[cls], []).append(cls)
        return list(by_group.values())

    def with_composed_classes(self, ratio: float, split: str = "train", seed: int = 0) -> "ClassPool":
        """This pool plus ``ratio`` times as many new classes of ``split`` as it has, each the top half of one
        character over the bottom half of another of the same group (alphabet), cut at the middle row: drawing
        ``i`` of the new class joins drawing ``i`` of each. Characters are built of parts, so from few classes a
        learner sees many more plausible characters without a new drawing."""
        classes = self.split_classes(split)
        pairs_from = [g for g in self.grouped(classes) if len(g) >= 2]
        wanted = int(round(ratio * len(classes)))
        if not wanted or not pairs_from:
            return self
        generator = torch.Generator().manual_seed(seed)
        weights = torch.tensor([float(len(g)) for g in pairs_from])  # a group's share as its share of the classes
        cut = self.images.shape[-2] // 2
        images, labels, names, groups = [self.images], [self.labels], [], []
        for new in range(self.num_classes, self.num_classes + wanted):
            group = pairs_from[int(torch.multinomial(weights, 1, generator=generator))]
            first, second = (group[int(i)] for i in torch.randperm(len(group), generator=generator)[:2])
            top, bottom = self.members(first), self.members(second)
            n = min(len(top), len(bottom))
            upper, lower = self.images[top[:n], ..., :cut, :], self.images[bottom[:n], ..., cut:, :]
            images.append(torch.cat([upper, lower], dim=-2))
            labels.append(torch.full((n,), new, dtype=torch.int64))
            names.append(f"{self.class_names[first]}+{self.class_names[second]}/composed")
            groups.append(self.class_groups[first])
        splits = {name: list(ids) for name, ids in self.splits.items()}
        splits[split] = [*splits[split], *range(self.num_classes, self.num_classes + wanted)]
        return ClassPool(torch.cat(images).contiguous(), torch.cat(labels), [*self.class_names, *names],
                         [*self.class_groups, *groups], splits, self.name, self.framed)

    def short_classes(self, need: int, split: str | None = None) -> list[tuple[str, int]]:
        """(name, count) of the classes (of ``split``, or all) with fewer than ``need`` examples."""
        classes = self.split_classes(split) if split else range(self.num_classes)
        return [(self.class_names[c], self.count(c)) for c in classes if self.count(c) < need]

    def summary(self) -> dict[str, dict[str, int]]:
        """Classes and examples per split, for the data browser and the CLI."""
        return {
            s: {"classes": len(c), "examples": int(sum(self.count(i) for i in c))}
            for s, c in self.splits.items()
        }


def split_groups(groups: list[str], fractions: tuple[float, float] = (0.2, 0.2)) -> dict[str, list[str]]:
    """Deterministically split group names into train / val / test.

    Groups are ordered by a stable hash of their name (not alphabetically, so
    the split does not depend on the naming scheme), then the first share goes
    to test, the next to val, the rest to train. With fewer than three groups
    every split gets all of them, which the caller must split by class instead.
    """
    import zlib

    uniq = sorted(set(groups), key=lambda g: (zlib.crc32(g.encode()), g))
    n = len(uniq)
    if n < 3:
        return {}
    n_test = max(1, round(fractions[1] * n))
    n_val = max(1, round(fractions[0] * n))
    if n - n_test - n_val < 1:
        n_val = n_test = 1
    return {"test": uniq[:n_test], "val": uniq[n_test:n_test + n_val], "train": uniq[n_test + n_val:]}


def every_class(num_classes: int) -> dict[str, list[int]]:
    """Every class in every split: for evaluating a model meta-trained on another source."""
    return {s: list(range(num_classes)) for s in SPLITS}


def split_by_class(
    num_classes: int, seed: int = 0, fractions: tuple[float, float] = (0.2, 0.2)
) -> dict[str, list[int]]:
    """Deterministic class-level split (used when there are no groups to split by)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(num_classes, generator=g).tolist()
    n_test = max(1, round(fractions[1] * num_classes))
    n_val = max(1, round(fractions[0] * num_classes))
    if num_classes - n_test - n_val < 1:
        raise DataError(f"need at least 3 classes to make train/val/test splits, found {num_classes}")
    return {
        "train": sorted(perm[n_test + n_val :]),
        "val": sorted(perm[n_test : n_test + n_val]),
        "test": sorted(perm[:n_test]),
    }
