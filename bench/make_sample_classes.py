"""Regenerate the sample class set the workspace opens with: resources/sample_classes.

Five held-out classes of the built-in glyphs (test split, never seen in
meta-training) with five examples each, saved with engine.classset, plus one
further held-out example per class as a 280x280 "drawing" (dark ink on white)
in resources/sample_queries for trying the Test canvas.

    PYTHONPATH=. python bench/make_sample_classes.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.classset import ClassSet, save_classset
from engine.data import make_glyph_pool
from engine.data.glyphs import _jittered_points, glyph_class
from engine.sketch import render_strokes

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
NAMES = ["hook", "zigzag", "loop", "fork", "wave"]
SHOTS, CANVAS = 5, 280


def main() -> None:
    pool = make_glyph_pool(classes={"train": 0, "val": 0, "test": len(NAMES)}, examples_per_class=SHOTS)
    examples = [[pool.images[i].numpy() for i in pool.members(c).tolist()] for c in pool.split_classes("test")]
    path = save_classset(RESOURCES / "sample_classes", ClassSet(NAMES, examples))
    queries = RESOURCES / "sample_queries"
    queries.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(NAMES):
        points, radius = _jittered_points(glyph_class(0, "test", k), np.random.default_rng([k, 12345]))
        ink = render_strokes(list(points * CANVAS), (CANVAS, CANVAS), brush=2 * radius * CANVAS)
        Image.fromarray(255 - np.round(ink * 255).astype(np.uint8), mode="L").save(queries / f"{k:02d}-{name}.png")
    print(f"wrote {path} ({len(NAMES)} classes x {SHOTS}) and {queries}")


if __name__ == "__main__":
    main()
