"""Lake's one-shot challenge, leave one alphabet out: an idea's error on five held-out alphabets.

For each of Omniglot small1's five alphabets (a fold), a model is trained on the
other four for a fixed time with the ``quick`` recipe plus the variant's settings
(TrainConfig fields), then scored on 20 Lake-format runs of the held-out alphabet
(bench/make_challenge_runs.py --leave-one-out; 20-way, within one alphabet, one
drawing per class): inductively (each test drawing on its own with the 20 training
drawings), transductively (BatchNorm statistics over a run's 40 drawings, for
comparison), and inductively with test-time views of the support set (``--tta``).
It also scores ordinary 5-way and 20-way 1-shot episodes of the held-out alphabet
(its unrotated characters), so a gain is not specific to Lake's format.

    python bench/make_challenge_runs.py /tmp/loao --leave-one-out
    python bench/lake_ablation.py --runs /tmp/loao --variant base --minutes 2 [--folds Greek,Latin] [--save DIR]

The last line of stdout is the JSON summary (error rates and accuracies as fractions).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from common import OMNIGLOT_DIR, emit, machine, other_framing, read_both_ways

if TYPE_CHECKING:
    import numpy as np
    import torch

    from engine.framing import Frame

#: each variant: TrainConfig settings on top of the quick recipe (engine.recipes)
VARIANTS: dict[str, dict] = {
    "base": {},
    "augment": {"augment": True},
    "augment+strokes": {"augment": True, "augment_strokes": True},
    "augment+strokes@56": {"augment": True, "augment_strokes": True, "image_size": 56},
    "augment@56": {"augment": True, "image_size": 56},
    "augment2": {"augment": True, "augment_strength": 2.0},
    "augment+elastic": {"augment": True, "augment_elastic": 0.08},
    "augment+mirrors": {"augment": True, "mirrors": True},
    "augment+decay": {"augment": True, "lr_decay": True},
    "augment+cosine": {"augment": True, "cosine_head": True},
    "augment2+elastic": {"augment": True, "augment_strength": 2.0, "augment_elastic": 0.08},
    "lake": {"recipe": "lake"},
    "lake@56": {"recipe": "lake", "image_size": 56},
    # the lake recipe with the stronger training of 2026-12-03: twice the affine ranges, an elastic wobble,
    # mirrored classes and a learning rate decaying over the budget
    "lake+strong": {"recipe": "lake", "augment_strength": 2.0, "augment_elastic": 0.08, "mirrors": True,
                    "lr_decay": True},
    # backbone shape (2026-12-03, afternoon): the last block's 3x3 map unpooled (576 values, same cost), or wider
    "augment+mirrors+map": {"augment": True, "mirrors": True, "feature_map": True},
    "augment+mirrors+wide96": {"augment": True, "mirrors": True, "channels": 96},
    "augment+mirrors+gmax": {"augment": True, "mirrors": True, "global_pool": True},
    "augment+mirrors+batch64": {"augment": True, "mirrors": True, "ways": 64},
    "lake+map": {"recipe": "lake", "feature_map": True},
    "lake+wide96": {"recipe": "lake", "channels": 96},
    # a cheap higher resolution (2026-12-03, evening): 56x56 drawings through a 5x5 stride-2 first convolution
    "augment+mirrors+stem56": {"augment": True, "mirrors": True, "stem": True, "image_size": 56},
    "lake+stem56": {"recipe": "lake", "stem": True, "image_size": 56},
    # several networks trained side by side in the same budget, voting by their mean (2026-12-03, evening)
    "augment+mirrors+members4": {"augment": True, "mirrors": True, "members": 4},
    "lake+members2": {"recipe": "lake", "members": 2},
    "lake+members4": {"recipe": "lake", "members": 4},
    # each drawing cropped to its ink and centred, filling 80% of the frame (2026-12-03, night)
    "augment+mirrors+frame": {"augment": True, "mirrors": True, "frame_ink": True},
    "augment+mirrors+frame+stem56": {"augment": True, "mirrors": True, "frame_ink": True, "stem": True,
                                     "image_size": 56},
    "lake+frame": {"recipe": "lake", "frame_ink": True, "frame_stretch": 1.0},  # (framed, proportions kept)
    "lake+frame+stem56": {"recipe": "lake", "frame_ink": True, "stem": True, "image_size": 56},
    # pen-width augmentation (and views) again, now that framing enlarges the strokes (2026-12-03, late)
    "lake+frame+strokes": {"recipe": "lake", "frame_ink": True, "augment_strokes": True},
    # each batch's 32 classes from one alphabet, so BatchNorm's batch statistics are one alphabet's, as they are at
    # test time (from a run's 20 training drawings of one alphabet) (2026-12-03, session 11)
    "lake+frame+alphabet": {"recipe": "lake", "frame_ink": True, "same_alphabet": True},
    # the engine's episodic finish (engine.finish; bench/lake_episodic.py's, inside the budget): the last third of
    # the minutes on 20-way 1-shot episodes of one alphabet by the nearest-mean rule (2026-12-04, session 12)
    "lake+frame+alphabet+finish": {"recipe": "lake", "frame_ink": True, "same_alphabet": True,
                                   "episodic_finish": 1 / 3},
    "lake+frame+finish": {"recipe": "lake", "frame_ink": True, "episodic_finish": 1 / 3},
    # framed with the ink's shorter side stretched up to twice (a wide Balinese character gets more than half the
    # rows; 2026-12-04, session 13)
    "lake+frame+stretch2": {"recipe": "lake", "frame_ink": True, "frame_stretch": 2.0},
    # the recipe (stretched 2x) with one alphabet a batch, through the engine's --same-alphabet (2026-12-04, session 14)
    "lake+alphabet": {"recipe": "lake", "same_alphabet": True},
    # AdamW's decoupled weight decay on the recipe (the weight matrices only), against its memorising of the four
    # training alphabets at 30 minutes (2026-12-04, session 15)
    "lake+wd": {"recipe": "lake", "weight_decay": 0.05},
    # new training characters, each the top half of one character over the bottom half of another of its alphabet,
    # as many again as the training classes (2026-12-04, session 15)
    "lake+composed": {"recipe": "lake", "composed": 1.0},
    # the recipe with its queries also scored by local descriptors of the last block's unpooled map (DN4; a test-time
    # change: --rescore --local-match scores saved models the same way) (2026-12-04, session 16)
    "lake+local": {"recipe": "lake", "local_match": True},
    "lake+composed+local": {"recipe": "lake", "composed": 1.0, "local_match": True},
    # every place of the last map classified as well during training (Lifchitz et al., CVPR 2019): descriptors
    # that each name their class, for the local matching to compare (2026-12-04, session 17)
    "lake+dense": {"recipe": "lake", "dense_loss": 0.5},
    "lake+strong-mirrors": {"recipe": "lake", "augment_strength": 2.0, "augment_elastic": 0.08, "lr_decay": True},
    # more variety of classes (2026-12-05, session 18; bench-only keys, applied to the fold by extend_fold): 400
    # classes of the built-in pen-stroke glyphs (engine.data.glyphs) drawn at 84x84 and framed as Omniglot's are;
    # characters joined from the left half of one and the right half of another of an alphabet, as many again as
    # the training classes (before the recipe's mirrors and top-bottom joins)
    "lake+glyphs": {"recipe": "lake", "extra_glyphs": 400},
    "lake+sideways": {"recipe": "lake", "composed_sideways": 1.0},
    # each batch also scored as the episode it is, by the nearest normalised mean (--episode-loss), with its classes
    # drawn at random or from one alphabet (2026-12-05, session 18)
    "lake+episode": {"recipe": "lake", "episode_loss": 0.5},
    # (64 filters: the recipe of sessions 19-24, named so that it stays that network now that the recipe has 128)
    "lake+episode+alphabet": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64},
    # the episode's cross-entropy weighed as much as the classifier's (2026-12-05, session 19)
    "lake+episode1+alphabet": {"recipe": "lake", "episode_loss": 1.0, "same_alphabet": True},
    # twice the filters a block, now that the recipe stops at a number of steps rather than at its time
    "lake+episode+alphabet+wide128": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 128},
    # (lake+members2 and lake+members4 above, on today's recipe: since session 20 each member has its own episode
    # loss and its places matched, and the recipe stops at its steps, so K members take K times the minutes)
    "lake+members3": {"recipe": "lake", "members": 3},
    # manifold mixup's classifier loss added (--mixup 1, Mangla et al. 2020's S2M2 weight), half and whole
    "lake+mixup": {"recipe": "lake", "mixup": 1.0},
    "lake+mixup05": {"recipe": "lake", "mixup": 0.5},
    # twice as many characters joined from two halves (the recipe has as many again as the training classes)
    "lake+composed2": {"recipe": "lake", "composed": 2.0},
    # each batch's episode also scored by its places matched, as the recipe scores a run (--local-loss; DN4 trains so),
    # the mean best-place cosines times 10 or 20 as logits; or the episode's nearest-mean logits joined to the places'
    # standardised similarity as LocalMatchLearner joins them at test time (2026-12-05, session 21)
    "lake+local-loss": {"recipe": "lake", "local_loss": 0.5, "local_scale": 10.0},
    "lake+local-loss-s20": {"recipe": "lake", "local_loss": 0.5, "local_scale": 20.0},
    "lake+local-loss-joined": {"recipe": "lake", "local_loss": 0.5, "local_joined": True},
    # a deeper backbone: blocks 2-4 each two (or three) 3x3 convolutions with an identity shortcut around them, as
    # ResNet-12's blocks are, at Conv-4's width (bench-only key, applied by patch_deep_blocks) (2026-12-05, session 22)
    "lake+deep2": {"recipe": "lake", "block_convs": 2},
    "lake+deep3": {"recipe": "lake", "block_convs": 3},
    # born-again distillation (Furlanello et al. 2018; Tian et al. 2020's RFS): the recipe trained again from a fresh
    # initialisation, its classifier also taught the softened class probabilities of the fold's saved recipe model
    # on the same augmented batch (bench-only keys, applied by patch_distill; the teacher from --teacher)
    "lake+distill": {"recipe": "lake", "distill": 0.5, "distill_t": 4.0},
    # each batch's 32 classes from one alphabet in one orientation, as a Lake run's are all upright: a rotated
    # character's group is its alphabet and turn (its mirror image joins it), so that a batch's episode compares
    # characters of one turn, not a character with others' rotations, and composed characters join halves of one
    # turn (bench-only key, applied by extend_fold) (2026-12-05, session 23)
    "lake+orient": {"recipe": "lake", "orient_groups": True},
    # the recipe without the 90-degree rotations as extra classes: every training class upright, as the runs are
    "lake+upright": {"recipe": "lake", "upright_only": True},
    # each training class also turned by 45 degrees, as a new class: the 90-degree turns as classes measured better
    # than none (lake+upright), so four more turns between them (bench-only key, applied by extend_fold)
    "lake+rot45": {"recipe": "lake", "rot45": True},
    # half the training drawings with one stroke-sized square of ink erased (random erasing, Zhong et al. 2020): the
    # recipe's Balinese misses are one character drawn two ways, a part left out or moved (bench/lake_error_ranks.py)
    # (bench-only key, applied by patch_erase) (2026-12-05, session 23)
    "lake+erase": {"recipe": "lake", "erase": 0.5},
    # three drawings of each class's other drawers in a batch rather than one: the batch's episode then compares
    # each support drawing with three other people's, as a run's test drawings are other people's (2026-12-05,
    # session 24)
    "lake+queries3": {"recipe": "lake", "queries": 3},
    # the elastic wobble twice as far in training (0.16 grid units, about 2 pixels at 28x28, from 0.08): the Balinese
    # misses are a part moved, and a farther wobble moves a character's parts against each other while keeping its
    # strokes joined, as two drawers do; on the 64-filter recipe of sessions 19-24 (2026-12-05, session 26)
    "lake64+elastic16": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64,
                         "augment_elastic": 0.16},
    # each training drawing also told apart from every other drawing of the batch, its positive a second affine view
    # of itself (SimCLR's contrastive loss, Chen et al. 2020; with few-shot features, Su et al., "When does
    # self-supervision improve few-shot learning?", ECCV 2020): the class losses collapse what a training
    # character's drawings do not share, and a new alphabet's characters may differ in just that; 64 filters
    # (2026-12-06, session 27)
    "lake64+instance": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64,
                        "instance": 0.5},
    # the parts of half the training drawings moved against each other: three places on the ink, each with its own
    # small turn, scale and shift, blended smoothly between them (a poly-affine map), after the episode's affine
    # map. Lake's drawers differ stroke by stroke, and the recipe's Balinese misses are a part moved or drawn
    # another way (bench/lake_error_ranks.py), which one affine map for the whole drawing does not make; the
    # stroke-level variety BPL samples, without the strokes (2026-12-06, session 28)
    "lake64+parts": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64, "parts": 0.5},
    # every drawing (training and the runs' alike) thinned to its strokes' centre lines and drawn again with one pen
    # width at 28x28: framing scales a small drawing up more than a large one, so a drawing's strokes at 28x28 are as
    # wide as it was small, which says nothing of its character; a canonical form, as handwriting readers thin
    # strokes (Zhang & Suen 1984), rather than the pen-width augmentation that hurt (2026-12-06, session 28)
    "lake64+strokes": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64,
                       "stroke_width": 1.25},
    # whole channels of each block's input after the first dropped at random in training (spatial dropout, p 0.1;
    # DropBlock's aim in the few-shot ResNets, Ghiasi et al. 2018): the local matching compares places channel by
    # channel, and a held-out alphabet's strokes may light channels the training alphabets seldom needed, so spread
    # what a stroke says over more of them (2026-12-06, session 28)
    "lake64+dropout": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64,
                       "channel_dropout": 0.1},
    # the weights scored are a running average of the trained ones over about the last 2,000 steps (Polyak
    # averaging; the mean teacher's weights, Tarvainen & Valpola 2017): among the weights that fit the training
    # characters, an average of nearby ones sits in a flatter place, which is said to carry over better to
    # new classes (SWA, Izmailov et al. 2018); free in time (2026-12-06, session 29)
    "lake64+ema": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64, "ema": 0.9995},
    # each step's gradient taken where the loss is highest within a small ball around the weights (sharpness-aware
    # minimisation, Foret et al. 2021, radius 0.05): a flat minimum of the training classes' loss, which SAM's
    # authors find carries over better to new data, and Sharp-MAML (Abbas et al. 2022) to new classes; twice the
    # gradients a step, so about the 128-filter recipe's time at 64 filters (2026-12-06, session 29)
    "lake64+sam": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64, "sam": 0.05},
    # every training loss's target softened: 0.1 of it spread evenly over the classes seen so far (label smoothing,
    # Szegedy et al. 2016): the class head's loss pushes a training character's drawings to one point far from the
    # others, and a softer target stops short of that; Kornblith et al. (2021) find it hurts features' transfer to
    # new tasks in a linear probe, but the recipe reads its features by nearest class and matched places
    # (2026-12-06, session 29)
    "lake64+smooth": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64,
                      "label_smoothing": 0.1},
    # Adam's learning rate twice and half the recipe's 0.002 (both decaying along the recipe's half cosine): the rate
    # was set for the 5-way episodes of the first version and never measured on the whole-class training; a larger
    # step is said to find flatter weights that carry over to new classes (Keskar et al. 2017; Li et al. 2019 on
    # large rates as a regulariser), a smaller one to fit the training characters' fine differences (2026-12-06,
    # session 30)
    "lake64+lr4": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64, "outer_lr": 0.004},
    "lake64+lr1": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64, "outer_lr": 0.001},
    # the batch's episode weighed twice as much against the big head's loss (1.0 against the recipe's 0.5, which
    # was set once in session 18 and never varied): the episode trains the rule a new run is scored by, and one
    # alphabet a batch makes its 32 classes as alike as a run's, while the big head's loss pulls each training
    # character's drawings to one point of its own, the memorising that carries over least (2026-12-06, session 31)
    "lake64+ep1": {"recipe": "lake", "episode_loss": 1.0, "same_alphabet": True, "channels": 64},
    # each drawing (training and the runs' alike) framed by its ink's moments rather than its ink's box
    # (--frame-moments, engine.data.images.frame_moments): centred on the ink's centre of mass, scaled by its spread
    # (2.5 standard deviations along the longer axis to the frame's edge, the shorter axis stretched up to twice as
    # the box's is), as handwriting readers normalise characters (moment normalisation; Liu et al., Pattern
    # Recognition 2004, better than the box on every digit set). The box moves and rescales the whole character
    # when a drawer adds or leaves out a small part at its edge, as the recipe's Balinese misses do
    # (bench/lake_error_ranks.py); the moments move with the part's share of the ink (2026-12-06, session 31;
    # measured with a bench copy of the function, equal to the engine's on every tenth drawing of small1)
    "lake64+moments": {"recipe": "lake", "episode_loss": 0.5, "same_alphabet": True, "channels": 64,
                       "frame_moments": True},
    "lake+moments": {"recipe": "lake", "frame_moments": True},
    # every training drawing twice, framed by its ink's moments and by its ink's box, as two drawings of its class
    # (extend_fold's both_framings): the two framings' models disagree usefully (12.05% / 12.53% voting against
    # 13.25% / 12.81% for the moments model alone, session 32); one network taught that a drawing is the same
    # either way might read the runs both ways with that gain at one network's cost (lake_ensemble.py
    # --both-framings) (2026-12-06, session 33)
    "lake64+both": {"recipe": "lake", "channels": 64, "both_framings": True},
    "lake+both": {"recipe": "lake", "both_framings": True},
    # the same as the engine's option (--frame-both): each drawing scored is read both ways at once, a two-channel
    # image whose framings the embedding takes as views (as bench/lake_framing_views.py measured on lake+both's
    # models: 12.15% against lake_ensemble --both-framings' 12.1% on the 20 runs); training as both_framings does,
    # the same drawings in the same order (2026-12-06, session 34)
    "lake64+frameboth": {"recipe": "lake", "channels": 64, "frame_both": True},
    "lake+frameboth": {"recipe": "lake", "frame_both": True},
    # a third framing beside the two (patch_third_framing): the ink's moments with no stretch, so the drawing's own
    # proportions come back as a view (both framings stretch a wide character's shorter side up to twice, which makes
    # wide and narrow characters of one alphabet alike); trained on as a third drawing of each, read as a third view
    # at no cost in steps (2026-12-06, session 35)
    "lake64+frame3": {"recipe": "lake", "channels": 64, "frame_both": True, "third_framing": "moments1"},
    # half of each batch's 32 classes a class and the ones of its alphabet the class head confuses with it most
    # (patch_hard_classes): Balinese's misses are pairs that differ by a hook or a loop (2026-12-06, session 36)
    "lake64+hard": {"recipe": "lake", "channels": 64, "frame_both": True, "hard_classes": 0.5},
    # the random wobble replaced by maps fitted between two drawers' drawings of one training character
    # (bench/lake_deformations.py, patch_learned_wobble): the smooth field of a map from the fold's bank, under one of
    # the square's eight symmetries, on top of the recipe's random affine map (2026-12-07, session 37)
    "lake64+learned": {"recipe": "lake", "channels": 64, "frame_both": True, "learned_wobble": 1.0},
}

#: variant keys that are not TrainConfig fields: changes to a fold's classes that only this benchmark makes
POOL_KEYS = ("extra_glyphs", "composed_sideways", "orient_groups", "upright_only", "rot45", "both_framings")
#: variant keys that are not TrainConfig fields: changes to the local-match loss (Finetune.local_episode_loss) that
#: only this benchmark makes (patch_local_loss)
LOSS_KEYS = ("local_scale", "local_joined")
#: variant keys that are not TrainConfig fields: the backbone's depth (patch_deep_blocks)
BACKBONE_KEYS = ("block_convs",)
#: variant keys that are not TrainConfig fields: distillation from a saved model of the fold (patch_distill)
DISTILL_KEYS = ("distill", "distill_t")
#: variant keys that are not TrainConfig fields: parts of training drawings erased (patch_erase)
ERASE_KEYS = ("erase",)
#: variant keys that are not TrainConfig fields: a contrastive loss on each drawing's two views (patch_instance)
INSTANCE_KEYS = ("instance", "instance_t")
#: variant keys that are not TrainConfig fields: training drawings' parts moved against each other (patch_parts)
PARTS_KEYS = ("parts", "parts_count", "parts_deg", "parts_scale", "parts_shift", "parts_sigma")
#: variant keys that are not TrainConfig fields: drawings thinned and drawn again with one pen (patch_strokes)
STROKE_KEYS = ("stroke_width",)
#: variant keys that are not TrainConfig fields: channels dropped in training (patch_dropout)
DROPOUT_KEYS = ("channel_dropout",)
#: variant keys that are not TrainConfig fields: the scored weights a running average of the trained (patch_ema)
EMA_KEYS = ("ema",)
#: variant keys that are not TrainConfig fields: sharpness-aware steps (patch_sam)
SAM_KEYS = ("sam",)
#: variant keys that are not TrainConfig fields: training losses' targets softened (patch_smoothing)
SMOOTH_KEYS = ("label_smoothing",)
#: variant keys that are not TrainConfig fields: a third way of framing each drawing (patch_third_framing)
FRAMING_KEYS = ("third_framing",)
#: variant keys that are not TrainConfig fields: batches built around classes the network confuses (patch_hard_classes)
HARD_KEYS = ("hard_classes", "hard_every")
#: variant keys that are not TrainConfig fields: the wobble drawn from a bank of fitted maps (patch_learned_wobble)
LEARNED_KEYS = ("learned_wobble", "learned_pairs")
#: set by patch_learned_wobble: the number of pairs a fold's bank fits; main() puts each fold's bank here
LEARNED: dict = {}
#: set by patch_dropout: scoring puts the network in eval mode (dropout off; TaskBatchNorm ignores the mode)
EVAL_MODE = []


def patch_third_framing(third_framing: str | None = None) -> None:
    """A model framed both ways (--frame-both) reads each drawing three ways: engine.framing.framings gives a
    BothFramings' moments, box and then ``third_framing`` ("moments1": the ink's moments, no stretch; "box1": the
    ink's box, no stretch). Everything downstream takes a drawing's ways from that function (the pool's
    [M, 3, H, W] images, its training drawings, Lake's runs, the embedding's views), so only it changes."""
    if not third_framing:
        return
    from engine import data, framing
    from engine.data import images

    third = {"moments1": framing.MomentFraming(1.0), "box1": 1.0}[third_framing]
    plain = framing.framings

    def three(frame):
        ways = plain(frame)
        return (*ways, third) if isinstance(frame, framing.BothFramings) else ways

    framing.framings = data.framings = images.framings = three


def patch_deskew(deskew: float = 0.0) -> None:
    """Each drawing framed by its ink's moments is also deskewed: sheared along x about its centre of mass so that
    its ink's cross moment is zero (x moves by -k (y - yc), k = cov(x, y) / var(y), at most ``deskew`` either way),
    its spread along x then taken after the shear. Moment normalisation with slant correction, as handwriting readers
    frame characters (Liu et al., Pattern Recognition 2004); the recipe's moments framing stops at the centre and the
    spread (engine.data.images.frame_moments). Training drawings and runs alike; the box framing is untouched. The
    decoded pools go to their own cache folder (the cache's key does not know of the shear), so a model trained so is
    rescored with the same option."""
    if not deskew:
        return
    import os

    import numpy as np
    from PIL import Image

    from engine.data import cache, images

    os.environ[cache.ENV_DIR] = str(cache.cache_dir() / f"deskew{deskew:g}")

    def deskewed(grey: np.ndarray, stretch: float = 1.0, spread: float = images.MOMENT_SPREAD) -> np.ndarray:
        ys, xs = np.nonzero(grey > 0)
        if not len(ys):
            return grey
        weights = grey[ys, xs].astype(np.float64)
        yc, xc = np.average(ys, weights=weights), np.average(xs, weights=weights)
        vy = max(float(np.average((ys - yc) ** 2, weights=weights)), 0.25)
        k = float(np.clip(np.average((xs - xc) * (ys - yc), weights=weights) / vy, -deskew, deskew))
        sy = max(float(np.sqrt(vy)), 0.5)
        sx = max(float(np.sqrt(np.average((xs - xc - k * (ys - yc)) ** 2, weights=weights))), 0.5)
        longer = max(sy, sx)
        fy, fx = (min(stretch, longer / sy), 1.0) if sy < sx else (1.0, min(stretch, longer / sx))
        side = int(np.ceil(2 * spread * longer))
        half = side / 2
        # output (u, v) reads the input at x = xc + (u - half) / fx + k (v - half) / fy, y = yc + (v - half) / fy
        data = (1 / fx, k / fy, xc + 0.5 - half / fx - k * half / fy, 0.0, 1 / fy, yc + 0.5 - half / fy)
        out = Image.fromarray(grey.astype(np.float32), mode="F").transform(
            (side, side), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
        return np.asarray(out, dtype=np.float32).clip(0, 1)

    images.frame_moments = deskewed


def patch_hard_classes(hard_classes: float = 0.0, hard_every: int = 500) -> None:
    """Each training batch (one alphabet's classes, ``same_alphabet``) is built around a class picked at random:
    ``hard_classes`` of the batch's classes are that class and others of its alphabet that the network confuses with
    it most (their rows of the class head nearest its row by cosine, among its nearest twice as many), the rest at
    random from the alphabet as before. Balinese's misses are pairs of characters that differ by a hook or a loop
    (bench/lake_error_ranks.py; session 36 counted them), which a random batch of 32 rarely holds together, so the
    batch's episode and the head rarely have to tell such pairs apart. The head's similarities are taken afresh every
    ``hard_every`` steps (engine.algorithms.finetune.Finetune.prepare runs once a step in the trainer's process);
    before the first, batches are random. Validation and test episodes are untouched."""
    if not hard_classes:
        return
    import torch
    from torch.nn import functional as F

    from engine import tasks
    from engine.algorithms import finetune

    state: dict = {"algo": None}
    plain_prepare, plain_choose = finetune.Finetune.prepare, tasks.TaskSampler.choose_classes

    def prepare(self, batch) -> None:
        plain_prepare(self, batch)
        if self is not state["algo"]:  # (a new fold's model: its own classes and similarities)
            state.update(algo=self, steps=0, last=None, sims=None)
        if batch is state["last"]:  # (the same meta-batch again: TaskWorkers prepares before the algorithm does)
            return
        state["last"] = batch
        state["steps"] += 1
        if state["steps"] % hard_every == 0:
            with torch.no_grad():
                rows = F.normalize(self.big_head.weight.detach().float().view(len(self.seen), -1), dim=1)
                sims = rows @ rows.T
                unseen = ~self.seen.cpu()
                sims[unseen], sims[:, unseen] = -2.0, -2.0
                if state["sims"] is None:
                    print(f"hard classes: the head's similarities from step {state['steps']}", file=sys.stderr)
                state["sims"] = sims.cpu()

    def choose(self, rng, stream: int) -> tuple[int, ...]:
        if self is not state.get("sampler"):  # (a new fold's batches: its model's similarities are not taken yet)
            state.update(sampler=self, sims=None)
        sims = state["sims"]
        if sims is None or stream != tasks.TRAIN_STREAM or self.split != "train" or not self.groups:
            return plain_choose(self, rng, stream)
        group = self.groups[rng.integers(len(self.groups))]
        hard = max(2, round(hard_classes * self.ways))
        anchor = group[rng.integers(len(group))]
        members = torch.tensor(group)
        order = members[sims[anchor, members].argsort(descending=True)].tolist()
        near = [c for c in order[: 2 * hard] if c != anchor]
        picked = [anchor, *(near[i] for i in rng.choice(len(near), hard - 1, replace=False))]
        taken = set(picked)
        rest = [c for c in group if c not in taken]
        picked += [rest[i] for i in rng.choice(len(rest), self.ways - hard, replace=False)]
        return tuple(picked[i] for i in rng.permutation(self.ways))

    finetune.Finetune.prepare, tasks.TaskSampler.choose_classes = prepare, choose


def patch_learned_wobble(learned_wobble: float = 0.0, learned_pairs: int = 2000) -> None:
    """Each training drawing (engine.tasks' ``random_affine``), with probability ``learned_wobble``, wobbles by the
    field of a random map from the fold's bank (bench/lake_deformations.py: ``learned_pairs`` pairs of two drawers'
    drawings of one training character, fitted; ``LEARNED["bank"]``, which main() builds for each fold before it
    trains) under a random one of the square's eight symmetries, in place of the random 4x4 lattice (the random
    affine map stays). The same generator draws everything, so a batch is a function of its seed as before."""
    if not learned_wobble:
        return
    import torch
    from lake_deformations import offsets, symmetric

    import engine.tasks
    from engine.augment import _elastic_offsets, _thetas, _warp

    LEARNED.update(pairs=learned_pairs, bank=None)

    def bank_wobble(images, generator, strength: float = 1.0, elastic: float = 0.0):
        n, (h, w) = images.shape[0], images.shape[-2:]
        if n == 0:
            return images
        bank = LEARNED["bank"]
        theta = _thetas(n, generator, strength)
        plain = (_elastic_offsets(n, h, w, elastic, generator) if elastic > 0
                 else torch.zeros(n, h, w, 2))
        pick = torch.randint(len(bank.field), (n,), generator=generator)
        which = torch.randint(8, (n,), generator=generator)
        chosen = torch.rand(n, generator=generator) < learned_wobble
        _, field = symmetric(bank.theta[pick], bank.field[pick], which)
        return _warp(images, theta, torch.where(chosen.view(n, 1, 1, 1), offsets(field, h, w), plain))

    engine.tasks.random_affine = bank_wobble


def patch_dropout(channel_dropout: float = 0.0) -> None:
    """Conv-4's blocks after the first begin with a ``Dropout2d(channel_dropout)`` (engine.models' ``_conv_block``):
    on in training (the trainer never leaves train mode), off when this benchmark scores (``EVAL_MODE``). The local
    matching reads a block as [layers..., pool, ReLU], so a leading dropout leaves its maps where they were."""
    if not channel_dropout:
        return
    from torch import nn

    from engine import models

    plain = models._conv_block

    def dropped_block(cin: int, cout: int, pool: str = "2x2", stride: int = 1) -> nn.Sequential:
        block = plain(cin, cout, pool, stride)
        return block if cin == 1 else nn.Sequential(nn.Dropout2d(channel_dropout), *block)

    models._conv_block = dropped_block
    EVAL_MODE.append(True)


def patch_ema(ema: float = 0.0) -> None:
    """After each of the trainer's optimiser steps (the recipe has no episodic finish), the network's weights'
    running average moves ``1 - ema`` of the way to them; the run's checkpoint (saved once, at its end, as val_every
    is 0) and so the scores hold the average. Buffers are the network's own (TaskBatchNorm keeps no running
    statistics)."""
    if not ema:
        return
    import torch

    from engine import trainer

    plain_step, plain_save = trainer.meta_step, trainer._Training.save
    averages: dict[int, list] = {}

    def averaged_step(algo, optimizer, *args, **kwargs):
        out = plain_step(algo, optimizer, *args, **kwargs)
        params = [p.detach() for p in algo.model.parameters()]
        if id(algo.model) not in averages:  # (the first step's weights start the average)
            averages[id(algo.model)] = [p.clone() for p in params]
        kept = averages[id(algo.model)]
        with torch.no_grad():
            torch._foreach_lerp_(kept, params, 1 - ema)
        return out

    def averaged_save(self, iteration: int) -> None:
        kept = averages.get(id(self.algo.model))
        if kept is not None:
            with torch.no_grad():
                for p, a in zip(self.algo.model.parameters(), kept):
                    p.copy_(a)
        plain_save(self, iteration)

    trainer.meta_step, trainer._Training.save = averaged_step, averaged_save


def patch_sam(sam: float = 0.0) -> None:
    """Each of the trainer's steps (in this process; an episodic finish's too) takes its gradient at the weights
    moved ``sam`` (in L2 over all outer parameters) along the batch's own gradient, then steps from the weights it
    began at (SAM, Foret et al. 2021). The same tasks both times: the sampler augments them before the step."""
    if not sam:
        return
    import torch

    from engine import trainer

    plain_step = trainer.meta_step

    def stepped_from_start(algo, optimizer, tasks, should_stop=None, *args, **kwargs):
        params = list(algo.outer_parameters())
        optimizer.zero_grad(set_to_none=True)
        algo.meta_gradient(tasks, should_stop=should_stop)
        grads = [p.grad for p in params if p.grad is not None]
        moves = []
        if grads:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            if torch.isfinite(norm) and norm > 0:
                with torch.no_grad():
                    for p in params:
                        if p.grad is not None:
                            move = p.grad * (sam / norm)
                            p.add_(move)
                            moves.append((p, move))
        real_step, undone = optimizer.step, []

        def undo() -> None:
            with torch.no_grad():
                for p, move in moves:
                    p.sub_(move)
            undone.append(True)

        def step_from_start(*a, **k):  # undo the move, then let the optimiser apply the far gradient
            undo()
            return real_step(*a, **k)

        optimizer.step = step_from_start
        try:
            return plain_step(algo, optimizer, tasks, should_stop, *args, **kwargs)
        finally:
            optimizer.step = real_step
            if not undone:  # the step was refused (diverged) or interrupted: the weights still go back
                undo()

    trainer.meta_step = stepped_from_start


def patch_smoothing(label_smoothing: float = 0.0) -> None:
    """The fine-tuning family's cross-entropies (engine.algorithms.finetune: the class head's, the batch's episode)
    take ``label_smoothing`` of each target spread evenly over the classes whose logits are finite: the class head
    masks the classes no batch has shown yet with -inf, which torch's own ``label_smoothing`` would turn into an
    infinite loss. Scoring is untouched: the runs are read by the nearest class and matched places."""
    if not label_smoothing:
        return
    from torch.nn import functional as plain

    from engine.algorithms import finetune

    def smoothed_cross_entropy(logits, target, *args, **kwargs):
        logp = logits.log_softmax(-1)
        nll = -logp.gather(1, target[:, None]).squeeze(1)
        finite = logp.isfinite()
        spread = -logp.masked_fill(~finite, 0).sum(1) / finite.sum(1)
        return ((1 - label_smoothing) * nll + label_smoothing * spread).mean()

    class Smoothed:  # torch.nn.functional, its cross_entropy smoothed
        cross_entropy = staticmethod(smoothed_cross_entropy)

        def __getattr__(self, name: str):
            return getattr(plain, name)

    finetune.F = Smoothed()


def thinned(ink: "np.ndarray") -> "np.ndarray":
    """The one-pixel centre lines of a boolean ink image (Zhang & Suen's thinning, CACM 1984)."""
    import numpy as np

    img = np.pad(ink.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [np.roll(np.roll(img, -dy, 0), -dx, 1) for dy, dx in
                 ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))]  # P2..P9, clockwise
            neighbours = sum(p)
            transitions = sum(((p[i] == 0) & (p[(i + 1) % 8] == 1)).astype(np.uint8) for i in range(8))
            if step == 0:
                side = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
            else:
                side = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
            remove = (img == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def patch_strokes(stroke_width: float = 0.0, size: int = 28) -> None:
    """Frame every drawing's thinned strokes (engine.data.images.frame_ink, as the recipe frames the ink) and draw
    them with a pen ``stroke_width`` pixels wide at ``size`` x ``size`` (a Gaussian across the line, its half-height
    width that): training pools and the runs alike. Decoded pools go to a cache of their own."""
    if not stroke_width:
        return
    import os

    import numpy as np
    import torch
    import torch.nn.functional as F

    import engine.data.images as images

    os.environ["META_PLAYGROUND_CACHE_DIR"] = str(Path("/tmp") / f"meta-playground-strokes-{stroke_width}")
    frame = images.frame_ink

    def framed_strokes(grey, fill=images.FRAME_FILL, stretch=1.0):
        ink = grey > 0.5
        if not ink.any():
            return grey
        lines = frame(thinned(ink).astype(np.float32), fill, stretch)
        lines = (lines > 0.25).astype(np.float32)  # (a stretched line is resampled: back to one pixel's weight)
        sigma = stroke_width / 2.355 * lines.shape[0] / size  # the pen at the framed image's own scale
        radius = max(1, math.ceil(3 * sigma))
        taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1) / sigma) ** 2)
        taps = taps / taps.sum()
        x = torch.from_numpy(lines)[None, None]
        x = F.conv2d(F.conv2d(x, taps.view(1, 1, -1, 1), padding=(radius, 0)), taps.view(1, 1, 1, -1),
                     padding=(0, radius))
        peak = float(1 / (math.sqrt(2 * math.pi) * sigma)) if sigma > 0.4 else 1.0  # a straight line's height
        return (x[0, 0].numpy() / peak * 2).clip(0, 1).astype(np.float32)  # half the line's height and up: ink

    images.frame_ink = framed_strokes


