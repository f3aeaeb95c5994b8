"""The one facade the window calls: everything it asks of the engine, with numpy and dataclasses.

Why a facade: the window must open before torch is imported (seconds), must
never run torch on its GUI thread, and should not know the engine's insides.
So this module imports nothing heavy at module level (``import engine.api``
loads only ``engine.config``, ``engine.events``, ``engine.errors`` and
``engine.control``, all torch-free; ``tests/test_architecture.py`` checks it);
each function imports what it needs when called, on a worker thread.

In and out go numpy arrays, plain frozen dataclasses (:mod:`engine.events`,
the ones below) and :class:`~engine.config.TrainConfig`. Where numpy cannot
carry the thing (a decoded data set, a model, an adapted learner) the window
gets an opaque handle: :class:`Pool`, :class:`Model`, and ``AdaptResult.learner``.
It passes them back here and never looks inside.

Thread rule: every function may block (decode, train, adapt) unless its
docstring says "cheap"; call them on worker threads. A module must never run
in two threads at once (``functional_call`` swaps its weights), which is why
:func:`adapt` works on a copy of the model.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .config import (
    ALGORITHM_CHOICES,
    DATASET_CHOICES,
    QUICK_RECIPE,
    SOURCE_LABELS,
    TrainConfig,
    algorithm_settings,
    app_defaults,
    recipe_choices,
)
from .control import RunControl
from .errors import CheckpointError, DataError
from .events import CompareResults, Event, Finished, GateSummary, IterationMetrics, StepStats

__all__ = [
    "AdaptResult",
    "AdaptStep",
    "AlgorithmInfo",
    "CheckpointError",
    "DataError",
    "EngineInfo",
    "Episode",
    "LeaveOneOut",
    "Model",
    "OpenedModel",
    "Pool",
    "PoolArrays",
    "PredictResult",
    "RunControl",
    "adapt",
    "as_model",
    "as_pool",
    "check_compare",
    "check_episodes",
    "compare_configs",
    "compare_work",
    "new_model",
    "load_data",
    "load_engine",
    "load_images",
    "open_model",
    "pool_arrays",
    "predict",
    "quick_train",
    "read_class_folder",
    "sample_episode",
    "save_classset",
    "score_lake_checkpoint",
    "score_lake_runs",
    "set_threads",
    "sketch_to_input",
    "task_gate",
    "train",
    "write_bytes",
    "write_compare_csv",
]


# -- what the engine offers ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AlgorithmInfo:
    """One algorithm as the panels list it."""

    name: str
    available: bool
    summary: str = ""  # one line: what it does differently
    paper: str = ""  # where it comes from


@dataclass(frozen=True)
class EngineInfo:
    """What the panels need to know about the engine, gathered once it is imported."""

    defaults: dict
    algorithms: list[AlgorithmInfo]
    sources: list[tuple[str, bool]]  # (source name, available) in display order
    backbones: list[str]
    cuda: bool
    quick_recipe: dict  # engine.config.QUICK_RECIPE: the settings of the one-minute quick training
    shapes: dict[str, dict] = field(default_factory=dict)  # algorithm -> the shape and rates it starts with
    recipes: dict[str, dict] = field(default_factory=dict)  # recipe name -> its settings (engine.recipes)


def load_engine() -> EngineInfo:
    """Import torch and the engine (seconds) and describe what it offers."""
    import torch

    from . import trainer  # noqa: F401 - imported now so the first Start does not pay for it
    from .algorithms import ALGORITHMS
    from .allocator import keep_freed_memory
    from .data import SOURCES
    from .models import BACKBONES, REGRESSION_BACKBONES

    algorithms = [
        AlgorithmInfo(
            name,
            name in ALGORITHMS,
            getattr(ALGORITHMS.get(name), "summary", ""),
            getattr(ALGORITHMS.get(name), "paper", ""),
        )
        for name in ALGORITHM_CHOICES
    ]
    algorithms.sort(key=lambda a: not a.available)
    keep_freed_memory()  # before any training or adapting: faster steps, flat memory
    _warm_optimizer()
    sources = [(name, name in SOURCES) for name in DATASET_CHOICES if name in SOURCE_LABELS]  # images: not sine
    return EngineInfo(
        app_defaults().to_dict(),
        algorithms,
        sources,
        [name for name in BACKBONES if name not in REGRESSION_BACKBONES],  # the MLP is the Regression tab's
        bool(torch.cuda.is_available()),
        dict(QUICK_RECIPE),
        {a.name: algorithm_settings(a.name) for a in algorithms},
        recipe_choices(),
    )


def _warm_optimizer() -> None:
    """Build and step a throwaway Adam: its first construction imports torch._dynamo and with it some 900
    modules (1.4 s here). Done at engine load, that happens before the window freezes start-up's objects
    (gui.gui_thread_gc.settle), not at the first Start, where those 200,000 new objects made the GUI
    thread's collections stall for up to 114 ms (bench/ui_latency.py)."""
    import torch

    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([weight], lr=0.1)
    weight.grad = torch.ones(1)
    optimizer.step()


