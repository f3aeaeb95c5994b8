"""Rescore leave-one-alphabet-out checkpoints on their fold's Lake-format runs, without training again:
nearest mean; nearest mean after centring on the support set's mean feature (SimpleShot's CL2N, from the 20
training drawings only, so still inductive); nearest mean over the last block's features joined to the block
before it (averaged over its map; each part unit length), for finer detail than the last block keeps; and the
learner's own adaptation (issue #18's ablation).

    python bench/lake_ablation.py --runs /tmp/loao --variant augment --minutes 2 --episodes 0 --save /tmp/abl
    python bench/lake_centring.py /tmp/abl /tmp/loao [--pattern 'lake+frame-*.pt'] [--views 16]

Checkpoints are the ``--save`` folder's ``*-ALPHABET.pt`` (or those ``--pattern`` matches); each is scored
with its own test-time views, or ``--views`` of them. Errors (inductive, 20-way 1-shot within the alphabet)
are printed in percent per fold, then the mean and sample standard deviation over the folds.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.algorithms.simpleshot import ViewMean  # noqa: E402
from engine.challenge import load_runs  # noqa: E402
from engine.models import with_support  # noqa: E402
from engine.trainer import restore  # noqa: E402


class TwoBlocks(nn.Module):
    """The last block's features beside the block before it (averaged over its map), each unit length."""

    def __init__(self, blocks: nn.Sequential) -> None:
        super().__init__()
        self.blocks = blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == len(self.blocks) - 3:  # (the blocks end with the last conv block and Flatten)
                parts.append(F.normalize(x.mean((2, 3)), dim=1))
        return torch.cat([*parts, F.normalize(x.flatten(1), dim=1)], 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("save", help="bench/lake_ablation.py --save's folder")
    ap.add_argument("runs_root", help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--pattern", default="*.pt", help="which checkpoints of the folder (a glob)")
    ap.add_argument("--views", type=int, help="test-time views (default: each checkpoint's own)")
    args = ap.parse_args()
    totals: dict[str, list[float]] = {"plain": [], "centred": [], "two_blocks": [], "learner": []}
    for ck in sorted(glob.glob(os.path.join(args.save, args.pattern))):
        alphabet = os.path.basename(ck).rsplit("-", 1)[1][:-3]
        algo, config, _ = restore(ck)
        if args.views is not None:
            algo.config = replace(algo.config, tta=args.views)
        embed = algo.embedding()
        if isinstance(embed, ViewMean):
            two_blocks: nn.Module = ViewMean(TwoBlocks(embed.features), embed.views, embed.strokes)
        else:
            two_blocks = TwoBlocks(embed)
        errors: dict[str, list[float]] = {k: [] for k in totals}
        for run in load_runs(f"{args.runs_root}/{alphabet}", config.image_size, config.frames_ink):
            n = len(run.support_x)
            with torch.no_grad():
                features = with_support(embed, run.support_x, run.query_x)
                support, query = features[:n], features[n:]
                for name, centre in (("plain", 0), ("centred", support.mean(0))):
                    s, q = F.normalize(support - centre, dim=1), F.normalize(query - centre, dim=1)
                    errors[name].append((torch.cdist(q, s).argmin(1) != run.query_y).float().mean().item())
                joined = F.normalize(with_support(two_blocks, run.support_x, run.query_x), dim=1)
                errors["two_blocks"].append((torch.cdist(joined[n:], joined[:n]).argmin(1) != run.query_y)
                                            .float().mean().item())
                learner = algo.adapt(run.support_x, torch.arange(n))
                errors["learner"].append((learner.logits(run.query_x).argmax(-1) != run.query_y).float().mean().item())
        print(alphabet, {k: round(100 * statistics.fmean(v), 2) for k, v in errors.items()}, flush=True)
        for k in totals:
            totals[k].append(statistics.fmean(errors[k]))
    for k, v in totals.items():
        spread = f" sd {100 * statistics.stdev(v):.2f}" if len(v) > 1 else ""
        print(f"{k}: mean {100 * statistics.fmean(v):.2f}{spread}")


if __name__ == "__main__":
    main()
