"""``predict`` on the sample classes and queries beside the window's own adapt + predict jobs.

Runs ``main.py predict --checkpoint F --support resources/sample_classes`` and
``main.py predict --classifier`` (after ``main.py export``) as subprocesses,
and the New classes tab's worker calls (engine/api.py: ``adapt`` with
the tab's steps and rate, ``predict`` per query) in this process, then prints
each query's class and probability from all three and the largest difference::

    QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 python bench/export_agreement.py --checkpoint model.pt [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SUPPORT = REPO / "resources" / "sample_classes"
QUERIES = REPO / "resources" / "sample_queries"


def cli(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "main.py", *args, "--json"], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    print("$ python main.py " + " ".join(args))
    print("\n".join(done.stdout.splitlines()[:-1]))
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--steps", type=int, default=10, help="the tab's adaptation steps (its default: 10)")
    args = parser.parse_args()

    import numpy as np

    from engine import api
    from engine.data.images import load_image
    from engine.predict import read_support
    from engine.trainer import restore

    steps = ["--inner-steps", str(args.steps)]
    by_checkpoint = cli(
        "predict", "--checkpoint", args.checkpoint, "--support", str(SUPPORT), "--query", str(QUERIES), *steps
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "c.pt2")
        cli("export", "--checkpoint", args.checkpoint, "--support", str(SUPPORT), "--out", out, *steps)
        by_file = cli("predict", "--classifier", out, "--query", str(QUERIES))

    algo, config, _ = restore(args.checkpoint, "cpu")
    s = read_support(SUPPORT)
    ready = []
    api.adapt(api.as_model(algo), s.images, s.labels, args.steps, config.inner_lr, lambda _s: None, ready.append)
    learner, view = ready[0].learner, ready[0].view
    worst = 0.0
    print(f"\n{'query':<14} {'window':<16} {'predict --checkpoint':<22} {'predict --classifier':<22}")
    for a, b in zip(by_checkpoint["predictions"], by_file["predictions"]):
        window = api.predict(learner, s.images, s.labels, load_image(a["file"]).numpy(), view).probabilities
        w = int(np.argmax(window))
        pa, pb = np.array(list(a["probabilities"].values())), np.array(list(b["probabilities"].values()))
        worst = max(worst, float(np.abs(pa - window).max()), float(np.abs(pb - window).max()))
        print(
            f"{Path(a['file']).name:<14} {s.class_names[w]:<7} {window[w]:.4f}   {a['class']:<7} {pa.max():.4f}       "
            f"{b['class']:<7} {pb.max():.4f}"
        )
    print(f"largest probability difference from the window: {worst:.2e} ({config.algo}, {args.steps} steps)")


if __name__ == "__main__":
    main()