def set_threads(count: int) -> None:
    """PyTorch's intra-op threads for work started from the calling thread on."""
    import torch

    torch.set_num_threads(count)


# -- data ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pool:
    """A decoded data source. ``handle`` is the engine's ClassPool: opaque, pass it back here."""

    name: str
    summary: dict  # split -> {"classes": n, "images": m}
    handle: object = field(repr=False, compare=False)


def as_pool(pool: object) -> Pool:
    """Wrap an engine ClassPool (tests and benchmarks inject their own) as a :class:`Pool`; cheap."""
    if isinstance(pool, Pool):
        return pool
    return Pool(pool.name, pool.summary(), pool)  # type: ignore[attr-defined]


class Cancelled(DataError):
    """A load the caller abandoned (raised from its ``progress`` callback)."""


def load_data(name: str, root: str | None, seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> Pool:
    """Decode data source ``name`` (read from ``root``); DataError says what is wrong.

    ``progress(done, total)`` is called per image of an image folder (on the calling thread); raising
    :class:`Cancelled` in it abandons the load.
    """
    from .data import load_source

    return as_pool(load_source(name, root or None, seed=seed, progress=progress))


@dataclass(frozen=True)
class Episode:
    """One training episode as uint8 images, a row per class."""

    support: np.ndarray  # [ways, shots, H, W]
    queries: np.ndarray  # [ways, queries, H, W]
    names: tuple[str, ...]  # the class names, row order


def sample_episode(pool: Pool, ways: int, shots: int, queries: int, seed: int, index: int) -> Episode:
    """Episode ``index`` of the meta-training sampler with this seed (what the trainer would draw)."""
    from .tasks import TaskSampler

    source = pool.handle
    task = TaskSampler(source, "train", ways, shots, queries, seed=seed).episode(index)
    h, w = task.support_x.shape[-2:]

    def to_u8(x: object, n: int) -> np.ndarray:
        return x.mul(255).round().clamp(0, 255).byte().numpy().reshape(ways, n, h, w)  # type: ignore[attr-defined]

    return Episode(
        to_u8(task.support_x, shots), to_u8(task.query_x, queries), tuple(source.class_names[c] for c in task.classes)
    )


def check_episodes(pool: Pool, config: TrainConfig, splits: Sequence[str]) -> None:
    """Raise DataError when ``pool``'s ``splits`` cannot give ``config``'s task shape (cheap: no decoding)."""
    from .tasks import TaskSampler

    for split in splits:
        TaskSampler(pool.handle, split, config.ways, config.shots, config.queries)


@dataclass(frozen=True)
class PoolArrays:
    """A pool as numpy arrays for display (the images are shared, not copied)."""

    name: str
    images: np.ndarray  # uint8 [M, 28, 28]
    members: list[np.ndarray]  # image indices per class
    class_names: list[str]
    class_groups: list[str]
    splits: dict[str, list[int]]
    summary: dict[str, dict[str, int]]

    def examples(self, cls: int) -> np.ndarray:
        """The images of class ``cls`` (cheap)."""
        return self.images[self.members[cls]]

    def first_examples(self, classes: list[int]) -> np.ndarray:
        """The first image of each of ``classes`` that has one (cheap)."""
        firsts = [self.members[c][0] for c in classes if len(self.members[c])]
        return self.images[firsts] if firsts else np.zeros((0, *self.images.shape[1:]), np.uint8)


def pool_arrays(pool: Pool) -> PoolArrays:
    """The pool's images and class structure as numpy (cheap: views of the decoded tensors)."""
    p = pool.handle
    members = [p.members(c).numpy() for c in range(p.num_classes)]  # type: ignore[attr-defined]
    return PoolArrays(
        p.name,
        p.images.numpy(),
        members,
        list(p.class_names),
        list(p.class_groups),  # type: ignore[attr-defined]
        {s: list(c) for s, c in p.splits.items()},
        p.summary(),
    )  # type: ignore[attr-defined]


# -- meta-training -------------------------------------------------------------------------------------
def train(config: TrainConfig, control: RunControl, pool: Pool | None = None) -> Iterator[Event]:
    """Meta-train ``config`` (on ``pool`` when given): the trainer's events, one per step (engine.events)."""
    from .trainer import run

    return run(config, control, pool=pool.handle if pool is not None else None)


# -- models --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    """A meta-trained model. ``handle`` is the engine's Algorithm: opaque, pass it back here."""

    name: str  # the algorithm's CLI name
    inner_lr: float | None  # the inner learning rate it was trained with (None if it has none)
    adapts_by_steps: bool  # False: adapting is one pass (class means), the step count is ignored
    description: str = ""
    handle: object = field(default=None, repr=False, compare=False)


def as_model(algo: object, description: str = "") -> Model:
    """Wrap an engine Algorithm as a :class:`Model` (a Model passes through); cheap."""
    if isinstance(algo, Model):
        return (
            algo if not description else Model(algo.name, algo.inner_lr, algo.adapts_by_steps, description, algo.handle)
        )
    config = getattr(algo, "config", None)
    inner_lr = float(config.inner_lr) if config is not None and hasattr(config, "inner_lr") else None
    return Model(
        getattr(algo, "name", "model"), inner_lr, bool(getattr(algo, "adapts_by_steps", True)), description, algo
    )


def new_model(config: TrainConfig) -> Model:
    """A freshly initialised model for ``config`` on the CPU (seeded)."""
    import torch

    from .build import build_model_and_algorithm

    return as_model(build_model_and_algorithm(config, torch.device("cpu")))


@dataclass(frozen=True)
class OpenedModel:
    """A checkpoint opened on the CPU: the model, its settings and its training curves."""

    model: Model
    config: TrainConfig
    history: dict
    iteration: int


def open_model(path: str) -> OpenedModel:
    """Restore a checkpoint on the CPU; CheckpointError says why it cannot be used."""
    from .trainer import restore

    algo, config, payload = restore(path, "cpu")
    iteration = int(payload.get("iteration", 0))
    model = as_model(algo, f"{config.algo} on {config.dataset}, {iteration} iterations")
    return OpenedModel(model, config, payload.get("history", {}), iteration)


def quick_train(iterations: int = 300, seconds: float = 60.0, progress: Callable[[int], None] | None = None) -> Model:
    """Meta-train the quick recipe (engine.config.QUICK_RECIPE) on the built-in glyphs with the shared trainer."""
    from .data import make_glyph_pool

    pool = make_glyph_pool(classes={"train": 200, "val": 10, "test": 40})
    config = TrainConfig(**QUICK_RECIPE, iterations=iterations, time_budget=seconds, val_every=0, device="cpu")
    model = new_model(config)
    from .trainer import run

    done = 0
    for event in run(config, pool=pool, algo=model.handle):  # type: ignore[arg-type]
        if isinstance(event, IterationMetrics) and progress is not None:
            progress(event.iteration)
        if isinstance(event, Finished):
            done = event.iterations
    return as_model(model.handle, f"{config.algo} quick-trained on built-in glyphs, {done} iterations")


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename): a failed write leaves the old file."""
    from .checkpoint import atomic_write

    atomic_write(path, lambda f: f.write(data))


# -- adapting to new classes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AdaptStep(StepStats):
    """One adaptation step as the window shows it: the support loss and accuracy, and the model at this step.

    ``view`` is the embedding view at this step (the arrays of
    ``engine.adaptation.embedding_projection``) on axes fixed at step 0 for the
    whole Adapt, so successive views animate: the support points move where
    adapting changes the features (MAML, Meta-SGD); where only a head changes
    (Proto-head, ANIL, fine-tune) ``view["weights"]`` [ways, 2] places each class's
    weights instead. None when the algorithm does not report its steps' models.
    """

    view: dict | None = field(default=None, compare=False)
    probabilities: np.ndarray | None = field(default=None, compare=False)  # the query's [ways], when one was given
    learner: object = field(default=None, repr=False, compare=False)  # this step's model: opaque, for predict()


@dataclass(frozen=True)
class AdaptResult:
    """A model adapted to a support set, ready to predict."""

    learner: object  # the engine's Learner: opaque, pass it to predict()
    view: dict  # the embedding projection of the support set (numpy arrays; see engine.adaptation)
    seconds: float  # click-to-ready time spent in the engine
    thread: int
    last_step: int  # the step the leave-one-out accuracy belongs to
    gate: np.ndarray | None = None  # the mixture of experts' weights for this support set


@dataclass(frozen=True)
class LeaveOneOut:
    """How well the adapted model generalises to held-out shots, the Adapt's last result."""

    accuracy: float | None  # after the last step; None for one shot (nothing to hold out)
    per_step: np.ndarray | None = None  # [steps + 1] fractions, NaN at steps that were not scored
    cancelled: bool = False  # a newer Adapt stopped this one: nothing else was delivered


