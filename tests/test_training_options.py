"""Training options for learning from few classes (issue #18): mirrored classes, the cosine head, the decaying
learning rate, the backbone's width, unpooled feature map and strided stem. Each one changes what the run trains
on or how, and is off unless asked for."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from engine.algorithms.finetune import CAPACITY, COSINE_SCALE
from engine.build import build_model_and_algorithm
from engine.cli import _config_from_args, build_parser
from engine.config import TrainConfig
from engine.data import DataError
from engine.distributed import DistContext
from engine.events import Started
from engine.models import build_backbone
from engine.tasks import TaskSampler
from engine.trainer import RunControl, _Training, restore, run


def test_mirrored_classes_are_new_training_classes_of_flipped_images(small_glyph_pool):
    pool = small_glyph_pool
    mirrored = pool.with_mirrored_classes("train")
    train = pool.split_classes("train")
    assert mirrored.num_classes == pool.num_classes + len(train)
    assert mirrored.split_classes("train")[: len(train)] == train
    assert mirrored.split_classes("val") == pool.split_classes("val")  # held-out classes are left alone
    assert mirrored.split_classes("test") == pool.split_classes("test")
    for offset, cls in enumerate(train[:5]):
        new = pool.num_classes + offset
        assert mirrored.class_names[new] == f"{pool.class_names[cls]}/mirror"
        assert mirrored.class_groups[new] == pool.class_groups[cls]
        assert torch.equal(mirrored.images[mirrored.members(new)], torch.flip(pool.images[pool.members(cls)], (2,)))
    assert torch.equal(mirrored.images[: len(pool.images)], pool.images)  # the originals are kept, in place


def test_a_run_with_mirrors_trains_on_twice_the_classes(small_glyph_pool):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=0,
                         workers=1)
    started = {m: next(e for e in run(config.replace(mirrors=m), RunControl(), pool=small_glyph_pool)
                       if isinstance(e, Started)) for m in (False, True)}
    assert started[True].data_summary["train"]["classes"] == 2 * started[False].data_summary["train"]["classes"]
    assert started[True].data_summary["val"] == started[False].data_summary["val"]


def test_composed_classes_join_two_characters_halves_of_one_alphabet(small_glyph_pool):
    pool = small_glyph_pool
    train = pool.split_classes("train")
    composed = pool.with_composed_classes(1.5, "train", seed=3)
    assert composed.num_classes == pool.num_classes + 60 and composed.split_classes("train")[:40] == train
    assert composed.split_classes("val") == pool.split_classes("val")  # held-out classes are left alone
    assert torch.equal(composed.images[: len(pool.images)], pool.images)  # the originals are kept, in place
    index = {name: c for c, name in enumerate(pool.class_names)}
    for new in range(pool.num_classes, composed.num_classes):
        first, second = (index[n] for n in composed.class_names[new].removesuffix("/composed").split("+"))
        assert first != second and {first, second} <= set(train)
        assert pool.class_groups[first] == pool.class_groups[second] == composed.class_groups[new]
        images = composed.images[composed.members(new)]
        assert torch.equal(images[:, :14], pool.images[pool.members(first)][:, :14])
        assert torch.equal(images[:, 14:], pool.images[pool.members(second)][:, 14:])
    again = pool.with_composed_classes(1.5, "train", seed=3)
    assert again.class_names == composed.class_names  # the seed fixes the pairs
    assert pool.with_composed_classes(0.0) is pool
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=0,
                         workers=1, composed=0.5)
    started = next(e for e in run(config, RunControl(), pool=pool) if isinstance(e, Started))
    assert started.data_summary["train"]["classes"] == 60
    assert _config_from_args(build_parser().parse_args(["train", "--composed", "2"])).composed == 2.0


def test_the_cosine_head_scores_classes_by_angle(small_glyph_pool):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1)
    plain = build_model_and_algorithm(config, torch.device("cpu"))
    cosine = build_model_and_algorithm(config.replace(cosine_head=True), torch.device("cpu"))
    feats = torch.randn(6, cosine.big_head.in_features)
    logits = cosine.class_logits(feats)
    assert logits.abs().max() <= COSINE_SCALE + 1e-4
    # a feature's length does not change its scores (it does for the linear head)
    assert torch.allclose(cosine.class_logits(3 * feats), logits, atol=1e-5)
    assert not torch.allclose(plain.class_logits(3 * feats), plain.class_logits(feats))


@pytest.mark.parametrize("budget", [None, 1000.0])
def test_the_learning_rate_decays_along_a_half_cosine(small_glyph_pool, budget):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=10, val_every=0,
                         workers=1, lr_decay=True, outer_lr=0.002, time_budget=budget)
    training = _Training(config, RunControl(), small_glyph_pool, DistContext(), None)
    training.begin()
    rates = []
    for iteration in range(config.iterations):
        training._decay_learning_rate(training._progress(iteration, training.began))  # no time spent: iterations
        rates.append(training.optimizer.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(0.002)
    assert rates[5] == pytest.approx(0.001)
    assert rates == sorted(rates, reverse=True) and rates[-1] < 0.0001
    if budget:  # with a time budget, the clock sets the pace when it runs ahead of the iterations
        training._decay_learning_rate(training._progress(0, training.began + budget * 0.75))
        assert training.optimizer.param_groups[0]["lr"] == pytest.approx(0.002 * 0.5 * (1 + math.cos(math.pi * 0.75)))
    training.close_helpers()


def test_weight_decay_shrinks_the_weight_matrices_alone(small_glyph_pool):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=1, val_every=0,
                         workers=1, outer_lr=0.01, weight_decay=0.5)
    training = _Training(config, RunControl(), small_glyph_pool, DistContext(), None)
    training.begin()
    optimizer = training.optimizer
    assert isinstance(optimizer, torch.optim.AdamW)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] for p in g["params"]}
    params = list(training.algo.outer_parameters())
    assert decayed == {id(p) for p in params if p.dim() > 1} and len(decayed) < len(params)
    # with no gradient, one step is the decay alone: each matrix shrinks by lr x decay, the rest stays
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for p, old in zip(params, before):
        factor = 1 - 0.01 * 0.5 if p.dim() > 1 else 1.0
        assert torch.allclose(p, old * factor)
    training.close_helpers()
    plain = _Training(replace(config, weight_decay=0.0), RunControl(), small_glyph_pool, DistContext(), None)
    plain.begin()
    assert type(plain.optimizer) is torch.optim.Adam  # off by default: the recipes' plain Adam
    plain.close_helpers()
    assert _config_from_args(build_parser().parse_args(["train", "--weight-decay", "0.05"])).weight_decay == 0.05
    with pytest.raises(DataError, match="weight decay"):
        TrainConfig(weight_decay=-0.1).validate()


def test_the_options_are_off_by_default_and_set_by_the_cli():
    config = TrainConfig()
    assert (config.mirrors, config.cosine_head, config.lr_decay, config.frame_ink) == (False, False, False, False)
    parsed = _config_from_args(build_parser().parse_args(["train", "--mirrors", "--cosine-head", "--lr-decay",
                                                          "--frame-ink", "--dataset", "omniglot"]))
    assert (parsed.mirrors, parsed.cosine_head, parsed.lr_decay, parsed.frame_ink) == (True, True, True, True)


def test_the_feature_map_keeps_where_each_feature_is_at_the_same_cost():
    pooled = build_backbone("conv4", 5)
    mapped = build_backbone("conv4", 5, feature_map=True)
    x = torch.randn(4, 1, 28, 28)
    assert pooled.features(x).shape == (4, 64) and mapped.features(x).shape == (4, 576)
    assert mapped.embedding_dim == 576 and mapped.head.in_features == 576
    # the same weights: the pooled feature is the map's max over its top-left 2x2 (a 2x2 pool of a 3x3 map)
    mapped.load_state_dict({k: v for k, v in pooled.state_dict().items() if not k.startswith("head.")}, strict=False)
    top_left = mapped.features(x).view(4, 64, 3, 3)[:, :, :2, :2]
    assert torch.allclose(top_left.amax((2, 3)), pooled.features(x), atol=1e-5)
    assert sum(p.numel() for p in mapped.features.parameters()) == sum(p.numel() for p in pooled.features.parameters())
    # global_pool: the max over the whole 3x3 map, its last row and column included
    whole = build_backbone("conv4", 5, global_pool=True)
    whole.load_state_dict(pooled.state_dict())  # (the same parameters, names and shapes)
    assert whole.embedding_dim == 64
    assert torch.allclose(whole.features(x), mapped.features(x).view(4, 64, 9).amax(2), atol=1e-5)
    with pytest.raises(DataError, match="choose one"):
        TrainConfig(feature_map=True, global_pool=True).validate()


def test_the_width_and_feature_map_are_set_by_the_cli_and_kept_in_the_checkpoint(tmp_path, small_glyph_pool):
    parsed = _config_from_args(build_parser().parse_args(["train", "--channels", "32", "--feature-map"]))
    assert (parsed.channels, parsed.feature_map, parsed.global_pool) == (32, True, False)
    assert _config_from_args(build_parser().parse_args(["train", "--global-pool"])).global_pool
    assert (TrainConfig().channels, TrainConfig().feature_map, TrainConfig().global_pool) == (64, False, False)
    config = TrainConfig(algo="protohead", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=0,
                         workers=1, channels=32, feature_map=True, checkpoint=str(tmp_path / "m.pt"))
    list(run(config, RunControl(), pool=small_glyph_pool))
    algo, trained, _ = restore(str(tmp_path / "m.pt"))
    assert (trained.channels, trained.feature_map) == (32, True)
    assert algo.model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 32 * 9)
    with pytest.raises(DataError, match="conv4"):
        TrainConfig(backbone="seed", feature_map=True).validate()
    with pytest.raises(DataError, match="channels"):
        TrainConfig(channels=4).validate()


def test_the_strided_stem_reads_twice_the_side_into_the_same_embedding(tmp_path, small_glyph_pool):
    """--stem: a 5x5 stride-2 first convolution, so 56x56 drawings give the usual 64 values (plain 56x56 gives
    a 3x3 map, 576), and the window's 28x28 images still go in (resized up)."""
    stem = build_backbone("conv4", 5, image_size=56, stem=True)
    first = stem.features[1][0]  # (after the InputSize resize)
    assert (first.kernel_size, first.stride) == ((5, 5), (2, 2))
    assert stem.embedding_dim == 64 and stem.features(torch.randn(3, 1, 56, 56)).shape == (3, 64)
    assert stem.features(torch.randn(3, 1, 28, 28)).shape == (3, 64)
    assert build_backbone("conv4", 5, image_size=56).embedding_dim == 576
    # the option on the CLI, validated, and kept in the checkpoint
    args = ["train", "--stem", "--dataset", "omniglot", "--image-size", "56"]
    assert _config_from_args(build_parser().parse_args(args)).stem and not TrainConfig().stem
    with pytest.raises(DataError, match="stem"):
        TrainConfig(backbone="seed", stem=True).validate()
    with pytest.raises(DataError, match="--image-size 32"):  # at 28 the fourth block would pool a 1x1 map away
        TrainConfig(stem=True).validate()
    pool = replace(small_glyph_pool, images=F.interpolate(small_glyph_pool.images[:, None].float(), size=56)[:, 0]
                   .to(torch.uint8))  # (Omniglot decodes at 56; the glyphs, drawn at 28, scaled up)
    config = TrainConfig(algo="protohead", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=0,
                         workers=1, stem=True, image_size=56, dataset="omniglot", checkpoint=str(tmp_path / "m.pt"))
    list(run(config, RunControl(), pool=pool))
    algo, trained, _ = restore(str(tmp_path / "m.pt"))
    assert trained.stem and algo.model.features[1][0].stride == (2, 2)
    assert algo.model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 64)


