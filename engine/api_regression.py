"""The Regression tab's way into the engine: numpy and dataclasses in and out, no Qt.

Everything here runs on the window's worker threads; torch is imported inside
the functions, so the window opens before it is loaded. A trained model
travels to the window as an opaque :class:`RegressionModel` handle that it
only passes back.

The lead folds this into ``engine/api.py`` when the facade lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:  # engine.config imports torch (through the algorithms): only inside the functions
    from .config import TrainConfig

GRID_POINTS = 200
X_RANGE = (-5.0, 5.0)  # engine.regression.X_RANGE, without importing torch here
ALGORITHMS = ("maml", "fomaml", "metasgd", "anil", "reptile")  # what the tab meta-trains; "finetune" is the baseline


@dataclass(frozen=True)
class SineSample:
    """A hidden sine task: its wave, its K support points and its true curve on the plotting grid."""

    amplitude: float
    phase: float
    x: np.ndarray
    y: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray


@dataclass(frozen=True)
class Adaptation:
    """One model's fit to a set of points after 0..steps gradient steps.

    ``curves[s]`` is the prediction on ``grid_x`` after ``s`` steps (0 = the meta-learned prior);
    ``support_mse[s]`` its MSE on the points; ``true_mse[s]`` its MSE against the true curve on the
    grid when one was given; ``seconds`` the time the engine took (all steps and predictions).
    """

    label: str
    grid_x: np.ndarray
    curves: np.ndarray  # [steps + 1, grid]
    support_mse: list[float]
    true_mse: list[float] | None
    seconds: float


@dataclass
class RegressionModel:
    """An opaque handle on a trained sine model (the window passes it back, never looks inside)."""

    label: str
    algorithm: Any = field(repr=False)
    inner_lr: float
    checkpoint: str


def grid(points: int = GRID_POINTS) -> np.ndarray:
    return np.linspace(*X_RANGE, points)


def sample_sine(shots: int, seed: int) -> SineSample:
    """A hidden wave of the paper's family and ``shots`` points on it, deterministic by seed."""
    from .regression import sample_wave

    rng = np.random.default_rng([seed, 77])
    wave = sample_wave(rng)
    x = rng.uniform(*X_RANGE, size=shots)
    g = grid()
    return SineSample(wave.amplitude, wave.phase, x, wave(x), g, wave(g))


def training_config(algo: str, shots: int, seconds: float, checkpoint: str, seed: int = 0) -> "TrainConfig":
    """A sine run of ``algo`` for ``seconds`` of meta-training, the paper's settings otherwise."""
    from .config import REGRESSION_DEFAULTS, TrainConfig

    return TrainConfig(
        dataset="sine",
        algo=algo,
        iterations=10**6,
        time_budget=seconds,
        val_every=200,
        val_episodes=100,
        seed=seed,
        workers=1,
        device="cpu",
        checkpoint=checkpoint,
        **{**REGRESSION_DEFAULTS, "shots": shots},
    ).validate()


def train(algo: str, shots: int, seconds: float, folder: str, baseline: bool, control: Any) -> Iterator[Any]:
    """Meta-train ``algo`` on sine tasks for ``seconds``, then (``baseline``) the fine-tune baseline for
    the same time, one after the other; yield the trainer's events (each run's ``Started.config`` says
    which; ``Finished.checkpoint`` is ``folder/ALGO.pt``). A stop request ends the current run and skips the rest."""
    from pathlib import Path

    from .trainer import run

    names = [algo] + (["finetune"] if baseline else [])
    for name in names:
        if control.stop_requested:
            return
        yield from run(training_config(name, shots, seconds, str(Path(folder) / f"{name}.pt")), control)


def load_model(checkpoint: str, label: str) -> RegressionModel:
    """The trained model in ``checkpoint`` (from :func:`train`), ready to adapt."""
    from .regression import use_one_thread
    from .trainer import restore

    use_one_thread()
    algo, config, _ = restore(checkpoint, "cpu")
    if config.objective != "regression":
        from .data.base import DataError

        raise DataError(f"{checkpoint} holds an image model ({config.dataset}); the Regression tab needs a sine model")
    return RegressionModel(label, algo, config.inner_lr, checkpoint)


def adapt(
    model: RegressionModel,
    x: np.ndarray,
    y: np.ndarray,
    steps: int,
    true_y: np.ndarray | None = None,
    inner_lr: float | None = None,
    grid_x: np.ndarray | None = None,
) -> Adaptation:
    """Fit ``model`` to the points (x, y) by ``steps`` gradient steps; the curve after each step.

    With no points the prior alone is returned (every "step" is the prior). A tiny network: each
    step plus its prediction on the grid takes well under a millisecond.
    """
    import time

    import torch

    from .regression import use_one_thread

    use_one_thread()
    began = time.perf_counter()
    g = grid() if grid_x is None else np.asarray(grid_x, dtype=np.float64)
    gx = torch.as_tensor(g, dtype=torch.float32).view(-1, 1)
    sx = torch.as_tensor(np.asarray(x, dtype=np.float32)).view(-1, 1)
    sy = torch.as_tensor(np.asarray(y, dtype=np.float32)).view(-1, 1)
    algo = model.algorithm
    curves, support = [], []
    with torch.no_grad():
        if len(sx) == 0:
            prior = algo.model(gx).view(-1).numpy()
            curves, support = [prior] * (steps + 1), [float("nan")] * (steps + 1)
        else:
            for learner in algo.adapt_steps(sx, sy, steps, inner_lr if inner_lr is not None else model.inner_lr):
                both = learner.logits(torch.cat([sx, gx])).view(-1).numpy()  # one forward for points and grid
                support.append(float(np.mean((both[: len(sx)] - sy.view(-1).numpy()) ** 2)))
                curves.append(both[len(sx) :])
    stacked = np.stack(curves).astype(np.float64)
    true_mse = None if true_y is None else [float(np.mean((c - true_y) ** 2)) for c in stacked]
    return Adaptation(model.label, g, stacked, support, true_mse, time.perf_counter() - began)