@dataclass(frozen=True)
class PredictResult:
    probabilities: np.ndarray  # [ways]
    view: dict  # the embedding projection with the query
    query: np.ndarray  # the uint8 [28, 28] the model saw ([2, 28, 28] for a model reading two framings)
    seconds: float
    thread: int


def adapt(
    model: Model,
    images: np.ndarray,
    labels: np.ndarray,
    steps: int,
    inner_lr: float,
    on_step: Callable[[AdaptStep], None],
    on_ready: Callable[[AdaptResult], None],
    query: np.ndarray | None = None,
    control: RunControl | None = None,
) -> LeaveOneOut:
    """Adapt to uint8 ``images`` [n, 28, 28] with ``labels`` [n], then estimate leave-one-out accuracy per step.

    Each step goes to ``on_step`` as it happens, with its embedding view (and
    ``query``'s probabilities, uint8 [28, 28], when given); ``on_ready`` gets the
    adapted learner as soon as it exists, so the person can test while the K
    extra leave-one-out adaptations run. ``control.stop()`` (a newer Adapt) ends
    it at the next step: it returns ``LeaveOneOut(None, cancelled=True)``.
    The learner adapts a copy of the model (the window may keep training the
    original) and the leave-one-out folds another, so predictions can run beside them.
    """
    import torch

    from .adaptation import (
        Cancelled,
        StepViews,
        adapt_with_progress,
        as_model_input,
        embedding_projection,
        images_as_trained,
        inputs_as_trained,
        leave_one_out_curve,
        prime_predictions,
    )

    began = time.perf_counter()
    stopped = (lambda: control.stop_requested) if control is not None else (lambda: False)
    algo = copy.deepcopy(model.handle)
    framed = algo.config.frame_ink  # type: ignore[attr-defined]
    images = images_as_trained(framed, images)
    query = None if query is None else images_as_trained(framed, np.asarray(query)[None])  # (a batch of one)
    views = StepViews(images, labels, not getattr(algo, "adapts_features", False), query)
    last: list[AdaptStep] = []

    def relay(stats: StepStats) -> None:
        if stopped():
            raise Cancelled
        learner = inputs_as_trained(stats.state(), algo) if stats.state is not None else None
        view, probs = views(learner) if learner is not None else (None, None)  # type: ignore[arg-type]
        step = AdaptStep(stats.step, stats.loss, stats.accuracy, stats.loo_accuracy, None, view, probs, learner)
        last[:] = [step]
        on_step(step)

    try:
        learner = adapt_with_progress(
            algo, images, labels, steps=steps, inner_lr=inner_lr, on_step=relay, leave_one_out=False  # type: ignore[arg-type]
        )
        view = last[-1].view if last and last[-1].view is not None else embedding_projection(learner, images, labels)
        view = {k: v for k, v in view.items() if k != "query"} | {"query": np.zeros((0, 2), np.float32)}
        on_ready(
            AdaptResult(
                learner,
                view,
                time.perf_counter() - began,
                threading.get_ident(),
                last[-1].step if last else 0,
                task_gate(learner),
            )
        )
        prime_predictions(learner, images)  # the person's first query then forwards only itself
        device = next(algo.model.parameters()).device  # type: ignore[attr-defined]
        x, y = as_model_input(images, device), torch.as_tensor(labels, dtype=torch.int64, device=device)
        curve = leave_one_out_curve(copy.deepcopy(algo), x, y, steps, inner_lr, should_stop=stopped)  # type: ignore[arg-type]
    except Cancelled:
        return LeaveOneOut(None, None, cancelled=True)
    return LeaveOneOut(None if curve is None else float(curve[-1]), curve)


