"""Turn any common image file into what the model sees: uint8 28x28, bright strokes on dark.

Handles every PIL mode (RGBA, palette, 16-bit, grey, colour), refuses
decompression bombs and undecodable files with a clear :class:`DataError`.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..framing import BothFramings, Frame, MomentFraming, framings
from ..sketch import ink_box
from .base import DataError

MAX_PIXELS = 40_000_000  # a 6000x6000 photo is fine, a decompression bomb is not
# PIL only warns between its limit and twice it (an extra stderr line); make that an error we report
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
FRAME_FILL = 0.8  # framed drawings: the ink box's longer side over the image side (the canvas uses 22 of 28)
MOMENT_SPREAD = 2.5  # framed by moments: the ink's standard deviations from its centre of mass to the frame's edge
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def _grey(img: Image.Image) -> np.ndarray:
    """Any PIL image -> float32 grey in [0, 1], transparent areas as white paper."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        arr = np.where(np.isfinite(arr), arr, 0.0)  # a float image may hold NaN or inf
        lo, hi = float(arr.min()), float(arr.max())
        return ((arr - lo) / (hi - lo)).astype(np.float32) if hi > lo else np.zeros(arr.shape, np.float32)
    if img.mode == "P" or img.mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def frame_ink(grey: np.ndarray, fill: float = FRAME_FILL, stretch: float = 1.0) -> np.ndarray:
    """Crop bright-on-dark ``grey`` to its ink and centre that box in a square it fills to ``fill`` of the
    side: the size and place a person drew at no longer vary, so a small model spends no capacity on them and
    a character's strokes get more of the pixels (Omniglot's ink fills a median 62% of the 105x105 frame).
    ``stretch`` > 1 also stretches the box's shorter side up to that many times (never past the longer), so a
    wide character (Balinese is about twice as wide as tall) gets more than half the rows."""
    box = ink_box(grey)
    if box is None:
        return grey  # a blank image stays blank
    top, bottom, left, right = box
    crop = grey[top:bottom, left:right]
    h, w = crop.shape
    longer = max(h, w)
    if stretch > 1 and h != w:
        h, w = (min(longer, round(h * stretch)), w) if h < w else (h, min(longer, round(w * stretch)))
        crop = np.asarray(Image.fromarray(crop, mode="F").resize((w, h), Image.Resampling.BILINEAR))
    side = int(np.ceil(longer / fill))
    out = np.zeros((side, side), np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    out[top:top + h, left:left + w] = crop
    return out


def frame_moments(grey: np.ndarray, stretch: float = 1.0, spread: float = MOMENT_SPREAD) -> np.ndarray:
    """``grey`` (bright ink on dark) resampled so that its ink's centre of mass is the frame's centre and ``spread``
    standard deviations of the ink along its longer axis reach the frame's edge; with ``stretch`` > 1 the shorter
    axis is stretched up to that many times (never past the longer), as :func:`frame_ink` stretches the box.

    Moment normalisation, as handwriting readers frame characters (Liu et al., Pattern Recognition 2004): a part
    a drawer adds or leaves out at the character's edge moves and rescales the ink's box, and with it the whole
    character, but moves the moments only by its share of the ink (BENCHMARKS.md, "Drawings framed by their ink's
    moments"). Ink beyond ``spread`` deviations is cut off (Omniglot's reaches at most about 2.5)."""
    ys, xs = np.nonzero(grey > 0)
    if not len(ys):
        return grey  # a blank image stays blank
    weights = grey[ys, xs].astype(np.float64)
    yc, xc = np.average(ys, weights=weights), np.average(xs, weights=weights)
    sy = max(float(np.sqrt(np.average((ys - yc) ** 2, weights=weights))), 0.5)
    sx = max(float(np.sqrt(np.average((xs - xc) ** 2, weights=weights))), 0.5)
    longer = max(sy, sx)
    fy, fx = (min(stretch, longer / sy), 1.0) if sy < sx else (1.0, min(stretch, longer / sx))
    side = int(np.ceil(2 * spread * longer))
    half = side / 2
    # output pixel (x, y) reads the input at the centre of mass plus its offset from the frame's centre, unstretched
    data = (1 / fx, 0.0, xc + 0.5 - half / fx, 0.0, 1 / fy, yc + 0.5 - half / fy)
    out = Image.fromarray(grey.astype(np.float32), mode="F").transform((side, side), Image.Transform.AFFINE, data,
                                                                       Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.float32).clip(0, 1)


def image_to_tensor(img: Image.Image, invert: bool | None = None, size: int = 28, frame: Frame = 0) -> torch.Tensor:
    """Convert a PIL image to uint8 [size, size] with bright strokes on dark.

    ``invert=None`` decides from the border: a light border means dark ink on
    light paper (Omniglot, scans, drawings), which is inverted. ``frame`` (a model's
    framing: 0 or False as drawn, 1 or True framed, more than 1 framed and stretched that much at most):
    crop to the ink and centre it (:func:`frame_ink`) before resizing; a :class:`MomentFraming`: frame it by
    its ink's moments (:func:`frame_moments`); a :class:`BothFramings`: uint8 [2, size, size], the image framed
    each way (engine.framing.framings).
    """
    grey = _grey(img)
    if invert is None:
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        invert = float(border.mean()) > 0.5
    if invert:
        grey = 1.0 - grey
    if isinstance(frame, BothFramings):
        return torch.stack([_framed_tensor(grey, size, one) for one in framings(frame)])
    return _framed_tensor(grey, size, frame)


def _framed_tensor(grey: np.ndarray, size: int, frame: Frame) -> torch.Tensor:
    """uint8 [size, size] of ``grey`` (bright on dark, in [0, 1]) framed as one-channel ``frame`` says."""
    if isinstance(frame, MomentFraming):
        grey = frame_moments(grey, frame.stretch)
    elif frame:
        grey = frame_ink(grey, stretch=float(frame))
    pil = Image.fromarray((grey * 255).round().astype(np.uint8), mode="L")
    if pil.size != (size, size):
        pil = pil.resize((size, size), Image.Resampling.BOX if min(pil.size) >= size else Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(pil, dtype=np.uint8))


def open_image(source: str | os.PathLike | bytes | BinaryIO, name: str | None = None) -> Image.Image:
    """Open and fully decode an image, turning every failure into a DataError."""
    label = name or (os.fsdecode(source) if isinstance(source, (str, os.PathLike)) else "image")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        with Image.open(source) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise DataError(f"{label}: {w}x{h} pixels is too large (limit {MAX_PIXELS:,}); resize it first")
            if getattr(img, "is_animated", False):
                img.seek(0)  # an animated image: use its first frame
            img.load()
            # a phone photo stores its pixels as shot and says in EXIF how to turn them upright
            return ImageOps.exif_transpose(img) if img.getexif().get(0x0112, 1) != 1 else img.copy()
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{label}: file not found") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(
            f"{label}: claims too many pixels to decode safely (limit {MAX_PIXELS:,}); resize it first"
        ) from None
    except UnidentifiedImageError as exc:
        raise DataError(f"{label}: not a readable image ({exc.__class__.__name__})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{label}: the image is damaged or truncated ({exc})") from None


def load_image(path: str | os.PathLike, invert: bool | None = None, frame: Frame = 0) -> torch.Tensor:
    """Read an image file into the model's input: uint8 [28, 28] (``frame``: cropped to its ink and centred,
    for a model trained on framed drawings, as :func:`image_to_tensor` takes it; [2, 28, 28] framed both ways)."""
    return image_to_tensor(open_image(path), invert=invert, frame=frame)


def frame_images(images: np.ndarray, frame: Frame = 1) -> np.ndarray:
    """Frame model inputs already decoded (uint8 [n, H, W], bright on dark) as :func:`frame_ink` frames a file
    (``frame``: a model's framing, as :func:`image_to_tensor` takes it): for a framed model handed a person's
    images (a drawing from the canvas is framed already, and comes back nearly as it was, or stretched). A
    :class:`BothFramings` gives uint8 [n, 2, H, W]."""
    size = images.shape[-1]
    return np.stack([
        image_to_tensor(Image.fromarray(np.asarray(x, np.uint8), mode="L"), False, size, frame).numpy() for x in images
    ]) if len(images) else np.asarray(images, np.uint8)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