def part_warp(images, generator, count: int = 3, degrees: float = 15.0, scale: float = 0.15, shift: float = 0.1,
              sigma: float = 0.4):
    """``images`` ([n, C, H, W]) each under a smooth poly-affine map: ``count`` centres drawn on the ink (with the
    ink's weight), each with its own turn (up to ``degrees``), scale (up to ``scale``) and shift (up to ``shift`` grid
    units, the image 2 wide) about itself; a pixel is read through the centres' maps blended by a Gaussian of its
    distance to each (``sigma`` grid units)."""
    import math

    import torch
    import torch.nn.functional as F

    n, _, h, w = images.shape
    ys, xs = torch.meshgrid(torch.linspace(-1 + 1 / h, 1 - 1 / h, h), torch.linspace(-1 + 1 / w, 1 - 1 / w, w),
                            indexing="ij")
    places = torch.stack([xs, ys], -1).reshape(1, h * w, 2)  # grid_sample's (x, y)
    ink = images.detach().float().sum(1).reshape(n, h * w).clamp_min(0) + 1e-6
    picks = torch.multinomial(ink, count, replacement=True, generator=generator)  # [n, count]
    centres = places[0][picks]  # [n, count, 2]

    def uniform(*shape):
        return torch.rand(*shape, generator=generator) * 2 - 1

    angle = uniform(n, count) * math.radians(degrees)
    factor = 1 + uniform(n, count) * scale
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    maps = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # [n, count, 2, 2]
    offsets = uniform(n, count, 2) * shift
    rel = places.unsqueeze(2) - centres.unsqueeze(1)  # [n, HW, count, 2]
    read = centres.unsqueeze(1) + torch.einsum("nkij,npkj->npki", maps, rel) + offsets.unsqueeze(1)
    weights = torch.softmax(-(rel ** 2).sum(-1) / (2 * sigma ** 2), dim=2)  # [n, HW, count]
    grid = (weights.unsqueeze(-1) * read).sum(2).reshape(n, h, w, 2)
    return F.grid_sample(images, grid.to(images.dtype), align_corners=False, padding_mode="zeros")


