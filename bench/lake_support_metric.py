"""Two test-time metrics for the pooled embedding, tried on leave-one-alphabet-out checkpoints (issue #18).

- ``weights``: each channel weighed by how much it varies between the run's 20 training drawings against how much
  it varies between the test-time views of one drawing (from the support set alone: inductive), to the power
  ``alpha``; 0 is the plain nearest normalised mean.
- ``whiten``: the normalised features whitened by the covariance of drawer-to-drawer differences, measured on
  Lake-shaped runs of the training alphabets (20 characters, one drawer's drawing against another's),
  regularised by ``lambda`` times its mean eigenvalue ("none" is the plain rule).

Each is scored alone (the pooled embedding's nearest mean over the checkpoint's views) and, with ``--joined``,
added to the checkpoint's place matching as the recipe joins it (the logits plus their spread times the places'
standardised similarity; no head steps). Prints JSON: per fold and the mean over folds, error as fractions.

    python bench/lake_support_metric.py --runs /tmp/loao 'DIR/lake+episode+alphabet-{}.pt' --rule weights --joined
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from common import OMNIGLOT_DIR, emit, machine

ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Korean", "Latin")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("pattern", help="checkpoint path with {} for the held-out alphabet")
    ap.add_argument("--rule", choices=("weights", "whiten"), required=True)
    ap.add_argument("--joined", action="store_true", help="join each rule to the checkpoint's place matching")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    from engine.algorithms.finetune import DISTANCE_SCALE
    from engine.augment import apply_views, view_maps
    from engine.challenge import load_runs
    from engine.data import load_source
    from engine.models import with_support
    from engine.trainer import restore

    settings = [0.0, 0.25, 0.5, 1.0] if args.rule == "weights" else [None, 1.0, 0.3, 0.1]

    def view_features(algo, views, s, q):
        """Each drawing's features under each view, [n, views + 1, D], for the support set and the queries."""
        fs, fq = [], []
        for vs, vq in zip([s, *apply_views(s, *views)], [q, *apply_views(q, *views)]):
            out = with_support(algo.model.features, vs, vq)
            fs.append(out[: len(s)])
            fq.append(out[len(s):])
        return torch.stack(fs, 1), torch.stack(fq, 1)

    def drawer_covariance(algo, views, pool, alphabet):
        """Covariance of one drawer's normalised features minus another's, on 20-character runs of each training
        alphabet (3 pairs of drawers a run, one run an alphabet and pair)."""
        g = torch.Generator().manual_seed(0)
        diffs = []
        for group in sorted(set(pool.class_groups) - {alphabet}):
            classes = [c for c, (a, n) in enumerate(zip(pool.class_groups, pool.class_names))
                       if a == group and "/" not in n.split("/", 1)[1]]
            for drawer in range(3):
                pick = [classes[i] for i in torch.randperm(len(classes), generator=g)[:20].tolist()]
                image = lambda c, k: pool.images[pool.members(c)[k]].float().div(255)[None]  # noqa: E731
                s = torch.stack([image(c, drawer) for c in pick])
                q = torch.stack([image(c, drawer + 10) for c in pick])
                fs, fq = view_features(algo, views, s, q)
                diffs.append(F.normalize(fq.mean(1), dim=1) - F.normalize(fs.mean(1), dim=1))
        d = torch.cat(diffs)
        return torch.linalg.eigh(d.T @ d / len(d))

    pool = None
    folds = []
    for alphabet in ALPHABETS:
        algo, config, _ = restore(args.pattern.format(alphabet))
        algo.model.eval()
        views = view_maps(config.tta, seed=0, strokes=config.augment_strokes)
        runs = load_runs(args.runs / alphabet, config.image_size, config.frames_ink)
        if args.rule == "whiten":
            if pool is None:
                pool = load_source("omniglot", OMNIGLOT_DIR, image_size=config.image_size, frame=config.frames_ink)
            with torch.no_grad():
                evals, evecs = drawer_covariance(algo, views, pool, alphabet)
        errors: dict[str, list[float]] = {str(v): [] for v in settings}
        for run in runs:
            s, q = run.support_x, run.query_x
            with torch.no_grad():
                fs, fq = view_features(algo, views, s, q)
                sim = algo.adapt(s, torch.arange(len(s)), steps=0).similarity(q) if args.joined else None
            ms, mq = fs.mean(1), fq.mean(1)
            for v in settings:
                if args.rule == "weights":
                    within, between = ((fs - ms[:, None]) ** 2).mean((0, 1)), ms.var(0)
                    w = (between / (within + 1e-6 * within.mean())) ** v
                    scale = (w / w.mean()).sqrt()
                    zs, zq = F.normalize(ms * scale, dim=1), F.normalize(mq * scale, dim=1)
                else:
                    zs, zq = F.normalize(ms, dim=1), F.normalize(mq, dim=1)
                    if v is not None:
                        whiten = evecs @ torch.diag((evals + v * evals.mean()) ** -0.5) @ evecs.T
                        zs, zq = zs @ whiten, zq @ whiten
                logits = -DISTANCE_SCALE * torch.cdist(zq, zs).pow(2)
                if sim is not None:
                    logits = logits + logits.std(1, keepdim=True) * sim
                errors[str(v)].append((logits.argmax(1) != run.query_y).float().mean().item())
        fold = {"alphabet": alphabet, "error": {k: statistics.fmean(e) for k, e in errors.items()}}
        print(fold, file=sys.stderr, flush=True)
        folds.append(fold)
    emit({"checkpoints": args.pattern, "rule": args.rule, "joined": args.joined,
          "setting": "alpha" if args.rule == "weights" else "lambda",
          "protocol": "inductive (weights from the support set; covariance from the training alphabets)",
          "task": "Lake-format runs: 20-way 1-shot within one alphabet, 20 runs per held-out alphabet",
          "error_mean": {str(v): statistics.fmean(f["error"][str(v)] for f in folds) for v in settings},
          "folds": folds, "machine": machine()})


if __name__ == "__main__":
    main()
