"""Named bundles of training settings, shared by the window's recipe selector and ``train --recipe``.

A recipe fills every setting it names; explicit options (a CLI flag, a value the person
typed) override it. ``quick`` is what the window's Start trains and what ``train`` with no
options trains. Each algorithm has a recipe of its own, the best settings measured for a
short run on the CPU, which ``--algo X`` alone (or picking X in the window) brings along
(BENCHMARKS.md, "Every algorithm's own defaults"). Plain dicts of TrainConfig fields: this
module imports nothing, so the window can read it before torch loads.
"""

from __future__ import annotations

#: The episodic shape of DESIGN.md (5-way 1-shot, 15 queries, 8 tasks a step).
_EPISODIC = {"ways": 5, "shots": 1, "queries": 15, "meta_batch": 8}
#: The classifier recipes' batches: 32 classes x 2 images (one "support" + one "query"), one batch a step.
_CLASS_BATCHES = {"ways": 32, "shots": 1, "queries": 1, "meta_batch": 1}

RECIPES: dict[str, dict] = {
    # SimpleShot (an ordinary classifier over all training classes, nearest normalised class mean to
    # adapt) on batches of 32 classes x 2 images, one batch a step, 1,000 steps: from Start to finished
    # 95.1-95.8% 5-way 1-shot on Omniglot small1's held-out alphabet in 44-49 s (BENCHMARKS.md).
    # Proto-head: SimpleShot's training (an ordinary classifier over all training classes on batches of 32
    # classes x 2 images, one batch a step, 1,000 steps: 44-49 s on Omniglot small1) and SimpleShot's
    # nearest-mean classifier as step 0 of an adaptation that then takes 10 Adam steps (lr 0.01) on the
    # class weights. Same training as SimpleShot, at least as accurate (5-way, Omniglot's held-out alphabet,
    # inductive, 300 episodes: 1-shot 94.73% vs 94.72%, 5-shot 98.11% vs 98.09%; BENCHMARKS.md), and an
    # adaptation with steps a person can watch.
    # the steps refine the last block with the head: +0.06 +- 0.05 points at 5-way 5-shot over 1,000 paired
    # Omniglot episodes, where the head alone changed nothing (BENCHMARKS.md, "Proto-head")
    "quick": {**_CLASS_BATCHES, "algo": "protohead", "inner_steps": 10, "inner_lr": 0.0005, "adapt_block": True,
              "iterations": 1000, "val_every": 400},
    "maml": {"algo": "maml", **_EPISODIC, "inner_steps": 1, "inner_lr": 0.4, "outer_lr": 0.002},
    # 3 smaller inner steps: 80.5% after 60 iterations on the built-in glyphs, against 41.1% with the shared 1 step
    # at 0.4 (which overshoots before the meta-gradient is taken); bench/algo_defaults.py --iterations 60, BENCHMARKS.md
    "fomaml": {"algo": "fomaml", **_EPISODIC, "inner_steps": 3, "inner_lr": 0.1, "outer_lr": 0.002},
    "anil": {"algo": "anil", **_EPISODIC, "inner_steps": 1, "inner_lr": 0.4, "outer_lr": 0.002},
    "metasgd": {"algo": "metasgd", **_EPISODIC, "inner_steps": 1, "inner_lr": 0.4, "outer_lr": 0.002},
    # Reptile needs several inner steps (one step is joint training): 5 SGD steps at 0.1 on 5-query tasks, 4 a step
    # (about the shared defaults' cost an iteration): 73.7% after 60 iterations against 28.6% (BENCHMARKS.md)
    "reptile": {
        "algo": "reptile", "ways": 5, "shots": 1, "queries": 5, "meta_batch": 4,
        "inner_steps": 5, "inner_lr": 0.1, "outer_lr": 0.002,
    },
    "protonet": {"algo": "protonet", **_EPISODIC, "outer_lr": 0.002},
    "blackbox": {"algo": "blackbox", **_EPISODIC, "outer_lr": 0.002},
    "moe": {"algo": "moe", **_EPISODIC, "outer_lr": 0.002},
    "finetune": {"algo": "finetune", **_EPISODIC, "inner_steps": 1, "inner_lr": 0.4, "outer_lr": 0.002},
    "simpleshot": {**_CLASS_BATCHES, "algo": "simpleshot"},
    "protohead": {**_CLASS_BATCHES, "algo": "protohead", "inner_steps": 10, "inner_lr": 0.0005, "adapt_block": True},
    # Lake's one-shot challenge from a minimal background set: Proto-head's training for 30 minutes on every
    # background alphabet with affine augmentation, and each image's features averaged over 8 fixed distortions
    # of it at test time. Each choice was measured leaving one of small1's five alphabets out at a time
    # (bench/lake_ablation.py, 2 minutes a fold; BENCHMARKS.md, "Lake's one-shot challenge"): augmentation and
    # the test-time views kept; pen-width augmentation and 56x56 images dropped (worse at that budget).
    # Mirrored classes (better in 4 folds of 5 at 2 minutes), affine maps twice as strong with an elastic wobble
    # and a learning rate decaying over the budget, so that 30 minutes no longer memorise the training classes:
    # 15.25% against 16.25% on the Early Aramaic fold at 30 minutes (BENCHMARKS.md, "Stronger training"); 13.5%
    # with the classifier head sized to its classes. 96 filters, an unpooled or globally pooled last map and
    # 64-class batches measured no better (BENCHMARKS.md, "The backbone's shape" and "A wider backbone"), nor
    # did a strided 5x5 stem at 56x56 or four networks voting in the same 30 minutes (13.75%; "A finer first
    # layer, and several networks voting"). Each drawing cropped to its ink and centred, as the canvas frames a
    # person's drawing: better in 4 folds of 5 at 2 minutes (20.25% against 21.75% on the mean), the same 13.5%
    # at 30 minutes on Early Aramaic ("Drawings framed to their ink"), and kept for it matches the canvas.
    # Framed at 56x56 through the strided stem: 18.75% at 2 minutes, but 14.0% at 30 (not adopted). The ink's
    # shorter side stretched up to twice (a wide Balinese character gets more than half the rows): 16.0% against
    # 17.55% and 17.95% for the recipe on the mean of five folds at 2 minutes, 37.0% against 39.75% on the
    # Balinese fold at 30 ("Wide drawings stretched"); 16.15% against 16.95% on the five folds at 30 ("All five
    # folds at 30 minutes with the stretch"). AdamW's weight decay (0.05) measured worse on the Balinese fold at 30
    # (40.2% against 37.6% on its 100 runs, dropped); composed characters (--composed 1) 0.5 points better there over
    # two seeds, within the seed's spread, and not yet measured on five folds ("Weight decay and composed characters").
    # Queries also scored by matching the last map's places (--local-match, DN4): 15.91% against 17.14% on the five
    # 2-minute models and 2.35-3.4 points better on three 30-minute Balinese models, 100 runs a fold ("Local
    # descriptors matched"); a test-time choice, so it travels in the checkpoint. Composed characters (--composed 1)
    # at 30 minutes on five folds: 16.14% against 16.22% on the 100 runs, 15.55% against 16.15% on the 20; taken, so
    # that the recipe is the one measured on five folds at 30 minutes with the places matched: 15.88% (100 runs),
    # 14.9% (20 runs). The block before's finer 7x7 map matched as well, each place within one row or column of
    # its own (--local-levels 2, the two levels' scores averaged): 14.98% against 15.88% on the same five 30-minute
    # models (100 runs; better on every fold), 14.35% against 14.9% (20 runs) ("Strokes matched on the finer map").
    # Each batch also scored as the 32-way 1-shot episode it is, by the nearest normalised mean that scores a
    # new task (--episode-loss 0.5), its classes from one alphabet as a Lake run's are: better on all ten fold-seed
    # pairs at 4,000 iterations; at 12,000 (about 4 minutes, the learning rate decaying over them) 13.35% and
    # 12.9% for two seeds on the 20 runs, 14.2% and 13.68% on the 100, against 14.35% and 14.98% for 30 minutes
    # without it; one such model trained the whole 30 minutes measured no better on Balinese ("A nearest-mean
    # episode in every batch" and "The episode in the recipe"). So the recipe stops at 12,000 iterations, the
    # 30 minutes a cap for a slower machine. The episode also scored by matching places, as the recipe scores a run
    # (--local-loss 0.5), two seeds: 13.18% / 13.63% (20 / 100 runs) against 13.13% / 13.94%, for 1.65 times the
    # training; not adopted ("Places matched in training"). A deeper backbone (blocks 2-4 of two or three convolutions
    # around a shortcut) and the recipe distilled into a fresh network measured no better ("A deeper backbone"); nor
    # did a batch's classes from one orientation, 45-degree turns as more classes, or 56x56 drawings at these steps,
    # and without the 90-degree turns as classes, or with a square of each drawing erased, it measured worse ("The
    # training classes' turns"). Stronger or wobbled test-time views, the places weighed otherwise, other head steps,
    # and three drawings a class in a batch measured no better; 128 filters a block gained on the 100 runs for two
    # seeds (13.38% against 13.94%) but not on the 20 (13.18% against 13.13%), for 2.4 times the training, and is
    # not yet taken ("Test-time choices on the recipe's models, three drawers a class in a batch, and 128 filters on
    # a second seed"). A third seed settled it: 12.85% against 13.85% on the 20 runs (better on every fold) and
    # 13.14% against 13.62% on the 100; over three seeds 13.07% against 13.37% (20 runs) and 13.3% against 13.83% (100
    # runs), so the recipe has 128 filters a block since session 25, about 10 minutes of training on the AMD
    # machine and 12-17 on a slower Intel one, inside the 30 ("A third seed for 128 filters, and a correction for
    # hubs"). A penalty on a class whose drawing attracts the run's others (CSLS, BPL's -log P(train)) was worse. A
    # fourth seed: 13.6% / 13.31%, so 13.2% / 13.3% over four; the elastic wobble twice as far measured no better, and
    # two 128-filter seeds voting 12.95% on the 20 runs ("A farther wobble, a fourth seed for the recipe"). A pair
    # verifier reading a query and a drawing together gained 0.2 points joined (as a second network does), a query read
    # with several stretches and each drawing told apart from the others (SimCLR) nothing ("A second opinion"); nor did
    # a drawing's parts moved against each other, its strokes redrawn with one pen, channels dropped in training, or a
    # query's places weighed by their ink ("A drawing's parts moved"), nor the weights averaged over the last steps,
    # sharpness-aware steps or softened targets ("The weights averaged"), nor Adam's rate doubled or halved; and two or
    # three training alphabets a fold scored as four do, so more alphabets are not what it lacks ("Adam's rate halved").
    # Each drawing framed by its ink's centre of mass and spread rather than its ink's box (--frame-moments), so a
    # part one drawer adds or leaves out at the edge no longer moves and rescales the whole character: over seeds 2
    # and 3, 12.9% against 13.23% on the 100 runs (better on Early Aramaic, Greek and Korean each time, Latin worse)
    # and 13.2% against 13.23% on the 20; at 64 filters 13.5% against 13.62% and 12.7% against 13.85% ("The batch's
    # episode weighed more, and drawings framed by their ink's moments" and "Drawings framed by their moments, a
    # second seed"). Taken in session 32. Each drawing framed both ways, by its moments and by its box (--frame-both):
    # every training drawing twice, one way each time, as two drawings of its class, and a drawing scored read both
    # ways at once, its two framings views of it, at a step's same cost: over seeds 2 and 3, 12.2% against 13.2% on
    # the 20 runs (12.15% and 12.25%) and 12.54% against 12.9% on the 100 ("The two framings read inside one
    # learner, in the engine"). Taken in session 34. Each query also compared with each class's drawing carried onto
    # it by a fitted smooth map (an affine map and a 4x4 field, 100 Adam steps, both framings): the pixel distance
    # left, standardised over the run's classes, subtracted from the logits at weight 3 (engine.deformation, a
    # deformable template): over seeds 2 and 3, 11.1% against 12.2% on the 20 runs (10.85% and 11.35%) ("Deformations
    # fitted between two drawers' drawings"), and 11.64% against 12.52% on the 100 at seed 2, better on every fold
    # ("The template distance in the engine"); scoring only. Taken in session 38. The distance's logarithm standardised
    # instead of the distance (template_join.lowered): 10.78% over the two seeds on the 20 runs and 11.4% on the 100,
    # against 11.1% and 11.67% ("The distance's logarithm"). Taken in session 39. Each fit also started from the
    # drawing turned 15 degrees each way, the smallest distance kept (template_turn): 10.65% against 10.9% over seeds
    # 0, 1 and 2 on the 20 runs, better at each seed, for three times the fits ("Each template fit started from
    # three turns, through the engine"). Taken in session 41. A stiffer fitted field (penalty 0.4 or 1.6) measured no
    # better joined (10.9% / 11.2% against 11.0%, seed 1, one start), and each class's distances set against its
    # drawing's reach (template_hubness 1) level on the 100 runs (11.46% against 11.49%) after 10.55% against 11.0% on
    # the 20 where it was chosen: neither taken ("How stiff the template's field should be"). Fits also started from
    # turns of 30 degrees or slants (10.75% / 10.65% against 10.75%), the framings' distances joined otherwise, and
    # what a fit leaves read by a ConvNet learned on the training alphabets' fitted pairs (10.95% against 11.0%, one
    # start), and 200 fit steps (10.95% against 11.0%) measured level: none taken ("Where each template fit starts").
    # Fits made at 56x56 (11.5% against 11.0%, one start), the two readings' probabilities mixed instead of
    # multiplied, the network with fewer parts, and drawings deskewed (Early Aramaic 11.25% against 9.75%) measured
    # no better; 7.9% of seed 1's queries are missed by the network and the template alike ("The template fitted at
    # 56x56, where the joined misses lie"). A third reader joined to the two, the count of loops a drawing's ink closes,
    # shape contexts matched by a transport plan, or the network reading each class's drawing carried onto the query
    # by the fitted map, measured level or worse (10.7% and 10.75% against 10.75%, the last worse on two folds) ("A
    # third reader beside the network and the template"). Trained 16,000 steps instead of 12,000 (seed 1, the two
    # hardest folds): 28.75% and 10.75% against 29.0% and 9.75%, the training loss halved, not taken ("The recipe
    # trained a third longer").
    "lake": {
        **_CLASS_BATCHES, "algo": "protohead", "inner_steps": 10, "inner_lr": 0.01, "augment": True,
        "augment_strength": 2.0, "augment_elastic": 0.08, "mirrors": True, "lr_decay": True, "frame_ink": True,
        "frame_stretch": 2.0, "frame_moments": True, "frame_both": True, "train_on": "all", "tta": 8,
        "local_match": True, "local_levels": 2, "composed": 1.0, "episode_loss": 0.5, "same_alphabet": True,
        "channels": 128, "template_weight": 3.0, "template_turn": 15.0,
        "iterations": 12_000,
        "time_budget": 1800.0, "val_every": 0,
    },
}

#: What each recipe is for, in a line (the window's selector and ``train --help``).
SUMMARIES: dict[str, str] = {
    "quick": "the one-minute model the window starts with (Proto-head: SimpleShot's training on 32-class batches, "
    "1,000 steps; adapts in 10 visible steps)",
    "lake": "Lake's one-shot challenge on Omniglot: 12,000 steps (10-22 minutes on 2 cores, 30 at most) of a network "
    "of 128 filters a block on every alphabet, its mirror images and characters joined from two halves, each drawing "
    "framed by its ink's centre and spread and by its ink's box (a wide one stretched up to twice) and read both ways, "
    "strongly augmented, each batch of one alphabet also scored as an episode, with test-time views, each query's "
    "strokes also matched place by place on two maps, and each drawing bent onto the query to see how close it comes",
}


def recipe(name: str) -> dict:
    """The settings of recipe ``name`` (a copy); KeyError names the known recipes."""
    try:
        return dict(RECIPES[name])
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}") from None


def recipe_for_algorithm(algo: str) -> dict:
    """The recipe ``--algo X`` alone brings: X's own, or just the algorithm where X has none."""
    return recipe(algo) if algo in RECIPES else {"algo": algo}