def patch_parts(parts: float = 0.0, parts_count: int = 3, parts_deg: float = 15.0, parts_scale: float = 0.15,
                parts_shift: float = 0.1, parts_sigma: float = 0.4) -> None:
    """After the training episodes' affine maps (engine.tasks' ``random_affine``), put each drawing with probability
    ``parts`` through :func:`part_warp`, from the same generator."""
    if not parts:
        return
    import torch

    import engine.tasks

    affine = engine.tasks.random_affine

    def affine_then_parts(images, generator, *args, **kwargs):
        images = affine(images, generator, *args, **kwargs)
        if images.shape[0] == 0:
            return images
        chosen = torch.rand(images.shape[0], generator=generator) < parts
        warped = part_warp(images, generator, parts_count, parts_deg, parts_scale, parts_shift, parts_sigma)
        return torch.where(chosen.view(-1, 1, 1, 1).to(images.device), warped, images)

    engine.tasks.random_affine = affine_then_parts


def patch_erase(erase: float = 0.0, smallest: int = 6, largest: int = 10) -> None:
    """After the training episodes' affine maps (engine.tasks' ``random_affine``), set to background a random square
    of ``smallest``-``largest`` pixels within the image's central 20x20 in each drawing with probability ``erase``,
    from the same generator."""
    if not erase:
        return
    import torch

    import engine.tasks

    affine = engine.tasks.random_affine

    def affine_then_erase(images, generator, *args, **kwargs):
        images = affine(images, generator, *args, **kwargs).clone()
        n, side = images.shape[0], images.shape[-1]
        chosen = torch.rand(n, generator=generator) < erase
        sizes = torch.randint(smallest, largest + 1, (n,), generator=generator)
        corners = torch.randint(4, side - 4 - smallest + 1, (n, 2), generator=generator)
        for i in torch.nonzero(chosen).flatten().tolist():
            k, (r, c) = int(sizes[i]), corners[i].tolist()
            images[i, ..., r:r + k, c:c + k] = 0.0
        return images

    engine.tasks.random_affine = affine_then_erase


