"""Shared helpers for the benchmarks: data loading, machine description, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OMNIGLOT_DIR = REPO.parent / "shared" / "datasets" / "omniglot"


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads()}


def load_pool(name: str = "omniglot"):
    """Omniglot small1 from the shared folder, or the built-in glyphs."""
    from engine.data import load_source

    if name == "omniglot":
        if not (OMNIGLOT_DIR / "images_background_small1.zip").is_file():
            raise SystemExit(f"missing {OMNIGLOT_DIR}/images_background_small1.zip")
        return load_source("omniglot", OMNIGLOT_DIR)
    return load_source("synthetic")


def other_framing(frame):
    """The framing that is not ``frame``'s (engine.framing): by the ink's box for one by its moments, and the reverse,
    with the same stretch (issue #18's drawings read both ways)."""
    from engine.framing import BothFramings, MomentFraming

    if isinstance(frame, BothFramings):
        raise SystemExit("the model reads each drawing both ways already (--frame-both): there is no other framing")
    return float(frame.stretch) if isinstance(frame, MomentFraming) else MomentFraming(float(frame))


def read_both_ways(algo) -> None:
    """Have ``algo`` read each drawing framed both ways inside one learner, as ``--frame-both`` does, whatever its
    config says: a lake+both model (trained on both framings as separate drawings) then scores as the recipe's own.
    A model that reads both ways already is left as it is."""
    from dataclasses import replace

    from engine.framing import BothFramings, frame_stretch

    if not isinstance(algo.config.frame_ink, BothFramings):
        algo.config = replace(algo.config, frame_ink=BothFramings(frame_stretch(algo.config.frame_ink)))


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def emit(result: dict) -> None:
    """Print the result as one JSON object on the last line of stdout."""
    print(json.dumps(result))


def plain_conv4(ours):
    """The Conv-4 as usually written (nn.Conv2d 3x3, batch-statistics BN, ReLU, nn.MaxPool2d; NCHW
    throughout), holding ``ours``'s (engine.models.Conv4) weights: the parameter names match, so both
    compute the same function from the same starting point, ours in channels-last layout."""
    from torch import nn

    from engine.models import Flatten, TaskBatchNorm2d

    class PlainConv4(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks = [nn.Sequential(nn.Conv2d(cin, 64, 3, padding=1), TaskBatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
                      for cin in (1, 64, 64, 64)]
            self.features = nn.Sequential(*blocks, Flatten())
            self.head = nn.Linear(64, ours.head.out_features)

        def forward(self, x):
            return self.head(self.features(x))

    model = PlainConv4()
    model.load_state_dict(ours.state_dict())
    return model


def add_accuracy_check_args(ap, algo: str = "maml") -> None:
    """The protocol the accuracy checks share (bench/precision.py, bench/layout_check.py): train the same
    initial weights on the same episodes for the same iterations, then score the same fixed episodes."""
    ap.add_argument("--algo", default=algo)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--meta-batch", type=int, default=32)
    ap.add_argument("--episodes", type=int, default=300)


def train_and_score(label: str, config, pool, val, algo, result: dict) -> None:
    """Meta-train ``algo`` in place as ``config`` says, score it on the ``val`` episodes, and record
    ``{label}_tasks_per_s``, ``{label}_val_acc`` and ``{label}_val_ci95`` in ``result``."""
    from engine.events import Finished
    from engine.trainer import evaluate, run

    finished = [e for e in run(config, pool=pool, algo=algo) if isinstance(e, Finished)][0]
    acc, ci = evaluate(algo, val, "cpu")
    result[f"{label}_tasks_per_s"] = round(finished.tasks_per_second, 2)
    result[f"{label}_val_acc"] = acc
    result[f"{label}_val_ci95"] = ci
    print(
        f"{label}: {finished.tasks_per_second:.2f} tasks/s, validation {100 * acc:.2f}% +- {100 * ci:.2f}", flush=True
    )
