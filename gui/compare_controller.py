"""Compare mode in the GUI: the work done on the worker thread, and the run's model.

:func:`compare_work` wraps :func:`engine.compare.compare` (the same loop the
CLI's ``main.py compare`` uses) into a ``work(control)`` generator for
:meth:`gui.training_controller.TrainingController.start`, so compare mode
reuses the Meta-train tab's worker thread, queue and stop handling. After the
mixture of experts is scored it also yields a :class:`GateSummary` of its
gate on the same fixed test episodes.

:class:`CompareState` lives on the GUI thread: it folds the incoming events
into per-algorithm curves (:class:`gui.metrics_plot.RunMetrics`), result rows
and the gate summary, which :mod:`gui.compare_view` draws.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .metrics_plot import RunMetrics


@dataclass(frozen=True)
class GateSummary:
    """The mixture-of-experts gate over the shared test episodes (see ``engine.algorithms.moe.gate_summary``)."""

    algo: str
    mean_gate: tuple[float, ...]  # mean weight per expert
    top_share: tuple[float, ...]  # fraction of tasks where each expert weighs most
    mean_entropy: float  # nats; 0 = one expert per task
    max_entropy: float  # log(experts) = a uniform gate
    tasks: int


def moe_gate_summary(checkpoint: str | Path, config: Any, pool: Any, episodes: int) -> GateSummary:
    """Restore a trained ``moe`` and summarise its gate on compare's test episodes. Worker thread."""
    from engine.algorithms.moe import gate_summary
    from engine.compare import TEST_SEED_OFFSET
    from engine.tasks import TaskSampler
    from engine.trainer import resolve_device, restore

    algo, _, _ = restore(str(checkpoint), resolve_device(config.device))
    tasks = TaskSampler(pool, "test", config.ways, config.shots, config.queries, seed=config.seed + TEST_SEED_OFFSET).fixed(episodes)
    s = gate_summary(algo, tasks)
    return GateSummary(algo.name, tuple(s["mean_gate"]), tuple(s["top_share"]), s["mean_entropy"], s["max_entropy"], s["tasks"])


def compare_work(configs: Sequence[Any], test_episodes: int, pool: Any) -> Callable[[Any], Iterator[Any]]:
    """A ``work(control)`` generator: compare's events, plus a GateSummary after ``moe`` is scored."""

    def work(control: Any) -> Iterator[Any]:
        from engine.compare import Evaluated, compare

        with tempfile.TemporaryDirectory(prefix="meta-playground-compare-") as folder:
            for item in compare(configs, test_episodes=test_episodes, pool=pool, control=control, checkpoint_dir=folder):
                yield item
                if isinstance(item, Evaluated) and not control.stop_requested:  # per-class view, same episodes
                    from engine.api_export import compare_insight

                    cfg = next(c for c in configs if c.algo == item.algo)
                    yield compare_insight(Path(folder) / f"{item.algo}.pt", cfg, pool, test_episodes)
                if isinstance(item, Evaluated) and item.algo == "moe" and not control.stop_requested:
                    cfg = next(c for c in configs if c.algo == "moe")
                    yield moe_gate_summary(Path(folder) / "moe.pt", cfg, pool, test_episodes)

    return work


@dataclass
class AlgoProgress:
    """What has arrived for one algorithm so far."""

    metrics: RunMetrics
    finished: Any = None  # the trainer's Finished event
    evaluated: Any = None  # compare's Evaluated (test accuracy on the shared episodes)
    total: int = 0  # iterations asked for


@dataclass
class CompareState:
    """A comparison's events folded into curves, rows and the gate (GUI thread)."""

    algos: list[str]
    per_algo: dict[str, AlgoProgress] = field(default_factory=dict)
    current: str | None = None  # the algorithm being trained or scored
    results: Any = None  # engine.compare.CompareResults once the comparison ends
    gate: GateSummary | None = None
    confusions: dict[str, Any] = field(default_factory=dict)  # algo -> engine.confusion.Confusion on the test tasks

    def add(self, item: Any) -> str:
        """Fold one event in; returns its kind ("curve", "row", "gate", "results", "started", "other")."""
        kind = type(item).__name__
        if kind == "AlgoEvent":
            progress = self.per_algo.setdefault(item.algo, AlgoProgress(RunMetrics(item.algo)))
            self.current = item.algo
            event, name = item.event, type(item.event).__name__
            if name == "IterationMetrics":
                progress.metrics.add_iteration(event.iteration, event.loss, 100.0 * event.accuracy)
                progress.total = event.total
                return "curve"
            if name == "ValidationMetrics":
                progress.metrics.add_validation(event.iteration, 100.0 * event.accuracy, 100.0 * event.ci95)
                return "curve"
            if name == "Finished":
                progress.finished = event
                return "row"
            return "started" if name == "Started" else "other"
        if kind == "Evaluated":
            self.per_algo[item.algo].evaluated = item
            return "row"
        if kind == "AlgoConfusion":
            self.confusions[item.algo] = item.confusion
            return "confusion"
        if kind == "GateSummary":
            self.gate = item
            return "gate"
        if kind == "CompareResults":
            self.results = item
            self.current = None
            return "results"
        return "other"

    def rows(self) -> list[tuple[str, Any, Any]]:
        """(algo, Finished or None, Evaluated or None) in run order, for the algorithms started so far."""
        return [(a, p.finished, p.evaluated) for a, p in self.per_algo.items()]
