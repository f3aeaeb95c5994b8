"""What is left after a template fit, read by a small learned verifier rather than by its mean square.

The ``lake`` recipe joins each query's deformable-template distance to each class (engine.deformation: each class's
drawing carried onto the query by a fitted affine map and smooth field, from three turns, the mean squared pixel
difference left) to the network's logits. Every hand-made measure of what is left measured alike (session 39: blurred,
finer, over the ink, uncovered and stray ink, the strokes' directions). This script learns the measure instead: on
pairs of the *training* alphabets' drawings (two drawers' drawings of one character, and a drawing beside the nearest
of a few other characters of its alphabet, a near twin), each pair fitted as the recipe fits a run, a small ConvNet
reads the carried drawing, the drawing it was carried onto and their difference (both framings) and says whether the
two are one character. At test time each query's pairs with its run's training drawings are fitted the same way, and
the verifier's log-odds, standardised over the classes, are added to the recipe's joined scores at each weight.

The held-out alphabet is never seen in training: the verifier's pairs come from the four training alphabets of the
fold, as the network's drawings do. A query's scores come from itself and its run's training drawings: inductive.

    python bench/lake_template_verifier.py --runs /tmp/loao --model '/tmp/s41/s1/lake-{}.pt' [--pairs 3000] \
        [--steps 1500] [--save S.pt]
    python bench/lake_template_verifier.py --weigh S.pt [--weights 0,0.5,1,2]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
import zipfile
from collections import defaultdict
from pathlib import Path, PurePosixPath

from common import OMNIGLOT_DIR, emit, machine
from lake_ensemble import ALPHABETS, add_fold_args, network_alone, network_log_probs, over_folds

SMALL1 = OMNIGLOT_DIR / "images_background_small1.zip"


def load_characters(alphabets: list[str], frame, size: int) -> list:
    """(alphabet, its drawings [20, C, size, size] as floats) for every character of ``alphabets`` in small1, each
    drawing framed as the model frames its own (``frame``, a model's ``frame_ink``)."""
    import torch

    from engine.data.images import image_to_tensor, open_image
    from engine.tasks import to_float

    entries: dict[tuple[str, str], list[str]] = defaultdict(list)
    with zipfile.ZipFile(SMALL1) as zf:
        for name in sorted(zf.namelist()):
            p = PurePosixPath(name)
            if name.endswith(".png") and len(p.parts) >= 4 and p.parts[-3] in alphabets:
                entries[(p.parts[-3], p.parts[-2])].append(name)
        out = []
        for (alphabet, _), names in sorted(entries.items()):
            drawings = [image_to_tensor(open_image(io.BytesIO(zf.read(n)), name=n), invert=True, size=size,
                                        frame=frame) for n in names]
            stack = torch.stack(drawings)
            out.append((alphabet, to_float(stack if stack.dim() == 4 else stack[:, None])))
    return out


def training_pairs(characters: list, n: int, rng: random.Random, candidates: int = 8):
    """``n`` pairs of one character by two drawers (label 1) and ``n`` of a drawing beside another drawer's drawing
    of the nearest of ``candidates`` other characters of its alphabet, by blurred pixel distance (label 0): the near
    twins a run's misses are. Returns (first, second, label): the first is carried onto the second."""
    import torch

    from engine.deformation import blur

    by_alphabet: dict[str, list[int]] = defaultdict(list)
    for index, (alphabet, _) in enumerate(characters):
        by_alphabet[alphabet].append(index)
    first, second, label = [], [], []
    for _ in range(n):
        c = rng.randrange(len(characters))
        drawings = characters[c][1]
        i, j = rng.sample(range(len(drawings)), 2)
        first.append(drawings[i])
        second.append(drawings[j])
        label.append(1.0)
        others = [k for k in by_alphabet[characters[c][0]] if k != c]
        picks = [characters[k][1][rng.randrange(len(characters[k][1]))] for k in rng.sample(others, candidates)]
        anchor = blur(drawings[i][None], 1.0)
        near = min(picks, key=lambda x: float((blur(x[None], 1.0) - anchor).square().mean()))
        first.append(drawings[i])
        second.append(near)
        label.append(0.0)
    return torch.stack(first), torch.stack(second), torch.tensor(label)


def training_groups(characters: list, n: int, rng: random.Random, ways: int = 8):
    """``n`` groups shaped as a run's query is: one query drawing, its character's drawing by another drawer first and
    ``ways - 1`` other characters of its alphabet drawn by that same drawer after (a run's training drawings are all
    one person's, its test drawings another's; small1 lists a character's drawers in one order). Returns (first
    [n * ways, C, H, W], second [n * ways, C, H, W]): group g's candidates at rows g * ways onwards, the right one
    first."""
    import torch

    by_alphabet: dict[str, list[int]] = defaultdict(list)
    for index, (alphabet, _) in enumerate(characters):
        by_alphabet[alphabet].append(index)
    first, second = [], []
    for _ in range(n):
        c = rng.randrange(len(characters))
        drawings = characters[c][1]
        i, j = rng.sample(range(len(drawings)), 2)
        others = rng.sample([k for k in by_alphabet[characters[c][0]] if k != c], ways - 1)
        first += [drawings[i]] + [characters[k][1][min(i, len(characters[k][1]) - 1)] for k in others]
        second += [drawings[j]] * ways
    return torch.stack(first), torch.stack(second)


def aligned(first, second, turn: float):
    """Each of ``first`` [n, C, H, W] carried onto the same row of ``second`` in each channel (framing) by the
    engine's fit from each start (engine.deformation.starts), the start leaving the least kept: (carried [n, C, H, W],
    the distance left [n, C]), as engine.deformation.TemplateDistance measures it."""
    import torch

    from engine.deformation import CHUNK, fit_maps, starts, turned, warp

    carried, left = [], []
    for c in range(first.shape[1]):
        f, s = first[:, c:c + 1], second[:, c:c + 1]
        best_w, best_d = None, None
        for d in starts(turn):
            fd = turned(f, d) if d else f
            parts = []
            for a, b in zip(fd.split(CHUNK), s.split(CHUNK)):
                theta, field = fit_maps(a, b)
                with torch.no_grad():
                    parts.append(warp(a, theta, field))
            w = torch.cat(parts)
            dist = (w - s).square().mean((1, 2, 3))
            if best_d is None:
                best_w, best_d = w, dist
            else:
                better = dist < best_d
                best_w = torch.where(better[:, None, None, None], w, best_w)
                best_d = torch.minimum(dist, best_d)
        carried.append(best_w)
        left.append(best_d)
    return torch.cat(carried, 1), torch.stack(left, 1)


def verifier(channels: int, width: int = 32):
    """A small ConvNet: (carried, target, difference) in each framing -> one log-odds that they are one character."""
    from torch import nn

    def block(i: int, o: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(block(3 * channels, width), block(width, width), block(width, width), nn.Flatten(),
                         nn.Linear(width * 9, 1))


def reading(carried, target):
    """The verifier's input: carried, target and their difference, stacked over the framings."""
    import torch

    return torch.cat([carried, target, carried - target], 1)


def train_verifier(x, y, steps: int, seed: int, batch: int = 128):
    """The verifier fitted to pairs ``x`` (reading) with labels ``y`` by Adam; returns it in eval mode."""
    import torch

    torch.manual_seed(seed)
    net = verifier(x.shape[1] // 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        idx = torch.randint(len(x), (batch,))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[idx]).squeeze(1), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


class Ranker:
    """A group's candidates scored as the template ranks them, corrected by the verifier: ``-scale`` times the distance
    left's logarithm standardised over the group (engine.algorithms.template_join.lowered), plus the verifier's
    reading of each carried drawing. Trained by a cross-entropy over each group's candidates, the right one first, as
    a run's query is scored against its training drawings: the verifier learns what the mean square misses."""

    def __init__(self, channels: int) -> None:
        import torch

        self.net = verifier(channels)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def correction(self, x):
        return self.net(x).squeeze(-1)

    def fit(self, x, left, ways: int, steps: int, seed: int, batch: int = 32) -> "Ranker":
        import torch

        from engine.algorithms.template_join import lowered

        torch.manual_seed(seed)
        self.net = verifier(x.shape[1] // 3)
        groups = x.view(-1, ways, *x.shape[1:])
        template = lowered(left.mean(1).view(-1, ways))
        opt = torch.optim.Adam([*self.net.parameters(), self.scale], lr=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(steps):
            idx = torch.randint(len(groups), (batch,))
            said = self.correction(groups[idx].flatten(0, 1)).view(batch, ways) - self.scale * template[idx]
            loss = torch.nn.functional.cross_entropy(said, torch.zeros(batch, dtype=torch.long))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        self.net.eval()
        return self

    def __call__(self, x):
        return self.correction(x)


def weigh(scores: dict, weights: list[float], template: float = 3.0) -> dict:
    """The recipe's join (network and template at ``template``), with the verifier's standardised log-odds added at
    each weight, and the network joined by the verifier in the template's place, per fold and on the mean of the
    folds; and the verifier alone."""
    from engine.algorithms.local_match import standardised
    from engine.algorithms.template_join import lowered

    folds = []
    for alphabet, runs in scores["folds"].items():
        queries = sum(len(run["truth"]) for run in runs)
        fold = {"alphabet": alphabet, "verifier_pair_accuracy": scores["pair_accuracy"][alphabet],
                "error_network": sum(int((r["network"].argmax(1) != r["truth"]).sum()) for r in runs) / queries,
                "error_template_alone": sum(int((r["distances"].argmin(1) != r["truth"]).sum())
                                            for r in runs) / queries,
                "error_verifier_alone": sum(int((r.get("alone", r["verifier"]).argmax(1) != r["truth"]).sum())
                                            for r in runs) / queries}
        for v in weights:
            fold[f"error_joined_v{v:g}"] = sum(int(((r["network"] - template * lowered(r["distances"])
                                                    + v * standardised(r["verifier"])).argmax(1) != r["truth"]).sum())
                                               for r in runs) / queries
            fold[f"error_network_verifier_v{v:g}"] = sum(
                int(((r["network"] + v * standardised(r["verifier"])).argmax(1) != r["truth"]).sum())
                for r in runs) / queries
        folds.append(fold)
    return over_folds(folds, f"the network's log-probabilities minus {template:g} times the template distance's "
                      "logarithm standardised over the classes (the recipe), plus the weight times the verifier's "
                      "log-odds standardised")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_fold_args(ap)
    ap.add_argument("--loss", choices=("pairs", "ranking"), default="ranking",
                    help="pairs: a verifier of pairs by their labels; ranking: the template's ranking corrected, over "
                    "groups shaped as a run's query")
    ap.add_argument("--pairs", type=int, default=3000, help="pairs of each label to train the verifier on")
    ap.add_argument("--groups", type=int, default=1500, help="with --loss ranking: groups to train on")
    ap.add_argument("--group-ways", type=int, default=8, help="with --loss ranking: candidates a group")
    ap.add_argument("--turn", type=float, help="start each fit from this turn each way too (default: the model's)")
    ap.add_argument("--steps", type=int, default=1500, help="the verifier's Adam steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first-runs", type=int, help="score only each fold's first N runs (a quick check)")
    ap.add_argument("--weights", default="0,0.5,1,2")
    ap.add_argument("--save", type=Path, help="torch.save the readings here after each fold")
    ap.add_argument("--weigh", type=Path, help="read what --save kept and print the joined errors, fitting nothing")
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    import torch

    if args.weigh:
        emit(weigh(torch.load(args.weigh, weights_only=True), weights))
        return
    if not (args.runs and args.model):
        ap.error("--runs and --model are required (unless --weigh)")


    from engine.algorithms.template_join import lowered
    from engine.challenge import load_runs

    scores: dict = {"folds": {}, "pair_accuracy": {}}
    seconds = {}
    for alphabet in args.folds.split(","):
        algo, config = network_alone(args.model.format(alphabet))
        turn = config.template_turn if args.turn is None else args.turn
        spent = {}
        t = time.perf_counter()
        chars = load_characters([a for a in ALPHABETS if a != alphabet], algo.config.frame_ink, config.image_size)
        rng = random.Random(args.seed)
        if args.loss == "pairs":
            first, second, label = training_pairs(chars, args.pairs, rng)
        else:
            first, second = training_groups(chars, args.groups, rng, args.group_ways)
        carried, left = aligned(first, second, turn)
        x = reading(carried, second)
        spent["pairs_fitted"] = time.perf_counter() - t
        t = time.perf_counter()
        unit = 1 if args.loss == "pairs" else args.group_ways  # (pairs, or a group's rows, held out together)
        held = torch.zeros(len(x) // unit, dtype=torch.bool)
        held[torch.randperm(len(held), generator=torch.Generator().manual_seed(args.seed))[: len(held) // 10]] = True
        if args.loss == "pairs":
            net = train_verifier(x[held.logical_not()], label[held.logical_not()], args.steps, args.seed)
            with torch.no_grad():  # (a tenth of the pairs held out: the verifier's own accuracy)
                scores["pair_accuracy"][alphabet] = float(((net(x[held]).squeeze(1) > 0).float() == label[held])
                                                          .float().mean())
        else:
            rows = held.repeat_interleave(unit)
            net = Ranker(x.shape[1] // 3).fit(x[rows.logical_not()], left[rows.logical_not()], unit, args.steps,
                                              args.seed)
            with torch.no_grad():  # (a tenth of the groups held out: its accuracy, the template's alone beside it)
                template = lowered(left[rows].mean(1).view(-1, unit))
                said = net(x[rows]).view(-1, unit) - net.scale * template
                scores["pair_accuracy"][alphabet] = float((said.argmax(1) == 0).float().mean())
                scores.setdefault("template_group_accuracy", {})[alphabet] = float(
                    (template.argmin(1) == 0).float().mean())
                scores.setdefault("scale", {})[alphabet] = float(net.scale)
        spent["verifier_trained"] = time.perf_counter() - t
        runs, saved = load_runs(args.runs / alphabet, config.image_size, algo.config.frame_ink), []
        runs = runs[: args.first_runs]
        spent["network"] = spent["runs_fitted"] = 0.0
        for run in runs:
            ways, q = len(run.support_x), len(run.query_x)
            t = time.perf_counter()
            network = network_log_probs(algo, run)
            spent["network"] += time.perf_counter() - t
            t = time.perf_counter()
            sup = run.support_x[None].expand(q, -1, -1, -1, -1).reshape(q * ways, *run.support_x.shape[1:])
            qry = run.query_x[:, None].expand(-1, ways, -1, -1, -1).reshape(q * ways, *run.query_x.shape[1:])
            carried, left = aligned(sup, qry, turn)
            distances = left.mean(1).view(q, ways)
            with torch.no_grad():
                said = net(reading(carried, qry)).view(q, ways)
                alone = said if args.loss == "pairs" else said - net.scale * lowered(distances)
            spent["runs_fitted"] += time.perf_counter() - t
            saved.append({"network": network, "truth": run.query_y, "distances": distances, "verifier": said,
                          "alone": alone})
        scores["folds"][alphabet] = saved
        seconds[alphabet] = spent
        print(alphabet, scores["pair_accuracy"][alphabet], {k: round(v, 1) for k, v in spent.items()},
              file=sys.stderr, flush=True)
        if args.save:  # (after each fold: a long run's finished folds are kept)
            torch.save(scores, args.save)
    emit({"model": args.model, "loss": args.loss, "pairs": args.pairs, "groups": args.groups,
          "group_ways": args.group_ways, "steps": args.steps, "turn": turn,
          "template_group_accuracy": scores.get("template_group_accuracy"), "scale": scores.get("scale"),
          "task": f"Lake-format runs: 20-way 1-shot within one alphabet, {len(runs)} runs per held-out alphabet",
          **weigh(scores, weights), "seconds": seconds, "machine": machine()})


if __name__ == "__main__":
    main()