def patch_instance(instance: float = 0.0, instance_t: float = 0.2) -> None:
    """Add to the training loss ``instance`` times SimCLR's NT-Xent at temperature ``instance_t``: each drawing of the
    batch (already under its episode's affine map) and a second affine view of it (strength 1 with the recipe's
    wobble) are each other's positive, every other drawing of the batch, either view, a negative; on the pooled
    features, normalised."""
    import torch
    import torch.nn.functional as F

    from engine.algorithms import finetune
    from engine.augment import random_affine

    if not instance:
        return
    generator = torch.Generator().manual_seed(27)
    task_loss = finetune.Finetune.task_loss

    def with_instances(self, task):
        loss, acc = task_loss(self, task)
        x = torch.cat([task.support_x, task.query_x])
        both = torch.cat([x, random_affine(x, generator, 1.0, 0.08)])
        z = F.normalize(self.model.features(both), dim=1)
        n = len(x)
        sims = (z @ z.T / instance_t).fill_diagonal_(float("-inf"))
        positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(sims.device)
        return loss + instance * F.cross_entropy(sims, positives), acc

    finetune.Finetune.task_loss = with_instances


def patch_distill(distill: float = 0.0, distill_t: float = 4.0) -> None:
    """Add to the classifier's loss ``distill`` times T^2 times the KL divergence from the teacher's class
    probabilities at temperature ``distill_t`` to the student's (over the classes seen so far), the teacher
    (``Finetune.teacher``, set for each fold) scoring the same augmented batch."""
    import torch
    import torch.nn.functional as F

    from engine.algorithms import finetune

    if not distill:
        return
    class_logits, task_loss = finetune.Finetune.class_logits, finetune.Finetune.task_loss

    def kept_logits(self, feats):
        self.last_logits = class_logits(self, feats)
        return self.last_logits

    def distilled_loss(self, task):
        loss, acc = task_loss(self, task)
        x = torch.cat([task.support_x, task.query_x])
        with torch.no_grad():
            teacher = self.teacher.class_logits(self.teacher.model.features(x))
        seen = self.seen
        t = distill_t
        student_log = F.log_softmax(self.last_logits[:, seen] / t, 1)
        kl = F.kl_div(student_log, F.log_softmax(teacher[:, seen] / t, 1), log_target=True, reduction="batchmean")
        return loss + distill * t * t * kl, acc

    finetune.Finetune.class_logits = kept_logits
    finetune.Finetune.task_loss = distilled_loss


