"""Omniglot (Lake et al. 2015) from local files: the official zips or their folders.

Accepted under ``root`` (any mix): ``images_background.zip``,
``images_evaluation.zip``, ``images_background_small1.zip``,
``images_background_small2.zip``, the same names as extracted folders, or
torchvision's ``omniglot-py/`` layout. Images are decoded once into memory:
28x28 (or the size asked for), inverted so strokes are bright; 90-degree rotations are extra classes.

Splits: background alphabets meta-train and evaluation alphabets test when
both are present (a share of the background alphabets is held out for
validation); with background data only, a deterministic split by alphabet.
"""

from __future__ import annotations

import zipfile
import zlib
from collections import defaultdict
from pathlib import Path, PurePosixPath

import torch

from ..framing import Frame, MomentFraming
from .base import ClassPool, DataError, split_groups
from .images import image_to_tensor, open_image

BACKGROUND = ("images_background", "images_background_small1", "images_background_small2")
EVALUATION = ("images_evaluation",)
ALL_SETS = BACKGROUND + EVALUATION
MAX_ENTRY_BYTES = 16_000_000  # an Omniglot PNG is ~1 kB; refuses zip bombs before they unpack

MISSING_HELP = (
    "put one of images_background.zip, images_evaluation.zip, images_background_small1.zip or "
    "images_background_small2.zip (from github.com/brendenlake/omniglot/tree/master/python) in {root}"
)


def _read_zip(path: Path) -> dict[tuple[str, str], list[tuple[str, bytes]]]:
    """(alphabet, character) -> [(name, png bytes)] from an Omniglot zip."""
    out: dict[tuple[str, str], list[tuple[str, bytes]]] = defaultdict(list)
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                parts = PurePosixPath(info.filename.replace("\\", "/")).parts
                if info.is_dir() or not info.filename.lower().endswith(".png") or len(parts) < 3:
                    continue
                if parts[0] == "/" or ".." in parts or ":" in parts[0]:  # read in memory only, but never trusted
                    raise DataError(f"{path}: entry {info.filename!r} points outside the archive; this zip is refused")
                if info.file_size > MAX_ENTRY_BYTES:
                    raise DataError(
                        f"{path}: entry {info.filename!r} unpacks to {info.file_size:,} bytes, "
                        "too large for a glyph image"
                    )
                alphabet, character = parts[-3], parts[-2]
                out[(alphabet, character)].append((info.filename, zf.read(info)))
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a readable zip archive ({exc}); download it again") from None
    if not out:
        raise DataError(f"{path}: no Omniglot images inside (expected ALPHABET/characterNN/*.png)")
    return out


def _read_folder(path: Path) -> dict[tuple[str, str], list[tuple[str, Path]]]:
    out: dict[tuple[str, str], list[tuple[str, Path]]] = defaultdict(list)
    for png in sorted(path.glob("*/*/*.png")):
        out[(png.parent.parent.name, png.parent.name)].append((str(png), png))
    if not out:
        raise DataError(f"{path}: no Omniglot images inside (expected ALPHABET/characterNN/*.png)")
    return out


def find_sets(root: Path) -> dict[str, Path]:
    """Which Omniglot sets are present under ``root``: set name -> zip or folder."""
    if not root.exists():
        raise DataError(f"data folder {root} does not exist; " + MISSING_HELP.format(root=root))
    found: dict[str, Path] = {}
    for base in (root, root / "omniglot-py"):
        for name in ALL_SETS:
            if name in found:
                continue
            if (base / name).is_dir() and any((base / name).iterdir()):
                found[name] = base / name
            elif (base / f"{name}.zip").is_file():
                found[name] = base / f"{name}.zip"
    if not found:
        raise DataError(f"no Omniglot data in {root}; " + MISSING_HELP.format(root=root))
    return found


def omniglot_files(root: str | Path) -> list[Path]:
    """Every file the pool is decoded from (the zips, or the PNGs of extracted folders)."""
    files: list[Path] = []
    for path in find_sets(Path(root)).values():
        files += [path] if path.is_file() else sorted(path.glob("*/*/*.png"))
    return files


def load_omniglot(root: str | Path, rotations: bool = True, size: int = 28, frame: Frame = 0) -> ClassPool:
    """Decode every Omniglot set under ``root`` into one :class:`ClassPool` of ``size`` x ``size`` images
    (``frame``: each drawing cropped to its ink and centred, engine.data.images.image_to_tensor's)."""
    root = Path(root)
    sets = find_sets(root)
    images: list[torch.Tensor] = []
    labels: list[int] = []
    names: list[str] = []
    groups: list[str] = []
    origin: list[str] = []  # "background" or "evaluation" per class
    seen: set[str] = set()
    for set_name, path in sets.items():
        entries = _read_zip(path) if path.suffix == ".zip" else _read_folder(path)
        kind = "evaluation" if set_name in EVALUATION else "background"
        for (alphabet, character), files in sorted(entries.items()):
            if f"{alphabet}/{character}" in seen:
                continue  # small1/small2 overlap the full background set
            seen.add(f"{alphabet}/{character}")
            decoded = torch.stack(
                [image_to_tensor(open_image(src, name), invert=True, size=size, frame=frame)
                 for name, src in files]
            )
            for k in range(4 if rotations else 1):
                cls = len(names)
                images.append(torch.rot90(decoded, k, dims=(1, 2)))
                labels.extend([cls] * len(files))
                names.append(f"{alphabet}/{character}" + (f"/rot{90 * k}" if k else ""))
                groups.append(alphabet)
                origin.append(kind)
    splits = _omniglot_splits(groups, origin)
    return ClassPool(
        images=torch.cat(images).contiguous(),
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=names,
        class_groups=groups,
        splits=splits,
        name="omniglot",
        framed=frame if isinstance(frame, MomentFraming) else float(frame),
    )


def _omniglot_splits(groups: list[str], origin: list[str]) -> dict[str, list[int]]:
    background = sorted({g for g, o in zip(groups, origin) if o == "background"})
    evaluation = sorted({g for g, o in zip(groups, origin) if o == "evaluation"})
    if evaluation and background:
        held = split_groups(background, fractions=(0.15, 0.0))
        val = set(held.get("val", [])) | set(held.get("test", []))
        by_split = {"train": set(background) - val, "val": val, "test": set(evaluation)}
    else:
        alphabets = background or evaluation
        parts = split_groups(alphabets)
        if not parts:
            raise DataError(
                f"only {len(alphabets)} alphabet(s) found; a split by alphabet needs at least 3 "
                "(add images_background_small1.zip or the full background set)"
            )
        by_split = {k: set(v) for k, v in parts.items()}
    return {s: [i for i, g in enumerate(groups) if g in members] for s, members in by_split.items()}
