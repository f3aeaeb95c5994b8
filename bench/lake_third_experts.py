"""A third reading of a Lake-format run beside the network and the template: does it take back the joined misses?

Session 44 found 7.9% of seed 1's queries missed by the network and the template alike, so a third expert would have
to read a drawing in another way than pixels carried onto each other or pooled features. This script tries three,
each added to the recipe's join (engine.algorithms.template_join: the network's log-probabilities minus 3 times the
template distance's logarithm standardised over the query's classes) as ``weight`` times its own standardised
logarithm, on saved fits (bench/lake_template_starts.py or lake_template_stiffness.py ``--save``):

- ``holes``: how many closed loops a drawing's ink encloses, the query's count against each class drawing's, as a
  distance ``1 + |difference|`` (the one cue of a drawing's topology that survives a drawer's pen; a diagnostic on
  the drawings at 52x52 found the true class's count nearer the query's than the winner's in 53 of the join's 215
  misses and farther in 39);
- ``shape-context``: Belongie, Malik and Puzicha's shape contexts (2002): 96 ink points spread over each drawing,
  each described by where the others lie (5 log-distance by 12 direction bins), two drawings' points matched by an
  entropic transport plan (Sinkhorn, lake_scoring_probes.transport_plan) on the descriptors' chi-squared distance
  plus ``--sc-place`` times the points' distance after centring and scaling, the plan's cost the distance;
- ``aligned``: the network reading each class's drawing carried onto the query by the template's own fitted map
  (one start, both framings): for each query the network adapts to the 20 warped drawings and scores the query,
  so the places it matches are the fitted map's; its log-probabilities join as a third product term.

Each reading of a query comes from itself and its run's training drawings only: inductive. The raw 105x105
drawings feed ``holes`` and ``shape-context``; ``aligned`` reads the drawings as the model frames them.

    python bench/lake_third_experts.py --scores starts-s1.pt --runs /tmp/loao --experts holes,shape-context
    python bench/lake_third_experts.py --scores starts-s1.pt --runs /tmp/loao --experts aligned \
        --model '/tmp/s41/s1/lake-{}.pt' --folds Balinese,Early_Aramaic
    python bench/lake_third_experts.py --scores hub100-s1.pt --scores hub100b-s1.pt --runs /tmp/loao100 --experts holes
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from common import emit, machine
from lake_ensemble import TEMPLATE_JOINED, fold_error, network_alone, over_folds
from lake_template_joins import readings

EXPERTS = ("holes", "shape-context", "aligned")
#: shape contexts: points a drawing, log-distance bins, direction bins, and the bins' reach in mean distances
POINTS, RINGS, DIRECTIONS, REACH = 96, 5, 12, (0.125, 2.0)


def labels(mask):
    """[H, W] int64: each True pixel labelled by its 4-connected region (the region's smallest flat index), -1
    elsewhere; by repeated minimum over neighbours until nothing changes."""
    import torch
    import torch.nn.functional as F

    big = mask.numel()
    label = torch.where(mask, torch.arange(big).view(mask.shape), torch.full(mask.shape, big))
    while True:
        padded = F.pad(label[None, None].float(), (1, 1, 1, 1), value=big)[0, 0]
        near = torch.stack([padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]]).amin(0)
        merged = torch.where(mask, torch.minimum(label, near.long()), label)
        if torch.equal(merged, label):
            return torch.where(mask, label, torch.full_like(label, -1))
        label = merged


def holes(image) -> int:
    """How many regions of background the ink closes off from the border (``image`` [H, W], ink bright)."""
    import torch
    import torch.nn.functional as F

    background = F.pad(image < 0.5, (1, 1, 1, 1), value=True)  # (one ring of background joins the whole border)
    label = labels(background)
    outside = int(label[0, 0])
    inside = label[(label >= 0) & (label != outside)]
    return len(torch.unique(inside))


def holes_distances(run):
    """[Q, ways]: 1 + |query's holes - class drawing's holes|."""
    import torch

    support = torch.tensor([holes(x[0]) for x in run.support_x], dtype=torch.float32)
    query = torch.tensor([holes(x[0]) for x in run.query_x], dtype=torch.float32)
    return 1 + (query[:, None] - support[None, :]).abs()


def ink_points(image):
    """[POINTS, 2] (x, y) ink pixels spread by farthest-point sampling from the pixel farthest from the ink's centre."""
    import torch

    ys, xs = torch.nonzero(image > 0.5, as_tuple=True)
    points = torch.stack([xs, ys], 1).float()
    if len(points) <= POINTS:
        return points[torch.arange(POINTS) % max(1, len(points))]
    chosen = [int((points - points.mean(0)).square().sum(1).argmax())]
    nearest = (points - points[chosen[0]]).square().sum(1)
    for _ in range(POINTS - 1):
        chosen.append(int(nearest.argmax()))
        nearest = torch.minimum(nearest, (points - points[chosen[-1]]).square().sum(1))
    return points[chosen]


def shape_contexts(points):
    """([POINTS, RINGS * DIRECTIONS] each point's histogram of where the others lie, normalised; [POINTS, 2] the
    points centred and scaled by their mean distance apart)."""
    import torch

    apart = points[None, :, :] - points[:, None, :]
    distance = apart.norm(dim=-1)
    n = len(points)
    mean = distance.sum() / (n * (n - 1))
    edges = torch.logspace(math.log10(REACH[0]), math.log10(REACH[1]), RINGS + 1)
    ring = torch.bucketize(distance / mean, edges) - 1
    angle = torch.atan2(apart[..., 1], apart[..., 0]) % (2 * math.pi)
    direction = (angle / (2 * math.pi) * DIRECTIONS).long().clamp(max=DIRECTIONS - 1)
    counted = ((ring >= 0) & (ring < RINGS) & ~torch.eye(n, dtype=torch.bool)).float()
    histogram = torch.zeros(n, RINGS * DIRECTIONS).scatter_add_(1, ring.clamp(0, RINGS - 1) * DIRECTIONS + direction,
                                                                counted)
    return histogram / histogram.sum(1, keepdim=True).clamp(min=1), (points - points.mean(0)) / mean


def transport_cost(cost, eps: float = 0.05, iterations: int = 50):
    """[B]: the cost of the entropic transport plan between two uniform point sets, for each of ``cost`` [B, n, m]."""
    from lake_scoring_probes import transport_plan

    b, n, m = cost.shape
    uniform = cost.new_full((b, n), 1 / n), cost.new_full((b, m), 1 / m)
    plan = transport_plan((-cost / eps).exp(), *uniform, iterations)
    return (plan * cost).sum((1, 2))


def shape_context_distances(run, place: float):
    """[Q, ways]: each query's transport cost to each class drawing."""
    import torch

    def read(images):
        contexts = [shape_contexts(ink_points(x[0])) for x in images]
        return torch.stack([c[0] for c in contexts]), torch.stack([c[1] for c in contexts])

    (hs, ps), (hq, pq) = read(run.support_x), read(run.query_x)
    q, s = len(hq), len(hs)
    h1, h2 = hq[:, None].expand(-1, s, -1, -1).flatten(0, 1), hs[None].expand(q, -1, -1, -1).flatten(0, 1)
    p1, p2 = pq[:, None].expand(-1, s, -1, -1).flatten(0, 1), ps[None].expand(q, -1, -1, -1).flatten(0, 1)
    a, b = h1[:, :, None, :], h2[:, None, :, :]
    chi2 = 0.5 * ((a - b).square() / (a + b).clamp(min=1e-9)).sum(-1)
    return transport_cost(chi2 + place * torch.cdist(p1, p2)).view(q, s)


def aligned_log_probs(algo, run):
    """[Q, ways]: the network's log-probabilities for each query, adapted to the run's drawings each carried onto
    that query by the template's fitted map (one start, each framing fitted on its own)."""
    import torch

    from engine.deformation import carried, pairs

    s, q = len(run.support_x), len(run.query_x)
    first, second = pairs(run.support_x, run.query_x)
    warped = carried(first, second).view(-1, q, s, *first.shape[-2:])  # [framings, Q, S, H, W]
    with torch.no_grad():
        return torch.cat([algo.adapt(warped[:, i].transpose(0, 1).contiguous(), torch.arange(s))
                          .logits(run.query_x[i:i + 1]).log_softmax(-1) for i in range(q)])


def read_experts(folds: dict, runs_dir: Path, experts: list[str], model: str | None, place: float) -> dict:
    """Each fold's saved readings with each expert's [Q, ways] scores added (a distance, or log-probabilities for
    ``aligned``), and the seconds each took."""
    import torch

    from engine.challenge import load_runs

    seconds: dict[str, dict[str, float]] = {}
    for alphabet, saved in folds.items():
        spent = seconds[alphabet] = {}
        if {"holes", "shape-context"} & set(experts):
            raw = load_runs(runs_dir / alphabet, 105, 0)
            for name, read in (("holes", holes_distances),
                               ("shape-context", lambda run: shape_context_distances(run, place))):
                if name in experts:
                    began = time.perf_counter()
                    for run, kept in zip(raw, saved, strict=True):
                        assert torch.equal(run.query_y, kept["truth"]), "the runs are not the saved fits' runs"
                        kept[name] = read(run)
                    spent[name] = time.perf_counter() - began
        if "aligned" in experts:
            algo, config = network_alone(model.format(alphabet))
            framed = load_runs(runs_dir / alphabet, config.image_size, algo.config.frame_ink)
            began = time.perf_counter()
            for run, kept in zip(framed, saved, strict=True):
                assert torch.equal(run.query_y, kept["truth"]), "the runs are not the saved fits' runs"
                kept["aligned"] = aligned_log_probs(algo, run)
            spent["aligned"] = time.perf_counter() - began
        print(alphabet, {k: round(v, 1) for k, v in spent.items()}, file=sys.stderr, flush=True)
    return seconds


def joined_errors(folds: dict, experts: list[str], weight: float, weights: list[float]) -> dict:
    """Per fold and on the mean: the network, the template and each expert alone, the recipe's join, and the join
    with each expert added at each of ``weights``."""
    from engine.algorithms.template_join import lowered

    def term(run, name):  # (what a join adds for an expert: the higher, the likelier)
        return run[name] if name == "aligned" else -lowered(run[name])

    def recipe(run):
        return run["network"] - weight * lowered(run["distances"])

    out = []
    for alphabet, runs in folds.items():
        fold = {"alphabet": alphabet, "network": fold_error(runs, lambda run: run["network"]),
                "template": fold_error(runs, lambda run: -run["distances"]), "recipe": fold_error(runs, recipe)}
        for name in experts:
            fold[f"{name}_alone"] = fold_error(runs, lambda run, name=name: term(run, name))
            for w in weights:
                fold[f"recipe_plus_{name}_w{w:g}"] = fold_error(
                    runs, lambda run, name=name, w=w: recipe(run) + w * term(run, name))
        out.append(fold)
    return over_folds(out, TEMPLATE_JOINED + f", at weight {weight:g}; an expert's term added at each weight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scores", type=Path, action="append", required=True,
                    help="a --save of lake_template_starts or lake_template_stiffness (again for more folds)")
    ap.add_argument("--runs", type=Path, required=True, help="the Lake-format runs the fits were made on")
    ap.add_argument("--starts", default="0,t15,t-15", help="lake_template_starts' starts to take the smallest of")
    ap.add_argument("--penalty", default="0.1", help="lake_template_stiffness' penalty to read")
    ap.add_argument("--experts", default="holes,shape-context", help=f"comma-separated: {', '.join(EXPERTS)}")
    ap.add_argument("--model", help="with aligned: checkpoint path, {} for the held-out alphabet")
    ap.add_argument("--folds", help="comma-separated held-out alphabets (default: every fold the scores hold)")
    ap.add_argument("--weight", type=float, default=3.0, help="the template's weight in the recipe's join")
    ap.add_argument("--weights", default="0.5,1,2,3", help="the third expert's weights")
    ap.add_argument("--sc-place", type=float, default=0.1, help="shape contexts: the weight of where points lie")
    args = ap.parse_args()
    experts = [e for e in args.experts.split(",") if e]
    for name in experts:
        if name not in EXPERTS:
            ap.error(f"unknown expert {name!r}: {', '.join(EXPERTS)}")
    if "aligned" in experts and not args.model:
        ap.error("aligned needs --model")
    import torch

    torch.set_num_threads(2)
    folds = readings(args.scores, args.starts.split(","), args.penalty)
    if args.folds:
        folds = {a: folds[a] for a in args.folds.split(",")}
    seconds = read_experts(folds, args.runs, experts, args.model, args.sc_place)
    emit({"scores": [str(p) for p in args.scores], "runs": str(args.runs), "starts": args.starts,
          "task": "Lake-format runs: 20-way 1-shot within one alphabet", "sc_place": args.sc_place,
          "errors": joined_errors(folds, experts, args.weight, [float(w) for w in args.weights.split(",")]),
          "seconds": seconds, "machine": machine()})


if __name__ == "__main__":
    main()