def task_gate(learner: object) -> np.ndarray | None:
    """The mixture of experts' gate weights [experts] for the support set ``learner`` was adapted to, or None
    (other algorithms have no gate). Call it where the learner was made (a worker thread)."""
    gate = getattr(learner, "gate", None)
    if gate is None:
        return None
    return np.asarray(gate.detach().cpu().numpy(), dtype=np.float64)


def predict(
    learner: object, images: np.ndarray, labels: np.ndarray, query: np.ndarray, view: dict | None = None
) -> PredictResult:
    """Score one query (uint8 [28, 28]) and place it in the embedding view (``view``: the Adapt-time one)."""
    from .adaptation import images_as_trained, predict_query

    began = time.perf_counter()
    framed = getattr(learner, "frame_ink", False)  # as the images it adapted to were (api.adapt)
    query = images_as_trained(framed, np.asarray(query)[None])  # (a batch of one: framed both ways, [1, 2, H, W])
    if view is None or "basis" not in view:  # the support set is embedded again only without Adapt's view
        images = images_as_trained(framed, images)
    out = predict_query(learner, images, labels, query, view)  # type: ignore[arg-type]
    probabilities = out.pop("probabilities")
    return PredictResult(probabilities, out, query[0], time.perf_counter() - began, threading.get_ident())


