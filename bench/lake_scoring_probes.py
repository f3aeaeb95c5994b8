"""Rescore the lake recipe's leave-one-alphabet-out checkpoints three other ways, without training again
(issue #18's ablation; each a test-time change, each query still scored on its own with the support set):

- ``mhd``: the recipe's logits joined by Lake et al.'s classical measure, the modified Hausdorff distance
  (Dubuisson & Jain 1994) between the ink points of a query and a training drawing, framed as the model reads
  them at 56x56; each score standardised over the classes, the distance's at weight 0.1 to 0.5.
- ``views head``: the head's 10 (or 30, 100) steps fitted on each test-time view of a support drawing as an
  example of its own, rather than on the views' mean feature.
- ``emd``: the local maps scored by an optimal transport between a query's places and a drawing's (entropic,
  Sinkhorn; uniform masses, as DeepEMD without its cross-reference weights: Zhang et al., CVPR 2020) instead of
  DN4's nearest place, on both maps or on the last one alone.

    python bench/lake_ablation.py --runs /tmp/loao --variant lake+composed --episodes 0 --save /tmp/abl16
    python bench/lake_scoring_probes.py /tmp/abl16 /tmp/loao [--pattern 'lake+composed-*.pt'] [--probes views]

Checkpoints are scored with local matching on both maps (the recipe's, whatever they were trained with).
Errors (inductive, 20-way 1-shot within the alphabet) are printed in percent per fold, then the mean over the
folds.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.algorithms.finetune import fit_logistic_regression  # noqa: E402
from engine.algorithms.local_match import _farther_than, local_similarity, split_places, standardised  # noqa: E402
from engine.algorithms.protohead import prototype_head  # noqa: E402
from engine.augment import apply_views  # noqa: E402
from engine.challenge import load_runs  # noqa: E402
from engine.models import with_support  # noqa: E402
from engine.trainer import restore  # noqa: E402


def ink_points(image: torch.Tensor) -> torch.Tensor:
    """[n, 2] (row, column) of the pixels of a [1, H, W] image brighter than half."""
    return torch.nonzero(image[0] > 0.5).float()


def modified_hausdorff(a: torch.Tensor, b: torch.Tensor) -> float:
    d = torch.cdist(a, b)
    return float(torch.maximum(d.amin(1).mean(), d.amin(0).mean()))


def sinkhorn_similarity(query_maps: torch.Tensor, support_maps: torch.Tensor, radius: int | None = None,
                        eps: float = 0.05, iterations: int = 60) -> torch.Tensor:
    """[queries, supports]: the cosine summed over an entropic optimal transport between the places of a query's
    map and a drawing's (uniform masses), averaged over the views. With ``radius`` a place may send its mass only
    within that many rows and columns of where it is."""
    q, s = F.normalize(query_maps, dim=2), F.normalize(support_maps, dim=2)
    cos = torch.einsum("qvcp,svcr->qsvpr", q, s)
    places, others = cos.shape[-2:]
    cost = 1 - cos
    if radius is not None:
        cost = cost.masked_fill(_farther_than(int(places**0.5), radius), 3.0)
    kernel = torch.exp(-cost / eps)
    a, b = cos.new_full(cos.shape[:-1], 1 / places), cos.new_full(cos.shape[:-2] + (others,), 1 / others)
    return (transport_plan(kernel, a, b, iterations) * cos).sum((-1, -2)).mean(2)


def transport_plan(kernel: torch.Tensor, a: torch.Tensor, b: torch.Tensor, iterations: int) -> torch.Tensor:
    """[..., n, m]: the entropic transport plan between masses ``a`` [..., n] and ``b`` [..., m] for ``kernel``
    (``exp(-cost / eps)``), by ``iterations`` of Sinkhorn's scalings."""
    u, v = torch.ones_like(a), torch.ones_like(b)
    for _ in range(iterations):
        u = a / (kernel @ v.unsqueeze(-1)).squeeze(-1).clamp_min(1e-30)
        v = b / (kernel.transpose(-1, -2) @ u.unsqueeze(-1)).squeeze(-1).clamp_min(1e-30)
    return u.unsqueeze(-1) * kernel * v.unsqueeze(-2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("save", help="bench/lake_ablation.py --save's folder")
    ap.add_argument("runs_root", help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--pattern", default="*.pt", help="which checkpoints of the folder (a glob)")
    ap.add_argument("--probes", default="mhd,emd,views", help="which of mhd, emd and views to score (comma-separated)")
    args = ap.parse_args()
    probes = set(args.probes.split(","))
    totals: dict[str, list[float]] = {}
    for ck in sorted(glob.glob(os.path.join(args.save, args.pattern))):
        alphabet = os.path.basename(ck).rsplit("-", 1)[1][:-3]
        algo, config, _ = restore(ck)
        algo.config = replace(algo.config, local_match=True, local_levels=2)
        runs_dir = f"{args.runs_root}/{alphabet}"
        runs = load_runs(runs_dir, config.image_size, config.frames_ink)
        inked = load_runs(runs_dir, 56, config.frames_ink) if "mhd" in probes else [None] * len(runs)
        per_view = algo.normalized(algo.model.features)
        errors: dict[str, list[float]] = {}

        def count(name: str, scores: torch.Tensor, truth: torch.Tensor) -> None:
            errors.setdefault(name, []).append((scores.argmax(1) != truth).float().mean().item())

        for run, big in zip(runs, inked):
            n = len(run.support_x)
            y = torch.arange(n)
            learner = algo.adapt(run.support_x, y)  # (a LocalMatchLearner around the Proto-head's LinearProbe)
            with torch.no_grad():
                logits = learner.logits(run.query_x)
                count("recipe", logits, run.query_y)
                if "mhd" in probes:
                    supports = [ink_points(x) for x in big.support_x]
                    mhd = torch.tensor([[-modified_hausdorff(ink_points(q), s) for s in supports]
                                        for q in big.query_x])
                    for weight in (0.1, 0.2, 0.3, 0.5):
                        count(f"mhd {weight}", standardised(logits) + weight * standardised(mhd), run.query_y)
            if "emd" in probes:
                with torch.no_grad():
                    base = learner.base.logits(run.query_x)
                    spread = base.std(1, keepdim=True)
                    maps = with_support(learner.maps, run.support_x, run.query_x)
                    last, _ = split_places(maps.shape[3])
                    coarse, fine = maps[..., :last], maps[..., last:]
                    dn4_fine = standardised(local_similarity(fine[n:], fine[:n], y, n, radius=1))
                    emd_coarse = standardised(sinkhorn_similarity(coarse[n:], coarse[:n]))
                    emd_fine = standardised(sinkhorn_similarity(fine[n:], fine[:n], radius=1))
                    count("emd both maps", base + spread * (emd_coarse + emd_fine) / 2, run.query_y)
                    count("emd last map, dn4 finer", base + spread * (emd_coarse + dn4_fine) / 2, run.query_y)
            if "views" not in probes:
                continue
            with torch.no_grad():
                views = [per_view(v) for v in [run.support_x, *apply_views(run.support_x, *learner.maps.maps)]]
            init = prototype_head(learner.base.support_embedding, y, n)  # (the views' mean, adapt's own start)
            for steps in (10, 30, 100):
                learner.base.head = fit_logistic_regression(torch.cat(views), y.repeat(len(views)), n, steps,
                                                            algo.config.inner_lr, init=init)
                with torch.no_grad():
                    count(f"views head {steps}", learner.logits(run.query_x), run.query_y)
        print(alphabet, {k: round(100 * statistics.fmean(v), 2) for k, v in errors.items()}, flush=True)
        for k, v in errors.items():
            totals.setdefault(k, []).append(statistics.fmean(v))
    for k, v in totals.items():
        print(f"{k}: mean {100 * statistics.fmean(v):.2f}")


if __name__ == "__main__":
    main()
