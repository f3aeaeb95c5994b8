"""The Algorithm panel: every hyperparameter of a run, each with a tooltip and a default.

The panel only edits values; whether they make sense together is decided by
the engine (``TrainConfig.validate`` and the episode sampler) and shown by the
main window in the red label under this panel.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from engine.api import AlgorithmInfo
from engine.config import RECIPE_EXTRA_KEYS

BACKBONE_LABELS = {"conv4": "Conv-4 (standard)", "seed": "ConvNet (seed article)"}
RECIPE_TIPS = {
    "quick": "The one-minute model the window starts with: Proto-head (SimpleShot's training on batches of 32 "
    "classes, 1,000 steps), which adapts to new classes in 10 visible steps",
    "lake": "For Lake's one-shot challenge on Omniglot (pick Omniglot as the data): 12,000 steps of training "
    "a network of 128 filters a block (10-22 minutes on 2 cores; 30 minutes at most) on every alphabet, its "
    "mirror images and characters joined from two halves, with strong augmentation, a decaying learning rate and "
    "each batch of one alphabet also scored as a few-shot episode, and each drawing's features averaged over 8 "
    "distortions of it when classifying, each query's strokes also matched place by place with each class's, on "
    "the last map and the finer one before it, and each class's drawing bent onto the query by a fitted smooth map "
    "to see how close it comes (about a fifth of a second a query of 20 classes; BENCHMARKS.md)",
}
#: how the settings without a control of their own read in the note under the recipe
EXTRA_LABELS = {
    "augment_strokes": lambda v: "pen-width augmentation" if v else "",
    "augment_strength": lambda v: f"augmentation {v:g}x as strong" if v != 1 else "",
    "augment_elastic": lambda v: "elastic wobble" if v else "",
    "mirrors": lambda v: "mirror images as extra classes" if v else "",
    "composed": lambda v: "extra classes joined from two characters' halves" if v else "",
    "cosine_head": lambda v: "cosine classifier in training" if v else "",
    "dense_loss": lambda v: "each place of the last map classified in training" if v else "",
    "episode_loss": lambda v: "each batch also scored as an episode" if v else "",
    "mixup": lambda v: "mixed batches classified as both classes" if v else "",
    "local_loss": lambda v: "each batch's places matched in training" if v else "",
    "lr_decay": lambda v: "learning rate decays to 0" if v else "",
    "same_alphabet": lambda v: "batches within one alphabet" if v else "",
    "episodic_finish": lambda v: f"the last {100 * v:.0f}% on 20-way one-alphabet episodes" if v else "",
    "image_size": lambda v: f"{v}x{v} images" if v != 28 else "",
    "frame_ink": lambda v: "drawings cropped to their ink" if v else "",
    "frame_stretch": lambda v: f"wide or tall ones stretched up to {v:g}x" if v != 1 else "",
    "frame_moments": lambda v: "framed by the ink's centre and spread" if v else "",
    "frame_both": lambda v: "each drawing framed both ways and read both ways" if v else "",
    "channels": lambda v: f"{v} filters a block" if v != 64 else "",
    "feature_map": lambda v: "unpooled feature map" if v else "",
    "global_pool": lambda v: "last block pools its whole map" if v else "",
    "stem": lambda v: "strided 5x5 first convolution" if v else "",
    "members": lambda v: f"an ensemble of {v} networks" if v > 1 else "",
    "train_on": lambda v: "every class trains (no validation)" if v == "all" else "",
    "tta": lambda v: f"{v} test-time views per example" if v else "",
    "adapt_block": lambda v: "adaptation steps refine the last block too" if v else "",
    "local_match": lambda v: "strokes matched place by place" if v else "",
    "local_levels": lambda v: "on the finer map too" if v > 1 else "",
    "template_weight": lambda v: "each query also compared with each drawing bent onto it" if v else "",
    "template_turn": lambda v: f"each bend also fitted from \u00b1{v:g}\u00b0 turns" if v else "",
    "template_hubness": lambda v: "each class's bends weighed by how unusual its drawing is" if v else "",
}


def _same(a: object, b: object) -> bool:
    """Equal, with floats compared as the spin boxes show them."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) < 1e-9
    return a == b