def sketch_to_input(raster: np.ndarray) -> np.ndarray:
    """The model's 28x28 uint8 view of a drawing (numpy and PIL only: cheap enough for the GUI thread)."""
    from .sketch import sketch_to_input as convert

    return convert(raster)


# -- images and class sets -----------------------------------------------------------------------------
def load_images(paths: Sequence[str]) -> tuple[list[np.ndarray], list[str]]:
    """Decode image files (a folder: its images) into uint8 [28, 28] model inputs; returns (images, problems),
    so one bad file loses nothing."""
    from .data.images import is_image_file, load_image

    images, problems = [], []
    for p in map(Path, paths):
        files = sorted(f for f in p.iterdir() if f.is_file() and is_image_file(f)) if p.is_dir() else [p]
        if not files:  # a folder without images: said, so a caller never gets neither images nor a reason
            problems.append(f"{p} is a folder with no images in it")
        for f in files:
            try:
                images.append(load_image(f).numpy())
            except DataError as exc:
                problems.append(str(exc))
    return images, problems


def read_class_folder(root: str) -> tuple[list[str], list[list[np.ndarray]], list[str]]:
    """A saved class set (manifest.json) or a folder with one subfolder of images per class:
    (names, examples per class, problems)."""
    from .classset import MANIFEST, load_classset
    from .data.folder import folder_files

    path = Path(root)
    if (path / MANIFEST).is_file():
        cs = load_classset(path)
        return cs.names, cs.examples, []
    names, examples, problems = [], [], []
    for name, files in folder_files(path).items():  # the same walk as the "folder" data source
        images, bad = load_images([str(f) for f in files])
        names.append(name)
        examples.append(images)
        problems += bad
    return names, examples, problems


