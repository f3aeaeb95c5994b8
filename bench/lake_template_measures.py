"""Several measures of one deformable template fit, kept for each stand-in run's pairs, to join offline.

engine.deformation fits, for each query and each training drawing, the map carrying the drawing onto the query,
and keeps the mean squared pixel difference left. The same fit gives other measures of how alike the two are; this
fits each run's pairs once (as engine.deformation.TemplateDistance does, both framings) and keeps, per framing,
query and drawing:

- ``left``: the mean squared difference left (the engine's distance);
- ``left_blur1`` / ``left_blur05``: the same after both images are blurred by 1 / 0.5 pixels;
- ``ink_query``, ``ink_carried``: the two images' mean squared ink (for measures normalised by ink);
- ``missed``: the query's ink the carried drawing leaves uncovered (mean of relu(query - carried)^2);
- ``extra``: the carried drawing's ink off the query (mean of relu(carried - query)^2);
- ``bend``: the fitted field's mean square; ``affine``: the affine map's squared distance from the identity;
- ``left_fine``: the difference left when the map fitted at 28x28 is applied at ``--fine`` pixels;
- ``gradient`` / ``orient``: the mean squared difference of the two images' gradients (blurred by 1 pixel), and of
  their strokes' directions (each gradient at twice its angle, so that a stroke's two edges agree, weighed by its
  size); ``orient_fine``: the directions at ``--fine`` pixels.

    python bench/lake_template_measures.py --runs /tmp/loao --scores s2.pt --save measures-s2.pt

Inductive: each measure of a query comes from the query and the run's training drawings only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import emit, machine


def gradients(images, sigma: float = 1.0):
    """[n, 2, H, W]: the images' x and y gradients (central differences) after a blur of ``sigma`` pixels."""
    import torch
    import torch.nn.functional as F

    from engine.deformation import blur

    smooth = F.pad(blur(images, sigma), (1, 1, 1, 1), mode="replicate")
    return torch.cat([(smooth[..., 1:-1, 2:] - smooth[..., 1:-1, :-2]) / 2,
                      (smooth[..., 2:, 1:-1] - smooth[..., :-2, 1:-1]) / 2], 1)


def directions(images, sigma: float = 1.0):
    """[n, 2, H, W]: each pixel's gradient at twice its angle (a stroke's two edges point alike), its length kept."""
    import torch

    g = gradients(images, sigma)
    gx, gy = g[:, :1], g[:, 1:]
    size = (gx**2 + gy**2).sqrt().clamp_min(1e-6)
    return torch.cat([(gx**2 - gy**2) / size, 2 * gx * gy / size], 1)


def measures(support, query, fine_support=None, fine_query=None) -> dict:
    """{name: [reads, Q, S]}: each training drawing carried onto each query (both framings), fitted once."""
    import torch
    import torch.nn.functional as F

    from engine.deformation import blur, fit_maps, pairs, warp

    q, s, reads = len(query), len(support), min(query.shape[1], support.shape[1])

    first, second = pairs(support, query)
    theta, field = fit_maps(first, second)
    with torch.no_grad():
        carried = warp(first, theta, field)
        mean = lambda t: t.mean((1, 2, 3)).view(reads, q, s)  # noqa: E731
        out = {
            "left": mean((carried - second) ** 2),
            "left_blur1": mean((blur(carried, 1.0) - blur(second, 1.0)) ** 2),
            "left_blur05": mean((blur(carried, 0.5) - blur(second, 0.5)) ** 2),
            "ink_query": mean(second**2), "ink_carried": mean(carried**2),
            "missed": mean(F.relu(second - carried) ** 2), "extra": mean(F.relu(carried - second) ** 2),
            "bend": field.square().mean((1, 2, 3)).view(reads, q, s),
            "affine": (theta - torch.eye(2, 3)).square().sum((1, 2)).view(reads, q, s),
            "gradient": mean((gradients(carried) - gradients(second)) ** 2),
            "orient": mean((directions(carried) - directions(second)) ** 2),
        }
        if fine_support is not None:
            a, b = pairs(fine_support, fine_query)
            fine_carried = warp(a, theta, field)
            out["left_fine"] = mean((fine_carried - b) ** 2)
            out["orient_fine"] = mean((directions(fine_carried, 2.0) - directions(b, 2.0)) ** 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--scores", type=Path, required=True, help="lake_aligned_reading.py --save-scores' file")
    ap.add_argument("--folds", help="comma-separated alphabets (default: every fold the scores hold)")
    ap.add_argument("--fine", type=int, default=56, help="the side the fitted maps are also read at (0: not)")
    ap.add_argument("--stretch", type=float, default=2.0, help="the framings' stretch (the recipe's: 2)")
    ap.add_argument("--save", type=Path, required=True, help="torch.save the measures here, after each fold")
    args = ap.parse_args()

    import torch

    from engine.challenge import load_runs
    from engine.framing import BothFramings

    saved = torch.load(args.scores, weights_only=True)
    kept, folds = {}, []
    for alphabet, runs_saved in saved.items():
        if args.folds and alphabet not in args.folds.split(","):
            continue
        runs = load_runs(args.runs / alphabet, 28, BothFramings(args.stretch))
        fine = (load_runs(args.runs / alphabet, args.fine, BothFramings(args.stretch)) if args.fine
                else [None] * len(runs))
        began, kept[alphabet] = time.perf_counter(), []
        for run, big, old in zip(runs, fine, runs_saved):
            assert torch.equal(run.query_y, old["truth"]), f"{alphabet}: the runs differ from the saved ones"
            found = measures(run.support_x, run.query_x, big.support_x if big else None, big.query_x if big else None)
            kept[alphabet].append({**found, "recipe": old["recipe"], "truth": old["truth"]})
        folds.append({"alphabet": alphabet, "runs": len(runs), "seconds": time.perf_counter() - began})
        print(folds[-1], file=sys.stderr, flush=True)
        torch.save(kept, args.save)
    emit({"scores": str(args.scores), "runs": str(args.runs), "saved": str(args.save), "folds": folds,
          "machine": machine()})


if __name__ == "__main__":
    main()