def weighed_local_similarity(weigh) -> None:
    """engine.algorithms.local_match.local_similarity with its mean over a query's places and views weighed:
    ``weigh(query_maps [Q, V, C, P], best [Q, ways, V, P])`` gives each query place's weight [Q, V, P] (normalised
    here), ``best`` being each place's nearest-place cosine in each class."""
    import torch
    import torch.nn.functional as F

    from engine.algorithms import local_match

    def weighed(query_maps, support_maps, support_y, ways, radius=None):
        q = F.normalize(query_maps, dim=2)  # [Q, V, C, P]
        s = F.normalize(support_maps, dim=2)
        cos = torch.einsum("qvcp,svcr->qsvpr", q, s)
        if radius is not None:
            cos = cos.masked_fill(local_match._farther_than(math.isqrt(q.shape[3]), radius).to(cos.device), -2.0)
        cos = cos.amax(4)  # [Q, S, V, P]
        outside = F.one_hot(support_y, ways).T.logical_not()[None, :, :, None, None]
        best = cos[:, None].masked_fill(outside, -2.0).amax(2)  # [Q, ways, V, P]
        weights = weigh(query_maps, best)
        weights = weights / weights.sum((1, 2), keepdim=True)
        return (best * weights[:, None]).sum((2, 3))

    local_match.local_similarity = weighed


