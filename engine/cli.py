"""The headless command line: ``train``, ``eval`` and ``omniglot-challenge``.

Exit status: 0 on success, 2 on bad input (one line on stderr naming the
problem and the fix), 1 on an unexpected error. ``--json`` makes the last
line of stdout one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

from .allocator import keep_freed_memory
from .config import ALGORITHM_CHOICES, DATASET_CHOICES, REGRESSION_DATASETS, REGRESSION_DEFAULTS, TrainConfig
from .data.base import ClassPool, DataError
from .models import PROTOCOLS
from .recipes import RECIPES, SUMMARIES, recipe

if TYPE_CHECKING:
    from .algorithms.base import Algorithm
    from .distributed import DistContext

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _add_data_args(p: argparse.ArgumentParser, defaults: bool) -> None:
    d = (lambda v: v) if defaults else (lambda v: None)
    p.add_argument("--dataset", choices=DATASET_CHOICES, default=d("synthetic"),
                   help="data source; sine = MAML's sine-wave regression (K points per task) [synthetic]")
    p.add_argument("--data-root", default=None, help="folder with the data set's files")
    p.add_argument(
        "--download",
        action="store_true",
        help="MNIST family and Omniglot: let torchvision download missing files into --data-root",
    )
    p.add_argument(
        "--no-rotations",
        dest="rotations",
        action="store_false",
        help="Omniglot: no 90-degree rotations as extra classes",
    )
    p.add_argument("--ways", type=int, default=d(5), help="classes per task (N) [5]")
    p.add_argument("--shots", type=int, default=d(1), help="support examples per class (K) [1]")
    p.add_argument("--queries", type=int, default=d(15), help="query examples per class (Q) [15]")
    p.add_argument("--seed", type=int, default=0, help="random seed [0]")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="[auto]")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    """The training options shared by ``train`` and ``compare`` (all but --algo/--checkpoint/--resume)."""
    c = TrainConfig()
    p.add_argument(
        "--backbone", choices=("conv4", "seed", "mlp"), default=c.backbone, help=f"[{c.backbone}; sine: mlp]"
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default=c.precision,
        help=f"meta-gradients in float32 or under bfloat16 autocast (faster on CPUs with BF16 units) [{c.precision}]",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=c.workers,
        metavar="N",
        help="CPU processes sharing each meta-batch (same maths, 1.4x on 2 cores); 0 = one per core, "
        f"at most 2 [{c.workers}]",
    )
    p.add_argument(
        "--batch-tasks",
        choices=("auto", "on", "off"),
        default=c.batch_tasks,
        help="MAML/FOMAML: the meta-batch's tasks in one batched pass (vmap); auto = on a CUDA GPU and for sine, "
        f"where it pays (on the CPU a loop over image tasks is 2-3x faster) [{c.batch_tasks}]",
    )
    p.add_argument(
        "--augment",
        action="store_true",
        default=None,  # unset keeps the recipe's
        help="jitter each training image by a small random rotation, scale, shear and shift (engine/augment.py); "
        "validation and test images are left as they are",
    )
    p.add_argument("--augment-strokes", action="store_true", default=None,
                   help="with --augment: also draw each training image with a thinner or thicker pen")
    p.add_argument("--augment-strength", type=float, default=None, metavar="X",
                   help=f"with --augment: the rotation, scale, shear and shift ranges times X [{c.augment_strength}]")
    p.add_argument("--augment-elastic", type=float, default=None, metavar="AMOUNT",
                   help="with --augment: also a smooth local wobble of up to AMOUNT (the image is 2 wide; 0.08 is "
                   f"about 1 pixel at 28x28) [{c.augment_elastic}]")
    p.add_argument("--mirrors", action="store_true", default=None,
                   help="each training class's mirror image trains as another class")
    p.add_argument("--lr-decay", action="store_true", default=None,
                   help="the outer learning rate falls along a half cosine to 0 over the run (its iterations or "
                   "its --time-budget, whichever ends it)")
    p.add_argument("--composed", type=float, default=None,
                   help="this many times the training classes again as new classes, each the top half of one "
                   "character over the bottom half of another of its alphabet [0]")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="AdamW's decoupled decay of the weight matrices (not biases or BatchNorm) [0: plain Adam]")
    p.add_argument("--cosine-head", action="store_true", default=None,
                   help="SimpleShot / Proto-head / fine-tune: train with cosine logits over the classes")
    p.add_argument("--dense-loss", type=float, default=None, metavar="WEIGHT",
                   help="SimpleShot / Proto-head / fine-tune on one conv4: each place of the last block's unpooled "
                   "map is also classified as its image's class, its cross-entropy added at this weight [0]")
    p.add_argument("--episode-loss", type=float, default=None, metavar="WEIGHT",
                   help="SimpleShot / Proto-head / fine-tune: each training batch is also scored as the episode it "
                   "is (its support images give each class's mean, its queries are scored by the nearest normalised "
                   "mean, as adaptation scores), that cross-entropy added at this weight [0]")
    p.add_argument("--mixup", type=float, default=None, metavar="WEIGHT",
                   help="SimpleShot / Proto-head / fine-tune: each training batch is also mixed with itself "
                   "shuffled (at the input or after the first or second block: manifold mixup) and classified as "
                   "the mixture of its two classes, that loss added at this weight [0]")
    p.add_argument("--local-loss", type=float, default=None, metavar="WEIGHT",
                   help="SimpleShot / Proto-head / fine-tune on one conv4: each training batch's episode is also "
                   "scored as --local-match scores a new task (each query place's nearest place in a class's support "
                   "maps, on --local-levels maps), that cross-entropy added at this weight [0]")
    p.add_argument("--episodic-finish", type=float, default=None, metavar="FRACTION",
                   help="SimpleShot / Proto-head: spend this last fraction of the run (of --time-budget, or of the "
                   "iterations) on 20-way 1-shot episodes of one alphabet scored by the nearest normalised mean, as "
                   "Lake's runs are (engine.finish) [0: off]")
    p.add_argument("--same-alphabet", action="store_true", default=None,
                   help="draw each training episode's classes from one alphabet (group), as Lake's runs are")
    p.add_argument("--image-size", type=int, default=None, metavar="PIXELS",
                   help=f"Omniglot: decode the 105x105 drawings at this side (28-105); other inputs are resized "
                   f"to it [{c.image_size}]")
    p.add_argument("--frame-ink", action="store_true", default=None,
                   help="Omniglot: crop each drawing to its ink and centre it, filling 80%% of the image, as the "
                   "canvas does with a person's drawing (where and how large a character was drawn stops varying)")
    p.add_argument("--frame-stretch", type=float, default=None, metavar="TIMES",
                   help=f"with --frame-ink: stretch the ink's shorter side up to this many times, never past the "
                   f"longer (a wide character gets more of the rows; 1 keeps its proportions) [{c.frame_stretch:g}]")
    p.add_argument("--frame-moments", action="store_true", default=None,
                   help="with --frame-ink: frame each drawing by its ink's centre of mass and spread rather than its "
                   "ink's box (a part one drawer adds or leaves out at the edge moves the rest less)")
    p.add_argument("--frame-both", action="store_true", default=None,
                   help="with --frame-ink: frame each drawing both ways, by its ink's box and by its moments: the "
                   "training drawings twice, and a drawing scored read both ways, as views of it (simpleshot and "
                   "protohead)")
    p.add_argument("--channels", type=int, default=None, metavar="N",
                   help=f"conv4: filters in each of its four blocks [{c.channels}]")
    p.add_argument("--feature-map", action="store_true", default=None,
                   help="conv4: the embedding is the last block's 3x3 map instead of its pooled 64 values (where in "
                   "the drawing a feature is; same cost)")
    p.add_argument("--global-pool", action="store_true", default=None,
                   help="conv4: the last block's max over its whole 3x3 map (its 2x2 pooling skips the last row "
                   "and column)")
    p.add_argument("--stem", action="store_true", default=None,
                   help="conv4: the first convolution is 5x5 at stride 2, so --image-size 56 costs about what 28 "
                   "does (finer strokes, the same 64-value embedding)")
    p.add_argument("--members", type=int, default=None, metavar="K",
                   help="SimpleShot / Proto-head on conv4: train K independent networks side by side "
                   "(each its own loss) and let them vote; K times a step's cost [1]")
    p.add_argument("--train-on", choices=("split", "all"), default=None,
                   help="split: the data set's train split; all: every class trains, no validation (for a minimal "
                   f"background set scored on other runs) [{c.train_on}]")
    p.add_argument("--tta", type=int, default=None, metavar="VIEWS",
                   help="SimpleShot / Proto-head: class means also over this many distorted views of each support "
                   f"image (kept in the checkpoint) [{c.tta}]")
    p.add_argument("--local-match", action="store_true", default=None,
                   help="SimpleShot / Proto-head on conv4: a query is also scored by how well each place of its last "
                   "feature map finds a match in a class's examples (DN4; kept in the checkpoint)")
    p.add_argument("--local-levels", type=int, choices=(1, 2), default=None,
                   help="with --local-match: 1 matches the last block's 3x3 map; 2 the block before's 7x7 map as "
                   "well, each place within one row or column of its own (kept in the checkpoint) [1]")
    p.add_argument("--template-weight", type=float, default=None, metavar="W",
                   help="SimpleShot / Proto-head: each query's pixel distance to each class's drawing, carried onto "
                   "the query by a fitted smooth map (a deformable template), its logarithm standardised over the "
                   "classes and subtracted from the logits at this weight; about 0.2 s a query of a 20-way run on 2 "
                   "cores (kept in the checkpoint) [0: off]")
    p.add_argument("--template-turn", type=float, default=None, metavar="DEG",
                   help="with --template-weight: each fit also started from the class's drawing turned this many "
                   "degrees each way, the smallest distance kept; three times the fits (kept in the checkpoint) "
                   "[0: one start]")
    p.add_argument("--template-hubness", type=float, default=None, metavar="A",
                   help="with --template-weight: each class's distances divided by exp(A times its drawing's reach), "
                   "how far the drawing is from the other classes' drawings, so that a class drawn unusually is not "
                   "far from every query; the support set's fits too (kept in the checkpoint) [0: off]")
    p.add_argument("--adapt-block", action="store_true", default=None,
                   help="Proto-head: the adaptation steps refine the backbone's last block as well as the head "
                   "(kept in the checkpoint)")
    p.add_argument("--meta-batch", type=int, default=c.meta_batch, help=f"tasks per meta-iteration [{c.meta_batch}]")
    p.add_argument("--inner-steps", type=int, default=c.inner_steps, help=f"adaptation steps [{c.inner_steps}]")
    p.add_argument("--inner-lr", type=float, default=c.inner_lr, help=f"adaptation learning rate [{c.inner_lr}]")
    p.add_argument("--outer-lr", type=float, default=c.outer_lr, help=f"meta (Adam) learning rate [{c.outer_lr}]")
    p.add_argument("--iterations", type=int, default=c.iterations, help=f"meta-iterations [{c.iterations}]")
    p.add_argument(
        "--time-budget", type=float, default=None, metavar="SECONDS", help="stop after this much training time"
    )
    p.add_argument(
        "--val-every", type=int, default=c.val_every, help=f"validate every N iterations, 0 = never [{c.val_every}]"
    )
    p.add_argument(
        "--val-episodes", type=int, default=c.val_episodes, help=f"fixed validation episodes [{c.val_episodes}]"
    )


def _add_protocol_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", choices=PROTOCOLS, default="inductive",
                   help="inductive: each query is scored on its own with the support set (BatchNorm statistics "
                        "from the support set); transductive: the queries of an episode share batch statistics, "
                        "as some papers score [inductive]")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="main.py", description="Meta Playground: few-shot meta-learning (no subcommand opens the GUI)"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser(
        "train",
        help="meta-train headless, with a progress bar",
        description="Meta-train headless. Settings come from a recipe (--recipe; with --algo X alone, X's own "
        "recipe; with neither, 'quick', exactly what the window's Start trains); explicit options override the "
        "recipe, and [bracketed] defaults apply where the recipe names nothing.",
    )
    _add_data_args(t, defaults=False)
    t.add_argument("--recipe", choices=tuple(RECIPES), default=None,
                   help="a named bundle of settings: " + "; ".join(f"{k}: {v}" for k, v in SUMMARIES.items())
                        + "; or an algorithm's name for its own best short-run settings [quick]")
    t.add_argument("--algo", choices=ALGORITHM_CHOICES, default=None, help="[the recipe's]")
    _add_train_args(t)
    # unset options stay None, so train_config can tell them from explicit ones (the recipe fills them)
    fields = TrainConfig.__dataclass_fields__
    t.set_defaults(**{a.dest: None for a in t._actions if a.dest in fields and a.dest != "resume"})
    t.add_argument("--checkpoint", default=None, metavar="FILE", help="write the model here (atomically)")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint")

    e = sub.add_parser("eval", help="accuracy +- 95%% CI on fixed test episodes")
    e.add_argument("--checkpoint", required=True, metavar="FILE")
    _add_data_args(e, defaults=False)
    e.add_argument("--episodes", type=int, default=600, help="test episodes [600]")
    _add_protocol_arg(e)
    e.add_argument("--split", choices=("train", "val", "test"), default="test", help="[test]")
    e.add_argument("--inner-steps", type=int, default=None, help="adaptation steps (default: as trained)")
    e.add_argument("--template-weight", type=float, default=None, metavar="W",
                   help="SimpleShot / Proto-head: the deformable template distance's weight (default: as trained; "
                   "0 leaves it out, about 0.2 s a query faster on a 20-way run)")
    e.add_argument("--template-turn", type=float, default=None, metavar="DEG",
                   help="the template fit's other starts, turned this many degrees each way (default: as trained; "
                   "0: one start, a third of the fits)")
    e.add_argument("--template-hubness", type=float, default=None, metavar="A",
                   help="each class's template distances set against its drawing's reach (default: as trained; 0 "
                   "off)")
    e.add_argument(
        "--all-classes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="every class of the data set in the evaluated split (default: on when the data set "
        "differs from the checkpoint's, i.e. cross-domain evaluation)",
    )
    e.add_argument("--per-class", action="store_true",
                   help="also per-class accuracy and a confusion matrix over the test episodes (JSON: fractions)")

    m = sub.add_parser("compare", help="train several algorithms on the same data and test episodes; results table")
    _add_data_args(m, defaults=True)
    m.add_argument("--algos", required=True, metavar="A,B,...", help="algorithms to compare, e.g. maml,protonet,anil")
    _add_train_args(m)
    m.add_argument("--test-episodes", type=int, default=200, help="shared fixed test episodes [200]")
    _add_protocol_arg(m)
    m.add_argument("--csv", default=None, metavar="FILE", help="also write the results table as CSV")
    m.add_argument(
        "--checkpoint-dir", default=None, metavar="DIR", help="keep each algorithm's checkpoint here as ALGO.pt"
    )

    o = sub.add_parser("omniglot-challenge", help="Lake et al.'s 20-run 20-way one-shot task")
    o.add_argument("--checkpoint", required=True, metavar="FILE")
    o.add_argument("--runs", required=True, metavar="PATH", help="folder of run01..run20, or all_runs.zip")
    o.add_argument("--download", action="store_true",
                   help="fetch Lake's all_runs.zip (public copy, via torchvision's downloader) if --runs is missing")
    o.add_argument("--inner-steps", type=int, default=None, help="adaptation steps (default: as trained)")
    o.add_argument("--template-weight", type=float, default=None, metavar="W",
                   help="SimpleShot / Proto-head: the deformable template distance's weight (default: as trained; "
                   "0 leaves it out, about 0.2 s a query faster on a 20-way run)")
    o.add_argument("--template-turn", type=float, default=None, metavar="DEG",
                   help="the template fit's other starts, turned this many degrees each way (default: as trained; "
                   "0: one start, a third of the fits)")
    o.add_argument("--template-hubness", type=float, default=None, metavar="A",
                   help="each class's template distances set against its drawing's reach (default: as trained; 0 "
                   "off)")
    o.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    _add_protocol_arg(o)
    o.add_argument("--json", action="store_true")

    from .cli_export import add_commands

    add_commands(sub)  # export, predict
    return parser


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The options given (unset ones, None, keep TrainConfig's defaults), without a recipe."""
    keys = set(TrainConfig.__dataclass_fields__)
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in keys and v is not None}).validate()


