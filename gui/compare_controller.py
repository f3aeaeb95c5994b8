"""Compare mode in the GUI: the run's model, folded from its events on the GUI thread.

The work itself is :func:`engine.api.compare_work` (the same loop the CLI's
``main.py compare`` uses, plus a gate summary after the mixture of experts is
scored), driven on the Meta-train tab's kind of worker
(:meth:`gui.training_controller.TrainingController.start` with ``work=``).

:class:`CompareState` folds the incoming events into per-algorithm curves
(:class:`gui.metrics_plot.RunMetrics`), result rows and the gate summary,
which :mod:`gui.compare_view` draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.api_export import AlgoConfusion, Confusion
from engine.events import (
    AlgoEvent,
    CompareResults,
    Evaluated,
    Finished,
    GateSummary,
    IterationMetrics,
    Started,
    ValidationMetrics,
)

from .metrics_plot import RunMetrics


@dataclass
class AlgoProgress:
    """What has arrived for one algorithm so far."""

    metrics: RunMetrics
    finished: Finished | None = None  # the trainer's Finished event
    evaluated: Evaluated | None = None  # test accuracy on the shared episodes
    total: int = 0  # iterations asked for


@dataclass
class CompareState:
    """A comparison's events folded into curves, rows and the gate (GUI thread)."""

    algos: list[str]
    per_algo: dict[str, AlgoProgress] = field(default_factory=dict)
    current: str | None = None  # the algorithm being trained or scored
    results: CompareResults | None = None  # once the comparison ends
    gate: GateSummary | None = None
    confusions: dict[str, Confusion] = field(default_factory=dict)  # algo -> its confusion on the test tasks

    def add(self, item: object) -> str:
        """Fold one event in; returns its kind ("curve", "row", "gate", "results", "started", "other")."""
        if isinstance(item, AlgoEvent):
            progress = self.per_algo.setdefault(item.algo, AlgoProgress(RunMetrics(item.algo)))
            self.current = item.algo
            event = item.event
            if isinstance(event, IterationMetrics):
                progress.metrics.add_iteration(event.iteration, event.loss, 100.0 * event.accuracy)
                progress.total = event.total
                return "curve"
            if isinstance(event, ValidationMetrics):
                progress.metrics.add_validation(event.iteration, 100.0 * event.accuracy, 100.0 * event.ci95)
                return "curve"
            if isinstance(event, Finished):
                progress.finished = event
                return "row"
            return "started" if isinstance(event, Started) else "other"
        if isinstance(item, Evaluated):
            self.per_algo[item.algo].evaluated = item
            return "row"
        if isinstance(item, AlgoConfusion):
            self.confusions[item.algo] = item.confusion
            return "confusion"
        if isinstance(item, GateSummary):
            self.gate = item
            return "gate"
        if isinstance(item, CompareResults):
            self.results = item
            self.current = None
            return "results"
        return "other"

    def rows(self) -> list[tuple[str, Finished | None, Evaluated | None]]:
        """(algo, Finished or None, Evaluated or None) in run order, for the algorithms started so far."""
        return [(a, p.finished, p.evaluated) for a, p in self.per_algo.items()]
