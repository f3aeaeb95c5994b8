"""Lake's one-shot challenge: a second opinion from a network that sees a query and a training drawing together.

The recipe embeds each drawing on its own and compares the embeddings (and their places). A pair verifier reads the
two drawings stacked as the two channels of one image (the "2-channel" network of Zagoruyko & Komodakis, CVPR 2015),
so its first layer already compares strokes pixel by pixel. It is trained on the fold's training alphabets: a
drawing beside another drawing of its character (by another drawer) and beside drawings of seven other characters of
the same alphabet, the eight pairs scored and the right one picked by a softmax over them (as a run asks); every
drawing under the recipe's strong affine maps and elastic wobble.

At test time each query is scored against each of the run's 20 training drawings (both orders, averaged), and that
score, standardised over the 20 classes, is added at a weight to the recipe model's own standardised scores. Each
query is scored on its own with the run's 20 training drawings (inductive); BatchNorm uses its running statistics.

    python bench/lake_pair_verifier.py train --save /tmp/ver [--steps 6000] [--folds Balinese]
    python bench/lake_pair_verifier.py score --save /tmp/ver --runs /tmp/loao \\
        --models '/tmp/abl26/rec-s3/lake-{}.pt' --weights 0,0.25,0.5,1,2

The last line of stdout is the JSON summary (errors as fractions).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import OMNIGLOT_DIR, machine  # noqa: E402

from engine.algorithms.local_match import standardised  # noqa: E402
from engine.augment import random_affine  # noqa: E402

ALPHABETS = "Balinese,Early_Aramaic,Greek,Korean,Latin"
CANDIDATES = 8  # a query's candidates in training: its own character's other drawing and seven of its alphabet


def verifier(channels: int = 64) -> nn.Sequential:
    """Four 3x3 convolution blocks over the two drawings as two channels, then one score. Plain BatchNorm, whose
    running statistics score each pair on its own: engine.models.Conv4's BatchNorm takes a batch's statistics, which
    would make a query's scores depend on the other queries scored with it."""
    layers, cin = [], 2
    for _ in range(4):
        layers += [nn.Conv2d(cin, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2)]
        cin = channels
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels, 1))


