"""Typed, frozen events that meta-training and adaptation emit, one per step.

The CLI prints them, the tests assert on them and the GUI plots them; none of
them knows about the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .algorithms.base import StepStats

AdaptationStep = StepStats  # one inner step (or prototype computation) on a support set


@dataclass(frozen=True)
class Started:
    """The data is loaded and the model built; training is about to begin."""

    run_id: int
    config: dict
    data_summary: dict
    device: str
    parameters: int
    start_iteration: int = 0
    processes: int = 1  # this one plus the helper processes sharing each meta-batch (engine.task_workers)


@dataclass(frozen=True)
class IterationMetrics:
    """One meta-iteration: mean query loss and accuracy over its meta-batch."""

    run_id: int
    iteration: int  # 1-based count of completed meta-iterations
    total: int
    loss: float
    accuracy: float
    elapsed: float
    tasks_per_second: float
    processes: int = 1  # processes that shared this meta-batch (helpers join once ready)
    metric: str = "accuracy"  # what ``accuracy`` holds: "accuracy" (classification) or "mse" (regression tasks)


@dataclass(frozen=True)
class ValidationMetrics:
    """Accuracy on the fixed validation episodes, with its 95% confidence half-width.

    Regression runs (sine) report the query MSE after adaptation in ``accuracy`` and say so in ``metric``.
    """

    run_id: int
    iteration: int
    accuracy: float
    ci95: float
    episodes: int
    metric: str = "accuracy"  # "accuracy" (a fraction, higher is better) or "mse" (lower is better)

    @property
    def mse(self) -> float | None:
        """The mean squared error of a regression run's validation, else None."""
        return self.accuracy if self.metric == "mse" else None


@dataclass(frozen=True)
class Finished:
    """The run ended; ``reason`` says why and ``message`` explains it in words."""

    run_id: int
    iterations: int
    seconds: float
    reason: str  # "completed", "time budget", "stopped", "diverged", "out of memory"
    message: str = ""
    checkpoint: str | None = None
    tasks_per_second: float = 0.0
    train_loss: float = float("nan")
    train_acc: float = float("nan")
    val_acc: float | None = None
    val_ci95: float | None = None
    history: dict = field(default_factory=dict, repr=False)
    world_size: int = 1  # processes that meta-trained together (torchrun)


Event = Started | IterationMetrics | ValidationMetrics | Finished
