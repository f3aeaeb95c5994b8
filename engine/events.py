"""Typed, frozen events that meta-training, compare mode and adaptation emit, one per step.

The CLI prints them, the tests assert on them and the GUI plots them; none of
them knows about the others. Torch-free (plain numbers and strings), so the
window imports this module at start-up and dispatches with ``isinstance``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class StepStats:
    """What one adaptation step achieved on the support set.

    ``state`` is engine-internal: when the algorithm offers it, calling it builds the model as it
    is at this step (a Learner; nothing is computed unless it is called). The adaptation view uses
    it for the per-step embedding and leave-one-out curve; the facade never hands it to the window.
    """

    step: int
    loss: float
    accuracy: float
    loo_accuracy: float | None = None
    state: Callable[[], object] | None = field(default=None, repr=False, compare=False)


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
    #: "train", or "finish" in an episodic finish (engine.finish): the loss and accuracy are then a 20-way
    #: episode's, by the nearest-mean rule, not the classifier's over every training class
    phase: str = "train"


@dataclass(frozen=True)
class ValidationMetrics:
    """Accuracy on the fixed validation episodes of the training task shape, with its 95% confidence
    half-width; and, when that shape is not 5-way 1-shot, the standard 5-way 1-shot accuracy as well,
    so that runs of different shapes compare.

    Regression runs (sine) report the query MSE after adaptation in ``accuracy`` and say so in ``metric``.
    """

    run_id: int
    iteration: int
    accuracy: float
    ci95: float
    episodes: int
    ways: int = 0  # the task shape ``accuracy`` scores (0: not known)
    shots: int = 0
    standard_accuracy: float | None = None  # 5-way 1-shot (None when the training shape is already that)
    standard_ci95: float | None = None
    metric: str = "accuracy"  # "accuracy" (a fraction, higher is better) or "mse" (lower is better)

    @property
    def shape(self) -> str:
        return f"{self.ways}-way {self.shots}-shot" if self.ways else ""

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
    val_shape: str = ""  # the task shape val_acc scores, e.g. "32-way 1-shot"
    val_standard_acc: float | None = None  # the last 5-way 1-shot validation (the shape every run reports)
    val_standard_ci95: float | None = None
    world_size: int = 1  # processes that meta-trained together (torchrun)


Event = Started | IterationMetrics | ValidationMetrics | Finished


# -- compare mode (engine.compare): the trainer's events tagged by algorithm, then the scores ---------


@dataclass(frozen=True)
class AlgoEvent:
    """A trainer event of one algorithm's run."""

    algo: str
    event: Event


@dataclass(frozen=True)
class Evaluated:
    """One algorithm scored on the shared test episodes."""

    algo: str
    accuracy: float
    ci95: float
    episodes: int
    seconds: float  # evaluation time


@dataclass(frozen=True)
class ResultRow:
    """One line of the results table."""

    algo: str
    accuracy: float
    ci95: float
    seconds: float  # training wall time (pauses excluded)
    tasks_per_second: float
    iterations: int
    reason: str


@dataclass(frozen=True)
class CompareResults:
    """The final table; ``episodes`` is the number of shared test episodes."""

    rows: tuple[ResultRow, ...]
    episodes: int
    complete: bool  # False when a stop request ended the comparison early


@dataclass(frozen=True)
class GateSummary:
    """The mixture-of-experts gate over the shared test episodes (``engine.algorithms.moe.gate_summary``)."""

    algo: str
    mean_gate: tuple[float, ...]  # mean weight per expert
    top_share: tuple[float, ...]  # fraction of tasks where each expert weighs most
    mean_entropy: float  # nats; 0 = one expert per task
    max_entropy: float  # log(experts) = a uniform gate
    tasks: int


CompareEvent = AlgoEvent | Evaluated | CompareResults