def train_config(args: argparse.Namespace) -> TrainConfig:
    """``train``'s settings: the recipe (named, or the algorithm's own, or ``quick``) under the explicit options."""
    keys = set(TrainConfig.__dataclass_fields__)
    explicit = {k: v for k, v in vars(args).items() if k in keys and v is not None}
    name = args.recipe or (args.algo if args.algo in RECIPES else None) or ("quick" if args.algo is None else None)
    settings = recipe(name) if name else {}
    if args.recipe and args.algo and settings.get("algo") not in (None, args.algo):
        print(f"note: recipe {args.recipe} trains {settings['algo']}; --algo {args.algo} overrides it", file=sys.stderr)
    if explicit.get("dataset") in REGRESSION_DATASETS:  # the recipes are for images: the MAML paper's settings
        settings = {**settings, **REGRESSION_DEFAULTS, **({} if args.algo or args.recipe else {"algo": "maml"})}
    return TrainConfig(**{**settings, **explicit}).validate()


def cmd_train(args: argparse.Namespace) -> dict | None:
    """Meta-train; under torchrun every process trains, rank 0 alone prints (others return None)."""
    from .distributed import init_from_env, shutdown

    config = train_config(args)
    dist = init_from_env(config.device)
    try:
        from .data import load_source

        if config.objective == "regression":  # sine tasks are generated, there is no data set to load
            return _train(config, dist)
        pool = load_source(config.dataset, config.data_root, rotations=config.rotations, seed=config.seed,
                           allow_download=args.download, image_size=config.image_size, frame=config.frames_ink)
        if dist.is_main:
            _report_short_classes(
                pool, config.shots + config.queries, ("train", "val") if config.val_every else ("train",)
            )
        return _train(config, dist, pool)
    finally:
        shutdown(dist)