def patch_place_weights(power: float) -> None:
    """Each query place weighed by its own activation's length to the power ``power`` in the local matching's mean
    over places and views (engine.algorithms.local_match.local_similarity; 0 is the recipe's plain mean): the
    cosine gives a place with little ink under it (a blank corner of the 7x7 map) the same say as a stroke. The
    weights come from the query alone, so scoring stays inductive."""
    weighed_local_similarity(lambda query_maps, best: query_maps.norm(dim=2).clamp_min(1e-8) ** power)


def patch_place_spread(power: float) -> None:
    """Each query place weighed by how much its best match differs from class to class of the run, the spread (the
    standard deviation over the run's classes) of its nearest-place cosines to the power ``power``, in the local
    matching's mean over places and views (0 is the recipe's plain mean). A place that finds its match in every
    class alike (a stroke that near-twins share) says nothing about which class the drawing is, yet with the plain
    mean its drawer-to-drawer noise counts as much as the one place where twins differ (a hook, a loop). The
    weights come from the query and the run's training drawings, so scoring stays inductive."""
    weighed_local_similarity(lambda query_maps, best: best.std(1).clamp_min(1e-8) ** power)


def patch_deep_blocks(block_convs: int = 1) -> None:
    """Conv-4's blocks after the first as ``block_convs`` 3x3 convolutions (each BatchNorm, ReLU between them) with
    an identity shortcut around them, before the block's pooling and ReLU: the same maps and places for the local
    matching (local_match reads a block as [layers before the pool..., pool, ReLU]), more depth at each scale."""
    from torch import nn

    from engine import models

    if block_convs == 1:
        return
    plain = models._conv_block

    class Residual(nn.Module):
        def __init__(self, body: nn.Sequential) -> None:
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x) + x

    def deep_block(cin: int, cout: int, pool: str = "2x2", stride: int = 1) -> nn.Sequential:
        block = plain(cin, cout, pool, stride)
        if cin != cout or stride != 1:
            return block
        layers: list[nn.Module] = []
        for i in range(block_convs):
            layers += [*([nn.ReLU()] if i else []), models.Conv2d(cout, cout, 3, padding=1),
                       models.TaskBatchNorm2d(cout)]
        return nn.Sequential(Residual(nn.Sequential(*layers)), *block[2:])

    models._conv_block = deep_block


def patch_local_loss(local_scale: float | None = None, local_joined: bool = False) -> None:
    """The local loss's logit scale (finetune.LOCAL_SCALE), or with ``local_joined`` its logits those of the
    recipe's scoring rule: the batch episode's nearest-mean logits plus their spread times the levels' mean
    standardised place similarity (LocalMatchLearner.joined, on one view)."""
    import torch.nn.functional as F

    from engine.algorithms import finetune
    from engine.algorithms.base import ways_of
    from engine.algorithms.local_match import level_similarities, standardised, unpooled_last_block

    if local_scale is not None:
        finetune.LOCAL_SCALE = local_scale
    if not local_joined:
        return

    def joined_loss(self, maps, task):
        sims = level_similarities(maps, len(task.support_x), task.support_y, ways_of(task.support_y))
        side = math.isqrt(maps[0].shape[2])
        pool = unpooled_last_block(self.model.features)[2]
        pooled = self.model.features[-1](pool(maps[0].unflatten(2, (side, side))))
        logits = self.episode_logits(pooled, task)
        joined = logits + logits.detach().std(1, keepdim=True) * sum(map(standardised, sims)) / len(sims)
        return F.cross_entropy(joined, task.query_y)

    finetune.Finetune.local_episode_loss = joined_loss


def patch_both_ways(weight: float) -> None:
    """Place matching both ways (a test-time change): beside each query place's best place in a class's support
    drawing (the engine's measure), each support place's best place in the query, averaged over the support's places
    and weighed ``weight`` against the first (a chamfer match both ways: a query missing a stroke that the class's
    drawing has is marked down)."""
    import torch
    import torch.nn.functional as F

    from engine.algorithms import local_match

    def both_ways(query_maps, support_maps, support_y, ways, radius=None):
        q, s = F.normalize(query_maps, dim=2), F.normalize(support_maps, dim=2)
        cos = torch.einsum("qvcp,svcr->qsvpr", q, s)
        if radius is not None:
            cos = cos.masked_fill(local_match._farther_than(math.isqrt(q.shape[3]), radius).to(cos.device), -2.0)
        outside = F.one_hot(support_y, ways).T.logical_not()[None, :, :, None, None]
        found = cos.amax(4)[:, None].masked_fill(outside, -2.0).amax(2).mean((2, 3))
        back = cos.amax(3).mean(3)[:, None].masked_fill(outside[..., 0], -2.0).amax(2).mean(2)
        return (1 - weight) * found + weight * back

    local_match.local_similarity = both_ways


def fold_pool(pool, alphabet: str, train_alphabets: int | None = None):
    """``pool`` with every class outside ``alphabet`` training and the unrotated characters of ``alphabet`` as test;
    with ``train_alphabets``, only that many of the others train: those after ``alphabet`` in sorted order (cyclically)
    are left out, so that each fold leaves out a different one."""
    groups = sorted(set(pool.class_groups))
    others = groups[groups.index(alphabet) + 1 :] + groups[: groups.index(alphabet)]
    kept = set(others[len(others) - train_alphabets :] if train_alphabets else others)
    train = [c for c, g in enumerate(pool.class_groups) if g in kept]
    test = [c for c, (g, n) in enumerate(zip(pool.class_groups, pool.class_names)) if g == alphabet and "/rot" not in n]
    return pool.with_splits({"train": train, "val": [], "test": test})


def framed_at(grey: "np.ndarray", frame: float, side: int) -> "np.ndarray":
    """uint8 [side, side]: a drawing (float, bright ink on dark) framed to its ink as Omniglot's drawings are
    (engine.data.images.frame_ink) and box-filtered to ``side``."""
    import numpy as np
    from PIL import Image

    from engine.data.images import frame_ink

    framed = (frame_ink(grey, stretch=frame) * 255).round().astype(np.uint8)
    return np.asarray(Image.fromarray(framed, mode="L").resize((side, side), Image.Resampling.BOX))


@functools.lru_cache(maxsize=1)  # (drawn once for all the folds: torch.cat copies it into each)
def glyph_images(classes: int, frame: float, seed: int = 5) -> "torch.Tensor":
    """uint8 [classes * 20, 28, 28]: 20 jittered drawings of each of ``classes`` built-in glyphs (engine.data.glyphs),
    drawn at 84x84 with a pen about as thin as Omniglot's, framed to their ink as Omniglot's drawings are, and
    box-filtered to 28x28."""
    import numpy as np
    import torch

    from engine.data.glyphs import _jittered_points, glyph_class, render_strokes

    out = np.empty((classes * 20, 28, 28), np.uint8)
    for k in range(classes):
        strokes, rng = glyph_class(seed, "train", k), np.random.default_rng([seed, k, 11])
        for i in range(20):
            points, radius = _jittered_points(strokes, rng)
            grey = render_strokes(points, radius * 0.45, size=84, oversample=2).astype(np.float32) / 255
            out[k * 20 + i] = framed_at(grey, frame, 28)
    return torch.from_numpy(out)