def test_the_class_head_is_sized_to_the_training_classes_and_kept_in_the_checkpoint(tmp_path, small_glyph_pool):
    """One row per training class id (the largest + 1), not a fixed 8,192: the head's cost and the optimiser's
    follow the data, and a pool of more than 8,192 classes (all of Omniglot with mirrors) can train."""
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=0,
                         workers=1, mirrors=True, checkpoint=str(tmp_path / "m.pt"))
    list(run(config, RunControl(), pool=small_glyph_pool))
    algo, trained, _ = restore(str(tmp_path / "m.pt"))
    classes = max(small_glyph_pool.with_mirrored_classes("train").split_classes("train")) + 1
    assert classes < CAPACITY
    assert algo.big_head.out_features == algo.head_classes == trained.head_classes == classes
    # resuming on data with more training classes than the head holds is refused before any step
    every_class = small_glyph_pool.with_splits({**small_glyph_pool.splits,
                                                "train": list(range(small_glyph_pool.num_classes))})
    with pytest.raises(DataError, match="resume on the data it was trained on"):
        next(iter(run(config.replace(resume=True, iterations=4), RunControl(), pool=every_class)))


def test_a_checkpoint_with_the_old_fixed_head_still_loads(small_glyph_pool):
    old = build_model_and_algorithm(TrainConfig(algo="simpleshot", ways=4), torch.device("cpu"))
    assert old.head_classes == CAPACITY  # what checkpoints before the sizing hold
    new = build_model_and_algorithm(TrainConfig(algo="simpleshot", ways=4, head_classes=40), torch.device("cpu"))
    new.load_extra_state(old.extra_state())
    assert new.head_classes == CAPACITY and torch.equal(new.big_head.weight, old.big_head.weight)


