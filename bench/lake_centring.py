"""Rescore leave-one-alphabet-out checkpoints on their fold's Lake-format runs three ways: nearest mean,
nearest mean after centring on the support set's mean feature (SimpleShot's CL2N, from the 20 training
drawings only, so still inductive), and the learner's own adaptation (issue #18's ablation).

    python bench/lake_ablation.py --runs /tmp/loao --variant augment --minutes 2 --episodes 0 --save /tmp/abl
    python bench/lake_centring.py /tmp/abl /tmp/loao

Checkpoints are the ``--save`` folder's ``*-ALPHABET.pt``; errors are printed in percent per fold, then
the mean and sample standard deviation over the folds.
"""

from __future__ import annotations

import glob
import os
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.challenge import load_runs  # noqa: E402
from engine.models import with_support  # noqa: E402
from engine.trainer import restore  # noqa: E402


def main() -> None:
    save, runs_root = sys.argv[1], sys.argv[2]
    totals: dict[str, list[float]] = {"plain": [], "centred": [], "learner": []}
    for ck in sorted(glob.glob(f"{save}/*.pt")):
        alphabet = os.path.basename(ck).split("-", 1)[1][:-3]
        algo, config, _ = restore(ck)
        embed = algo.embedding()
        errors: dict[str, list[float]] = {k: [] for k in totals}
        for run in load_runs(f"{runs_root}/{alphabet}", config.image_size, config.frames_ink):
            n = len(run.support_x)
            with torch.no_grad():
                features = with_support(embed, run.support_x, run.query_x)
                support, query = features[:n], features[n:]
                for name, centre in (("plain", 0), ("centred", support.mean(0))):
                    s, q = F.normalize(support - centre, dim=1), F.normalize(query - centre, dim=1)
                    errors[name].append((torch.cdist(q, s).argmin(1) != run.query_y).float().mean().item())
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