def _progress_bar(config: TrainConfig, start_iteration: int):
    """A bar over the iterations, or over the time budget's seconds (with time left) when there is one."""
    from tqdm import tqdm

    desc = f"{config.algo} {config.ways}-way {config.shots}-shot"
    if config.objective == "regression":
        desc = f"{config.algo} {config.dataset} K={config.shots}"
    if config.time_budget:
        return tqdm(total=config.time_budget, file=sys.stderr, desc=desc, dynamic_ncols=True,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s, {remaining} left{postfix}")
    return tqdm(total=config.iterations, initial=start_iteration, file=sys.stderr, unit="it", desc=desc,
                dynamic_ncols=True)


def _close_bar(bar) -> None:
    """Close the bar without printing its last state a second time when it is already shown."""
    if bar.n == bar.last_print_n:
        bar.disable = True
        bar.fp.write("\n")
    else:
        bar.close()


def _train(config: TrainConfig, dist: DistContext, pool: ClassPool | None = None) -> dict | None:

    from .events import Finished, IterationMetrics, Started, ValidationMetrics
    from .trainer import run

    bar = None
    result: dict = {}
    for event in run(config, pool=pool, dist=dist):
        if not dist.is_main:
            continue
        if isinstance(event, Started):
            bar = _progress_bar(config, event.start_iteration)
        elif isinstance(event, IterationMetrics):
            if config.time_budget:  # the bar counts seconds of the budget; the postfix counts iterations
                bar.n = min(event.elapsed, config.time_budget)
            else:
                bar.n = event.iteration
            speed = f"{event.tasks_per_second:.1f}" if event.tasks_per_second > 0 else "warming up"
            metric = "mse" if event.metric == "mse" else "acc"
            bar.set_postfix_str(
                f"it={event.iteration}, loss={event.loss:.3f}, {metric}={event.accuracy:.3f}, tasks/s={speed}",
                refresh=False,
            )
            bar.update(0)
        elif isinstance(event, ValidationMetrics) and event.metric == "mse":
            bar.write(f"iteration {event.iteration}: validation MSE {event.accuracy:.3f} +- {event.ci95:.3f} "
                      f"(after adapting to {config.shots} points, {event.episodes} tasks)", file=sys.stderr)
        elif isinstance(event, ValidationMetrics):
            standard = (f"; 5-way 1-shot {100 * event.standard_accuracy:.2f}% +- {100 * event.standard_ci95:.2f}"
                        if event.standard_accuracy is not None else "")
            bar.write(
                f"iteration {event.iteration}: validation accuracy {100 * event.accuracy:.2f}% +- "
                f"{100 * event.ci95:.2f} ({config.ways}-way {config.shots}-shot, {event.episodes} episodes){standard}",
                file=sys.stderr,
            )
        elif isinstance(event, Finished):
            _close_bar(bar)
            if event.reason in ("diverged", "out of memory"):  # the checkpoint keeps the last good weights
                raise DataError(event.message)
            print(f"{event.message}; {event.seconds:.1f} s, {event.tasks_per_second:.1f} tasks/s", file=sys.stderr)
            result = {
                "iterations": event.iterations,
                "seconds": round(event.seconds, 3),
                "tasks_per_second": round(event.tasks_per_second, 3),
                "train_loss": event.train_loss,
                "train_acc": event.train_acc,
                "val_acc": event.val_acc,
                "val_ci95": event.val_ci95,
                "val_shape": event.val_shape,
                "val_standard_acc": event.val_standard_acc,
                "val_standard_ci95": event.val_standard_ci95,
                "checkpoint": event.checkpoint,
                "reason": event.reason,
                "world_size": event.world_size,
            }
            if config.objective == "regression":  # the metric is a mean squared error, not an accuracy: say so
                result.update(train_acc=None, val_acc=None, val_ci95=None, val_standard_acc=None,
                              val_standard_ci95=None, train_mse=event.train_acc, val_mse=event.val_acc,
                              val_mse_ci95=event.val_ci95)
    return result if dist.is_main else None


def _score_as_asked(algo: "Algorithm", args: argparse.Namespace) -> None:
    """The checkpoint's scoring settings, less those ``--inner-steps`` and ``--template-weight``, ``--template-turn``
    and ``--template-hubness`` change."""
    if args.inner_steps is not None:
        algo.config = replace(algo.config, inner_steps=args.inner_steps)
    for name in ("template_weight", "template_turn", "template_hubness"):
        if getattr(args, name) is not None:
            TrainConfig(**{name: getattr(args, name)}).validate()  # (the config's range; DataError names the flag)
            algo.config = replace(algo.config, **{name: getattr(args, name)})


def cmd_eval(args: argparse.Namespace) -> dict:
    from .data import load_source
    from .models import scoring_protocol
    from .tasks import TaskSampler
    from .trainer import evaluate, resolve_device, restore

    device = resolve_device(args.device)
    algo, trained, _ = restore(args.checkpoint, device)
    _score_as_asked(algo, args)
    if (args.dataset or trained.dataset) in REGRESSION_DATASETS or trained.objective == "regression":
        return _eval_regression(args, algo, trained, device)
    dataset = args.dataset or trained.dataset
    root = args.data_root if args.data_root is not None else (trained.data_root if dataset == trained.dataset else None)
    all_classes = args.all_classes if args.all_classes is not None else dataset != trained.dataset
    pool = load_source(
        dataset,
        root,
        rotations=args.rotations,
        seed=trained.seed,
        all_classes=all_classes,
        allow_download=args.download,
        image_size=trained.image_size if dataset == "omniglot" else 28,
        frame=trained.frames_ink if dataset == "omniglot" else 0,
    )
    if all_classes and args.all_classes is None:
        print(
            f"cross-domain evaluation ({trained.dataset} -> {dataset}): every class of {dataset} is used",
            file=sys.stderr,
        )
    ways = args.ways or trained.ways
    _report_short_classes(pool, (args.shots or trained.shots) + (args.queries or trained.queries), (args.split,))
    shots = args.shots or trained.shots
    sampler = TaskSampler(pool, args.split, ways, shots, args.queries or trained.queries, seed=args.seed + 1000)
    tasks = sampler.fixed(args.episodes)
    if algo.config.template_weight:
        from .deformation import FITS_PER_SECOND, starts
        from .framing import BothFramings

        reads = 2 if isinstance(algo.config.frame_ink, BothFramings) else 1  # (a drawing framed both ways: 2 fits)
        reads *= len(starts(algo.config.template_turn))  # (and each fit started from each turn)
        fits = args.episodes * ways * (args.queries or trained.queries) * ways * shots * reads
        if algo.config.template_hubness:  # (and each support drawing to each class's, once an episode)
            fits += args.episodes * (ways * shots) ** 2 * reads
        print(f"note: the template distance fits each query to each support drawing ({fits:,} fits, about "
              f"{fits / FITS_PER_SECOND / 60:,.0f} minutes on 2 cores); --template-weight 0 scores without it",
              file=sys.stderr)
    with scoring_protocol(args.protocol):
        acc, ci = evaluate(algo, tasks, device)
    line = (f"{args.split} accuracy {100 * acc:.2f}% +- {100 * ci:.2f} ({ways}-way {shots}-shot, "
            f"{args.episodes} episodes, {args.protocol})")
    print(line, file=sys.stderr if args.json else sys.stdout)
    result = {"accuracy": acc, "ci95": ci, "episodes": args.episodes, "ways": ways, "shots": shots,
              "protocol": args.protocol}
    if args.per_class:
        from .confusion import episode_confusion, format_per_class

        with scoring_protocol(args.protocol):
            confusion = episode_confusion(algo, tasks, pool.class_names, device)
        print(format_per_class(confusion), file=sys.stderr if args.json else sys.stdout)
        result["per_class"] = confusion.to_json()
    return result


def _eval_regression(args: argparse.Namespace, algo, trained: TrainConfig, device) -> dict:
    """Query MSE after 0..inner-steps adaptation steps on fixed sine tasks (the seed chooses them)."""
    from .metrics import mean_ci95
    from .regression import EVAL_QUERIES, SineTasks, mse_by_step, use_one_thread

    dataset = args.dataset or trained.dataset
    if dataset != trained.dataset:
        raise DataError(f"{args.checkpoint} was trained on {trained.dataset} and cannot be evaluated on {dataset}; "
                        f"leave out --dataset or pass --dataset {trained.dataset}")
    shots, steps = args.shots or trained.shots, algo.config.inner_steps
    queries = args.queries or EVAL_QUERIES
    if shots < 1 or queries < 1 or args.episodes < 1:
        raise DataError("--shots, --queries and --episodes must be at least 1")
    use_one_thread()
    sampler = SineTasks(shots, queries, seed=args.seed + 1000, split=args.split)
    tasks = [t.to(device) for t in sampler.fixed(args.episodes)]
    rows = mse_by_step(algo, tasks, steps)
    mse, ci = mean_ci95([row[-1] for row in rows])
    by_step = [sum(row[s] for row in rows) / len(rows) for s in range(steps + 1)]
    print(f"{args.split} MSE {mse:.3f} +- {ci:.3f} after {steps} step(s) (K={shots}, {args.episodes} tasks of "
          f"{queries} query points; before adapting {by_step[0]:.3f})", file=sys.stderr if args.json else sys.stdout)
    return {"mse": mse, "ci95": ci, "mse_by_step": by_step, "episodes": args.episodes, "protocol": "inductive",
            "shots": shots, "inner_steps": steps, "queries": queries}


def _report_short_classes(pool: ClassPool, need: int, splits: Sequence[str]) -> None:
    """Name, up front, the classes too small for a task (K + Q examples); the sampler leaves them out."""
    for split in splits:
        short = pool.short_classes(need, split)
        if short:
            names = ", ".join(f"{n} ({k})" for n, k in short)
            print(
                f"note: {len(short)} {split} class(es) have fewer than {need} examples (shots + queries) "
                f"and are left out: {names}",
                file=sys.stderr,
            )


def cmd_challenge(args: argparse.Namespace) -> dict:
    from .challenge import load_runs, run_challenge
    from .models import scoring_protocol
    from .trainer import resolve_device, restore

    device = resolve_device(args.device)
    algo, trained, _ = restore(args.checkpoint, device)
    _score_as_asked(algo, args)
    if args.download:
        from .download import fetch_runs

        args.runs = str(fetch_runs(args.runs))
    runs = load_runs(args.runs, trained.image_size, trained.frames_ink)  # the drawings as the model was trained on
    with scoring_protocol(args.protocol):
        result = run_challenge(algo, runs, device, steps=args.inner_steps)
    print(f"omniglot challenge error rate {100 * result['error_rate']:.2f}% over {result['runs']} runs (20-way 1-shot, "
          f"{args.protocol})", file=sys.stderr if args.json else sys.stdout)
    return {**result, "protocol": args.protocol}


def cmd_compare(args: argparse.Namespace) -> dict:
    from .compare import run_compare_cli

    if args.dataset in REGRESSION_DATASETS:
        raise DataError(
            f"compare runs image classification; for {args.dataset} train and eval each algorithm "
            f"(main.py train --dataset {args.dataset} --algo A, then main.py eval), or use bench/sine_mse.py"
        )
    base = _config_from_args(argparse.Namespace(**{**vars(args), "algo": "protonet"}))
    return run_compare_cli(args, base)


def _cmd_export(args: argparse.Namespace) -> dict:
    from .cli_export import cmd_export

    return cmd_export(args)


def _cmd_predict(args: argparse.Namespace) -> dict:
    from .cli_export import cmd_predict

    return cmd_predict(args)


COMMANDS = {"train": cmd_train, "compare": cmd_compare, "eval": cmd_eval, "omniglot-challenge": cmd_challenge,
            "export": _cmd_export, "predict": _cmd_predict}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        result = COMMANDS[args.command](args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # an unexpected error: say so, keep the traceback for a bug report
        traceback.print_exc()
        print(f"unexpected error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if getattr(args, "json", False) and result is not None:
        print(json.dumps(result))
    return EXIT_OK
