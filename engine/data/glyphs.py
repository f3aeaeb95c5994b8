"""The built-in, offline default: procedurally generated pen-stroke glyphs.

Each class is a random set of 1-4 pen strokes (cubic Bezier curves and
lines); each example is a jittered rendering of it: every control point
wobbles, the whole glyph gets a small random affine transform (rotation,
scale, shear, shift) and a random pen thickness. Images are 28x28 with bright
strokes on dark, like Omniglot after preprocessing.

Everything is deterministic by ``seed``: class ``k`` of split ``s`` is always
the same set of strokes, so any number of classes can be made and the
meta-train, validation and test pools never share a class.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from .base import ClassPool

SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
DEFAULT_CLASSES = {"train": 480, "val": 80, "test": 80}
POINTS_PER_STROKE = 10
MAX_STROKES = 4
VOCABULARY = 6  # stroke shapes shared by the classes of one group
CLASSES_PER_GROUP = 20


def _stroke_vocabulary(rng: np.random.Generator, size: int = VOCABULARY) -> np.ndarray:
    """A group's (alphabet's) shared stroke shapes: [size, 4, 2], centred on 0."""
    shapes = []
    for _ in range(size):
        if rng.random() < 0.3:  # a straight line
            end = rng.normal(0, 0.25, size=2)
            ctrl = np.stack([-end, -end / 3, end / 3, end])
        else:  # a curve
            pts = np.cumsum(rng.normal(0, 0.2, size=(4, 2)), axis=0)
            ctrl = pts - pts.mean(0)
        shapes.append(ctrl)
    return np.stack(shapes)


def _class_strokes(rng: np.random.Generator, vocabulary: np.ndarray) -> np.ndarray:
    """Control points [strokes, 4, 2] of one class: strokes from its group's vocabulary, placed."""
    n = int(rng.integers(2, MAX_STROKES + 1))
    strokes = []
    for idx in rng.choice(len(vocabulary), n):
        angle = rng.uniform(0, 2 * math.pi)
        c, s = math.cos(angle), math.sin(angle)
        shape = vocabulary[idx] @ np.array([[c, -s], [s, c]]).T * rng.uniform(0.9, 1.5)
        shape = shape + rng.normal(0, 0.04, size=shape.shape)
        strokes.append(np.clip(shape + rng.uniform(0.3, 0.7, size=2), 0.08, 0.92))
    return np.stack(strokes)


def _bezier(ctrl: np.ndarray, n: int = POINTS_PER_STROKE) -> np.ndarray:
    """Sample cubic Bezier curves: ctrl [..., 4, 2] -> points [..., n, 2]."""
    t = np.linspace(0, 1, n)[:, None]
    b = np.stack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3], axis=-2)  # [n, 4, 1]
    return np.einsum("nkc,...kd->...nd", b, ctrl)


def _jittered_points(strokes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One example: wobbled, affinely transformed polylines [strokes, n, 2] and a pen radius."""
    wobble = strokes + rng.normal(0, 0.04, size=strokes.shape)
    pts = _bezier(wobble)  # [strokes, n, 2]
    angle = rng.normal(0, math.radians(12))
    scale = rng.uniform(0.8, 1.15, size=2)
    shear = rng.normal(0, 0.15)
    c, s = math.cos(angle), math.sin(angle)
    a = np.array([[c, -s], [s, c]]) @ np.array([[1, shear], [0, 1]]) @ np.diag(scale)
    shift = rng.normal(0, 0.05, size=2)
    pts = (pts - 0.5) @ a.T + 0.5 + shift
    radius = rng.uniform(0.03, 0.065)
    return pts, radius


def render_strokes(points: np.ndarray, radius: float, size: int = 28, oversample: int = 4) -> np.ndarray:
    """Draw polylines [strokes, n, 2] (unit coordinates) with a round pen: uint8 [size, size].

    Drawn at ``oversample`` times the size with PIL, then box-filtered down,
    which anti-aliases like a scanned pen stroke.
    """
    big = size * oversample
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    width = max(1, round(2 * radius * big))
    r = width / 2
    for stroke in points * big:
        xy = [tuple(p) for p in stroke]
        draw.line(xy, fill=255, width=width)
        for x, y in xy:  # round joints and caps
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img.resize((size, size), Image.Resampling.BOX))


def glyph_class(seed: int, split: str, index: int) -> np.ndarray:
    """The strokes of class ``index`` of ``split`` for ``seed`` (deterministic).

    Classes come in groups of 20 (like Omniglot's alphabets) that share a
    vocabulary of stroke shapes, so telling classes apart takes more than
    spotting one distinctive stroke.
    """
    group = index // CLASSES_PER_GROUP
    vocabulary = _stroke_vocabulary(np.random.default_rng([seed, SPLIT_CODES[split], group, 99]))
    return _class_strokes(np.random.default_rng([seed, SPLIT_CODES[split], index]), vocabulary)


def render_examples(class_strokes: list[np.ndarray], n: int, seed: int) -> torch.Tensor:
    """Render ``n`` jittered examples of each class: uint8 [len * n, 28, 28]."""
    out = np.empty((len(class_strokes) * n, 28, 28), dtype=np.uint8)
    for k, strokes in enumerate(class_strokes):
        rng = np.random.default_rng([seed, k, 7])
        for i in range(n):
            out[k * n + i] = render_strokes(*_jittered_points(strokes, rng))
    return torch.from_numpy(out)


def make_glyph_pool(
    seed: int = 0,
    classes: dict[str, int] | None = None,
    examples_per_class: int = 20,
) -> ClassPool:
    """Render the glyph data set: ``classes`` per split, ``examples_per_class`` each."""
    classes = {**DEFAULT_CLASSES, **(classes or {})}
    images, names, groups = [], [], []
    splits: dict[str, list[int]] = {}
    chunk = 8  # classes per rendering batch (bounded memory, few Python round trips)
    for split, count in classes.items():
        splits[split] = list(range(len(names), len(names) + count))
        for first in range(0, count, chunk):
            ks = range(first, min(first + chunk, count))
            strokes = [glyph_class(seed, split, k) for k in ks]
            images.append(render_examples(strokes, examples_per_class, seed=seed * 1_000_003 + SPLIT_CODES[split] * 100_000 + first))
        names += [f"{split}-glyph{k:04d}" for k in range(count)]
        groups += [f"{split}-group{k // CLASSES_PER_GROUP:03d}" for k in range(count)]
    labels = torch.arange(len(names)).repeat_interleave(examples_per_class)
    return ClassPool(
        images=torch.cat(images),
        labels=labels,
        class_names=names,
        class_groups=groups,
        splits=splits,
        name="synthetic",
    )