def extend_fold(fold, extra_glyphs: int = 0, composed_sideways: float = 0.0, orient_groups: bool = False,
                upright_only: bool = False, rot45: bool = False, both_framings: bool = False, frame: float = 0.0,
                seed: int = 0):
    """``fold`` with ``extra_glyphs`` built-in glyph classes and ``composed_sideways`` times its training classes
    again as characters joined from two left / right halves, all as training classes; with ``orient_groups`` each
    rotated class grouped by its alphabet and turn (``Greek/rot90``), with ``upright_only`` no rotated class
    training, with ``rot45`` each training class also turned 45 degrees (and framed to its ink again) as a new
    training class of its alphabet, with ``both_framings`` every drawing also framed the other way (by its ink's box
    where ``frame`` frames by its moments, and the reverse) as another drawing of its class."""
    import torch

    from engine.data.base import ClassPool

    if both_framings:  # (load_source lists the classes in one order whatever the framing)
        again = drawings_at(fold.images.shape[-1], other_framing(frame))
        if not torch.equal(again.labels, fold.labels[: len(again.labels)]):
            raise SystemExit("both_framings: the other framing's drawings are not in the fold's order")
        fold = ClassPool(torch.cat([fold.images, again.images]), torch.cat([fold.labels, again.labels]),
                         fold.class_names, fold.class_groups, fold.splits, fold.name, fold.framed)

    if orient_groups:
        groups = [g + (f"/{n.rsplit('/', 1)[1]}" if "/rot" in n else "") for g, n in zip(fold.class_groups,
                                                                                        fold.class_names)]
        fold = ClassPool(fold.images, fold.labels, fold.class_names, groups, fold.splits, fold.name, fold.framed)
    if upright_only:
        train = [c for c in fold.splits["train"] if "/rot" not in fold.class_names[c]]
        fold = fold.with_splits({**fold.splits, "train": train})
    if rot45:
        fold = turned_classes(fold, 45.0, frame)

    if composed_sideways:  # (with_composed_classes joins top and bottom halves: so on the transposed images)
        turned = ClassPool(fold.images.transpose(1, 2).contiguous(), fold.labels, fold.class_names,
                           fold.class_groups, fold.splits, fold.name, fold.framed)
        turned = turned.with_composed_classes(composed_sideways, "train", seed + 7)
        fold = ClassPool(turned.images.transpose(1, 2).contiguous(), turned.labels, turned.class_names,
                         turned.class_groups, turned.splits, turned.name, turned.framed)
    if extra_glyphs:
        first = fold.num_classes
        fold = ClassPool(torch.cat([fold.images, glyph_images(extra_glyphs, frame)]),
                         torch.cat([fold.labels, torch.arange(first, first + extra_glyphs).repeat_interleave(20)]),
                         [*fold.class_names, *(f"glyph{k}" for k in range(extra_glyphs))],
                         [*fold.class_groups, *(f"glyphs{k // 20}" for k in range(extra_glyphs))],
                         {**fold.splits, "train": [*fold.splits["train"], *range(first, first + extra_glyphs)]},
                         fold.name, fold.framed)
    return fold


@functools.lru_cache(maxsize=1)
def drawings_at(side: int, frame: Frame):
    """Omniglot small1 decoded at ``side`` (its classes in the order of any other side's), framed as ``frame`` says."""
    from engine.data import load_source

    return load_source("omniglot", OMNIGLOT_DIR, image_size=side, frame=frame)


def turned_classes(fold, degrees: float, frame: float, source_side: int = 84):
    """``fold`` plus each training class turned ``degrees`` as a new training class of the same alphabet: each
    drawing turned at ``source_side`` (none of it cut off), framed to its ink again and box-filtered to the fold's
    side, so its strokes are as sharp as the others'."""
    import numpy as np
    import torch
    from PIL import Image

    from engine.data.base import ClassPool

    side, train, source = fold.images.shape[-1], fold.splits["train"], drawings_at(source_side, frame)
    images, labels = [fold.images], [fold.labels]
    for new, cls in enumerate(train, start=fold.num_classes):
        out = []
        for image in source.images[source.members(cls)].numpy():
            turned = Image.fromarray(image).rotate(degrees, Image.Resampling.BILINEAR, expand=True)
            out.append(framed_at(np.asarray(turned, np.float32) / 255, frame, side))
        images.append(torch.from_numpy(np.stack(out)))
        labels.append(torch.full((len(out),), new, dtype=torch.int64))
    first = fold.num_classes
    return ClassPool(torch.cat(images).contiguous(), torch.cat(labels),
                     [*fold.class_names, *(f"{fold.class_names[c]}/turn{degrees:g}" for c in train)],
                     [*fold.class_groups, *(fold.class_groups[c] for c in train)],
                     {**fold.splits, "train": [*train, *range(first, first + len(train))]}, fold.name, fold.framed)


def train_fold(config, fold, algo) -> tuple[int, float, float]:
    """Train ``algo`` on ``fold`` as ``config`` says (engine.trainer.run); (iterations, last loss, seconds)."""
    from engine.events import Finished, IterationMetrics
    from engine.trainer import run

    began, iterations, loss = time.perf_counter(), 0, float("nan")
    for event in run(config, pool=fold, algo=algo):
        if isinstance(event, IterationMetrics):
            iterations, loss = event.iteration, event.loss
        elif isinstance(event, Finished):
            iterations = event.iterations
    return iterations, loss, time.perf_counter() - began


