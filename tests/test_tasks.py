"""The episode sampler's invariants (engine/tasks.py)."""

from __future__ import annotations

import pytest
import torch

from engine.data.base import ClassPool, DataError
from engine.tasks import TaskSampler

WAYS, SHOTS, QUERIES = 5, 2, 3


def image_indices(pool: ClassPool, x: torch.Tensor) -> list[int]:
    """Map sampled float images back to pool indices (the pool's images are all distinct)."""
    flat = pool.images.flatten(1)
    keys = {bytes(row.numpy()): i for i, row in enumerate(flat)}
    assert len(keys) == len(flat), "fixture pool has duplicate images; the test cannot trace indices"
    u8 = (x.squeeze(1) * 255).round().to(torch.uint8).flatten(1)
    return [keys[bytes(row.numpy())] for row in u8]


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_episode_shapes_labels_classes_and_disjointness(small_glyph_pool, split):
    pool = small_glyph_pool
    sampler = TaskSampler(pool, split, WAYS, SHOTS, QUERIES, seed=4)
    for i in range(6):
        task = sampler.episode(i)
        assert task.support_x.shape == (WAYS * SHOTS, 1, 28, 28)
        assert task.query_x.shape == (WAYS * QUERIES, 1, 28, 28)
        assert task.support_x.dtype == torch.float32 and 0.0 <= task.support_x.min() and task.support_x.max() <= 1.0
        assert torch.bincount(task.support_y, minlength=WAYS).tolist() == [SHOTS] * WAYS
        assert torch.bincount(task.query_y, minlength=WAYS).tolist() == [QUERIES] * WAYS
        assert task.support_y.max().item() == WAYS - 1 and task.query_y.min().item() == 0
        assert task.ways == WAYS and len(set(task.classes)) == WAYS
        assert set(task.classes) <= set(pool.split_classes(split))
        sup, qry = image_indices(pool, task.support_x), image_indices(pool, task.query_x)
        assert len(set(sup + qry)) == len(sup) + len(qry), "an image was reused within an episode"
        # every image carries the class its label says
        for idx, label in zip(sup + qry, torch.cat([task.support_y, task.query_y]).tolist()):
            assert pool.labels[idx].item() == task.classes[label]


def test_determinism(small_glyph_pool):
    a = TaskSampler(small_glyph_pool, "train", WAYS, SHOTS, QUERIES, seed=7)
    b = TaskSampler(small_glyph_pool, "train", WAYS, SHOTS, QUERIES, seed=7)
    for i in (0, 1, 99):
        ta, tb = a.episode(i), b.episode(i)
        assert ta.classes == tb.classes
        assert torch.equal(ta.support_x, tb.support_x) and torch.equal(ta.query_x, tb.query_x)
    t0, t1 = a.episode(0), a.episode(1)
    assert t0.classes != t1.classes or not torch.equal(t0.support_x, t1.support_x)
    other_seed = TaskSampler(small_glyph_pool, "train", WAYS, SHOTS, QUERIES, seed=8).episode(0)
    assert other_seed.classes != t0.classes or not torch.equal(other_seed.support_x, t0.support_x)
    # the meta-batch of an iteration is deterministic and its episodes differ from each other
    b1, b2 = a.batch(3, 4), b.batch(3, 4)
    assert all(torch.equal(x.query_x, y.query_x) for x, y in zip(b1, b2))
    assert len({t.classes for t in b1}) > 1


def test_fixed_is_identical_every_call_and_differs_from_training(small_glyph_pool):
    sampler = TaskSampler(small_glyph_pool, "test", WAYS, 1, QUERIES, seed=0)
    first, second = sampler.fixed(8), sampler.fixed(8)
    assert len(first) == 8
    for x, y in zip(first, second):
        assert x.classes == y.classes and torch.equal(x.support_x, y.support_x) and torch.equal(x.query_x, y.query_x)
    assert len({t.classes for t in first}) > 1
    # a longer fixed set extends the shorter one
    assert all(torch.equal(x.query_x, y.query_x) for x, y in zip(first, sampler.fixed(12)))
    train_stream = sampler.episode(0)
    assert train_stream.classes != first[0].classes or not torch.equal(train_stream.support_x, first[0].support_x)


