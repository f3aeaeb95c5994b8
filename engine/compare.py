"""Compare mode: several algorithms, same data, same seed, same test episodes.

Each algorithm is meta-trained by the shared loop (:func:`engine.trainer.run`,
no loop of its own) with an identical config except ``algo``, then restored
from its checkpoint and scored on one fixed set of test episodes, built once
and shared, so differences in accuracy are the algorithms' and not the
episodes' (the same drawings, each read as its algorithm was trained to read
them: Omniglot framed to its ink, or framed both ways). :func:`compare` is a
generator like ``run``: it yields the trainer's events tagged with the
algorithm's name, an :class:`Evaluated` per algorithm and a final
:class:`CompareResults`, so a GUI can drive it from a worker thread and the
CLI can print it.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Sequence

from .checkpoint import atomic_write
from .config import ALGORITHM_CHOICES, TrainConfig
from .data import ClassPool, DataError, load_source
from .events import AlgoEvent, CompareEvent, CompareResults, Evaluated, Finished, ResultRow
from .tasks import TaskSampler
from .trainer import RunControl, evaluate, pool_as_trained, resolve_device, restore, run

SHARED_KEYS = ("dataset", "data_root", "rotations", "seed", "ways", "shots", "queries", "device")
TEST_SEED_OFFSET = 1000  # test episodes use seed + 1000, as `main.py eval` does


def configs_for(base: TrainConfig, algos: Sequence[str]) -> list[TrainConfig]:
    """One config per algorithm: ``base`` with ``algo`` replaced (no checkpoint, no resume)."""
    names = [a.strip() for a in algos if a.strip()]
    if not names:
        raise DataError("--algos needs at least one algorithm, e.g. --algos maml,protonet,anil")
    unknown = [a for a in names if a not in ALGORITHM_CHOICES]
    if unknown:
        raise DataError(f"unknown algorithm {unknown[0]!r} in --algos; choose from {', '.join(ALGORITHM_CHOICES)}")
    if len(set(names)) != len(names):
        raise DataError(f"--algos names an algorithm twice ({','.join(names)}); list each once")
    return [base.replace(algo=a, checkpoint=None, resume=False).validate() for a in names]


def compare(
    configs: Sequence[TrainConfig],
    test_episodes: int = 200,
    pool: ClassPool | None = None,
    control: RunControl | None = None,
    checkpoint_dir: str | Path | None = None,
) -> Iterator[CompareEvent]:
    """Train each config in turn, evaluate all on the same test episodes, yield events then the table.

    The configs must agree on the data, seed and task shape (``SHARED_KEYS``).
    Checkpoints go to ``checkpoint_dir`` as ``ALGO.pt`` (a temporary folder
    when None). A stop request on ``control`` ends the current run and the
    comparison; the table then holds the algorithms already evaluated.
    """
    if not configs:
        raise DataError("compare needs at least one algorithm")
    if test_episodes < 1:
        raise DataError(f"test episodes must be at least 1 (got {test_episodes})")
    first = configs[0]
    for cfg in configs[1:]:
        for key in SHARED_KEYS:
            if getattr(cfg, key) != getattr(first, key):
                raise DataError(
                    f"compared runs must share {key} (got {getattr(first, key)!r} and {getattr(cfg, key)!r})"
                )
    control = control or RunControl()
    device = resolve_device(first.device)
    if pool is None:
        pool = load_source(first.dataset, first.data_root, rotations=first.rotations, seed=first.seed)
    tests: dict[tuple, tuple[ClassPool, list]] = {}  # the test episodes, drawn once for each way of reading them
    rows: list[ResultRow] = []
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        folder = Path(checkpoint_dir) if checkpoint_dir is not None else Path(tmp)
        for cfg in configs:
            cfg = cfg.replace(checkpoint=str(folder / f"{cfg.algo}.pt"), resume=False)
            read = (cfg.image_size, cfg.frames_ink)
            if read not in tests:
                as_read = pool_as_trained(cfg, pool)
                tests[read] = as_read, shared_test_episodes(as_read, cfg, test_episodes)
            trained_on, episodes = tests[read]
            finished = None
            for event in run(cfg, control, trained_on):
                if isinstance(event, Finished):
                    finished = event
                yield AlgoEvent(cfg.algo, event)
            if control.stop_requested or finished is None or finished.iterations == 0:
                break
            algo, _, _ = restore(cfg.checkpoint, device)
            began = time.perf_counter()
            acc, ci = evaluate(algo, episodes, device, should_stop=lambda: control.stop_requested)
            yield Evaluated(cfg.algo, acc, ci, len(episodes), time.perf_counter() - began)
            rows.append(
                ResultRow(
                    cfg.algo, acc, ci, finished.seconds, finished.tasks_per_second, finished.iterations, finished.reason
                )
            )
    yield CompareResults(tuple(rows), test_episodes, complete=len(rows) == len(configs))


def shared_test_episodes(pool: ClassPool, config: TrainConfig, episodes: int) -> list:
    """Compare's shared test episodes of ``pool`` (as ``config`` reads it: :func:`engine.trainer.pool_as_trained`):
    the same classes and drawings for every algorithm, whichever way each reads them."""
    sampler = TaskSampler(pool, "test", config.ways, config.shots, config.queries, seed=config.seed + TEST_SEED_OFFSET)
    return sampler.fixed(episodes)


def format_table(results: CompareResults) -> str:
    """A plain-text table: algorithm, accuracy +- 95% CI, wall time, tasks/s."""
    lines = [f"{'algorithm':<10} {'accuracy %':>16} {'train s':>8} {'tasks/s':>8} {'iters':>6}"]
    for r in results.rows:
        lines.append(
            f"{r.algo:<10} {100 * r.accuracy:>8.2f} +- {100 * r.ci95:<5.2f} {r.seconds:>8.1f} "
            f"{r.tasks_per_second:>8.1f} {r.iterations:>6}"
        )
    lines.append(f"({results.episodes} shared test episodes{'' if results.complete else '; stopped early'})")
    return "\n".join(lines)


def results_json(results: CompareResults) -> dict:
    """The ``--json`` object: ``{"results": [{"algo", "accuracy", "ci95", "seconds", "tasks_per_second", ...}]}``."""
    return {"results": [asdict(r) for r in results.rows], "episodes": results.episodes, "complete": results.complete}


def write_csv(results: CompareResults, path: str | Path) -> None:
    """Write the table as CSV (atomically), one row per algorithm."""
    buf = io.StringIO()
    fields = list(ResultRow.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in results.rows:
        writer.writerow(asdict(r))
    data = buf.getvalue().encode()
    atomic_write(path, lambda f: f.write(data))


def run_compare_cli(args: argparse.Namespace, base: TrainConfig) -> dict:
    """``main.py compare``: progress on stderr, the table on stdout, optional CSV; returns the JSON object."""
    from .models import scoring_protocol

    configs = configs_for(base, args.algos.split(","))
    with scoring_protocol(args.protocol):  # validation and test scoring alike (a generator runs in our context)
        runs = compare(configs, test_episodes=args.test_episodes, checkpoint_dir=args.checkpoint_dir)
        items = list(_relay_progress(runs, base))
    results = items[-1]
    print(format_table(results))
    if args.csv:
        write_csv(results, args.csv)
    return {**results_json(results), "protocol": args.protocol}


def _relay_progress(items: Iterator, base: TrainConfig) -> Iterator:
    """Show each algorithm's progress bar and results on stderr while passing the items on."""
    from tqdm import tqdm

    from .events import IterationMetrics, Started

    bar = None
    for item in items:
        yield item
        if isinstance(item, AlgoEvent):
            event = item.event
            if isinstance(event, Started):
                bar = tqdm(total=base.iterations, file=sys.stderr, unit="it", desc=item.algo, dynamic_ncols=True)
            elif isinstance(event, IterationMetrics) and bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{event.loss:.3f}", acc=f"{event.accuracy:.3f}", refresh=False)
            elif isinstance(event, Finished) and bar is not None:
                bar.close()
                print(
                    f"{item.algo}: {event.message}; {event.seconds:.1f} s, {event.tasks_per_second:.1f} tasks/s",
                    file=sys.stderr,
                )
        elif isinstance(item, Evaluated):
            print(
                f"{item.algo}: test accuracy {100 * item.accuracy:.2f}% +- {100 * item.ci95:.2f} "
                f"({item.episodes} episodes)",
                file=sys.stderr,
            )
