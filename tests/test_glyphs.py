"""The built-in procedural glyph set: deterministic, disjoint splits, Omniglot-like, not trivial."""

from __future__ import annotations

import numpy as np
import torch

from engine.algorithms import AlgoConfig
from engine.algorithms.protonet import ProtoNet
from engine.data.glyphs import glyph_class, make_glyph_pool
from engine.models import Conv4
from engine.tasks import TaskSampler
from engine.trainer import evaluate

SMALL = {"train": 12, "val": 4, "test": 4}


def test_deterministic_by_seed():
    a = make_glyph_pool(seed=3, classes=SMALL, examples_per_class=5)
    b = make_glyph_pool(seed=3, classes=SMALL, examples_per_class=5)
    c = make_glyph_pool(seed=4, classes=SMALL, examples_per_class=5)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) and a.splits == b.splits
    assert not torch.equal(a.images, c.images)


def test_a_class_is_the_same_whatever_else_is_rendered():
    """Class k of a split does not depend on how many classes the pool holds."""
    assert np.array_equal(glyph_class(0, "test", 3), glyph_class(0, "test", 3))
    small = make_glyph_pool(classes={"train": 2, "val": 1, "test": 8}, examples_per_class=4)
    large = make_glyph_pool(classes={"train": 30, "val": 5, "test": 8}, examples_per_class=4)
    for k in range(8):
        a, b = small.split_classes("test")[k], large.split_classes("test")[k]
        assert small.class_names[a] == large.class_names[b]
        assert torch.equal(small.images[small.members(a)], large.images[large.members(b)])


def test_classes_differ_across_splits():
    strokes = {s: [glyph_class(0, s, k) for k in range(40)] for s in ("train", "val", "test")}
    flat = [(s, k, x) for s, xs in strokes.items() for k, x in enumerate(xs)]
    for i, (s1, k1, x1) in enumerate(flat):
        for s2, k2, x2 in flat[i + 1 :]:
            assert not (x1.shape == x2.shape and np.allclose(x1, x2)), f"{s1}/{k1} == {s2}/{k2}"
    pool = make_glyph_pool(classes=SMALL, examples_per_class=3)
    parts = [set(pool.split_classes(s)) for s in ("train", "val", "test")]
    assert sum(map(len, parts)) == len(set().union(*parts)) == pool.num_classes


def test_images_look_like_preprocessed_omniglot(small_glyph_pool):
    images = small_glyph_pool.images
    assert images.dtype == torch.uint8 and images.shape[1:] == (28, 28)
    assert len(images) == small_glyph_pool.num_classes * 20
    border = torch.cat([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], 1).float()
    assert border.mean() < 15, "strokes should be bright on a dark background"
    assert (images.flatten(1).amax(1) > 200).float().mean() > 0.99
    ink = (images > 127).float().mean((1, 2))
    assert 0.03 < ink.mean() < 0.4 and (ink > 0.01).all(), "every glyph has visible strokes, none is a blob"
    # examples of one class are jittered renderings, never copies
    members = small_glyph_pool.members(0)
    assert len({images[i].numpy().tobytes() for i in members}) == len(members)


def test_hard_enough_that_learning_shows(small_glyph_pool):
    """Untrained networks and raw pixels are far from solving it (but above chance)."""
    test = TaskSampler(small_glyph_pool, "test", 5, 1, 5, seed=0).fixed(60)
    torch.manual_seed(0)
    untrained, _ = evaluate(ProtoNet(Conv4(), AlgoConfig()), test, torch.device("cpu"))
    hits = []
    for t in test:  # nearest neighbour in pixel space
        d = torch.cdist(t.query_x.flatten(1), t.support_x.flatten(1))
        hits.append((t.support_y[d.argmin(1)] == t.query_y).float().mean().item())
    pixels = float(np.mean(hits))
    assert untrained < 0.75, f"an untrained Conv-4 ProtoNet scores {untrained:.2f}: the task is too easy"
    assert pixels < 0.75, f"pixel nearest neighbour scores {pixels:.2f}: the task is too easy"
    assert pixels > 0.25, f"pixel nearest neighbour scores {pixels:.2f}: classes look like noise"