def _spin(low: int, high: int, tip: str, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setToolTip(tip)
    box.setKeyboardTracking(False)
    return box


def _double(low: float, high: float, decimals: int, step: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setToolTip(tip)
    box.setKeyboardTracking(False)
    return box


class AlgorithmPanel(QGroupBox):
    """Hyperparameter form; ``values()`` returns TrainConfig field values."""

    changed = Signal()  # any value edited

    def __init__(self, defaults: dict, algorithms: list[AlgorithmInfo], backbones: list[str], cuda: bool,
                 parent: QWidget | None = None, shapes: dict[str, dict] | None = None,
                 recipes: dict[str, dict] | None = None) -> None:
        super().__init__("Algorithm", parent)
        self.defaults = dict(defaults)
        # algorithm -> the shape and rates it starts with (engine.config.algorithm_settings)
        self.shapes = dict(shapes or {})
        self.recipes = dict(recipes or {})  # recipe name -> its settings (engine.config.recipe_choices)
        self.recipe_combo = QComboBox()
        for name, settings in self.recipes.items():
            self.recipe_combo.addItem(name, name)
            tip = RECIPE_TIPS.get(name, f"{settings.get('algo', name)}'s own best settings for a short run")
            self.recipe_combo.setItemData(self.recipe_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.recipe_combo.addItem("custom", None)
        self.recipe_combo.setToolTip(
            "A named bundle of settings (the same as main.py train --recipe NAME): 'quick' is the one-minute "
            "model Start trains by default; each algorithm has its own. Editing any setting makes it 'custom'."
        )
        self.recipe_combo.setVisible(bool(self.recipes))
        self.recipe_combo.activated.connect(self._on_recipe_chosen)
        # the settings a recipe brings that have no control here (engine.config.RECIPE_EXTRA_KEYS, less augment)
        self._extras = {k: self.defaults[k] for k in RECIPE_EXTRA_KEYS if k in self.defaults and k != "augment"}
        self.recipe_note = QLabel("")
        self.recipe_note.setWordWrap(True)
        self.recipe_note.setStyleSheet("color: palette(dark); font-size: 11px;")
        self.recipe_note.setToolTip("Settings of the recipe that have no control of their own; picking another "
                                    "recipe resets them")
        self._loading = False
        self.algorithms = {a.name: a for a in algorithms}
        self.algo_combo = QComboBox()
        for info in algorithms:
            self.algo_combo.addItem(info.name if info.available else f"{info.name} (not yet available)", info.name)
            index = self.algo_combo.count() - 1
            self.algo_combo.setItemData(index, f"{info.summary}\n{info.paper}".strip(), Qt.ItemDataRole.ToolTipRole)
            if not info.available:
                self.algo_combo.model().item(index).setEnabled(False)
        self.algo_note = QLabel("")
        self.algo_note.setWordWrap(True)
        self.algo_note.setStyleSheet("color: palette(dark); font-size: 11px;")
        self.backbone_combo = QComboBox()
        for name in backbones:
            self.backbone_combo.addItem(BACKBONE_LABELS.get(name, name), name)
        self.backbone_combo.setToolTip("The network being meta-learned: Conv-4 is the standard 4-block CNN of "
                                       "the MAML and ProtoNet papers; ConvNet is the seed article's model")
        self.ways = _spin(0, 100, "N-way: how many classes each task mixes (chance accuracy is 1/N)")
        self.shots = _spin(0, 50, "K-shot: labelled examples per class the model sees before answering")
        self.queries = _spin(0, 50, "Query examples per class the model is scored on in each task")
        self.meta_batch = _spin(0, 256, "Tasks averaged into one meta-gradient step")
        self.inner_steps = _spin(
            0, 50, "Gradient steps on the support set per task (MAML family; ProtoNet and SimpleShot ignore it)"
        )
        self.inner_lr = _double(
            0.0,
            10.0,
            4,
            0.05,
            "Learning rate of those support-set steps (MAML family; ProtoNet and SimpleShot ignore it)",
        )
        self.outer_lr = _double(0.0, 1.0, 5, 0.0005, "Adam learning rate of the meta-update (the slow, outer loop)")
        self.iterations = _spin(0, 1_000_000, "How many meta-iterations (meta-batches) to train for", step=100)
        self.budget_check = QCheckBox("stop after")
        self.budget_check.setToolTip("Also stop when this much training time has passed, whichever comes first")
        self.time_budget = _double(1.0, 86_400.0, 0, 10.0, "Training-time budget in seconds (pauses not counted)")
        self.time_budget.setSuffix(" s")
        self.time_budget.setValue(60.0)
        self.val_every = _spin(
            0,
            100_000,
            "Measure accuracy on held-out validation classes every this many iterations (0 turns it off)",
            step=10,
        )
        self.val_episodes = _spin(
            0, 10_000, "Validation tasks per measurement (more: a tighter 95% CI, but slower)", step=10
        )
        self.seed = _spin(0, 2**31 - 1, "Random seed: the same seed and settings give the same run")
        self.device_combo = QComboBox()
        self.device_combo.addItem("CPU", "cpu")
        if cuda:
            self.device_combo.addItem("CUDA (GPU)", "cuda")
        self.device_combo.setToolTip(
            "Where the network runs" + ("" if cuda else " (no CUDA GPU was found on this computer)")
        )
        self.workers = _spin(
            0,
            64,
            "CPU processes that share each meta-batch, one core each: the same meta-gradient, "
            "about 1.4x faster on 2 cores (BENCHMARKS.md). Auto uses one per core, at most 2; "
            "GPU runs always use one.",
        )
        self.workers.setSpecialValueText("Auto")
        self.augment_check = QCheckBox("jitter training images")
        self.augment_check.setToolTip(
            "Distort each training image by a small random rotation, scale, shear and shift, so the "
            "model learns what does not matter about a drawing; validation and your own support "
            "images are used as they are. Helps most when there are few training classes."
        )

        budget_row = QHBoxLayout()
        budget_row.setContentsMargins(0, 0, 0, 0)
        budget_row.addWidget(self.budget_check)
        budget_row.addWidget(self.time_budget, 1)
        iterations_row = QHBoxLayout()
        iterations_row.setContentsMargins(0, 0, 0, 0)
        iterations_row.addWidget(self.iterations, 1)
        iterations_row.addLayout(budget_row, 1)
        task_row = QHBoxLayout()
        task_row.setContentsMargins(0, 0, 0, 0)
        for label, box in (
            ("", self.ways),
            ("-way", None),
            ("", self.shots),
            ("-shot", None),
            ("", self.queries),
            ("queries", None),
        ):
            task_row.addWidget(box if box is not None else QLabel(label))
        val_row = QHBoxLayout()
        val_row.setContentsMargins(0, 0, 0, 0)
        val_row.addWidget(QLabel("every"))
        val_row.addWidget(self.val_every, 1)
        val_row.addWidget(QLabel("it., tasks"))
        val_row.addWidget(self.val_episodes, 1)

        form = QFormLayout(self)
        if self.recipes:
            form.addRow("Recipe", self.recipe_combo)
            form.addRow("", self.recipe_note)
        form.addRow("Algorithm", self.algo_combo)
        form.addRow("", self.algo_note)
        form.addRow("Backbone", self.backbone_combo)
        form.addRow("Task", task_row)
        form.addRow("Meta-batch", self.meta_batch)
        form.addRow("Inner steps", self.inner_steps)
        form.addRow("Inner LR", self.inner_lr)
        form.addRow("Outer LR", self.outer_lr)
        form.addRow("Iterations", iterations_row)
        form.addRow("Validation", val_row)
        form.addRow("Seed", self.seed)
        form.addRow("Device", self.device_combo)
        form.addRow("Processes", self.workers)
        form.addRow("Augment", self.augment_check)

        self.set_values(self.defaults)
        for box in (
            self.ways,
            self.shots,
            self.queries,
            self.meta_batch,
            self.inner_steps,
            self.iterations,
            self.val_every,
            self.val_episodes,
            self.seed,
            self.workers,
        ):
            box.valueChanged.connect(self._on_changed)
        for box in (self.inner_lr, self.outer_lr, self.time_budget):
            box.valueChanged.connect(self._on_changed)
        for combo in (self.algo_combo, self.backbone_combo, self.device_combo):
            combo.currentIndexChanged.connect(self._on_changed)
        self.budget_check.toggled.connect(self._on_changed)
        self.augment_check.toggled.connect(self._on_changed)
        self._algo = self.algo_combo.currentData()
        self.algo_combo.currentIndexChanged.connect(self._swap_shape)
        self._update_note()
        self._sync_recipe()

    # -- values ----------------------------------------------------------------
    def values(self) -> dict:
        """The run's hyperparameters as TrainConfig field values."""
        return {
            "algo": self.algo_combo.currentData(),
            "backbone": self.backbone_combo.currentData(),
            "ways": self.ways.value(),
            "shots": self.shots.value(),
            "queries": self.queries.value(),
            "meta_batch": self.meta_batch.value(),
            "inner_steps": self.inner_steps.value(),
            "inner_lr": self.inner_lr.value(),
            "outer_lr": self.outer_lr.value(),
            "iterations": self.iterations.value(),
            "time_budget": self.time_budget.value() if self.budget_check.isChecked() else None,
            "val_every": self.val_every.value(),
            "val_episodes": self.val_episodes.value(),
            "seed": self.seed.value(),
            "device": self.device_combo.currentData(),
            "workers": self.workers.value(),
            "augment": self.augment_check.isChecked(),
            **self._extras,
        }

    def set_values(self, values: dict) -> None:
        """Set every known field in ``values`` (unknown or impossible choices are skipped)."""
        self._loading = True
        try:
            for key in (
                "ways",
                "shots",
                "queries",
                "meta_batch",
                "inner_steps",
                "iterations",
                "val_every",
                "val_episodes",
                "seed",
                "workers",
            ):
                if isinstance(values.get(key), (int, float)):
                    getattr(self, key).setValue(int(values[key]))
            for key in ("inner_lr", "outer_lr"):
                if isinstance(values.get(key), (int, float)):
                    getattr(self, key).setValue(float(values[key]))
            if isinstance(values.get("augment"), bool):
                self.augment_check.setChecked(values["augment"])
            for key in self._extras:
                if key in values and values[key] is not None:
                    self._extras[key] = values[key]
            budget = values.get("time_budget")
            self.budget_check.setChecked(isinstance(budget, (int, float)))
            if isinstance(budget, (int, float)):
                self.time_budget.setValue(float(budget))
            device = values.get("device")
            if device == "auto":
                device = "cuda" if self.device_combo.findData("cuda") >= 0 else "cpu"
            for combo, value in (
                (self.algo_combo, values.get("algo")),
                (self.backbone_combo, values.get("backbone")),
                (self.device_combo, device),
            ):
                index = combo.findData(value)
                if index >= 0 and combo.model().item(index).isEnabled():
                    combo.setCurrentIndex(index)
        finally:
            self._loading = False
        self._update_note()
        self._sync_recipe()
        self.changed.emit()

    # -- handlers --------------------------------------------------------------
    def _update_note(self) -> None:
        self.time_budget.setEnabled(self.budget_check.isChecked())
        extras = [label(self._extras[k]) for k, label in EXTRA_LABELS.items() if k in self._extras]
        note = ", ".join(e for e in extras if e)
        self.recipe_note.setText(f"Also: {note}" if note else "")
        self.recipe_note.setVisible(bool(note))
        info = self.algorithms.get(self.algo_combo.currentData())
        text = info.summary if info else ""
        paper = f"\n({info.paper})" if info and info.paper else ""
        self.algo_note.setText(text)
        self.algo_note.setToolTip(info.paper if info else "")
        self.algo_combo.setToolTip("The meta-learning rule.\n" + text + paper)

    def _matches(self, settings: dict) -> bool:
        values = self.values()
        return all(k not in values or _same(values[k], v) for k, v in settings.items())

    def _swap_shape(self, *_args) -> None:
        """Switching algorithms brings the new one's task shape and rates (SimpleShot learns from 32-class
        batches, the episodic methods from 5-way tasks), unless the person changed them by hand."""
        previous, self._algo = self._algo, self.algo_combo.currentData()
        if self._loading or previous not in self.shapes or self._algo not in self.shapes:
            return
        if self._matches(self.shapes[previous]) and self.shapes[self._algo] != self.shapes[previous]:
            self.set_values(self.shapes[self._algo])

    def _on_recipe_chosen(self, index: int) -> None:
        name = self.recipe_combo.itemData(index)
        if name in self.recipes:
            self.set_values(self.recipes[name])

    def _sync_recipe(self) -> None:
        """Show the recipe the settings match, or 'custom'."""
        match = next((name for name, settings in self.recipes.items() if self._matches(settings)), None)
        self.recipe_combo.setCurrentIndex(self.recipe_combo.findData(match))

    def _on_changed(self, *_args) -> None:
        if self._loading:
            return
        self._update_note()
        self._sync_recipe()
        self.changed.emit()