def test_same_group_draws_from_one_group(small_glyph_pool):
    pool = small_glyph_pool
    sampler = TaskSampler(pool, "train", WAYS, 1, 1, seed=1, same_group=True)
    seen_groups = set()
    for i in range(20):
        groups = {pool.class_groups[c] for c in sampler.episode(i).classes}
        assert len(groups) == 1
        seen_groups |= groups
    assert len(seen_groups) > 1, "all episodes came from one group"
    mixed = TaskSampler(pool, "train", WAYS, 1, 1, seed=1)
    assert any(len({pool.class_groups[c] for c in mixed.episode(i).classes}) > 1 for i in range(20))


def test_same_group_refuses_when_no_group_is_large_enough(small_glyph_pool):
    # the train split has 40 classes in two groups of 20: 21-way mixed tasks work, within-group ones cannot
    TaskSampler(small_glyph_pool, "train", 21, 1, 1)
    with pytest.raises(DataError, match="group"):
        TaskSampler(small_glyph_pool, "train", 21, 1, 1, same_group=True)


@pytest.mark.parametrize(
    "ways,shots,queries,match",
    [
        (11, 1, 1, "11-way"),  # val split has only 10 classes
        (5, 0, 1, "shots"),
        (5, 1, 0, "queries"),
        (1, 1, 1, "ways"),
        (5, 15, 15, "fewer than 30 examples"),  # 20 examples per class
    ],
)
def test_impossible_settings_raise_data_error(small_glyph_pool, ways, shots, queries, match):
    with pytest.raises(DataError, match=match):
        TaskSampler(small_glyph_pool, "val", ways, shots, queries)


def test_classes_with_too_few_examples_are_skipped_or_refused():
    # 6 classes in one split: 3 with 5 examples, 3 with 2
    counts = [5, 5, 5, 2, 2, 2]
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    images = torch.arange(len(labels) * 4, dtype=torch.int64).remainder(256).to(torch.uint8).view(-1, 2, 2)
    pool = ClassPool(
        images=images,
        labels=labels,
        class_names=[f"c{i}" for i in range(6)],
        class_groups=["g"] * 6,
        splits={"train": list(range(6)), "val": [], "test": []},
    )
    sampler = TaskSampler(pool, "train", 3, 1, 2)  # needs 3 examples: only classes 0..2 qualify
    assert sampler.classes == [0, 1, 2]
    assert all(set(sampler.episode(i).classes) == {0, 1, 2} for i in range(5))
    with pytest.raises(DataError, match="c3"):
        TaskSampler(pool, "train", 4, 1, 2)


def test_unknown_split_is_a_data_error(small_glyph_pool):
    with pytest.raises(DataError, match="split"):
        TaskSampler(small_glyph_pool, "holdout", 5, 1, 1)


def _assert_disjoint_and_covering(pool: ClassPool) -> None:
    parts = [set(pool.split_classes(s)) for s in ("train", "val", "test")]
    assert all(parts), "an empty split"
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert set().union(*parts) == set(range(pool.num_classes))


def test_glyph_splits_are_disjoint(small_glyph_pool):
    _assert_disjoint_and_covering(small_glyph_pool)
    pool = small_glyph_pool
    names = {s: {pool.class_names[c] for c in pool.split_classes(s)} for s in ("train", "val", "test")}
    assert not (names["train"] & names["test"])


def test_omniglot_splits_are_disjoint_by_alphabet(omniglot_small1_pool):
    pool = omniglot_small1_pool
    _assert_disjoint_and_covering(pool)
    alphabets = {s: {pool.class_groups[c] for c in pool.split_classes(s)} for s in ("train", "val", "test")}
    assert not (alphabets["train"] & alphabets["val"])
    assert not (alphabets["train"] & alphabets["test"])
    assert not (alphabets["val"] & alphabets["test"])
    task = TaskSampler(pool, "test", 5, 1, 5, seed=0, same_group=True).episode(0)
    assert len({pool.class_groups[c] for c in task.classes}) == 1
