"""Exported classifier: file size, export time, and load + predict time in a fresh process.

For each algorithm (ProtoNet, SimpleShot, MAML; Conv-4, 5-way) a checkpoint is
meta-trained for 2 iterations (size and timing do not depend on how well it
learned), adapted to resources/sample_classes (5 classes x 5 examples) and
exported. Then, in fresh Python processes (median of --repeats):

* ``exported``: ``import torch`` + ``torch.export.load`` + one 1-image predict
  and the steady per-image predict time (no project import);
* ``baseline``: what a user had before: ``import engine`` + restore the
  checkpoint + adapt to the support set + one 1-image predict.

Usage: ``OMP_NUM_THREADS=1 python bench/export_size_time.py [--repeats 3] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

EXPORTED = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import logging; logging.getLogger("torch._export.serde.serialize").setLevel(logging.ERROR)
extra = {"meta_playground.json": ""}
model = torch.export.load(sys.argv[1], extra_files=extra).module()
t2 = time.perf_counter()
x = torch.zeros(1, 28, 28, dtype=torch.uint8); x[0, 10:18, 12:16] = 255
with torch.no_grad():
    model(x)
    t3 = time.perf_counter()
    for _ in range(20):
        model(x)
    t4 = time.perf_counter()
assert "engine" not in sys.modules
print(json.dumps({"import_torch": t1 - t0, "load": t2 - t1, "first_predict": t3 - t2, "per_image": (t4 - t3) / 20}))
"""

BASELINE = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
from engine.predict import Classifier
import numpy as np
classifier, _ = Classifier.adapted(sys.argv[1], sys.argv[2])
t2 = time.perf_counter()
x = np.zeros((1, 28, 28), np.uint8); x[0, 10:18, 12:16] = 255
classifier.probabilities(x)
t3 = time.perf_counter()
for _ in range(20):
    classifier.probabilities(x)
t4 = time.perf_counter()
print(json.dumps({"import_torch": t1 - t0, "load": t2 - t1, "first_predict": t3 - t2, "per_image": (t4 - t3) / 20}))
"""


def fresh(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def side_by_side(checkpoint: str, support: str, exported: str, calls: int = 30) -> dict:
    """Per-image time of the learner and of the exported file in this process, calls alternating (median, ms)."""
    import time

    import numpy as np
    import torch

    from engine.export import load_classifier
    from engine.predict import Classifier, read_support

    classifier, _ = Classifier.adapted(checkpoint, support)
    loaded = load_classifier(exported)
    x = read_support(support).images[:1]
    xt = torch.from_numpy(x)
    learner_s, exported_s = [], []
    for _ in range(calls):
        began = time.perf_counter()
        classifier.probabilities(x)
        learner_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        loaded.probabilities(xt)
        exported_s.append(time.perf_counter() - began)
    median_ms = lambda times: round(1000 * float(np.median(times)), 2)  # noqa: E731
    return {"learner": median_ms(learner_s), "exported": median_ms(exported_s)}


def median_of(runs: list[dict]) -> dict:
    return {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="protonet,simpleshot,maml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from engine import trainer
    from engine.cli import main as cli_main
    from engine.config import TrainConfig
    from engine.data import make_glyph_pool

    support = str(REPO / "resources" / "sample_classes")
    pool = make_glyph_pool(classes={"train": 40, "val": 10, "test": 10}, examples_per_class=20)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for algo in args.algos.split(","):
            ckpt = str(Path(tmp) / f"{algo}.pt")
            cfg = TrainConfig(
                algo=algo, device="cpu", val_every=0, iterations=2, meta_batch=2, queries=2, checkpoint=ckpt
            )
            for _ in trainer.run(cfg, pool=pool):
                pass
            out = Path(tmp) / f"{algo}.pt2"
            import time

            began = time.perf_counter()
            assert cli_main(["export", "--checkpoint", ckpt, "--support", support, "--out", str(out)]) == 0
            export_s = time.perf_counter() - began
            same_process = side_by_side(ckpt, support, str(out))
            exported = median_of([fresh(EXPORTED, str(out)) for _ in range(args.repeats)])
            baseline = median_of([fresh(BASELINE, ckpt, support) for _ in range(args.repeats)])
            results[algo] = {
                "file_bytes": out.stat().st_size,
                "checkpoint_bytes": Path(ckpt).stat().st_size,
                "export_s": round(export_s, 2),
                "exported": exported,
                "baseline": baseline,
                "same_process_ms": same_process,
            }
            e, b = exported, baseline
            size, ckpt_size = out.stat().st_size / 1e6, Path(ckpt).stat().st_size / 1e6
            print(
                f"{algo:<10} file {size:.2f} MB (checkpoint {ckpt_size:.2f} MB), export {export_s:.1f} s | "
                f"fresh process: import torch {e['import_torch']:.2f} s; exported load {e['load']:.2f} s + first "
                f"predict {1000 * e['first_predict']:.0f} ms, then {1000 * e['per_image']:.1f} ms/image | baseline "
                f"restore+adapt {b['load']:.2f} s + first predict {1000 * b['first_predict']:.0f} ms, "
                f"then {1000 * b['per_image']:.1f} ms/image | same process, alternating: learner "
                f"{same_process['learner']:.1f} ms, exported {same_process['exported']:.1f} ms per image",
                flush=True,
            )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
