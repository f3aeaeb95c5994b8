"""Export an adapted classifier to one file that plain PyTorch loads, without this project.

The file is a ``torch.export`` program (``torch.export.save``; TorchScript is
deprecated in torch 2.x) with a metadata JSON beside it in the same archive::

    import json, torch
    extra = {"meta_playground.json": ""}
    program = torch.export.load("shapes.pt2", extra_files=extra)
    info = json.loads(extra["meta_playground.json"])   # class names, input description
    probs = program.module()(images)                    # uint8 [n, 28, 28] -> float [n, ways]

What it holds: the backbone's weights and what adaptation produced, as
constants of the program (the support set and, for MAML-family learners, the
adapted weights; prototype learners recompute class means from the support
set in the graph), the class names, and a description of the input.

Input: ``uint8 [n, 28, 28]``, strokes bright on a dark background, which is
what :func:`engine.data.images.load_image` makes of any image file (grey,
inverted when the border is light, resized to 28x28). The program turns it
into the model's float input itself. Output: class probabilities
``float32 [n, ways]``; ``n`` is a dynamic dimension.

Exactness: the program is a trace of the adapted learner's *own* scoring
(:class:`LearnerScores` calls ``learner.logits`` then softmax), so it does
whatever the learner does, including how BatchNorm statistics are taken. It
is traced with the convolutions in the default (NCHW) layout; the learner
switches large CPU batches (support + queries >= 32) to channels-last, which
moves probabilities by float32 rounding only (engine/models.py).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .algorithms.base import Learner
from .checkpoint import atomic_write
from .data.base import DataError
from .data.images import FRAME_FILL, MOMENT_SPREAD
from .framing import BY_BOTH, BY_MOMENTS, BothFramings, Frame, frame_stretch, framed_by
from .models import use_channels_last
from .tasks import to_float

FORMAT = "meta-playground-classifier"
VERSION = 2  # the newest format read: 2 is a file whose input is two channels, a drawing framed both ways
META_NAME = "meta_playground.json"
INPUT = {
    "dtype": "uint8",
    "shape": ["n", 28, 28],
    "meaning": "grey images, strokes bright on a dark background, 0-255",
    "from_a_file": (
        "convert to 8-bit grey (transparent areas as white paper); if the mean of the border pixels is above "
        "127, invert (255 - value); resize to 28x28 (box filter when shrinking, bilinear when enlarging)"
    ),
    "batching": (
        "any batch size; each image is scored on its own with the support set (BatchNorm statistics come from "
        "the support set alone), so a prediction never depends on the other images in the batch"
    ),
}
OUTPUT = {"dtype": "float32", "shape": ["n", "ways"], "meaning": "class probabilities, in the order of class_names"}
SUFFIX = ".pt2"


class LearnerScores(nn.Module):
    """uint8 images [n, 28, 28] (or [n, 2, 28, 28], framed both ways) -> probabilities [n, ways], by the adapted
    learner's own ``logits``."""

    def __init__(self, learner: Learner) -> None:
        super().__init__()
        self.learner = learner  # not a Module: its tensors become constants of the exported program

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.learner.logits(to_float(images)), dim=-1)


@dataclass(frozen=True)
class ExportSummary:
    """What was written."""

    path: str
    bytes: int
    ways: int
    class_names: tuple[str, ...]
    seconds: float
    format: str  # "torch.export" or "onnx"
    leaves_out: str = ""  # what of the app's scoring the file does not hold (:func:`exportable`), "" for nothing


def _cpu_learner(learner: Learner) -> Learner:
    """A private CPU copy in the NCHW layout (the window's learner is left untouched)."""
    copied = copy.deepcopy(learner)
    for value in vars(copied).values():
        if isinstance(value, nn.Module):
            use_channels_last(value, False)
            value.to("cpu")
        elif isinstance(value, torch.Tensor) and value.device.type != "cpu":
            raise DataError("export works from a CPU model; adapt on the CPU (--device cpu) and export again")
        elif isinstance(value, dict) and any(
            isinstance(v, torch.Tensor) and v.device.type != "cpu" for v in value.values()
        ):
            raise DataError("export works from a CPU model; adapt on the CPU (--device cpu) and export again")
    return copied


