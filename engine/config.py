"""The run configuration shared by the CLI, the GUI and the tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .algorithms.base import AlgoConfig
from .data.base import DataError

ALGORITHM_CHOICES = ("maml", "fomaml", "reptile", "anil", "metasgd", "protonet", "blackbox", "moe", "finetune", "simpleshot")
DATASET_CHOICES = ("synthetic", "omniglot", "mnist", "fashion-mnist", "kmnist", "emnist", "folder", "classset", "sine")
#: task families that are regression (engine.regression), not image classification
REGRESSION_DATASETS = ("sine",)
#: what a regression run uses unless told otherwise: Finn et al. 2017, section 5.1 (the MLP, meta-batch 25,
#: inner lr 0.01 with one step, Adam 1e-3) with K = 10 support and 10 query points per task
REGRESSION_DEFAULTS = {"backbone": "mlp", "shots": 10, "meta_batch": 25, "inner_lr": 0.01, "outer_lr": 0.001, "queries": 10}


#: A model that works in a minute: SimpleShot (an ordinary classifier over all training classes,
#: nearest normalised class mean to adapt) trained on batches of 32 classes x 2 images, one batch
#: per step (one process: measured faster than two sharing a step). From Start to finished it
#: reached 95.1-95.8% 5-way 1-shot on Omniglot small1's held-out alphabet in 44-49 s (3 seeds),
#: where ProtoNet's best episodes reached 93-94% in 60 s (BENCHMARKS.md, "Time to a useful model").
#: The window starts with it and the New classes tab's Quick train uses it.
QUICK_RECIPE = {"algo": "simpleshot", "ways": 32, "shots": 1, "queries": 1, "meta_batch": 1}

#: The task shape each algorithm starts with in the window (the TrainConfig defaults otherwise):
#: switching algorithms swaps the shape unless the person has changed it.
TASK_SHAPE_KEYS = ("ways", "shots", "queries", "meta_batch")
RECOMMENDED_SHAPES = {"simpleshot": {k: QUICK_RECIPE[k] for k in TASK_SHAPE_KEYS}}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a meta-training run (CLI flags map one to one)."""

    dataset: str = "synthetic"
    data_root: str | None = None
    rotations: bool = True
    augment: bool = False  # jitter training images by small random affine maps (engine.augment)
    algo: str = "protonet"
    backbone: str = "conv4"
    ways: int = 5
    shots: int = 1
    queries: int = 15
    meta_batch: int = 8
    inner_steps: int = 1
    inner_lr: float = 0.4
    outer_lr: float = 0.002
    iterations: int = 500
    time_budget: float | None = None
    val_every: int = 100
    val_episodes: int = 100
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"  # "bf16": meta-gradients under bfloat16 autocast (faster, see BENCHMARKS.md)
    batch_tasks: str = "auto"  # MAML/FOMAML meta-batch as one vmap: "auto" (on CUDA only), "on", "off"
    workers: int = 0  # processes sharing each meta-batch on the CPU; 0 = automatic (engine.task_workers)
    checkpoint: str | None = None
    resume: bool = False

    def validate(self) -> "TrainConfig":
        """Refuse impossible settings with a message that names the fix."""
        checks = [
            (self.ways >= 2, f"ways must be at least 2 (got {self.ways})"),
            (self.shots >= 1, f"shots must be at least 1 (got {self.shots}): each class needs an example"),
            (self.queries >= 1, f"queries must be at least 1 (got {self.queries})"),
            (self.meta_batch >= 1, f"meta-batch must be at least 1 (got {self.meta_batch})"),
            (self.inner_steps >= 0, f"inner steps cannot be negative (got {self.inner_steps})"),
            (self.inner_lr > 0, f"inner learning rate must be positive (got {self.inner_lr})"),
            (self.outer_lr > 0, f"outer learning rate must be positive (got {self.outer_lr})"),
            (self.iterations >= 1, f"iterations must be at least 1 (got {self.iterations})"),
            (self.time_budget is None or self.time_budget > 0, "time budget must be positive seconds"),
            (self.val_every >= 0, "val-every cannot be negative (0 turns validation off)"),
            (self.val_episodes >= 1, "val-episodes must be at least 1"),
            (self.algo in ALGORITHM_CHOICES, f"unknown algorithm {self.algo!r}"),
            (self.dataset in DATASET_CHOICES, f"unknown data set {self.dataset!r}"),
            (self.device in ("auto", "cpu", "cuda"), f"unknown device {self.device!r}"),
            (self.precision in ("fp32", "bf16"), f"unknown precision {self.precision!r}; use fp32 or bf16"),
            (self.batch_tasks in ("auto", "on", "off"), f"unknown batch-tasks {self.batch_tasks!r}; use auto, on or off"),
            (0 <= self.workers <= 64, f"workers must be 0 (automatic) to 64 (got {self.workers})"),
            (not self.resume or self.checkpoint, "--resume needs --checkpoint FILE"),
            (self.backbone != "mlp" or self.objective == "regression",
             "the mlp backbone takes numbers, not images; use --backbone conv4 or seed for image data"),
            (self.backbone == "mlp" or self.objective != "regression",
             f"{self.dataset} tasks are regression of numbers; use --backbone mlp (conv4 and seed take images)"),
        ]
        for ok, message in checks:
            if not ok:
                raise DataError(message)
        from .algorithms import ALGORITHMS

        ALGORITHMS[self.algo].for_objective(self.objective)  # a DataError naming the algorithms that apply
        return self

    @property
    def objective(self) -> str:
        """The task family's loss and metric: ``"regression"`` (MSE) for sine, ``"classification"`` otherwise."""
        return "regression" if self.dataset in REGRESSION_DATASETS else "classification"

    def algo_config(self, device_type: str = "cpu") -> AlgoConfig:
        return AlgoConfig(
            ways=self.ways,
            inner_steps=self.inner_steps,
            inner_lr=self.inner_lr,
            first_order=self.algo == "fomaml",
            # a loop over tasks is 2-3x faster on the CPU; one vmap keeps a GPU busy (engine.algorithms.batched);
            # sine tasks are so small that a loop is all overhead: vmap took 24 ms per 25-task meta-batch, the loop 155
            batch_tasks=self.batch_tasks == "on"
            or (self.batch_tasks == "auto" and (device_type == "cuda" or self.objective == "regression")),
            objective=self.objective,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a (possibly older or newer) dict, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)


def recommended_shape(algo: str) -> dict:
    """The task shape (ways, shots, queries, meta-batch) ``algo`` starts with in the window."""
    default = TrainConfig()
    return dict(RECOMMENDED_SHAPES.get(algo, {k: getattr(default, k) for k in TASK_SHAPE_KEYS}))


def app_defaults() -> TrainConfig:
    """The settings the window starts with: the quick recipe for 1,000 iterations (44-49 s on Omniglot
    small1 on 2 cores, validation included: 95.1-95.8% on the held-out alphabet), validated every 400.
    The command line keeps DESIGN.md's defaults."""
    return TrainConfig(**QUICK_RECIPE, iterations=1000, val_every=400)