def pair_scores(net: nn.Module, queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """[n] scores of each query beside its candidate ([n, 1, H, W] each), the two orders averaged."""
    both = torch.cat([torch.cat([queries, candidates], 1), torch.cat([candidates, queries], 1)])
    return net(both).view(2, -1).mean(0)


def train_fold(pool, alphabet: str, steps: int, batch: int, seed: int) -> tuple[nn.Module, float]:
    """A verifier trained on every class of ``pool`` outside ``alphabet``; its last 100 steps' mean loss."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    groups: dict[str, list[int]] = {}
    for c, g in enumerate(pool.class_groups):
        if g != alphabet and pool.count(c) >= 2:
            groups.setdefault(g, []).append(c)
    names = sorted(groups)
    net = verifier()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.002)
    images = pool.images
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 0.002 * 0.5 * (1 + math.cos(math.pi * step / steps))
        anchors, cands = [], []
        for _ in range(batch):
            classes = groups[names[int(torch.randint(len(names), (1,), generator=generator))]]
            chosen = torch.randperm(len(classes), generator=generator)[:CANDIDATES].tolist()
            own = pool.members(classes[chosen[0]])
            pair = own[torch.randperm(len(own), generator=generator)[:2]]
            anchors.append(pair[0])
            cands.append(pair[1])
            for k in chosen[1:]:
                others = pool.members(classes[k])
                cands.append(others[int(torch.randint(len(others), (1,), generator=generator))])
        x = images[torch.stack(anchors)].float().div(255).unsqueeze(1)
        y = images[torch.stack(cands)].float().div(255).unsqueeze(1)
        x = random_affine(x, generator, 2.0, 0.08)
        y = random_affine(y, generator, 2.0, 0.08)
        x = x.repeat_interleave(CANDIDATES, 0)
        swap = (torch.rand(len(y), generator=generator) < 0.5).view(-1, 1, 1, 1)  # either order, as scoring averages
        pairs = torch.cat([torch.where(swap, y, x), torch.where(swap, x, y)], 1)
        scores = net(pairs).view(batch, CANDIDATES)
        loss = F.cross_entropy(scores, torch.zeros(batch, dtype=torch.long))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (step + 1) % 1000 == 0:
            print(f"{alphabet} step {step + 1}: loss {sum(losses[-1000:]) / 1000:.3f}", file=sys.stderr, flush=True)
    return net.eval(), sum(losses[-100:]) / len(losses[-100:])


@torch.no_grad()
def verifier_scores(net: nn.Module, support: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """[queries, ways]: each query beside each training drawing."""
    q, s = len(query), len(support)
    return pair_scores(net, query.repeat_interleave(s, 0), support.repeat(q, 1, 1, 1)).view(q, s)


def score(args) -> None:
    from engine.challenge import load_runs
    from engine.models import input_size
    from engine.trainer import restore

    weights = [float(w) for w in args.weights.split(",")]
    errors: dict[str, dict[str, float]] = {str(w): {} for w in weights}
    errors["verifier alone"] = {}
    for alphabet in args.folds.split(","):
        algo, _, _ = restore(args.models.format(alphabet), torch.device("cpu"))
        net = verifier()
        net.load_state_dict(torch.load(args.save / f"verifier-{alphabet}.pt", weights_only=True))
        net.eval()
        runs = load_runs(args.runs / alphabet, input_size(algo.model), algo.config.frame_ink)
        wrong = {key: 0 for key in errors}
        for run in runs:
            learner = algo.adapt(run.support_x, torch.arange(len(run.support_x)))
            with torch.no_grad():
                recipe = standardised(learner.logits(run.query_x))
            pairs = standardised(verifier_scores(net, run.support_x, run.query_x))
            if args.top:  # the verifier reorders the recipe's first choices only
                outside = recipe < recipe.topk(args.top, 1).values[:, -1:]
                pairs = pairs.masked_fill(outside, -1e4)
            for w in weights:
                wrong[str(w)] += int(((recipe + w * pairs).argmax(1) != run.query_y).sum())
            wrong["verifier alone"] += int((pairs.argmax(1) != run.query_y).sum())
        total = sum(len(r.query_y) for r in runs)
        for key in errors:
            errors[key][alphabet] = wrong[key] / total
        print(alphabet, {k: round(100 * v[alphabet], 2) for k, v in errors.items()}, file=sys.stderr, flush=True)
    print(json.dumps({
        "task": "Lake-format runs, 20-way 1-shot within one held-out alphabet, "
                f"{len(list((args.runs / args.folds.split(',')[0]).glob('run*/class_labels.txt')))} runs a fold",
        "protocol": "inductive: each test drawing scored on its own with the run's 20 training drawings",
        "models": args.models, "verifiers": str(args.save), "top": args.top,
        "errors": {k: {"mean": sum(v.values()) / len(v), **v} for k, v in errors.items()},
        "machine": machine(),
    }))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=("train", "score"))
    ap.add_argument("--save", type=Path, required=True, help="the folder of each fold's verifier-ALPHABET.pt")
    ap.add_argument("--folds", default=ALPHABETS)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32, help="queries a step, each with 8 candidates")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, help="score: bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--models", help="score: each fold's recipe checkpoint, '{}' for the alphabet")
    ap.add_argument("--weights", default="0,0.25,0.5,1,2", help="score: the verifier's weights to try")
    ap.add_argument("--top", type=int, default=0, help="score: the verifier reorders only the recipe's first TOP "
                    "classes of each query (0: all of them)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.command == "score":
        score(args)
        return
    from engine.data import load_source

    pool = load_source("omniglot", OMNIGLOT_DIR, image_size=28, frame=2.0)  # as the lake recipe frames its drawings
    args.save.mkdir(parents=True, exist_ok=True)
    for alphabet in args.folds.split(","):
        began = time.perf_counter()
        net, loss = train_fold(pool, alphabet, args.steps, args.batch, args.seed)
        target = args.save / f"verifier-{alphabet}.pt"
        torch.save(net.state_dict(), target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)
        print(json.dumps({"alphabet": alphabet, "steps": args.steps, "last_loss": loss,
                          "train_minutes": (time.perf_counter() - began) / 60}), flush=True)


if __name__ == "__main__":
    main()