def save_classset(root: str, names: Sequence[str], examples: Sequence[Sequence[np.ndarray]]) -> str:
    """Save named classes of uint8 [28, 28] examples as a class set folder; returns its path."""
    from .classset import ClassSet
    from .classset import save_classset as save

    return str(save(root, ClassSet(list(names), [list(e) for e in examples])))


# -- compare mode --------------------------------------------------------------------------------------
def compare_configs(base: TrainConfig, algos: Sequence[str]) -> list[TrainConfig]:
    """One config per algorithm: ``base`` with ``algo`` replaced; DataError for an unknown name."""
    from .compare import configs_for

    return configs_for(base, algos)


def check_compare(pool: Pool, config: TrainConfig) -> None:
    """Raise DataError when ``pool`` cannot give ``config``'s tasks for training, testing (and validation)."""
    check_episodes(pool, config, ("train", "test") + (("val",) if config.val_every else ()))


def compare_work(
    configs: Sequence[TrainConfig], test_episodes: int, pool: Pool
) -> Callable[[RunControl], Iterator[object]]:
    """A ``work(control)`` generator: compare's events (engine.events), plus a GateSummary after ``moe`` is scored."""

    def work(control: RunControl) -> Iterator[object]:
        import tempfile

        from .compare import Evaluated, compare

        with tempfile.TemporaryDirectory(prefix="meta-playground-compare-") as folder:
            for item in compare(
                configs, test_episodes=test_episodes, pool=pool.handle, control=control, checkpoint_dir=folder
            ):  # type: ignore[arg-type]
                yield item
                if isinstance(item, Evaluated) and not control.stop_requested:  # per-class view, same episodes
                    from .api_export import compare_insight

                    cfg = next(c for c in configs if c.algo == item.algo)
                    yield compare_insight(str(Path(folder) / f"{item.algo}.pt"), cfg, pool.handle, test_episodes)
                if isinstance(item, Evaluated) and item.algo == "moe" and not control.stop_requested:
                    cfg = next(c for c in configs if c.algo == "moe")
                    yield _moe_gate_summary(Path(folder) / "moe.pt", cfg, pool, test_episodes)

    return work


def _moe_gate_summary(checkpoint: Path, config: TrainConfig, pool: Pool, episodes: int) -> GateSummary:
    """Restore a trained ``moe`` and summarise its gate on compare's test episodes."""
    from .algorithms.moe import gate_summary
    from .compare import shared_test_episodes
    from .trainer import pool_as_trained, resolve_device, restore

    algo, _, _ = restore(str(checkpoint), resolve_device(config.device))
    tasks = shared_test_episodes(pool_as_trained(config, pool.handle), config, episodes)  # type: ignore[arg-type]
    s = gate_summary(algo, tasks)
    return GateSummary(
        algo.name, tuple(s["mean_gate"]), tuple(s["top_share"]), s["mean_entropy"], s["max_entropy"], s["tasks"]
    )


def write_compare_csv(results: CompareResults, path: str) -> None:
    """The results table as CSV, written atomically."""
    from .compare import write_csv

    write_csv(results, path)


# -- the Omniglot challenge ----------------------------------------------------------------------------
def score_lake_checkpoint(checkpoint: str, runs_path: str, on_run: Callable[[int, int], None] | None = None) -> dict:
    """:func:`score_lake_runs` for the model saved in ``checkpoint`` (opened here, on the worker)."""
    return score_lake_runs(open_model(checkpoint).model, runs_path, on_run=on_run)


def score_lake_runs(model: Model, runs_path: str, steps: int | None = None,
                    on_run: Callable[[int, int], None] | None = None) -> dict:
    """Lake et al.'s 20 within-alphabet 20-way one-shot runs (folder or all_runs.zip): the error rate as a
    fraction in [0, 1], averaged and per run; ``on_run(done, total)`` after each run (called on the worker)."""
    from .challenge import load_runs, run_challenge
    from .models import input_size

    network = model.handle.model  # type: ignore[attr-defined]
    device = next(network.parameters()).device
    runs = load_runs(runs_path, input_size(network), model.handle.config.frame_ink)  # type: ignore[attr-defined]
    return run_challenge(model.handle, runs, device, steps=steps, on_run=on_run)  # type: ignore[arg-type]