def score(algo, pool, runs_dir: Path, size: int, tta: int, episodes: int, device, inductive_only: bool = False,
          ways: tuple[int, ...] = (5, 20), queries: int = 5, runs_too: bool = True) -> dict:
    from engine.challenge import load_runs, run_challenge
    from engine.models import scoring_protocol
    from engine.tasks import TaskSampler
    from engine.trainer import evaluate

    if EVAL_MODE:
        algo.model.eval()
    own = algo.config  # the model's own settings: what omniglot-challenge and eval use
    out = {}
    others = sorted({0, tta} - {own.tta}) if tta >= 0 else []
    if runs_too:
        runs = load_runs(runs_dir, size, own.frame_ink)  # (drawings framed as the model's were)
        out["error_inductive"] = run_challenge(algo, runs, device)["error_rate"]
        if inductive_only:
            return out
        with scoring_protocol("transductive"):
            out["error_transductive"] = run_challenge(algo, runs, device)["error_rate"]
        for views in others:  # with and without test-time views, whichever the model does not use itself
            algo.config = replace(own, tta=views)
            out[f"error_inductive_tta{views}"] = run_challenge(algo, runs, device)["error_rate"]
    for way in ways if episodes else ():
        for views in [own.tta, *others]:
            algo.config = replace(own, tta=views)
            sampler = TaskSampler(pool, "test", way, 1, queries, seed=1)
            acc, ci = evaluate(algo, sampler.fixed(episodes), device)
            suffix = "" if views == own.tta else f"_tta{views}"
            out[f"acc_{way}way_1shot{suffix}"], out[f"ci95_{way}way_1shot{suffix}"] = acc, ci
    algo.config = own
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True, help="bench/make_challenge_runs.py --leave-one-out's folder")
    ap.add_argument("--variant", choices=VARIANTS, required=True)
    ap.add_argument("--minutes", type=float, help="training time per fold (default 2)")
    ap.add_argument("--iterations", type=int, help="train this many iterations instead of --minutes (the same "
                    "work whatever else the machine runs; training minutes are then not comparable)")
    ap.add_argument("--recipe-budget", action="store_true", help="train as the variant's recipe does: its own "
                    "iterations, its time budget a cap (the lake recipe: 12,000, at most 30 minutes)")
    ap.add_argument("--folds", default="", help="comma-separated alphabets (default: all five)")
    ap.add_argument("--train-alphabets", type=int, help="train each fold on only this many of the other alphabets "
                    "(those after the held-out one in sorted order left out): how the error grows with fewer training "
                    "alphabets, for the check's five against a fold's four")
    ap.add_argument("--tta", type=int, default=8, help="test-time views to score as well (0: none; -1: only the "
                    "model's own views, and no reading without views either)")
    ap.add_argument("--episodes", type=int, default=300, help="5-way / 20-way episodes per fold (0: none)")
    ap.add_argument("--inductive-only", action="store_true", help="score the runs inductively with the model's own "
                    "views only (no transductive or other-views readings, no episodes): a third of the scoring time, "
                    "for the 100-run yardstick")
    ap.add_argument("--save", type=Path, help="keep each fold's checkpoint in this folder")
    ap.add_argument("--seed", type=int, help="the training seed (the recipe's own by default): a second seed "
                    "measures how much of a difference is the seed's")
    ap.add_argument("--rescore", action="store_true", help="score the checkpoints --save holds, without training")
    ap.add_argument("--ways", default="5,20", help="the ways of the --episodes scored [5,20]")
    ap.add_argument("--queries", type=int, default=5, help="queries a class in each of the --episodes [5]")
    ap.add_argument("--episodes-only", action="store_true", help="score the --episodes alone, not the Lake-format runs")
    ap.add_argument("--template-weight", type=float, help="with --rescore: join the deformable template distance "
                    "at this weight (engine.deformation; the lake recipe's is 3), whatever the checkpoint says")
    ap.add_argument("--template-turn", type=float, help="with --rescore: start each template fit from the drawing "
                    "turned this many degrees each way too (engine.deformation.starts; 0 one start), whatever the "
                    "checkpoint says")
    ap.add_argument("--template-hubness", type=float, help="with --rescore: set each class's template distances "
                    "against its drawing's reach at this strength (engine.deformation.TemplateDistance.reach)")
    ap.add_argument("--read-stretch", type=float, help="with --rescore: read the runs framed with this stretch, "
                    "whatever the checkpoint was trained with (a test-time change alone)")
    ap.add_argument("--read-both", action="store_true", help="with --rescore: read each drawing framed both ways, "
                    "by its ink's moments and its box, as views (engine.framing.BothFramings), whatever the "
                    "checkpoint's config says (a lake+both model saved as lake+frameboth-ALPHABET.pt, scored with "
                    "--variant lake+frameboth, whose episodes are then read both ways too)")
    ap.add_argument("--local-match", action="store_true", help="with --rescore: score with local-descriptor matching "
                    "(engine.algorithms.local_match), whatever the checkpoint was trained with (a test-time change)")
    ap.add_argument("--local-levels", type=int, choices=(1, 2), help="with --rescore --local-match: the maps "
                    "matched (engine.config.TrainConfig.local_levels), whatever the checkpoint was trained with")
    ap.add_argument("--both-ways", type=float, metavar="WEIGHT", help="with --rescore: match places both ways, "
                    "the support's places found in the query weighed WEIGHT against the query's in the support")
    ap.add_argument("--place-weights", type=float, metavar="POWER", help="with --rescore: each query place weighed "
                    "by its activation's length to this power in the local matching (0: the recipe's plain mean)")
    ap.add_argument("--place-spread", type=float, metavar="POWER", help="with --rescore: each query place weighed "
                    "by the spread of its best matches over the run's classes to this power in the local matching "
                    "(0: the recipe's plain mean)")
    ap.add_argument("--teacher", help="distilling variants: each fold's teacher checkpoint, '{}' for the alphabet "
                    "(a model of the same fold and seed, so that its classes are the student's)")
    ap.add_argument("--deskew", type=float, default=0.0, metavar="K", help="deskew each drawing framed by its "
                    "moments, training and runs alike (the shear at most K either way; session 44 used 0.6); a model "
                    "trained so is rescored with it too")
    ap.add_argument("--init-seed", type=int, help="initialise the weights from this seed (the data's stays the "
                    "config's), as a born-again student starts afresh")
    args = ap.parse_args()
    if args.recipe_budget and (args.minutes is not None or args.iterations):
        ap.error("--recipe-budget trains the recipe's own steps and cap: give neither --minutes nor --iterations")
    if args.minutes is None:
        args.minutes = 2.0
    if args.train_alphabets is not None and not 1 <= args.train_alphabets <= 4:
        ap.error("--train-alphabets: 1 to 4 (small1 has five alphabets, one held out)")
    template = {k: v for k in ("template_weight", "template_turn", "template_hubness")
                if (v := getattr(args, k)) is not None}
    if template:  # (the engine's own ranges and messages, as the command line checks them)
        from engine.config import TrainConfig
        from engine.errors import DataError

        try:
            TrainConfig(**template).validate()
        except DataError as exc:
            ap.error(str(exc))

    import torch

    from engine.build import build_model_and_algorithm
    from engine.config import TrainConfig
    from engine.data import load_source
    from engine.recipes import recipe
    from engine.trainer import restore

    settings = dict(VARIANTS[args.variant])
    base = recipe(settings.pop("recipe", "quick"))
    extra = {k: settings.pop(k) for k in POOL_KEYS if k in settings}
    patch_local_loss(**{k: settings.pop(k) for k in LOSS_KEYS if k in settings})
    patch_deep_blocks(**{k: settings.pop(k) for k in BACKBONE_KEYS if k in settings})
    distilling = settings.get("distill", 0.0)
    patch_distill(**{k: settings.pop(k) for k in DISTILL_KEYS if k in settings})
    patch_erase(**{k: settings.pop(k) for k in ERASE_KEYS if k in settings})
    patch_instance(**{k: settings.pop(k) for k in INSTANCE_KEYS if k in settings})
    patch_parts(**{k: settings.pop(k) for k in PARTS_KEYS if k in settings})
    patch_strokes(**{k: settings.pop(k) for k in STROKE_KEYS if k in settings})
    patch_dropout(**{k: settings.pop(k) for k in DROPOUT_KEYS if k in settings})
    patch_ema(**{k: settings.pop(k) for k in EMA_KEYS if k in settings})
    patch_sam(**{k: settings.pop(k) for k in SAM_KEYS if k in settings})
    patch_smoothing(**{k: settings.pop(k) for k in SMOOTH_KEYS if k in settings})
    patch_third_framing(**{k: settings.pop(k) for k in FRAMING_KEYS if k in settings})
    patch_deskew(args.deskew)
    patch_hard_classes(**{k: settings.pop(k) for k in HARD_KEYS if k in settings})
    patch_learned_wobble(**{k: settings.pop(k) for k in LEARNED_KEYS if k in settings})
    if distilling and not (args.teacher or args.rescore):
        ap.error(f"{args.variant} needs --teacher")
    if args.both_ways is not None:
        patch_both_ways(args.both_ways)
    if args.place_weights is not None:
        patch_place_weights(args.place_weights)
    if args.place_spread is not None:
        patch_place_spread(args.place_spread)
    budget = ({} if args.recipe_budget else {"iterations": args.iterations, "time_budget": None} if args.iterations
              else {"iterations": 10**7, "time_budget": args.minutes * 60})
    config = TrainConfig(**{**base, "dataset": "omniglot", "data_root": str(OMNIGLOT_DIR), **budget,
                            "val_every": 0, "train_on": "split", **settings,
                            **({"seed": args.seed} if args.seed is not None else {})})
    config.validate()
    device = torch.device("cpu")
    pool = load_source("omniglot", OMNIGLOT_DIR, image_size=config.image_size, frame=config.frames_ink)
    alphabets = args.folds.split(",") if args.folds else sorted(set(pool.class_groups))
    folds = []
    for alphabet in alphabets:
        fold = fold_pool(pool, alphabet, args.train_alphabets)
        trained_on = sorted({fold.class_groups[c] for c in fold.split_classes("train")})
        if extra:
            fold = extend_fold(fold, **extra, frame=config.frames_ink, seed=config.seed)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
        cfg = config.replace(checkpoint=str(args.save / f"{args.variant}-{alphabet}.pt") if args.save else None)
        if args.rescore:
            algo, _, payload = restore(cfg.checkpoint, device)
            if args.read_stretch:
                algo.config = replace(algo.config, frame_ink=args.read_stretch)
            if args.read_both:
                read_both_ways(algo)
            if args.local_match:
                algo.config = replace(algo.config, local_match=True)
            if args.local_levels:
                algo.config = replace(algo.config, local_levels=args.local_levels)
            if args.template_weight is not None:
                algo.config = replace(algo.config, template_weight=args.template_weight)
            if args.template_turn is not None:
                algo.config = replace(algo.config, template_turn=args.template_turn)
            if args.template_hubness is not None:
                algo.config = replace(algo.config, template_hubness=args.template_hubness)
            iterations, loss, train_s = int(payload.get("iteration", 0)), float("nan"), float("nan")
        else:
            algo = build_model_and_algorithm(cfg, device)
            if args.init_seed is not None:
                torch.manual_seed(args.init_seed)
                for module in algo.model.modules():
                    if module is not algo.model and hasattr(module, "reset_parameters"):
                        module.reset_parameters()
            if distilling:
                algo.teacher = restore(args.teacher.format(alphabet), device)[0]
            bank_s = 0.0
            if LEARNED:  # (the fold's bank is part of its training: its seconds count)
                from lake_deformations import fold_bank

                LEARNED["bank"] = fold_bank(fold, LEARNED["pairs"], cfg.seed)
                bank_s = LEARNED["bank"].seconds
                print(f"{alphabet}: {len(LEARNED['bank'].field)} maps kept of {LEARNED['pairs']} fitted in "
                      f"{bank_s:.0f} s", file=sys.stderr)
            iterations, loss, train_s = train_fold(cfg, fold, algo)
            train_s += bank_s
        result = {"alphabet": alphabet, "trained_on": trained_on, "train_minutes": train_s / 60,
                  "iterations": iterations, "last_loss": loss,
                  **score(algo, fold, args.runs / alphabet, cfg.image_size, args.tta, args.episodes, device,
                         args.inductive_only, tuple(int(w) for w in args.ways.split(",")), args.queries,
                         not args.episodes_only)}
        print(json.dumps(result), file=sys.stderr, flush=True)
        folds.append(result)

    def spread(key: str) -> dict:
        values = [f[key] for f in folds]
        return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                "min": min(values), "max": max(values)}

    keys = [k for k in folds[0] if k.startswith(("error_", "acc_")) or k == "iterations"]
    keys += [] if args.rescore else ["train_minutes"]  # (a rescore does not train)
    minutes = (config.time_budget or 0) / 60 if args.recipe_budget else None if args.iterations else args.minutes
    emit({"variant": args.variant, "settings": {**{k: v for k, v in config.to_dict().items() if v != getattr(
        TrainConfig(), k) or k in base}, **extra}, "minutes_per_fold": minutes,
        "iterations_per_fold": config.iterations if args.recipe_budget else args.iterations,
        "protocol": "inductive unless named",
        "task": "Lake-format runs: 20-way 1-shot within one alphabet, "
                f"{len(list((args.runs / alphabets[0]).glob('run*/class_labels.txt')))} runs per held-out alphabet",
        "episodes": f"{args.episodes} a way, {args.ways}-way 1-shot of the held-out alphabet, {args.queries} "
                    "queries a class" if args.episodes else "none",
        "runs": str(args.runs), "train_alphabets": args.train_alphabets or "all but the held-out one",
        "summary": {k: spread(k) for k in keys}, "folds": folds, "machine": machine()})


if __name__ == "__main__":
    main()