def test_an_ensemble_of_members_trains_each_on_its_own_and_votes_by_their_mean(tmp_path, small_glyph_pool):
    """--members K: K conv4 networks side by side; no channel of one member reaches another, each member
    trains with its own cross-entropy, and nearest-mean adaptation averages the members' logits (each
    member's features normalised on their own)."""
    from engine.algorithms.simpleshot import DISTANCE_SCALE, Normalized

    torch.manual_seed(0)
    pair = build_backbone("conv4", 5, members=2)
    assert pair.embedding_dim == 128 and len(pair.features[0].networks) == 2
    x = torch.randn(6, 1, 28, 28)
    before = pair.features(x)
    with torch.no_grad():  # a change to member 1's filters leaves member 0's features as they were
        pair.features[0].networks[1][0][0].weight += 1.0
    after = pair.features(x)
    assert torch.equal(after[:, :64], before[:, :64]) and not torch.equal(after[:, 64:], before[:, 64:])
    # each member's part normalised on its own: the average of the members' squared distances
    feats = Normalized(pair.features, members=2)(x)
    halves = [F.normalize(after[:, :64], dim=1), F.normalize(after[:, 64:], dim=1)]
    assert torch.allclose(feats.norm(dim=1), torch.full((6,), DISTANCE_SCALE**0.5), atol=1e-4)
    mean_sq = sum(torch.cdist(h, h) ** 2 for h in halves) / 2 * DISTANCE_SCALE
    assert torch.allclose(torch.cdist(feats, feats) ** 2, mean_sq, atol=1e-3)

    config = TrainConfig(algo="protohead", ways=4, shots=1, queries=1, meta_batch=1, iterations=3, val_every=0,
                         workers=1, members=2, checkpoint=str(tmp_path / "m.pt"))
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    task = TaskSampler(small_glyph_pool, "train", 4, 1, 1, seed=0).episode(0)
    algo.prepare([task])
    loss, _ = algo.task_loss(task)  # the members' mean cross-entropy
    feats = algo.model.features(torch.cat([task.support_x, task.query_x]))
    labels = algo.global_labels(task)
    weight, bias = algo.big_head.weight, algo.big_head.bias
    own = [F.cross_entropy((feats[:, m * 64:(m + 1) * 64] @ weight[:, m * 64:(m + 1) * 64].T + bias)
                           .masked_fill(~algo.seen, float("-inf")), labels) for m in range(2)]
    assert torch.allclose(loss, (own[0] + own[1]) / 2, atol=1e-5)
    list(run(config, RunControl(), pool=small_glyph_pool))
    restored, trained, _ = restore(str(tmp_path / "m.pt"))
    assert trained.members == 2 and restored.model.members == 2
    support = torch.stack([small_glyph_pool.images[small_glyph_pool.labels == c][0] for c in range(3)])
    learner = restored.adapt(support[:, None].float() / 255, torch.arange(3), steps=0)
    assert learner.logits(support[:, None].float() / 255).argmax(-1).tolist() == [0, 1, 2]
    for bad in ({"members": 9}, {"members": 2, "algo": "protonet"}, {"members": 2, "algo": "simpleshot",
                                                                        "cosine_head": True}):
        with pytest.raises(DataError, match="members"):
            TrainConfig(**bad).validate()
    assert _config_from_args(build_parser().parse_args(["train", "--algo", "protohead", "--members", "3"])).members == 3


def test_same_alphabet_batches_come_from_one_alphabet_or_say_why_they_mix(small_glyph_pool):
    config = TrainConfig(algo="protohead", ways=16, shots=1, queries=1, meta_batch=1, iterations=4, val_every=0,
                         workers=1, same_alphabet=True)
    training = _Training(config, RunControl(), small_glyph_pool, DistContext(), None)
    assert training.sampling_note == ""
    for index in range(4):
        classes = training.train.episode(index).classes
        assert len({small_glyph_pool.class_groups[c] for c in classes}) == 1
    training.close_helpers()
    # 32-class batches (the lake recipe's) where each alphabet has 20: mixed, and the run says so when it ends
    events = list(run(config.replace(ways=32), pool=small_glyph_pool))
    assert "no alphabet of synthetic has 32 training classes, so each batch mixes alphabets" in events[-1].message
    with pytest.raises(DataError, match="32-way tasks need 32 classes"):  # too few classes at all: still refused
        list(run(config.replace(ways=32), pool=small_glyph_pool.with_splits({"train": list(range(20)), "val": [],
                                                                              "test": []})))
