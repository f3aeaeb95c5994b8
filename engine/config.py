"""The run configuration shared by the CLI, the GUI and the tests, and the names it may use.

Torch-free: the window imports it at start-up. The names of the algorithms and
the data sources are listed here once; ``engine.algorithms.ALGORITHMS`` and
``engine.data.load_source`` are built from (and tested against) these lists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .errors import DataError
from .framing import BothFramings, Frame, MomentFraming
from .recipes import RECIPES, recipe, recipe_for_algorithm

#: The algorithms by their CLI name, in the order the window lists them (engine.algorithms.ALGORITHMS).
ALGORITHM_CHOICES = (
    "maml",
    "fomaml",
    "reptile",
    "anil",
    "metasgd",
    "protonet",
    "blackbox",
    "moe",
    "finetune",
    "simpleshot",
    "protohead",
)

#: Each data source's one name (CLI ``--dataset``, config, code) and the label the window shows for it.
#: The label names the CLI word where they differ, so the two are easy to match up.
SOURCE_LABELS = {
    "synthetic": "Built-in glyphs (synthetic)",
    "omniglot": "Omniglot",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "kmnist": "KMNIST",
    "emnist": "EMNIST",
    "folder": "Image folder",
    "classset": "Saved class set",
}
#: task families that are regression (engine.regression), not image classification: the Regression tab's,
#: not in the Meta-train tab's source list
REGRESSION_DATASETS = ("sine",)
DATASET_CHOICES = tuple(SOURCE_LABELS) + REGRESSION_DATASETS
#: what a regression run uses unless told otherwise: Finn et al. 2017, section 5.1 (the MLP, meta-batch 25,
#: inner lr 0.01 with one step, Adam 1e-3) with K = 10 support and 10 query points per task
REGRESSION_DEFAULTS = {
    "backbone": "mlp", "shots": 10, "meta_batch": 25, "inner_lr": 0.01, "outer_lr": 0.001, "queries": 10,
}
#: the algorithms that learn regression tasks (each class's ``objectives`` says the same; tests check they agree)
REGRESSION_ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd", "anil", "finetune")


def refusal(name: str, objective: str) -> str:
    """Why ``name`` cannot learn ``objective`` tasks, and what to use instead."""
    return (
        f"{name} predicts classes and does not apply to {objective} tasks such as --dataset sine; "
        f"use {', '.join(REGRESSION_ALGORITHMS[:-1])} or {REGRESSION_ALGORITHMS[-1]}"
    )


@dataclass(frozen=True)
class AlgoConfig:
    """Hyperparameters an algorithm reads (the trainer's config carries them)."""

    ways: int = 5
    inner_steps: int = 1
    inner_lr: float = 0.4
    first_order: bool = False
    batch_tasks: bool = False  # MAML/FOMAML: one vmap over the meta-batch (engine.algorithms.batched), for GPUs
    objective: str = "classification"  # the task family's loss and metric (engine.algorithms.objective)
    tta: int = 0  # SimpleShot / Proto-head: class means also over this many distorted views of the support set
    tta_strokes: bool = False  # those views also vary the pen's width (engine.augment.random_stroke_width)
    adapt_block: bool = False  # Proto-head: the steps refine the backbone's last block as well as the head
    cosine_head: bool = False  # fine-tune / SimpleShot / Proto-head training: cosine logits (Finetune.class_logits)
    classes: int = 0  # fine-tune / SimpleShot / Proto-head: rows of the classifier over training classes (0: 8,192)
    # trained on drawings cropped to their ink (Lake's runs are read the same way): 0 / False no, 1 / True yes,
    # more than 1 yes, the ink box's shorter side stretched up to that many times (TrainConfig.frame_stretch); a
    # MomentFraming: framed by the ink's moments (TrainConfig.frame_moments)
    frame_ink: Frame = 0.0
    local_match: bool = False  # SimpleShot / Proto-head: also match the last map's places (algorithms.local_match)
    local_levels: int = 1  # with local_match: 2 matches the block before's finer map too (within a place of its own)
    # SimpleShot / Proto-head: each query's distance to each class after a fitted map carries the class's drawing onto
    # it (engine.deformation), its log standardised over the classes, subtracted from the logits at this weight; 0 off
    template_weight: float = 0.0
    template_turn: float = 0.0  # with template_weight: each fit also started from the drawing turned this far each way
    template_hubness: float = 0.0  # with template_weight: each class's distances set against its drawing's reach
    dense_loss: float = 0.0  # fine-tune / SimpleShot / Proto-head training: each place of the last map classified too
    episode_loss: float = 0.0  # fine-tune / SimpleShot / Proto-head training: each batch scored as an episode too
    mixup: float = 0.0  # fine-tune / SimpleShot / Proto-head training: a manifold-mixup loss at this weight too
    local_loss: float = 0.0  # fine-tune / SimpleShot / Proto-head training: each batch's episode scored by its places


#: The quick recipe's algorithm, task shape and adaptation (engine.recipes: the window starts with it, and
#: the New classes tab's Quick train uses it with its own time budget).
QUICK_RECIPE = {k: v for k, v in RECIPES["quick"].items() if k not in ("iterations", "val_every")}

#: The task shape each algorithm starts with in the window (its recipe's): switching algorithms
#: swaps the shape unless the person has changed it.
TASK_SHAPE_KEYS = ("ways", "shots", "queries", "meta_batch")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a meta-training run (CLI flags map one to one)."""

    dataset: str = "synthetic"
    data_root: str | None = None
    rotations: bool = True
    augment: bool = False  # jitter training images by small random affine maps (engine.augment)
    augment_strokes: bool = False  # with augment: also a thinner or thicker pen per image (engine.augment)
    augment_strength: float = 1.0  # with augment: the affine ranges times this (1: 10 degrees, 10% scale, ...)
    augment_elastic: float = 0.0  # with augment: a smooth local wobble of up to this (grid units; image = 2 wide)
    mirrors: bool = False  # every training class's mirror image trains as another class (with_mirrored_classes)
    composed: float = 0.0  # this many times the training classes again, each two characters' halves joined
    same_alphabet: bool = False  # draw each training episode's classes from one alphabet (group), as Lake's runs
    image_size: int = 28  # side of the images the model sees; Omniglot decodes at it, other inputs are resized
    frame_ink: bool = False  # Omniglot: each drawing cropped to its ink and centred, filling 80% (see frames_ink)
    frame_stretch: float = 1.0  # with frame_ink: the ink box's shorter side stretched up to this many times
    frame_moments: bool = False  # with frame_ink: framed by the ink's moments, not its box (data.images.frame_moments)
    frame_both: bool = False  # with frame_ink: framed both ways, box and moments, read as views (framing.BothFramings)
    train_on: str = "split"  # "split": the data set's train split; "all": every class trains (no validation)
    algo: str = "protonet"
    backbone: str = "conv4"
    channels: int = 64  # conv4: filters in each block
    feature_map: bool = False  # conv4: the embedding is the last block's map, not pooled (3x3x64 at 28x28)
    global_pool: bool = False  # conv4: the last block's max over its whole map (2x2 pooling skips a 3x3's edge)
    stem: bool = False  # conv4: the first convolution 5x5 at stride 2 (a 56x56 image at about a 28x28's cost)
    members: int = 1  # conv4: independent networks side by side (an ensemble), trained and voting together
    ways: int = 5
    shots: int = 1
    queries: int = 15
    meta_batch: int = 8
    inner_steps: int = 1
    inner_lr: float = 0.4
    outer_lr: float = 0.002
    iterations: int = 500
    lr_decay: bool = False  # the outer learning rate falls along a half cosine to 0 over the run (iterations or time)
    weight_decay: float = 0.0  # AdamW's decoupled decay of the weight matrices (not biases or BatchNorm); 0: Adam
    episodic_finish: float = 0.0  # SimpleShot / Proto-head: this last fraction of the run on Lake-shaped episodes
    time_budget: float | None = None
    val_every: int = 100
    val_episodes: int = 100
    tta: int = 0  # SimpleShot / Proto-head: test-time views of the support set (engine.augment.augment_views)
    adapt_block: bool = False  # Proto-head: the adaptation steps refine the last block as well as the head
    local_match: bool = False  # SimpleShot / Proto-head on conv4: queries also scored by their last map's places
    local_levels: int = 1  # with local_match: the maps matched, 1 the last block's, 2 the block before's too
    # SimpleShot / Proto-head: a query's pixel distance to each class's drawing carried onto it by a fitted smooth map
    # (a deformable template, engine.deformation) joined to the logits at this weight (0 off); scoring only, about
    # 0.2 s a query of a 20-way run on 2 cores (bench/template_fit_speed.py)
    template_weight: float = 0.0
    # with template_weight: each fit also started from the class's drawing turned this many degrees each way, the
    # smallest distance left kept (engine.deformation.starts); three times the fits (0 off: one start)
    template_turn: float = 0.0
    # with template_weight: each class's distances divided by exp(this times its drawings' reach), how far they are
    # from the other classes' drawings (engine.deformation.TemplateDistance.reach), so that a class drawn unusually
    # is not far from every query; the support set's own fits, a twentieth more in a 20-way 1-shot run (0 off;
    # level on Lake's stand-in 100 runs: BENCHMARKS.md, "How stiff the template's field should be")
    template_hubness: float = 0.0
    cosine_head: bool = False  # SimpleShot / Proto-head / fine-tune: train with cosine logits over the classes
    # fine-tune / SimpleShot / Proto-head: each place of the last map classified too, at this weight (measured no
    # better on Lake's stand-in runs and 15-20% slower a step: BENCHMARKS.md, "Strokes matched on the finer map")
    dense_loss: float = 0.0
    # fine-tune / SimpleShot / Proto-head: each batch also read as the episode it is (its support images give each
    # class's mean, its queries are scored by the nearest normalised mean as adaptation scores), that cross-entropy
    # added at this weight (Finetune.batch_episode_loss)
    episode_loss: float = 0.0
    # fine-tune / SimpleShot / Proto-head: each batch also mixed with itself shuffled, at the input or after the
    # first or second block (manifold mixup), and that classifier loss added at this weight (Finetune.mixup_loss)
    mixup: float = 0.0
    # fine-tune / SimpleShot / Proto-head on one conv4: each batch's episode also scored as local matching scores a
    # new task (each query place's nearest place in a class's support maps, on --local-levels maps), that
    # cross-entropy added at this weight (Finetune.local_episode_loss)
    local_loss: float = 0.0
    head_classes: int = 0  # set by the trainer: the classifier over training classes has this many rows (0: 8,192)
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
            (self.augment_strength >= 0, f"augment strength cannot be negative (got {self.augment_strength})"),
            (self.augment_elastic >= 0, f"augment elastic cannot be negative (got {self.augment_elastic})"),
            (1 <= self.frame_stretch <= 4, f"frame stretch must be between 1 and 4 (got {self.frame_stretch})"),
            (self.frame_ink or not self.frame_moments,
             "frame_moments frames each drawing by its ink's moments: it needs frame_ink (--frame-ink) too"),
            (self.frame_ink or not self.frame_both,
             "frame_both frames each drawing by its ink's box and its moments: it needs frame_ink (--frame-ink) too"),
            (self.outer_lr > 0, f"outer learning rate must be positive (got {self.outer_lr})"),
            (0 <= self.weight_decay < 1, f"weight decay must be 0 to 1 (got {self.weight_decay})"),
            (self.dense_loss >= 0, f"dense_loss is a weight, 0 or more (got {self.dense_loss})"),
            (self.episode_loss >= 0, f"episode_loss is a weight, 0 or more (got {self.episode_loss})"),
            (self.mixup >= 0, f"mixup is a weight, 0 or more (got {self.mixup})"),
            (self.local_loss >= 0, f"local_loss is a weight, 0 or more (got {self.local_loss})"),
            (self.local_levels in (1, 2), f"local_levels must be 1 or 2 (got {self.local_levels})"),
            (0 <= self.composed <= 4, f"composed must be 0 to 4 times the training classes (got {self.composed})"),
            (self.iterations >= 1, f"iterations must be at least 1 (got {self.iterations})"),
            (self.time_budget is None or self.time_budget > 0, "time budget must be positive seconds"),
            (self.val_every >= 0, "val-every cannot be negative (0 turns validation off)"),
            (self.val_episodes >= 1, "val-episodes must be at least 1"),
            (self.algo in ALGORITHM_CHOICES, f"unknown algorithm {self.algo!r}"),
            (self.dataset in DATASET_CHOICES, f"unknown data set {self.dataset!r}"),
            (self.device in ("auto", "cpu", "cuda"), f"unknown device {self.device!r}"),
            (self.precision in ("fp32", "bf16"), f"unknown precision {self.precision!r}; use fp32 or bf16"),
            (
                self.batch_tasks in ("auto", "on", "off"),
                f"unknown batch-tasks {self.batch_tasks!r}; use auto, on or off",
            ),
            (0 <= self.workers <= 64, f"workers must be 0 (automatic) to 64 (got {self.workers})"),
            (not self.resume or self.checkpoint, "--resume needs --checkpoint FILE"),
            (28 <= self.image_size <= 105, f"image size must be 28 to 105 pixels (got {self.image_size})"),
            (self.image_size == 28 or self.dataset == "omniglot",
             f"--image-size {self.image_size} needs Omniglot's 105x105 drawings; {self.dataset} images are 28x28"),
            (8 <= self.channels <= 512, f"channels must be 8 to 512 (got {self.channels})"),
            (self.backbone == "conv4" or (self.channels, self.feature_map, self.global_pool, self.stem)
             == (64, False, False, False),
             f"--channels, --feature-map, --global-pool and --stem shape the conv4 backbone, not {self.backbone}"),
            (1 <= self.members <= 8, f"members must be 1 to 8 (got {self.members})"),
            (self.members == 1 or (self.backbone == "conv4" and self.algo in ("simpleshot", "protohead")
                                   and not self.cosine_head),
             "--members trains an ensemble of conv4 networks for SimpleShot or Proto-head (without --cosine-head)"),
            (not self.stem or self.image_size >= 32, "--stem halves the image first, so it needs --image-size 32 "
             "or more (56 reads Omniglot's strokes at twice the detail)"),
            (not (self.feature_map and self.global_pool), "--feature-map keeps the last map; --global-pool pools "
             "it whole: choose one"),
            (self.train_on in ("split", "all"), f"unknown train-on {self.train_on!r}; use split or all"),
            (self.train_on == "split" or not self.val_every,
             "--train-on all leaves no classes to validate on; add --val-every 0"),
            (0 <= self.episodic_finish < 1, f"episodic finish must be a fraction of the run, from 0 (off) to "
             f"below 1 (got {self.episodic_finish})"),
            (not self.episodic_finish or self.algo in ("simpleshot", "protohead"),
             f"--episodic-finish trains SimpleShot's or Proto-head's features by their nearest-mean rule, not "
             f"{self.algo}'s"),
            (0 <= self.tta <= 64, f"tta must be 0 to 64 views (got {self.tta})"),
            (0 <= self.template_weight <= 100,
             f"--template-weight, the template distance's weight, must be 0 (off) to 100 "
             f"(got {self.template_weight:g})"),
            (0 <= self.template_turn <= 45,
             f"--template-turn, the template fit's other starts, must be 0 (one start) to 45 degrees "
             f"(got {self.template_turn:g})"),
            (0 <= self.template_hubness <= 4,
             f"--template-hubness, how far a class's distances are set against its drawing's reach, must be 0 (off) "
             f"to 4 (got {self.template_hubness:g})"),
            (self.backbone != "mlp" or self.objective == "regression",
             "the mlp backbone takes numbers, not images; use --backbone conv4 or seed for image data"),
            (self.backbone == "mlp" or self.objective != "regression",
             f"{self.dataset} tasks are regression of numbers; use --backbone mlp (conv4 and seed take images)"),
        ]
        if self.objective == "regression" and self.algo not in REGRESSION_ALGORITHMS:
            checks.append((False, refusal(self.algo, self.objective)))
        for ok, message in checks:
            if not ok:
                raise DataError(message)
        return self

    @property
    def objective(self) -> str:
        """The task family's loss and metric: ``"regression"`` (MSE) for sine, ``"classification"`` otherwise."""
        return "regression" if self.dataset in REGRESSION_DATASETS else "classification"

    @property
    def frames_ink(self) -> Frame:
        """How drawings are framed, where it applies (engine.data.images.image_to_tensor's ``frame``): 0 as
        drawn, 1 framed, more than 1 framed and stretched that much at most, a MomentFraming framed by the ink's
        moments, a BothFramings framed both ways. Omniglot's drawings are framed when ``frame_ink``; other data
        sets' images are used as they are (the lake recipe picked in the window with the built-in glyphs trains on
        them unframed). Both ways only where the embedding reads the two (:attr:`reads_framings`); elsewhere
        ``frame_both`` is ignored, as ``tta`` is."""
        if not (self.frame_ink and self.dataset == "omniglot"):
            return 0.0
        if self.frame_both and self.reads_framings:
            return BothFramings(float(self.frame_stretch))
        return MomentFraming(float(self.frame_stretch)) if self.frame_moments else float(self.frame_stretch)

    @property
    def reads_framings(self) -> bool:
        """The algorithm reads a drawing framed several ways as views of it (SimpleShot's and Proto-head's
        embedding: engine.algorithms.simpleshot.ViewMean)."""
        return self.algo in ("simpleshot", "protohead")

    @property
    def augmentation(self) -> dict:
        """The training episodes' distortions as :class:`engine.tasks.TaskSampler` takes them (with the seed):
        the same for the main phase and the episodic finish."""
        return dict(seed=self.seed, augment=self.augment, strokes=self.augment_strokes,
                    strength=self.augment_strength, elastic=self.augment_elastic)

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
            tta=self.tta,
            tta_strokes=self.augment_strokes,
            adapt_block=self.adapt_block,
            cosine_head=self.cosine_head,
            classes=self.head_classes,
            frame_ink=self.frames_ink,
            # (other algorithms and backbones ignore it, as they do --tta: the window carries a recipe's settings
            # to whichever algorithm the person picks next)
            local_match=self.local_match and self.algo in ("simpleshot", "protohead") and self.pooled_conv4,
            local_levels=self.local_levels,
            template_weight=self.template_weight if self.algo in ("simpleshot", "protohead") else 0.0,
            template_turn=self.template_turn,
            template_hubness=self.template_hubness,
            dense_loss=self.dense_loss if self.pooled_conv4 and self.members == 1 else 0.0,
            episode_loss=self.episode_loss,
            mixup=self.mixup,
            local_loss=self.local_loss if self.pooled_conv4 and self.members == 1 else 0.0,
        )

    @property
    def pooled_conv4(self) -> bool:
        """A conv4 whose last block pools its map: the unpooled map that local matching and the dense and local
        losses read exists (``--feature-map`` keeps the map itself as the embedding)."""
        return self.backbone == "conv4" and not self.feature_map

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
    """The task shape (ways, shots, queries, meta-batch) ``algo`` starts with: its recipe's."""
    shaped = TrainConfig(**recipe_for_algorithm(algo))
    return {k: getattr(shaped, k) for k in TASK_SHAPE_KEYS}


