"""Turn a drawing into exactly what the model sees: uint8 28x28, bright ink on dark.

A person draws big (a few hundred pixels) with whatever brush; the model was
meta-trained on small, centred, evenly thick strokes. :func:`sketch_to_input`
applies the MNIST/Omniglot-style normalisation to any raster:

1. crop to the ink's bounding box;
2. resample (anti-aliased, 4x oversampled) so the longer side is
   ``box`` pixels (20 by default), keeping the aspect ratio;
3. bring the stroke width to the training data's (dilate thin lines, thin
   out very thick ones) at the oversampled resolution, so brush size and
   drawing size do not change what the model sees;
4. box-filter down and place the glyph so its centre of mass is at the
   centre of the 28x28 image (integer shift, kept inside the frame).

:func:`render_strokes` rasterises stroke point lists (with optional pen
pressure) first, so point lists and rasters go through the same path.
Numpy and PIL only: the GUI may call this on its own thread for the preview.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .errors import DataError

SIZE = 28
BOX = 22  # longer side of the ink box in output pixels: MNIST uses 20 in 28; the built-in glyphs measure a median 22
OVERSAMPLE = 4
STROKE_WIDTH = 2.8  # target stroke width in output pixels (matches the glyphs' median pen)
INK_THRESHOLD = 0.1  # what counts as ink, as a fraction of full brightness


def _as_unit_float(raster: np.ndarray) -> np.ndarray:
    """uint8 / integer / float raster [H, W] (or [H, W, C]) -> float32 in [0, 1]."""
    arr = np.asarray(raster)
    if arr.ndim == 3:
        arr = arr[..., :3].mean(-1) if arr.shape[-1] >= 3 else arr[..., 0]
    if arr.ndim != 2 or arr.size == 0:
        raise DataError(f"a drawing must be a 2-D image, got shape {np.shape(raster)}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if np.issubdtype(arr.dtype, np.integer):
        top = float(np.iinfo(arr.dtype).max)
        return np.clip(arr.astype(np.float32) / top, 0.0, 1.0)
    arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(arr, 0.0, 1.0)


def stroke_width(ink: np.ndarray, threshold: float = 0.5) -> float:
    """Mean stroke width in pixels: twice the ink area over its boundary length.

    For a line of width w and length L, the area is wL and the boundary 2L.
    """
    mask = ink > threshold
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    boundary = int((mask & ~interior).sum())
    return 2.0 * area / max(boundary, 1)


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the bright ink in ``ink``, ends exclusive; None for a blank image."""
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(0))
    if len(rows) == 0:
        return None
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _resize(ink: np.ndarray, height: int, width: int) -> np.ndarray:
    img = Image.fromarray(ink.astype(np.float32), mode="F")
    shrinking = height <= ink.shape[0] and width <= ink.shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(img.resize((max(1, width), max(1, height)), method), dtype=np.float32)


def _fit_to_box(ink: np.ndarray, box_px: int) -> np.ndarray:
    """Crop ``ink`` to its bounding box and scale the longer side to ``box_px``."""
    top, bottom, left, right = ink_box(ink)
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = box_px / max(h, w)
    return _resize(crop, round(h * scale), round(w * scale))


def _normalise_width(ink: np.ndarray, target: float) -> np.ndarray:
    """Dilate strokes thinner than ``target`` pixels; thin out ones over twice as thick."""
    width = stroke_width(ink)
    if width <= 0:
        return ink
    grow = int(round(target - width))
    if grow >= 1:
        k = grow + 1 if grow % 2 == 0 else grow + 2  # odd kernel; widens by k - 1
        k = min(k, 2 * int(target) + 1)
        img = Image.fromarray(np.pad(ink, k), mode="F").filter(ImageFilter.MaxFilter(k))
        return np.asarray(img, dtype=np.float32)
    if width > 2 * target:
        k = int(round(width - target))
        k = k + 1 if k % 2 == 0 else k
        thinner = np.asarray(Image.fromarray(ink, mode="F").filter(ImageFilter.MinFilter(k)), dtype=np.float32)
        if ink_box(thinner) is not None:  # never erase the drawing
            return thinner
    return ink


