"""Meta-training as a plain generator of typed events.

``run(config)`` loads the data, builds the model and yields ``Started``, then
one ``IterationMetrics`` per meta-iteration, a ``ValidationMetrics`` every
``val_every`` iterations and a final ``Finished``. It knows nothing of Qt:
the CLI iterates it under a progress bar, the tests iterate it directly and
the GUI runs it on a worker thread. Stopping is a request that the loop
honours between tasks; pausing blocks the loop between steps.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Generator, Iterable, Iterator

import torch

from .algorithms import Algorithm, Interrupted
from .allocator import keep_freed_memory, release_freed_memory
from .build import build_model_and_algorithm, resolve_device
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .control import RunControl
from .data import ClassPool, DataError, load_source
from .distributed import DistContext, broadcast_int, broadcast_parameters, shard, sync_step
from .events import Event, Finished, IterationMetrics, Started, ValidationMetrics
from .finish import EpisodicFinish
from .metrics import mean_ci95
from .task_workers import TaskWorkers, evaluate_each, plan_workers
from .tasks import Task, TaskSampler

_run_ids = itertools.count(1)
WARMUP_ITERATIONS = 3  # excluded from tasks/s (allocator and cache warm-up)
STANDARD_SHAPE = (5, 1)  # every run also reports 5-way 1-shot validation, so runs of different shapes compare
STANDARD_QUERIES = 15
DIVERGED_LOSS = 1e6  # a cross-entropy this large (logit gaps of 1e6) has blown up even if still finite


@dataclass
class History:
    """Growing metric lists, saved in checkpoints and exported as CSV."""

    iteration: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_iteration: list[int] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    val_ci95: list[float] = field(default_factory=list)
    val_standard_accuracy: list[float] = field(default_factory=list)  # 5-way 1-shot, when the shape differs
    val_standard_ci95: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        return cls(**{k: list(data.get(k, [])) for k in cls().__dict__})


class Diverged(Exception):
    """The loss or the meta-gradient was not finite (or the loss exploded); the step was not applied."""

    def __init__(self, loss: float) -> None:
        super().__init__(f"loss {loss}")
        self.loss = loss


def meta_step(
    algo: Algorithm,
    optimizer: torch.optim.Optimizer,
    tasks: list[Task],
    should_stop: Callable[[], bool] | None = None,
    sync: Callable[[float, float], tuple[float, float]] | None = None,
    precision: str = "fp32",
    workers: TaskWorkers | None = None,
) -> tuple[float, float]:
    """One meta-iteration: meta-gradient of ``tasks``, then one optimiser step.

    ``precision="bf16"`` computes the meta-gradient under bfloat16 autocast
    (1.5x faster for MAML on a CPU with AVX512-BF16, measured); weights, the
    optimiser and evaluation stay in float32.

    ``workers`` (:class:`engine.task_workers.TaskWorkers`) share the tasks
    with helper processes; the result is the same meta-gradient.

    ``sync(loss, acc)``, when given, runs before the checks and returns the
    (loss, acc) to report; a distributed run averages gradients and both
    scalars across processes there, so every rank takes the same decision.
    The step is skipped (and :class:`Diverged` raised) when the loss or any
    gradient is not finite, or the loss exceeds ``DIVERGED_LOSS`` (an inner
    learning rate of 1e6 gives losses of 1e11 that stay finite), so the
    weights never hold NaN or the result of a blown-up step.
    """
    optimizer.zero_grad(set_to_none=True)
    device = tasks[0].query_x.device.type if tasks else "cpu"
    with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
        if workers is not None:
            loss, acc = workers.meta_gradient(algo, tasks, should_stop=should_stop, precision=precision)
        else:
            loss, acc = algo.meta_gradient(tasks, should_stop=should_stop)
    if sync is not None:
        loss, acc = sync(loss, acc)
    grads_ok = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in algo.outer_parameters())
    if not math.isfinite(loss) or loss > DIVERGED_LOSS or not grads_ok:
        optimizer.zero_grad(set_to_none=True)
        raise Diverged(loss)
    optimizer.step()
    return loss, acc


def meta_train_steps(
    algo: Algorithm, optimizer: torch.optim.Optimizer, batches: Iterable[list[Task]]
) -> Iterator[tuple[float, float]]:
    """Run :func:`meta_step` over an iterable of meta-batches, yielding (loss, accuracy)."""
    device = next(algo.model.parameters()).device
    for tasks in batches:
        yield meta_step(algo, optimizer, [t.to(device) for t in tasks])


def evaluate(
    algo: Algorithm,
    tasks: Iterable[Task],
    device: torch.device,
    should_stop: Callable[[], bool] | None = None,
    workers: TaskWorkers | None = None,
) -> tuple[float, float]:
    """Mean accuracy and 95% CI over ``tasks`` (adapt on support, score queries); ``workers`` share
    the episodes with helper processes (the same accuracies, in the same order)."""
    tasks = [t.to(device) for t in tasks]
    return mean_ci95(
        workers.evaluate(algo, tasks, should_stop) if workers is not None else evaluate_each(algo, tasks, should_stop)
    )


def restore(checkpoint: str, device: str | torch.device = "cpu") -> tuple[Algorithm, TrainConfig, dict]:
    """Rebuild the algorithm and config stored in a checkpoint file."""
    payload = load_checkpoint(checkpoint)
    try:
        config = TrainConfig.from_dict(payload["config"]).validate()
    except (DataError, TypeError) as exc:  # a hand-edited or foreign config: refuse it, do not build from it
        raise CheckpointError(f"{checkpoint} holds an unusable configuration ({exc})") from None
    dev = resolve_device(device) if isinstance(device, str) else device
    try:
        algo = build_model_and_algorithm(config, dev)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{checkpoint} describes a model that cannot be built ({exc})") from None
    try:
        algo.model.load_state_dict(payload["model"])
        algo.load_extra_state(payload.get("extra", {}))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{checkpoint} does not match its own architecture ({config.backbone}, {config.algo}): "
            f"{str(exc).splitlines()[0][:160]}"
        ) from None
    algo.model.to(dev)
    return algo, config, payload


def pool_as_trained(config: TrainConfig, pool: ClassPool | None) -> ClassPool:
    """``pool`` with its drawings as ``config`` trains on and scores them: the window's pool is decoded at
    28x28, unframed, so another size or framing loads its own (the same classes in the same splits and order,
    so episodes drawn with one seed hold the same drawings, each read as its model reads it)."""
    if pool is None or (pool.images.shape[-1], pool.framed) != (config.image_size, config.frames_ink):
        pool = load_source(config.dataset, config.data_root, rotations=config.rotations, seed=config.seed,
                           image_size=config.image_size, frame=config.frames_ink)
    return pool


def task_samplers(config: TrainConfig, pool: ClassPool | None, validating: bool) -> tuple:
    """(data summary source, training sampler, validation sampler or None, a note) for ``config``: episodes
    of ``pool`` (loaded when None), or for a regression data set its task family (engine.regression). The
    note says why the episodes are not quite what was asked: ``same_alphabet`` where no alphabet is large
    enough mixes alphabets rather than refusing."""
    if config.objective == "regression":  # sine waves: tasks are generated, there is no pool of images
        from .regression import SineTasks, use_one_thread

        use_one_thread()
        train = SineTasks(config.shots, config.queries, config.seed, "train")
        return train, train, SineTasks(config.shots, config.queries, config.seed, "val") if validating else None, ""
    pool = pool_as_trained(config, pool)
    # framed both ways: validation reads each drawing both ways at once, as a model is scored; training takes each
    # way as another drawing of its class (so a batch may hold one way of a drawing as a class's example and the
    # other as its query, as bench lake+both trained)
    scored, pool = pool, pool.framings_as_drawings()
    if config.train_on == "all":  # a minimal background set is small: every alphabet trains (the lake recipe)
        pool = pool.with_splits({"train": list(range(pool.num_classes)), "val": [], "test": []})
    if config.mirrors:  # each training class's mirror image as another training class
        pool = pool.with_mirrored_classes("train")
    if config.composed:  # new training characters, each two of one alphabet's halves joined
        pool = pool.with_composed_classes(config.composed, "train", config.seed)
    shape = (pool, "train", config.ways, config.shots, config.queries)
    options = config.augmentation
    note = ""
    try:
        train = TaskSampler(*shape, same_group=config.same_alphabet, **options)
    except DataError:
        if not config.same_alphabet:
            raise
        # (the lake recipe on a folder of classes, or the built-in glyphs: groups too small for its 32-class batches)
        train = TaskSampler(*shape, **options)
        note = f"no alphabet of {pool.name} has {config.ways} training classes, so each batch mixes alphabets"
    val = None
    if validating:
        val = TaskSampler(scored, "val", config.ways, config.shots, config.queries, seed=config.seed)
    return pool, train, val, note


def run(
    config: TrainConfig,
    control: RunControl | None = None,
    pool: ClassPool | None = None,
    dist: DistContext | None = None,
    algo: Algorithm | None = None,
) -> Iterator[Event]:
    """Meta-train as described by ``config``; yield one event per step.

    ``algo``, when given, is the algorithm (built for ``config``) to train in
    place, so that a caller can score it between iterations (the benchmarks do);
    by default it is built from ``config`` (or restored, with ``resume``).

    ``dist`` (from :func:`engine.distributed.init_from_env`, made by the CLI)
    splits the meta-batch across processes; only rank 0 validates and writes
    checkpoints, and its stop / time-budget decision is broadcast each iteration.

    The three phases are :class:`_Training`'s ``__init__`` (data, model,
    optimiser), :meth:`_Training.step` (one meta-iteration) and
    :meth:`_Training.finish` (last validation, checkpoint, ``Finished``).
    """
    training = _Training(config, control or RunControl(), pool, dist or DistContext(), algo)
    yield training.started()
    training.begin()
    try:
        for iteration in range(training.start, config.iterations):
            if not (yield from training.step(iteration)):
                break
    except Interrupted:
        training.reason = "stopped"
    finally:
        training.close_helpers()
    yield from training.finish()


def outer_optimizer(parameters: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """Adam at ``outer_lr``; with ``weight_decay``, AdamW whose decay reaches only the weight matrices and filters
    (a bias or a BatchNorm scale pulled toward 0 regularises nothing useful)."""
    parameters = list(parameters)
    if not config.weight_decay:
        return torch.optim.Adam(parameters, lr=config.outer_lr)
    groups = [{"params": [p for p in parameters if p.dim() > 1], "weight_decay": config.weight_decay},
              {"params": [p for p in parameters if p.dim() <= 1], "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.outer_lr)


class _Training:
    """One run of :func:`run`: what its phases share (the generator's state, split into readable parts)."""

    def __init__(
        self,
        config: TrainConfig,
        control: RunControl,
        pool: ClassPool | None,
        dist: DistContext,
        algo: Algorithm | None,
    ) -> None:
        """Set up: validate, load the data, build (or restore) the model and its optimiser."""
        config.validate()
        keep_freed_memory()
        self.config, self.control, self.dist = config, control, dist
        self.share, self.offset = shard(config.meta_batch, dist)
        self.run_id = next(_run_ids)
        self.device = device = resolve_device(config.device)
        validating = bool(config.val_every) and dist.is_main
        self.pool, self.train, self.val, self.sampling_note = task_samplers(config, pool, validating)
        self.standard = self._standard_sampler() if self.val is not None else None
        self.history, self.start, payload = History(), 0, None
        if config.resume:
            algo, payload = self._resume()
        elif algo is None:
            algo = build_model_and_algorithm(config, device)
        self.algo = algo
        if algo.class_head:  # one row per class id that trains, not a fixed 8,192 (BENCHMARKS.md, "a classifier sized")
            classes = max(self.pool.split_classes("train"), default=0) + 1
            if not config.resume:
                algo.size_class_head(classes)
            elif classes > algo.head_classes:  # (a resumed model keeps its own head, as the checkpoint has it)
                raise DataError(f"the checkpoint's classifier holds {algo.head_classes:,} training classes, but this "
                                f"data trains {classes:,}; resume on the data it was trained on, or train anew")
            if config.head_classes != algo.head_classes:  # the checkpoint and the helper processes build it so
                self.config = config = config.replace(head_classes=algo.head_classes)
        self.optimizer = outer_optimizer(algo.outer_parameters(), config)
        if payload is not None and payload.get("optimizer"):
            self.optimizer.load_state_dict(payload["optimizer"])
        broadcast_parameters(algo.outer_parameters(), dist)  # every rank starts from rank 0's weights
        if dist.rank:
            torch.manual_seed(config.seed + dist.rank)  # per-task randomness (e.g. label slots) differs across ranks
        self.sync = (lambda loss, acc: sync_step(algo.outer_parameters(), loss, acc, dist)) if dist.enabled else None
        self.processes = plan_workers(config.workers, algo, device, self.share, dist.enabled)
        self.workers: TaskWorkers | None = None
        self.reason, self.message = "completed", ""
        self.last_val: tuple[float, float] | None = None
        self.last_standard: tuple[float | None, float | None] = (None, None)
        self.episodic: EpisodicFinish | None = None  # the episodic finish, once begun
        self.episodic_began = 0

    @property
    def shape(self) -> str:
        return f"{self.config.ways}-way {self.config.shots}-shot"

    def _standard_sampler(self) -> TaskSampler | None:
        """5-way 1-shot validation episodes, when the run trains another shape and the data allows them (from the
        validation's pool: drawings framed both ways are read both ways)."""
        config = self.config
        if (config.ways, config.shots) == STANDARD_SHAPE or config.objective == "regression":
            return None
        try:
            return TaskSampler(self.val.pool, "val", *STANDARD_SHAPE, STANDARD_QUERIES, seed=config.seed)
        except DataError:  # too few validation classes or examples: the training shape's validation alone
            return None

    def _resume(self) -> tuple[Algorithm, dict]:
        config = self.config
        algo, saved, payload = restore(config.checkpoint, self.device)
        for key in ("algo", "backbone", "ways"):
            if getattr(saved, key) != getattr(config, key):
                raise DataError(
                    f"cannot resume: the checkpoint was trained with {key}={getattr(saved, key)}, "
                    f"this run asks for {getattr(config, key)}"
                )
        self.history, self.start = History.from_dict(payload.get("history", {})), int(payload.get("iteration", 0))
        return algo, payload

    def started(self) -> Started:
        parameters = sum(p.numel() for p in self.algo.model.parameters())
        return Started(
            self.run_id,
            self.config.to_dict(),
            self.pool.summary(),
            str(self.device),
            parameters,
            self.start,
            self.processes,
        )

    def begin(self) -> None:
        """Fix the validation episodes, start the clock and the helper processes."""
        self.val_tasks = self.val.fixed(self.config.val_episodes) if self.val else []
        self.standard_tasks = self.standard.fixed(self.config.val_episodes) if self.standard else []
        # a stop mid-step would leave the other ranks waiting in a collective: distributed runs stop between steps
        self.stop = None if self.dist.enabled else (lambda: self.control.stop_requested)
        self.began = time.perf_counter()
        self.paused = 0.0
        self.timed_seconds, self.timed_tasks = 0.0, 0  # meta-steps after the warm-up only (no validation, no pauses)
        # helpers start now and join once ready (about 2 s); the run does not wait for them
        # (the helpers train and validate, and validation leaves the template distance out: see validate)
        helpers = {**self.config.to_dict(), "template_weight": 0.0}
        self.workers = TaskWorkers(helpers, self.processes) if self.processes > 1 else None

    def step(self, iteration: int) -> Generator[Event, None, bool]:
        """One meta-iteration and its events (and a validation when due); False when the run ends here."""
        config, history = self.config, self.history
        self.paused += self.control.wait_while_paused()
        verdict = 1 if self.control.stop_requested else 0
        if (
            not verdict
            and config.time_budget is not None
            and time.perf_counter() - self.began - self.paused >= config.time_budget
        ):
            verdict = 2
        verdict = broadcast_int(verdict, self.dist)  # rank 0 decides, every rank follows
        if verdict:
            self.reason = ("stopped", "time budget")[verdict - 1]
            return False
        step_began = time.perf_counter()
        progress = self._progress(iteration, step_began)
        finishing = bool(config.episodic_finish) and progress >= 1 - config.episodic_finish
        if finishing:
            finish = self._finish_at(iteration, (progress - 1 + config.episodic_finish) / config.episodic_finish)
            learner, optimizer, workers = finish, finish.optimizer, None  # (the helpers train the classifier)
            tasks = [finish.sampler.episode(iteration).to(self.device)]
        else:
            learner, optimizer, workers = self.algo, self.optimizer, self.workers
            if config.lr_decay:
                self._decay_learning_rate(progress / (1 - config.episodic_finish))
            tasks = [t.to(self.device) for t in self.train.batch(iteration, self.share, self.offset)]
        try:
            loss, acc = meta_step(
                learner,
                optimizer,
                tasks,
                should_stop=self.stop,
                sync=self.sync,
                precision=config.precision,
                workers=workers,
            )
        except Diverged as exc:
            self.reason = "diverged"
            self.message = (
                f"the loss became {exc.loss:.3g} at iteration {iteration + 1}; training stopped and the last "
                "good weights were kept. Lower the inner or outer learning rate."
            )
            return False
        except (MemoryError, RuntimeError) as exc:  # torch.OutOfMemoryError is a RuntimeError
            if not isinstance(exc, MemoryError) and "out of memory" not in str(exc).lower():
                raise
            self._out_of_memory(iteration)
            return False
        done = iteration + 1
        history.iteration.append(done)
        history.loss.append(loss)
        history.accuracy.append(acc)
        now = time.perf_counter()
        if done - self.start > WARMUP_ITERATIONS:
            self.timed_seconds += now - step_began
            self.timed_tasks += len(tasks) * self.dist.world_size  # the global meta-batch, all ranks step together
        shared = 1 + (self.workers.active() if self.workers is not None else 0)
        yield IterationMetrics(
            self.run_id, done, config.iterations, loss, acc, now - self.began - self.paused, self.tps(), shared,
            self.algo.objective.metric_name, "finish" if finishing else "train",
        )
        if self.val and config.val_every and (done % config.val_every == 0 or done == config.iterations):
            event = self.validate(done)
            self.save(done)
            yield event
        return True

    def _progress(self, iteration: int, now: float) -> float:
        """How far through the run this step is: the larger of the iterations done and the time budget spent
        (a timed run ends when its clock does)."""
        config = self.config
        progress = iteration / config.iterations
        if config.time_budget:
            progress = max(progress, (now - self.began - self.paused) / config.time_budget)
        return progress

    def _finish_at(self, iteration: int, progress: float) -> EpisodicFinish:
        """The episodic finish (engine.finish), begun at its first step, its rate set for ``progress`` through it."""
        if self.episodic is None:
            self.episodic = EpisodicFinish(self.algo, self.pool, self.config)
            self.episodic_began = iteration
        self.episodic.set_progress(progress)
        return self.episodic

    def _decay_learning_rate(self, progress: float) -> None:
        """``lr_decay``: the outer learning rate follows a half cosine from ``outer_lr`` to 0 over the run (over
        its part before an episodic finish). The weights settle at the end instead of jumping about at full rate."""
        config = self.config
        rate = config.outer_lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def _out_of_memory(self, iteration: int) -> None:
        config = self.config
        self.optimizer.zero_grad(set_to_none=True)  # the step was not applied: the weights are the last good ones
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.reason = "out of memory"
        self.message = (
            f"out of memory at iteration {iteration + 1} with {config.meta_batch} tasks of "
            f"{config.ways}x({config.shots}+{config.queries}) images; training stopped and the last good "
            "weights were kept. Use a smaller --meta-batch or --queries (or fewer --inner-steps)."
        )

    def tps(self) -> float:
        return self.timed_tasks / self.timed_seconds if self.timed_tasks else 0.0

    def validate(self, done: int) -> ValidationMetrics:
        # (without the template distance: its fits are a scoring's second opinion, minutes for a validation's
        # episodes, and validation follows what the network learns; the helpers are started without it too)
        own = self.algo.config
        self.algo.config = replace(own, template_weight=0.0)
        try:
            acc, ci = evaluate(self.algo, self.val_tasks, self.device, should_stop=self.stop, workers=self.workers)
            standard = (None, None)
            if self.standard_tasks:
                standard = evaluate(self.algo, self.standard_tasks, self.device, self.stop, self.workers)
        finally:
            self.algo.config = own
        if self.standard_tasks:
            self.history.val_standard_accuracy.append(standard[0])
            self.history.val_standard_ci95.append(standard[1])
            self.last_standard = standard
        self.history.val_iteration.append(done)
        self.history.val_accuracy.append(acc)
        self.history.val_ci95.append(ci)
        self.last_val = (acc, ci)
        config = self.config
        ways = 0 if config.objective == "regression" else config.ways  # a sine task has points, not classes
        return ValidationMetrics(
            self.run_id, done, acc, ci, len(self.val_tasks), ways, config.shots, *standard,
            self.algo.objective.metric_name,
        )

    def save(self, iteration: int) -> None:
        config = self.config
        if config.checkpoint and self.dist.is_main:
            save_checkpoint(
                config.checkpoint,
                config=config.replace(resume=False).to_dict(),
                model_state=self.algo.model.state_dict(),
                extra_state=self.algo.extra_state(),
                optimizer_state=self.optimizer.state_dict(),
                history=self.history.to_dict(),
                iteration=iteration,
            )

    def close_helpers(self) -> None:
        if self.workers is not None:
            self.workers.close()

    def finish(self) -> Iterator[Event]:
        """A last validation of the final weights (unless just done), the checkpoint, then ``Finished``."""
        config, history = self.config, self.history
        lost_helpers = self.workers.problems if self.workers is not None else []
        done = history.iteration[-1] if history.iteration else self.start
        if (
            self.val
            and self.reason in ("completed", "time budget")
            and done > self.start
            and (not history.val_iteration or history.val_iteration[-1] != done)
        ):
            try:  # a stop request still cuts it short
                yield self.validate(done)
            except Interrupted:
                pass
        self.save(done)
        release_freed_memory()  # the working set goes back to the OS while the app idles
        seconds = time.perf_counter() - self.began - self.paused
        message = self.message
        if not message:
            budget = f"time budget of {config.time_budget:g} s reached" if config.time_budget else ""
            message = {"completed": "finished", "time budget": budget, "stopped": "stopped"}[
                self.reason
            ] + f" after {done} iterations"
        if self.sampling_note:
            message += f" ({self.sampling_note})"
        if self.episodic is not None:
            sampler = self.episodic.sampler
            where = " of one alphabet" if sampler.groups else f" ({self.episodic.note})"
            message += f"; the last {done - self.episodic_began:,} on {sampler.ways}-way 1-shot episodes{where}"
        if lost_helpers:  # the run went on without them: say so once
            message += f" ({lost_helpers[0]}; its share of the tasks was computed in this process)"
        yield Finished(
            self.run_id,
            iterations=done,
            seconds=seconds,
            reason=self.reason,
            message=message,
            checkpoint=config.checkpoint,
            tasks_per_second=self.tps(),
            train_loss=history.loss[-1] if history.loss else float("nan"),
            train_acc=history.accuracy[-1] if history.accuracy else float("nan"),
            val_acc=self.last_val[0] if self.last_val else None,
            val_ci95=self.last_val[1] if self.last_val else None,
            history=history.to_dict(),
            world_size=self.dist.world_size,
            val_shape=f"K={config.shots} points" if config.objective == "regression" else self.shape,
            val_standard_acc=self.last_standard[0],
            val_standard_ci95=self.last_standard[1],
        )
