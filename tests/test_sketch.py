"""engine.sketch: drawings become what the model sees (28x28, centred, even strokes)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.base import DataError
from engine.sketch import BOX, render_strokes, sketch_to_input, stroke_width, strokes_to_input


def _mass_centre(img: np.ndarray) -> tuple[float, float]:
    w = img.astype(np.float64)
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    return (w * ys).sum() / w.sum(), (w * xs).sum() / w.sum()


def test_horizontal_line_becomes_a_centred_bright_band():
    canvas = np.zeros((280, 280), np.float32)
    canvas[60:72, 30:250] = 1.0  # a thick line near the top, off-centre
    out = sketch_to_input(canvas)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    rows = np.flatnonzero(out.max(1) > 25)
    cols = np.flatnonzero(out.max(0) > 25)
    assert 13.5 - 3 <= rows.mean() <= 13.5 + 3 and len(rows) <= 5  # a thin band in the middle rows
    assert cols[-1] - cols[0] + 1 == pytest.approx(BOX, abs=1)  # the longer side fills the box
    cy, cx = _mass_centre(out)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75
    assert out.max() == 255 and out[0].max() == 0 and out[-1].max() == 0


def test_off_centre_shape_is_centred_by_mass():
    canvas = np.zeros((300, 200), np.uint8)
    canvas[10:80, 150:160] = 255  # vertical bar in the top-right corner
    canvas[70:80, 120:160] = 255  # with a foot: an asymmetric 'L'
    out = sketch_to_input(canvas)
    cy, cx = _mass_centre(out)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75


@pytest.mark.parametrize("brush", [3, 10, 40])
def test_stroke_width_does_not_depend_on_the_brush(brush):
    stroke = [np.array([[40, 40], [240, 200], [60, 240]], float)]
    out = strokes_to_input(stroke, brush=brush)
    width = stroke_width(out.astype(np.float32) / 255)
    assert 2.0 <= width <= 4.5


def test_small_and_large_drawings_look_the_same():
    big = render_strokes([np.array([[20, 20], [260, 260]], float)], (280, 280), brush=20)
    small = render_strokes([np.array([[2, 2], [26, 26]], float)], (28, 28), brush=2)
    a, b = sketch_to_input(big).astype(int), sketch_to_input(small).astype(int)
    assert np.abs(a - b).mean() < 12


def test_pressure_scales_the_brush_before_normalisation():
    light = render_strokes([np.array([[20, 140, 0.2], [260, 140, 0.2]])], brush=20)
    heavy = render_strokes([np.array([[20, 140, 1.0], [260, 140, 1.0]])], brush=20)
    assert (light > 0.5).sum() < (heavy > 0.5).sum()


@pytest.mark.parametrize("raster", [np.zeros((280, 280)), np.full((50, 50), 0.05), np.zeros((1, 1), np.uint8)])
def test_empty_drawing_is_refused(raster):
    with pytest.raises(DataError, match="the drawing is empty"):
        sketch_to_input(raster)


def test_float_colour_and_16bit_rasters_are_accepted():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[30:34, 5:60] = 255
    deep = np.zeros((64, 64), np.uint16)
    deep[30:34, 5:60] = 65535
    assert np.array_equal(sketch_to_input(rgb), sketch_to_input(deep))
    with pytest.raises(DataError, match="2-D"):
        sketch_to_input(np.zeros((2, 3, 4, 5)))