def _place_by_mass(glyph: np.ndarray, size: int) -> np.ndarray:
    """Put ``glyph`` (at most size x size) in a size x size frame, centre of mass at the centre."""
    h, w = glyph.shape
    mass = glyph.sum()
    ys, xs = np.mgrid[:h, :w]
    cy, cx = (ys * glyph).sum() / mass, (xs * glyph).sum() / mass
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - h))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - w))
    out = np.zeros((size, size), dtype=np.float32)
    out[top:top + h, left:left + w] = glyph
    return out


def sketch_to_input(
    raster: np.ndarray,
    box: int = BOX,
    width: float | None = STROKE_WIDTH,
    size: int = SIZE,
) -> np.ndarray:
    """Normalise a drawing (ink bright on dark, any size) to the model's uint8 [size, size].

    Parameters
    ----------
    raster : [H, W] (or [H, W, C]) uint8, integer or float array; ink is bright
    box : the longer side of the ink's bounding box in the output, in pixels
    width : target stroke width in output pixels; ``None`` keeps the drawn width
    size : output side

    Raises
    ------
    DataError
        When nothing is drawn (no pixel above 10% brightness).
    """
    ink = _as_unit_float(raster)
    if ink_box(ink) is None:
        raise DataError("the drawing is empty")
    work = _fit_to_box(ink, box * OVERSAMPLE)
    if width is not None:
        work = _normalise_width(work, width * OVERSAMPLE)
        work = _fit_to_box(work, box * OVERSAMPLE)
    h, w = work.shape
    # pad to a multiple of the oversampling factor, then box-filter down (anti-aliasing)
    ph, pw = -h % OVERSAMPLE, -w % OVERSAMPLE
    work = np.pad(work, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
    small = work.reshape(work.shape[0] // OVERSAMPLE, OVERSAMPLE, work.shape[1] // OVERSAMPLE, OVERSAMPLE).mean((1, 3))
    small = small / max(float(small.max()), 1e-6)  # a full-strength stroke reaches 255
    out = _place_by_mass(np.clip(small, 0.0, 1.0), size)
    return np.round(out * 255.0).astype(np.uint8)


def render_strokes(
    strokes: Sequence[np.ndarray | Sequence[Sequence[float]]],
    canvas: tuple[int, int] = (280, 280),
    brush: float = 16.0,
) -> np.ndarray:
    """Rasterise strokes into a float32 [H, W] canvas, ink bright on dark.

    Each stroke is an array [n, 2] of (x, y) pixel positions or [n, 3] with a
    pen pressure in [0, 1] as third column (the brush diameter scales with it).
    """
    h, w = canvas
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        pts = np.asarray(stroke, dtype=np.float64).reshape(-1, np.shape(stroke)[-1] if len(stroke) else 2)
        if len(pts) == 0:
            continue
        pressure = pts[:, 2] if pts.shape[1] >= 3 else np.ones(len(pts))
        radius = np.maximum(brush * np.clip(pressure, 0.05, 1.0) / 2.0, 0.5)
        for i, (x, y) in enumerate(pts[:, :2]):
            r = radius[i]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
            if i:
                x0, y0 = pts[i - 1, :2]
                draw.line((x0, y0, x, y), fill=255, width=max(1, int(round(radius[i - 1] + r))))
    return np.asarray(img, dtype=np.float32) / 255.0


def strokes_to_input(
    strokes: Sequence[np.ndarray], canvas: tuple[int, int] = (280, 280), brush: float = 16.0
) -> np.ndarray:
    """Stroke point lists -> the model's uint8 [28, 28] (see :func:`sketch_to_input`)."""
    return sketch_to_input(render_strokes(strokes, canvas, brush))
