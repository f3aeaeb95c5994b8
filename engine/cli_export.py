"""``main.py export`` and ``main.py predict``: take an adapted classifier out, classify image files.

Registered by :mod:`engine.cli` (same exit codes: 0 ok, 2 bad input with one
line on stderr, 1 unexpected; ``--json`` puts one object on the last line).
"""

from __future__ import annotations

import argparse
import sys

from .data.base import DataError


def add_commands(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser("export", help="adapt a checkpoint to a support set and write a standalone classifier file")
    x.add_argument("--checkpoint", required=True, metavar="FILE", help="a meta-trained checkpoint (main.py train)")
    x.add_argument(
        "--support",
        required=True,
        metavar="DIR",
        help="a saved class set, or a folder with one subfolder of images per class",
    )
    x.add_argument("--out", required=True, metavar="FILE", help="the classifier file to write (.pt2; torch.export)")
    x.add_argument(
        "--onnx", default=None, metavar="FILE", help="also write ONNX here (needs the onnx and onnxscript packages)"
    )
    x.add_argument("--inner-steps", type=int, default=None, help="adaptation steps (default: as trained)")
    x.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")

    p = sub.add_parser(
        "predict", help="classify image files with a checkpoint + support set, or an exported classifier"
    )
    p.add_argument("--checkpoint", default=None, metavar="FILE", help="a meta-trained checkpoint (with --support)")
    p.add_argument(
        "--support",
        default=None,
        metavar="DIR",
        help="a saved class set, or a folder with one subfolder of images per class",
    )
    p.add_argument("--classifier", default=None, metavar="FILE", help="an exported classifier (main.py export)")
    p.add_argument("--query", required=True, nargs="+", metavar="PATH", help="image files or folders of images")
    p.add_argument("--inner-steps", type=int, default=None, help="adaptation steps (default: as trained)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")


def cmd_export(args: argparse.Namespace) -> dict:
    from .adaptation import adapt_with_progress
    from .export import export_learner, export_onnx, onnx_status
    from .predict import read_support
    from .trainer import restore

    if not str(args.out).strip():
        raise DataError("--out needs a file name, e.g. --out classifier.pt2")
    if args.onnx and not onnx_status()[0]:
        raise DataError(f"--onnx: {onnx_status()[1]}; or leave out --onnx")
    algo, config, payload = restore(args.checkpoint, "cpu")
    support = read_support(args.support, frame=config.frames_ink)  # as the model's training drawings were
    learner = adapt_with_progress(algo, support.images, support.labels, steps=args.inner_steps, leave_one_out=False)
    source = {
        "checkpoint": str(args.checkpoint),
        "algo": config.algo,
        "backbone": config.backbone,
        "trained_on": config.dataset,
        "iterations": int(payload.get("iteration", 0)),
        "support": str(args.support),
    }
    summary = export_learner(learner, support.class_names, args.out, source)
    print(
        f"wrote {summary.path}: {summary.ways} classes ({', '.join(summary.class_names)}), "
        f"{summary.bytes / 1e6:.2f} MB, {summary.seconds:.1f} s",
        file=sys.stderr,
    )
    result = {
        "out": summary.path,
        "bytes": summary.bytes,
        "classes": list(summary.class_names),
        "seconds": round(summary.seconds, 3),
    }
    if summary.leaves_out:
        print(f"note: {summary.leaves_out}", file=sys.stderr)
        result["leaves_out"] = summary.leaves_out
    if args.onnx:
        onnx = export_onnx(learner, support.class_names, args.onnx)
        print(f"wrote {onnx.path}: {onnx.bytes / 1e6:.2f} MB (ONNX)", file=sys.stderr)
        result["onnx"] = onnx.path
    return result


def cmd_predict(args: argparse.Namespace) -> dict:
    from .predict import Classifier, predict_files, query_files

    if args.classifier and (args.checkpoint or args.support):
        raise DataError("give either --classifier FILE or --checkpoint FILE with --support DIR, not both")
    if not args.classifier and not (args.checkpoint and args.support):
        raise DataError("predict needs --classifier FILE, or --checkpoint FILE together with --support DIR")
    files = query_files(args.query)  # before the model: a typo in a path fails fast
    if args.classifier:
        classifier = Classifier.exported(args.classifier)
    else:
        classifier, _ = Classifier.adapted(args.checkpoint, args.support, steps=args.inner_steps)
    predictions = predict_files(classifier, files)
    width = max(len(p.file) for p in predictions)
    for p in predictions:
        print(f"{p.file:<{width}}  {p.label}  {p.probability:.4f}")
    return {"predictions": [p.to_json() for p in predictions]}
