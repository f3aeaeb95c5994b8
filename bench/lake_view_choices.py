"""Rescore the lake recipe's saved fold models with other test-time choices, without training again (issue #18).

Each setting is a comma-separated list of ``name=value``, settings separated by ``;``:

- ``strength``: the test-time views' affine ranges times this (training's augmentation uses 2; the views 1);
- ``elastic``: each view also a fixed smooth wobble of up to this (grid units; training's is 0.08);
- ``copies``: how many views (the model's own: 8);
- ``w``: the places' standardised similarity joined to the nearest-mean logits at this weight (1);
- ``steps``, ``lr``: the head's adaptation steps and their rate (10 and 0.01);
- ``hub``: each class's score lowered by this times how strongly its training drawing attracts the run's other
  training drawings (scored as queries; each row standardised over the other classes, a class's pull its column's
  mean), in units of the query's own spread over the classes (0: off): a
  correction for hubs, as CSLS (Lample et al. 2018) and BPL's -log P(train) term make one; supports only.

Every view is still one fixed map for every image, so a query's score depends only on the run's 20 training
drawings and itself (inductive, as ``omniglot-challenge`` scores it).

    python bench/lake_view_choices.py --runs /tmp/loao100 --models '/tmp/abl18/it12k/lake+episode+alphabet-{}.pt' \\
        --settings 'strength=1;strength=1.5;elastic=0.04'

Each setting's line on stdout is JSON: the errors as fractions, per fold and their mean.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine.algorithms.local_match as local_match  # noqa: E402
import engine.algorithms.simpleshot as simpleshot  # noqa: E402
from engine import augment  # noqa: E402
from engine.challenge import load_runs, run_challenge  # noqa: E402
from engine.models import input_size  # noqa: E402
from engine.trainer import restore  # noqa: E402

ALPHABETS = "Balinese,Early_Aramaic,Greek,Korean,Latin"


def _pull(scores: torch.Tensor) -> torch.Tensor:
    """[ways] how strongly each class draws the other training drawings ([ways, ways] scores, row i the drawing of
    class i): each row standardised without its own class, a column's mean over the other rows, then standardised
    over the classes."""
    ways = scores.shape[0]
    off = ~torch.eye(ways, dtype=torch.bool)
    others = scores[off].view(ways, ways - 1)
    z = torch.zeros_like(scores)
    z[off] = ((others - others.mean(1, keepdim=True)) / others.std(1, keepdim=True).clamp_min(1e-8)).flatten()
    cols = z.T[off].view(ways, ways - 1)  # row c: the other drawings' standardised scores for class c
    pull = cols.mean(1)
    return (pull - pull.mean()) / pull.std().clamp_min(1e-8)


def use_choices(strength: float = 1.0, elastic: float = 0.0, copies: int | None = None, w: float = 1.0,
                hub: float = 0.0) -> None:
    """Make the learners' views and the places' weight those of one setting (the modules' own names patched)."""

    def view_maps(views: int, seed: int = 0, strokes: bool = False):
        views = views if copies is None else copies
        return augment._thetas(views, torch.Generator().manual_seed(seed), strength), (0,) * views

    def apply_views(images: torch.Tensor, thetas: torch.Tensor, widths: tuple[int, ...]) -> torch.Tensor:
        if not elastic or len(widths) == 0:  # the engine's own views
            return augment.apply_views(images, thetas, widths)
        n, (h, wd) = images.shape[0], images.shape[-2:]
        offsets = augment._elastic_offsets(len(widths), h, wd, elastic, torch.Generator().manual_seed(1))
        return torch.stack([augment._warp(images, theta.expand(n, 2, 3), offsets[i:i + 1].expand(n, h, wd, 2))
                            for i, theta in enumerate(thetas)])

    def scored(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return logits + w * logits.detach().std(1, keepdim=True) * self.similarity(x)

    def joined(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.ways < 2:
            return logits
        out = scored(self, logits, x)
        if hub:
            assert torch.equal(self.support_y.cpu(), torch.arange(self.ways)), "one drawing a class, in class order"
            support = scored(self, self.base.logits(self.support_x), self.support_x)
            out = out - hub * out.detach().std(1, keepdim=True) * _pull(support)
        return out

    for module in (local_match, simpleshot):
        module.view_maps, module.apply_views = view_maps, apply_views
    local_match.LocalMatchLearner._joined = joined


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--models", required=True, help="each fold's checkpoint, '{}' for the alphabet")
    ap.add_argument("--settings", required=True, help="e.g. 'strength=1.5;elastic=0.04,copies=16;w=2;steps=30'")
    ap.add_argument("--folds", default=ALPHABETS)
    args = ap.parse_args()
    for setting in args.settings.split(";"):
        chosen = {k: float(v) for k, v in (kv.split("=") for kv in setting.split(","))}
        use_choices(chosen.get("strength", 1.0), chosen.get("elastic", 0.0),
                    int(chosen["copies"]) if "copies" in chosen else None, chosen.get("w", 1.0),
                    chosen.get("hub", 0.0))
        errors, began = {}, time.perf_counter()
        for alphabet in args.folds.split(","):
            algo, _, _ = restore(args.models.format(alphabet), torch.device("cpu"))
            if "steps" in chosen or "lr" in chosen:
                algo.config = replace(algo.config, inner_steps=int(chosen.get("steps", algo.config.inner_steps)),
                                      inner_lr=chosen.get("lr", algo.config.inner_lr))
            runs = load_runs(args.runs / alphabet, input_size(algo.model), algo.config.frame_ink)
            errors[alphabet] = run_challenge(algo, runs, torch.device("cpu"))["error_rate"]
        print(json.dumps({"setting": setting, "models": args.models, "runs": str(args.runs),
                          "protocol": "inductive, 20-way 1-shot within one alphabet",
                          "error_mean": sum(errors.values()) / len(errors), "errors": errors,
                          "seconds": round(time.perf_counter() - began, 1)}), flush=True)


if __name__ == "__main__":
    main()