#: what an exported file says when the learner joined the deformable template distance (engine.deformation)
TEMPLATES_LEFT_OUT = ("the deformable template distance the app joins at weight {weight:g} is left out (its fit is "
                      "an optimisation, which a traced program cannot hold): the file's probabilities are the "
                      "network's alone and can differ from the app's")


def exportable(learner: Learner) -> tuple[Learner, str]:
    """The part of ``learner`` a traced program can hold, and what it leaves out ("" for nothing): a template join's
    base, whose fit of each query to each drawing is a loop of Adam steps."""
    from .algorithms.template_join import TemplateJoin

    if isinstance(learner, TemplateJoin):
        return learner.base, TEMPLATES_LEFT_OUT.format(weight=learner.weight)
    return learner, ""


def export_program(learner: Learner, example: torch.Tensor | None = None) -> torch.export.ExportedProgram:
    """Trace ``learner``'s scoring into a program with a dynamic batch dimension (less what :func:`exportable`
    takes out)."""
    module = LearnerScores(_cpu_learner(exportable(learner)[0])).eval()
    ways = (2,) if isinstance(getattr(learner, "frame_ink", 0), BothFramings) else ()  # (a drawing read two ways)
    example = example if example is not None else torch.zeros(3, *ways, 28, 28, dtype=torch.uint8)
    with torch.no_grad():
        return torch.export.export(module, (example,), dynamic_shapes={"images": {0: torch.export.Dim.DYNAMIC}})


FRAMED_FROM_A_FILE = (
    "as above, but before resizing crop to the ink (the rows and columns with a pixel above 10% brightness, after "
    f"any inversion) and centre it on a black square whose side is the ink's longer side over {FRAME_FILL}"
)


MOMENTS_FROM_A_FILE = (
    "as above, but before resizing centre the ink's centre of mass (each pixel weighed by its brightness, after any "
    f"inversion) on a black square whose side is {2 * MOMENT_SPREAD:g} times the ink's larger standard deviation "
    "along the rows or the columns"
)


BOTH_FROM_A_FILE = (
    "two channels, the image read twice: channel 0 {moments}; channel 1 {box}"
)


STRETCHED_FROM_A_FILE = (", the ink's shorter side first stretched (bilinear) up to {:g} times, never past the "
                         "longer side")


def _framed_from_a_file(by: str | None, stretch: float) -> str:
    """How a file is framed after it is read (``by``: engine.framing.framed_by's name of the framing)."""
    stretched = STRETCHED_FROM_A_FILE.format(stretch) if stretch > 1 else ""
    if by == BY_BOTH:
        return BOTH_FROM_A_FILE.format(moments=MOMENTS_FROM_A_FILE + stretched, box=FRAMED_FROM_A_FILE + stretched)
    return (MOMENTS_FROM_A_FILE if by == BY_MOMENTS else FRAMED_FROM_A_FILE) + stretched


def metadata(class_names: Sequence[str], source: dict | None = None, frame_ink: Frame = 0,
             leaves_out: str = "") -> dict:
    """The JSON stored beside the program: format marker, class names, input/output description
    (``frame_ink``: the model was trained on drawings framed to their ink, so a file is read that way; above 1,
    the ink's shorter side stretched up to that many times; a MomentFraming: framed by the ink's moments; a
    BothFramings: both ways, one channel each)."""
    stretch, by = frame_stretch(frame_ink), framed_by(frame_ink)
    return {
        "format": FORMAT,
        "version": VERSION if by == BY_BOTH else 1,  # (a reader of 1 would hand such a file one channel)
        "class_names": [str(n) for n in class_names],
        "frame_ink": bool(frame_ink),
        **({"frame_stretch": stretch} if frame_ink else {}),
        **({"frame_by": by} if by else {}),
        "input": INPUT | ({"from_a_file": INPUT["from_a_file"] + "; " + _framed_from_a_file(by, stretch)}
                          if frame_ink else {}) | ({"shape": ["n", 2, 28, 28]} if by == BY_BOTH else {}),
        "output": OUTPUT,
        "source": dict(source or {}),
        **({"leaves_out": leaves_out} if leaves_out else {}),
        "torch": torch.__version__,
        "load": f"torch.export.load(path, extra_files={{'{META_NAME}': ''}}).module()(images)",
    }