#: The settings an algorithm brings along when it is picked in the window (its recipe's, TrainConfig's where
#: the recipe names none), unless the person changed them by hand.
ALGORITHM_KEYS = (*TASK_SHAPE_KEYS, "inner_steps", "inner_lr", "outer_lr")
#: Settings a recipe may name that the window has no control for (the lake recipe's): the recipe selector
#: carries them along, and picking any recipe sets them all (to TrainConfig's defaults where it names none).
RECIPE_EXTRA_KEYS = ("augment", "augment_strokes", "augment_strength", "augment_elastic", "mirrors", "composed",
                     "same_alphabet", "image_size", "frame_ink", "frame_stretch", "frame_moments", "frame_both",
                     "channels", "feature_map", "global_pool", "stem", "members", "train_on", "tta", "adapt_block",
                     "cosine_head", "lr_decay", "weight_decay", "episodic_finish", "local_match", "local_levels",
                     "template_weight", "template_turn", "template_hubness", "dense_loss", "episode_loss", "mixup",
                     "local_loss")


def algorithm_settings(algo: str) -> dict:
    """The task shape and rates ``algo`` starts with in the window: its recipe's."""
    config = TrainConfig(**recipe_for_algorithm(algo))
    return {k: getattr(config, k) for k in ALGORITHM_KEYS}


def recipe_choices() -> dict[str, dict]:
    """Every recipe's settings, complete (TrainConfig's defaults where a recipe names none), for the
    window's recipe selector; ``describe`` lines come from engine.recipes.SUMMARIES."""
    keys = (*ALGORITHM_KEYS, "algo", "iterations", "time_budget", "val_every", *RECIPE_EXTRA_KEYS)
    return {name: {k: v for k, v in from_recipe(name).to_dict().items() if k in keys} for name in RECIPES}


def from_recipe(name: str, **overrides) -> TrainConfig:
    """The settings of recipe ``name`` (engine.recipes) with ``overrides`` on top."""
    return TrainConfig(**{**recipe(name), **overrides})


def app_defaults() -> TrainConfig:
    """The settings the window's Start trains, and ``main.py train`` with no options: the quick recipe
    (1,000 iterations, 44-49 s on Omniglot small1 on 2 cores, validation included: 95.1-95.8% 5-way
    1-shot on the held-out alphabet), validated every 400."""
    return from_recipe("quick")
