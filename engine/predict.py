"""Classify image files: with a meta-trained checkpoint adapted to a support set, or an exported file.

Both ways read images with :mod:`engine.data.images` (the same 28x28,
bright-on-dark input as training) and score **one query at a time** with the
support set, as the window scores a drawing: a query's prediction never
depends on the other queries given with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .data.base import DataError
from .data.folder import folder_files
from .data.images import frame_images, is_image_file, load_image
from .framing import Frame, framing_named


@dataclass(frozen=True)
class Support:
    """A support set: uint8 images [M, 28, 28], labels [M] (0..ways-1) and one name per class."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]


@dataclass(frozen=True)
class Prediction:
    """One query file: its most probable class and every class's probability."""

    file: str
    label: str
    probability: float
    probabilities: dict[str, float]

    def to_json(self) -> dict:
        return {"file": self.file, "class": self.label, "probabilities": self.probabilities}


def read_support(path: str | os.PathLike, frame: Frame = 0) -> Support:
    """A saved class set (a folder with manifest.json) or a folder with one subfolder of images per class
    (``frame``: each image cropped to its ink and centred, for a model trained on framed drawings, as
    engine.data.images.image_to_tensor takes it)."""
    from .classset import MANIFEST, load_classset

    root = Path(path)
    if not root.is_dir():
        raise DataError(
            f"support folder {root} does not exist; give a class set or a folder with one subfolder per class"
        )
    if (root / MANIFEST).is_file():
        cs = load_classset(root)
        images, labels = cs.tensors()
        return Support(frame_images(images.numpy(), frame) if frame else images.numpy(), labels.numpy(), list(cs.names))
    classes = folder_files(root)
    if len(classes) < 2:
        raise DataError(f"{root} has {len(classes)} class subfolder with images; a classifier needs at least 2 classes")
    images = [load_image(f, frame=frame).numpy() for files in classes.values() for f in files]
    labels = [c for c, files in enumerate(classes.values()) for _ in files]
    return Support(np.stack(images), np.asarray(labels, np.int64), list(classes))


def query_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand ``--query`` arguments: image files as given, folders to their image files (recursively, sorted)."""
    if not paths:
        raise DataError("no --query given; name image files or folders of images")
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and is_image_file(f) and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                raise DataError(f"query folder {p} has no images (png, jpg, bmp, gif, tif, webp, ...)")
            files.extend(found)
        elif p.is_file():
            files.append(p)  # whatever its name: load_image says clearly if it is not an image
        else:
            raise DataError(f"query {p} does not exist; give image files or folders of images")
    return files


def read_queries(files: Sequence[Path], frame: Frame = 0) -> np.ndarray:
    """uint8 [n, 28, 28]; a file that is not a readable image is a :class:`DataError` naming it."""
    return np.stack([load_image(f, frame=frame).numpy() for f in files])


class Classifier:
    """Probabilities for uint8 images, from an adapted learner or an exported file (one interface);
    ``frame``: its images are read framed to their ink, as its model's training drawings were."""

    def __init__(self, class_names: list[str], score_one, frame: Frame = 0) -> None:
        self.class_names = class_names
        self._score_one = score_one
        self.frame = frame

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """float [n, ways]: each image scored on its own with the support set."""
        return (
            np.concatenate([self._score_one(images[i : i + 1]) for i in range(len(images))])
            if len(images)
            else np.zeros((0, len(self.class_names)), np.float32)
        )

    @classmethod
    def adapted(
        cls, checkpoint: str | os.PathLike, support: str | os.PathLike, steps: int | None = None, device: str = "cpu"
    ) -> tuple["Classifier", object]:
        """Restore ``checkpoint``, adapt it to ``support`` as the window does; also return the learner."""
        from .adaptation import adapt_with_progress, predict_probabilities
        from .trainer import restore

        algo, _, _ = restore(str(checkpoint), device)
        s = read_support(support, frame=algo.config.frame_ink)
        learner = adapt_with_progress(algo, s.images, s.labels, steps=steps, leave_one_out=False)
        return cls(s.class_names, lambda x: predict_probabilities(learner, x), learner.frame_ink), learner

    @classmethod
    def exported(cls, path: str | os.PathLike) -> "Classifier":
        from .export import load_classifier

        loaded = load_classifier(path)
        return cls(
            loaded.class_names,
            lambda x: loaded.probabilities(torch.from_numpy(np.ascontiguousarray(x))).numpy(),
            framing(loaded.info),
        )


def framing(info: dict) -> Frame:
    """How an exported classifier's metadata says a file is framed (image_to_tensor's ``frame``): files written
    before the stretch was recorded say only whether it is framed."""
    if not info.get("frame_ink"):
        return 0.0
    return framing_named(float(info.get("frame_stretch", 1.0)), info.get("frame_by"))


def predict_files(classifier: Classifier, files: Sequence[Path]) -> list[Prediction]:
    """One :class:`Prediction` per file, in order."""
    probs = classifier.probabilities(read_queries(files, classifier.frame))
    names = classifier.class_names
    out = []
    for f, p in zip(files, probs):
        best = int(np.argmax(p))
        out.append(Prediction(str(f), names[best], float(p[best]), {n: float(v) for n, v in zip(names, p)}))
    return out