def export_learner(
    learner: Learner,
    class_names: Sequence[str],
    path: str | os.PathLike,
    source: dict | None = None,
) -> ExportSummary:
    """Write ``learner`` (adapted to ``class_names``, in label order) to ``path`` atomically."""
    if len(class_names) != learner.ways:
        raise DataError(f"{len(class_names)} class names for a classifier of {learner.ways} classes")
    began = time.perf_counter()
    program, leaves_out = export_program(learner), exportable(learner)[1]
    extra = {META_NAME: json.dumps(metadata(class_names, source, learner.frame_ink, leaves_out), indent=1,
                                   ensure_ascii=False)}
    atomic_write(path, lambda f: torch.export.save(program, f, extra_files=extra))
    return ExportSummary(
        str(path),
        Path(path).stat().st_size,
        learner.ways,
        tuple(map(str, class_names)),
        time.perf_counter() - began,
        "torch.export",
        leaves_out,
    )


# ---- ONNX: only where the packages are installed -------------------------------------------------


def onnx_status() -> tuple[bool, str]:
    """Whether ONNX export can run here, and if not, why (shown as the disabled option's tooltip)."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"ONNX export needs the {' and '.join(missing)} package(s): pip install onnx onnxscript"
    return True, "also write an .onnx file (opset chosen by torch.onnx)"


def export_onnx(learner: Learner, class_names: Sequence[str], path: str | os.PathLike) -> ExportSummary:
    """Write the same scoring as ONNX; class names go into the model's metadata_props."""
    ok, why = onnx_status()
    if not ok:
        raise DataError(why)
    began = time.perf_counter()
    program, leaves_out = export_program(learner), exportable(learner)[1]
    onnx_program = torch.onnx.export(program, dynamo=True)
    model = onnx_program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = META_NAME, json.dumps(metadata(class_names, frame_ink=learner.frame_ink,
                                                            leaves_out=leaves_out))
    data = model.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return ExportSummary(str(path), len(data), learner.ways, tuple(map(str, class_names)),
                         time.perf_counter() - began, "onnx", leaves_out)


# ---- reading an exported file back (predict --classifier) ----------------------------------------


@dataclass
class ExportedClassifier:
    """An exported file, loaded: ``probabilities(images)`` and its class names."""

    module: nn.Module
    class_names: list[str]
    info: dict

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [n, 28, 28] -> float [n, ways]."""
        return self.module(images)


def load_classifier(path: str | os.PathLike) -> ExportedClassifier:
    """Load and check an exported classifier; a foreign, damaged or truncated file is a :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"classifier file {path} does not exist; make one with `main.py export`")
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{path} is not an exported classifier (not a torch.export archive); make one with `main.py export`"
        )
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            meta_entry = next(
                (n for n in names if n.endswith("/extra/" + META_NAME) or n == "extra/" + META_NAME), None
            )
            if meta_entry is None:
                raise DataError(f"{path} is not a Meta Playground classifier (no {META_NAME} inside)")
            info = json.loads(z.read(meta_entry).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is damaged or truncated ({exc.__class__.__name__}); export it again") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise DataError(f"{path} is not a Meta Playground classifier (no '{FORMAT}' marker)")
    if int(info.get("version", 0)) > VERSION:
        raise DataError(f"{path} was written by a newer Meta Playground (format {info['version']})")
    names = info.get("class_names")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path} lacks its class names; export it again")
    # deserialising warns about a data-dependent size it no longer needs (from bincount): not the user's concern
    serde_log = logging.getLogger("torch._export.serde.serialize")
    level = serde_log.level
    serde_log.setLevel(logging.ERROR)
    try:
        program = torch.export.load(path)
    except Exception as exc:  # noqa: BLE001 - a damaged archive can fail anywhere inside the deserialiser
        detail = (str(exc).splitlines() or [exc.__class__.__name__])[0][:120]
        raise DataError(f"{path} is damaged or truncated ({detail}); export it again") from None
    finally:
        serde_log.setLevel(level)
    return ExportedClassifier(program.module(), names, info)
