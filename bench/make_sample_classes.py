"""Regenerate the sample class set the workspace opens with: resources/sample_classes.

Five held-out classes of the built-in glyphs (test split, never seen in
meta-training) with five examples each, saved with engine.classset, plus one
further held-out example per class as a 280x280 "drawing" (dark ink on white)
in resources/sample_queries for trying the Test canvas. Every example is
drawn as a 280x280 canvas would be and normalised with engine.sketch, exactly
as the workspace does with a person's drawings, so the sample examples and a
drawn query are sized and centred alike.

    PYTHONPATH=. python bench/make_sample_classes.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.classset import ClassSet, save_classset
from engine.data.glyphs import _jittered_points, glyph_class
from engine.sketch import render_strokes, sketch_to_input

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
NAMES = ["alpha", "beta", "gamma", "delta", "omega"]  # arbitrary labels for five unseen glyph classes
SHOTS, CANVAS = 5, 280


def drawing(k: int, rng: np.random.Generator) -> np.ndarray:
    """A jittered example of test glyph class ``k`` drawn on a 280x280 canvas (float ink in [0, 1])."""
    points, radius = _jittered_points(glyph_class(0, "test", k), rng)
    return render_strokes(list(points * CANVAS), (CANVAS, CANVAS), brush=2 * radius * CANVAS)


def main() -> None:
    examples = []
    for k in range(len(NAMES)):
        rng = np.random.default_rng([k, 2024])
        examples.append([sketch_to_input(drawing(k, rng)) for _ in range(SHOTS)])
    path = save_classset(RESOURCES / "sample_classes", ClassSet(NAMES, examples))
    queries = RESOURCES / "sample_queries"
    queries.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(NAMES):
        ink = drawing(k, np.random.default_rng([k, 12345]))
        Image.fromarray(255 - np.round(ink * 255).astype(np.uint8), mode="L").save(queries / f"{k:02d}-{name}.png")
    print(f"wrote {path} ({len(NAMES)} classes x {SHOTS}) and {queries}")


if __name__ == "__main__":
    main()
