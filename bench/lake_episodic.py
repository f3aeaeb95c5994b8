"""Lake's challenge: whole-class training, then episodes shaped like Lake's runs (a "Meta-Baseline" finish).

The `lake` recipe trains an ordinary classifier over every training class, on batches of 32 classes from
anywhere; a run of the challenge is 20 characters of ONE alphabet, one drawing each, and the network's
BatchNorm takes its statistics from those 20 drawings. This script spends the first part of a budget on
the recipe's training (bench/lake_ablation.py's variant) and the rest on episodes shaped like a run:
20 classes of one training alphabet (rotations and mirror images included, as the recipe trains them),
one drawing each as the support set, BatchNorm statistics from the episode's drawings (one alphabet's, as
scoring takes them from a run's 20 training drawings; engine.models.with_support's support-only statistics
are not differentiable), queries classified by the nearest normalised class mean (the rule the recipe scores
with), the backbone updated by Adam on the queries' cross-entropy with a learning rate decaying to 0.
Chen et al., "Meta-Baseline: Exploring Simple Meta-Learning for Few-Shot Learning", ICCV 2021, do the
same after a classifier's training.

    python bench/lake_episodic.py --runs /tmp/loao --folds Balinese --class-minutes 20 --episode-minutes 10 \
        --save /tmp/abl8 [--from-checkpoint F]

The last line of stdout is the JSON summary (error rates and accuracies as fractions), as lake_ablation's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from common import OMNIGLOT_DIR, emit, machine
from lake_ablation import VARIANTS, fold_pool, score, train_fold


def episodic_finish(algo, fold, config, seconds: float, ways: int, queries: int, lr: float, seed: int = 1):
    """Train ``algo``'s backbone on within-alphabet ``ways``-way 1-shot episodes for ``seconds``; (steps, loss)."""
    import torch
    import torch.nn.functional as F

    from engine.algorithms.protonet import compute_prototypes, squared_distances
    from engine.tasks import TaskSampler

    fold = fold.framings_as_drawings()  # (a fold read both ways trains on each way as another drawing)
    pool = fold.with_mirrored_classes("train") if config.mirrors else fold
    sampler = TaskSampler(pool, "train", ways, 1, queries, seed=seed, same_group=True, augment=config.augment,
                          strength=config.augment_strength, elastic=config.augment_elastic)
    backbone = algo.model.features
    features = algo.normalized(backbone)  # unit length times sqrt(DISTANCE_SCALE): the scoring rule's logits
    optimizer = torch.optim.Adam(backbone.parameters(), lr=lr)
    began, step, loss = time.perf_counter(), 0, float("nan")
    while (elapsed := time.perf_counter() - began) < seconds:
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * elapsed / seconds))
        task = sampler.episode(step)
        emb = features(torch.cat([task.support_x, task.query_x]))  # (batch statistics over the episode)
        n = len(task.support_x)
        logits = -squared_distances(emb[n:], compute_prototypes(emb[:n], task.support_y, ways))
        value = F.cross_entropy(logits, task.query_y)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        step, loss = step + 1, value.item()
    return step, loss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--variant", choices=VARIANTS, default="lake+frame", help="the first part's training")
    ap.add_argument("--folds", default="", help="comma-separated alphabets (default: all five)")
    ap.add_argument("--class-minutes", type=float, default=20.0)
    ap.add_argument("--episode-minutes", type=float, default=10.0)
    ap.add_argument("--ways", type=int, default=20)
    ap.add_argument("--queries", type=int, default=5, help="per class")
    ap.add_argument("--lr", type=float, default=0.0005, help="Adam's rate at the start of the episodes")
    ap.add_argument("--tta", type=int, default=8)
    ap.add_argument("--episodes", type=int, default=300, help="5-way / 20-way scoring episodes per fold (0: none)")
    ap.add_argument("--save", type=Path, help="keep each fold's checkpoints (before and after) in this folder")
    ap.add_argument("--from-checkpoint", default="", help="skip the first part: start from these weights "
                    "(a lake_ablation --save checkpoint; FOLD in the name is replaced by the fold's alphabet)")
    args = ap.parse_args()

    import torch

    from engine.build import build_model_and_algorithm
    from engine.checkpoint import save_checkpoint
    from engine.config import TrainConfig
    from engine.data import load_source
    from engine.recipes import recipe
    from engine.trainer import restore

    settings = dict(VARIANTS[args.variant])
    base = recipe(settings.pop("recipe", "quick"))
    config = TrainConfig(**{**base, "dataset": "omniglot", "data_root": str(OMNIGLOT_DIR), "iterations": 10**7,
                            "time_budget": args.class_minutes * 60, "val_every": 0, "train_on": "split",
                            **settings}).validate()
    device = torch.device("cpu")
    pool = load_source("omniglot", OMNIGLOT_DIR, image_size=config.image_size, frame=config.frames_ink)
    alphabets = args.folds.split(",") if args.folds else sorted(set(pool.class_groups))
    name = f"{args.variant}+episodes{args.ways}"
    folds = []
    for alphabet in alphabets:
        fold = fold_pool(pool, alphabet)
        if args.from_checkpoint:
            algo, config, payload = restore(args.from_checkpoint.replace("FOLD", alphabet), device)
            iterations, loss, class_s = int(payload.get("iteration", 0)), float("nan"), float("nan")
        else:
            first = config.replace(checkpoint=str(args.save / f"{args.variant}-{args.class_minutes:g}min-{alphabet}.pt")
                                   if args.save else None)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
            algo = build_model_and_algorithm(first, device)
            iterations, loss, class_s = train_fold(first, fold, algo)
        before = score(algo, fold, args.runs / alphabet, config.image_size, args.tta, args.episodes, device)
        began = time.perf_counter()
        steps, episode_loss = episodic_finish(algo, fold, config, args.episode_minutes * 60, args.ways,
                                              args.queries, args.lr)
        episode_s = time.perf_counter() - began
        if args.save:
            save_checkpoint(args.save / f"{name}-{alphabet}.pt", config=config.to_dict(),
                            model_state=algo.model.state_dict(), extra_state=algo.extra_state(),
                            iteration=iterations + steps)
        result = {"alphabet": alphabet, "train_minutes": (class_s + episode_s) / 60, "iterations": iterations,
                  "last_loss": loss, "episode_steps": steps, "last_episode_loss": episode_loss,
                  **{f"before_episodes_{k}": v for k, v in before.items()},
                  **score(algo, fold, args.runs / alphabet, config.image_size, args.tta, args.episodes, device)}
        print(json.dumps(result), file=sys.stderr, flush=True)
        folds.append(result)
    emit({"variant": name, "class_minutes": args.class_minutes, "episode_minutes": args.episode_minutes,
          "ways": args.ways, "queries": args.queries, "lr": args.lr, "protocol": "inductive unless named",
          "task": "Lake-format runs: 20-way 1-shot within one alphabet, 20 runs per held-out alphabet",
          "folds": folds, "machine": machine()})


if __name__ == "__main__":
    main()
