"""Lake et al.'s Omniglot one-shot classification challenge: 20 runs of 20-way 1-shot.

Each run folder ``runNN`` holds ``training/classKK.png`` (one example of each
of 20 characters of one alphabet), ``test/itemMM.png`` (20 new drawings) and
``class_labels.txt`` whose lines read ``runNN/test/itemMM.png
runNN/training/classKK.png``. Accepted as a folder of run folders or as
``all_runs.zip``. Reference: Lake, Salakhutdinov & Tenenbaum, Science 2015.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

import torch

from .algorithms import Algorithm
from .data.base import DataError
from .data.images import image_to_tensor, open_image
from .framing import Frame
from .tasks import to_float

MAX_ENTRY_BYTES = 16_000_000  # a run image is ~1 kB
RUN_RE = re.compile(r"(?:^|/)(run\d+)/class_labels\.txt$")


@dataclass(frozen=True)
class ChallengeRun:
    name: str
    support_x: torch.Tensor  # [20, 1, S, S] (S: the size asked for, 28 by default), class k at index k
    query_x: torch.Tensor  # [20, 1, S, S]
    query_y: torch.Tensor  # [20] index of the true training class


def _build_run(name: str, labels_text: str, read: "callable", size: int = 28, frame: Frame = 0) -> ChallengeRun:
    pairs = [line.split() for line in labels_text.splitlines() if line.strip()]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise DataError(f"{name}/class_labels.txt: expected lines 'runNN/test/itemMM.png runNN/training/classKK.png'")
    classes = sorted({p[1] for p in pairs})
    index = {c: i for i, c in enumerate(classes)}
    load = lambda rel: image_to_tensor(open_image(read(rel), name=rel), invert=True, size=size, frame=frame)  # noqa: E731
    support = torch.stack([load(c) for c in classes])
    query = torch.stack([load(p[0]) for p in pairs])
    return ChallengeRun(name, to_float(support), to_float(query), torch.tensor([index[p[1]] for p in pairs]))


def _read_entry(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """One zip entry, read in memory (nothing is extracted); zip bombs are refused before unpacking."""
    if zf.getinfo(name).file_size > MAX_ENTRY_BYTES:
        raise DataError(f"{path}: {name} unpacks to more than {MAX_ENTRY_BYTES:,} bytes; not a challenge file")
    return zf.read(name)


def load_runs(path: str | Path, size: int = 28, frame: Frame = 0) -> list[ChallengeRun]:
    """Read every run from a folder of ``runNN`` folders or from ``all_runs.zip``, at ``size`` x ``size``
    (a model's ``image_size``: Lake's drawings are 105x105), each drawing cropped to its ink and centred
    when ``frame`` (a model's ``frame_ink``: as its training drawings were)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist; give the folder of run01..run20 or all_runs.zip")
    runs = []
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                for entry in sorted(names):
                    m = RUN_RE.search(entry)
                    if not m:
                        continue
                    root = str(PurePosixPath(entry).parent.parent)
                    prefix = "" if root == "." else root + "/"

                    def read(rel: str, zf=zf, prefix=prefix) -> bytes:
                        if prefix + rel not in names:
                            raise DataError(f"{path}: {rel} is listed in class_labels.txt but missing from the zip")
                        return _read_entry(zf, prefix + rel, path)

                    labels = _read_entry(zf, entry, path).decode("utf-8", "replace")
                    runs.append(_build_run(m.group(1), labels, read, size, frame))
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise DataError(f"{path} is not a readable zip archive ({exc.__class__.__name__})") from None
    else:
        def read_file(rel: str) -> Path:
            target = path / rel
            if PurePosixPath(rel).is_absolute() or not target.resolve().is_relative_to(path.resolve()):
                raise DataError(f"{path}: class_labels.txt names {rel!r}, which is outside the runs folder")
            return target

        for labels in sorted(path.glob("run*/class_labels.txt")):
            text = labels.read_text(encoding="utf-8", errors="replace")
            runs.append(_build_run(labels.parent.name, text, read_file, size, frame))
    if not runs:
        raise DataError(f"no runNN/class_labels.txt found in {path}")
    return runs


def run_challenge(
    algo: Algorithm, runs: list[ChallengeRun], device: torch.device | str = "cpu", steps: int | None = None,
    on_run: Callable[[int, int], None] | None = None,
) -> dict:
    """Error rate per run and averaged over runs, as fractions in [0, 1]; ``on_run(done, total)`` after each run
    (the lake recipe, its template distance included, takes about 6 s a run on 2 cores)."""
    per_run = []
    for run in runs:
        support_y = torch.arange(len(run.support_x), device=device)
        learner = algo.adapt(run.support_x.to(device), support_y, steps=steps)
        with torch.no_grad():
            pred = learner.logits(run.query_x.to(device)).argmax(-1).cpu()
        per_run.append((pred != run.query_y).float().mean().item())
        if on_run is not None:
            on_run(len(per_run), len(runs))
    return {"error_rate": sum(per_run) / len(per_run), "runs": len(per_run), "per_run": per_run}
