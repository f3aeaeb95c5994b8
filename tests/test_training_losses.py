"""The losses added to the big head's in training: dense classification (``dense_loss``: each place of the last
block's unpooled map classified as its image's class beside the pooled embedding, Lifchitz et al., CVPR 2019),
the batch scored as an episode (``episode_loss``: the nearest-normalised-mean rule that adaptation uses, on the
batch's own classes), manifold mixup (``mixup``) and the episode scored by matching places (``local_loss``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.algorithms.finetune import LOCAL_SCALE, _rows
from engine.algorithms.local_match import (
    LocalMaps,
    level_similarities,
    local_similarity,
    pooled_and_maps,
    unpooled_last_block,
)
from engine.algorithms.simpleshot import DISTANCE_SCALE
from engine.build import build_model_and_algorithm
from engine.cli import _config_from_args, build_parser
from engine.config import TrainConfig
from engine.tasks import Task


def _simpleshot(**settings):
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, device="cpu", **settings)
    return build_model_and_algorithm(config.validate(), torch.device("cpu"))


def _task() -> Task:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 1, 28, 28, generator=g) > 0.8).float()
    return Task(support_x=x[:4], support_y=torch.arange(4), query_x=x[4:], query_y=torch.tensor([2, 0, 3, 1]),
                classes=[3, 1, 7, 2])


def _losses_beside_plain(**settings):
    """(the plain model's loss on _task, a model with ``settings`` and the same weights, its loss, the task)."""
    plain, other = _simpleshot(), _simpleshot(**settings)
    other.model.load_state_dict(plain.model.state_dict())
    other.big_head.load_state_dict(plain.big_head.state_dict())
    task = _task()
    return plain.task_loss(task)[0], other, other.task_loss(task)[0], task


def test_the_places_are_the_map_the_embedding_pools():
    algo = _simpleshot(dense_loss=0.5)
    x = torch.rand(5, 1, 28, 28)
    pooled, maps = pooled_and_maps(algo.model.features, x, 1)
    assert torch.allclose(pooled, algo.model.features(x), atol=1e-6)
    lower, block, _ = unpooled_last_block(algo.model.features)
    # one row per place, image by image: a 3x3 map of 64 channels per image
    assert torch.equal(_rows(maps[0]), block(lower(x)).permute(0, 2, 3, 1).reshape(5 * 9, 64))


def test_the_places_add_their_cross_entropy_and_train_the_backbone():
    loss_plain, dense, loss_dense, task = _losses_beside_plain(dense_loss=0.5)
    _, maps = pooled_and_maps(dense.model.features, torch.cat([task.support_x, task.query_x]), 1)
    logits = dense.class_logits(_rows(maps[0])).masked_fill(~dense.seen, float("-inf"))
    each = dense.global_labels(task).repeat_interleave(9)  # every place told its image's class
    assert torch.allclose(loss_dense, loss_plain + 0.5 * F.cross_entropy(logits, each), atol=1e-4)
    loss_dense.backward()
    assert dense.model.features[0][0].weight.grad.abs().sum() > 0
    # other backbones, ensembles and an unpooled last map have no single map to read: the option is off for them
    assert TrainConfig(dense_loss=0.5, members=2).algo_config().dense_loss == 0
    assert TrainConfig(dense_loss=0.5, feature_map=True).algo_config().dense_loss == 0
    assert TrainConfig(dense_loss=0.5).algo_config().dense_loss == 0.5


def test_the_cli_sets_it_and_refuses_a_negative_weight():
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "simpleshot", "--dense-loss", "0.5"]))
    assert parsed.dense_loss == 0.5 and TrainConfig().dense_loss == 0
    with pytest.raises(ValueError, match="dense_loss"):
        TrainConfig(dense_loss=-1).validate()


def test_the_episode_is_the_nearest_mean_rule_on_the_batch():
    algo = _simpleshot(episode_loss=0.5)
    task = _task()
    feats = algo.model.features(torch.cat([task.support_x, task.query_x]))
    z = F.normalize(feats, dim=1) * DISTANCE_SCALE**0.5
    by_hand = F.cross_entropy(-torch.cdist(z[4:], z[:4]).pow(2), task.query_y)  # one image a class: it is the mean
    assert torch.allclose(algo.batch_episode_loss(feats, task), by_hand, atol=1e-4)
    # an ensemble: each member scores its own episode on its own normalised features, and the losses are averaged
    pair = _simpleshot(episode_loss=0.5, members=2)
    feats = pair.model.features(torch.cat([task.support_x, task.query_x]))
    halves = F.normalize(feats.view(8, 2, -1), dim=2)
    each = [F.cross_entropy(-DISTANCE_SCALE * torch.cdist(halves[4:, m], halves[:4, m]).pow(2), task.query_y)
            for m in range(2)]
    assert torch.allclose(pair.batch_episode_loss(feats, task), (each[0] + each[1]) / 2, atol=1e-4)


def test_an_ensembles_members_learn_their_episodes_independently():
    """One member's gradient from the episode does not depend on the other member's weights (they vote; they are
    not trained as one), so changing the second member leaves the first one's gradient as it was."""
    task = _task()
    pair = _simpleshot(episode_loss=0.5, members=2)
    first, second = pair.model.features[-1].networks
    x = torch.cat([task.support_x, task.query_x])
    grads = []
    for _ in range(2):
        first.zero_grad()
        pair.batch_episode_loss(pair.model.features(x), task).backward()
        grads.append(first[0][0].weight.grad.clone())
        with torch.no_grad():
            for p in second.parameters():
                p.add_(torch.randn_like(p))
    assert grads[0].abs().sum() > 0 and torch.allclose(grads[0], grads[1], atol=1e-6)


def test_it_is_added_at_its_weight_and_trains_the_backbone():
    loss_plain, episodic, loss, task = _losses_beside_plain(episode_loss=0.5)
    feats = episodic.model.features(torch.cat([task.support_x, task.query_x]))
    assert torch.allclose(loss, loss_plain + 0.5 * episodic.batch_episode_loss(feats, task), atol=1e-4)
    loss.backward()
    assert episodic.model.features[0][0].weight.grad.abs().sum() > 0


def test_the_cli_sets_the_episode_and_refuses_a_negative_weight():
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "simpleshot", "--episode-loss", "0.5"]))
    assert parsed.episode_loss == 0.5 and TrainConfig().episode_loss == 0
    assert parsed.algo_config().episode_loss == 0.5
    assert TrainConfig.from_dict({"algo": "simpleshot"}).episode_loss == 0  # a checkpoint from before it
    with pytest.raises(ValueError, match="episode_loss"):
        TrainConfig(episode_loss=-1).validate()


def test_mixup_classifies_a_mixed_batch_as_both_of_its_classes():
    """The mixup loss is the big head's cross-entropy on the batch mixed with itself shuffled, against both classes
    at the mixing weight: by hand at the input (the first of the three cuts), and the same draws give the same loss."""
    algo, task = _simpleshot(mixup=1.0), _task()
    x = torch.cat([task.support_x, task.query_x])
    labels = algo.global_labels(task)
    algo.seen[labels] = True
    for seed in range(20):  # until the cut drawn is the input (randint(0, 3) first, then Beta, then the order)
        torch.manual_seed(seed)
        if int(torch.randint(0, 3, ())) == 0:
            break
    torch.manual_seed(seed)
    got = algo.mixup_loss(x, labels)
    torch.manual_seed(seed)
    torch.randint(0, 3, ())
    weight = float(torch.distributions.Beta(2.0, 2.0).sample())
    order = torch.randperm(len(x))
    assert order.tolist() != list(range(len(x)))
    logits = algo.class_logits(algo.model.features(weight * x + (1 - weight) * x[order])).masked_fill(
        ~algo.seen, float("-inf"))
    want = weight * F.cross_entropy(logits, labels) + (1 - weight) * F.cross_entropy(logits, labels[order])
    assert torch.allclose(got, want, atol=1e-5)
    torch.manual_seed(seed)
    assert torch.allclose(algo.mixup_loss(x, labels), got)


def test_mixup_is_added_at_its_weight_and_trains_the_backbone_of_one_network_or_several():
    plain, mixed, task = _simpleshot(), _simpleshot(mixup=0.5), _task()
    mixed.model.load_state_dict(plain.model.state_dict())
    mixed.big_head.load_state_dict(plain.big_head.state_dict())
    torch.manual_seed(3)
    loss = mixed.task_loss(task)[0]
    torch.manual_seed(3)
    assert torch.allclose(loss, plain.task_loss(task)[0] + 0.5 * mixed.mixup_loss(
        torch.cat([task.support_x, task.query_x]), mixed.global_labels(task)), atol=1e-4)
    loss.backward()
    assert mixed.model.features[0][0].weight.grad.abs().sum() > 0
    pair = _simpleshot(mixup=1.0, members=2)  # an ensemble mixes its input, each member its own loss
    loss = pair.task_loss(task)[0]
    loss.backward()
    networks = pair.model.features[-1].networks
    assert torch.isfinite(loss) and all(net[0][0].weight.grad.abs().sum() > 0 for net in networks)


def test_the_cli_sets_mixup_and_refuses_a_negative_weight():
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "protohead", "--mixup", "0.5"]))
    assert parsed.mixup == 0.5 and parsed.algo_config().mixup == 0.5 and TrainConfig().mixup == 0
    with pytest.raises(ValueError, match="mixup"):
        TrainConfig(mixup=-1).validate()


def test_the_local_episode_matches_places_as_scoring_a_new_task_does():
    """The local loss's similarities are LocalMatchLearner's (one view, each level before standardising), from the
    same pass that gives the pooled embedding; the finer map's fast neighbourhood path included. Two drawings a
    class, shuffled, so each class's best over its drawings is checked too."""
    algo = _simpleshot(local_loss=0.5, local_levels=2)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(12, 1, 28, 28, generator=g) > 0.8).float()
    support_y = torch.tensor([2, 0, 1, 3, 0, 2, 3, 1])
    with torch.no_grad():
        pooled, maps = pooled_and_maps(algo.model.features, x, 2)
        assert torch.equal(pooled, algo.model.features(x))
        assert [m.shape[2] for m in maps] == [9, 49]
        ours = level_similarities(maps, 8, support_y, 4)
        joined = LocalMaps(algo.model.features, views=0, levels=2)(x)  # [n, 1, channels, 9 + 49]
        for sim, part, radius in zip(ours, (joined[..., :9], joined[..., 9:]), (None, 1)):
            assert torch.allclose(sim, local_similarity(part[8:], part[:8], support_y, 4, radius), atol=1e-6)


@pytest.mark.parametrize("levels", [1, 2])
def test_the_local_episode_is_added_at_its_weight_and_trains_the_backbone(levels):
    loss_plain, local, loss, task = _losses_beside_plain(local_loss=0.5, local_levels=levels)
    _, maps = pooled_and_maps(local.model.features, torch.cat([task.support_x, task.query_x]), levels)
    sims = level_similarities(maps, 4, task.support_y, 4)
    assert len(sims) == levels
    expected = loss_plain + 0.5 * F.cross_entropy(LOCAL_SCALE * sum(sims) / levels, task.query_y)
    assert torch.allclose(loss, expected, atol=1e-4)
    assert not torch.allclose(loss, loss_plain)
    loss.backward()
    assert local.model.features[0][0].weight.grad.abs().sum() > 0


def test_the_cli_sets_the_local_episode_and_an_ensemble_goes_without():
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "simpleshot", "--local-loss", "0.5"]))
    assert parsed.local_loss == 0.5 and parsed.algo_config().local_loss == 0.5 and TrainConfig().local_loss == 0
    assert TrainConfig(local_loss=0.5, members=2).algo_config().local_loss == 0  # (one network's maps only)
    assert TrainConfig(local_loss=0.5, feature_map=True).algo_config().local_loss == 0  # (no unpooled map to read)
    assert not TrainConfig(algo="simpleshot", local_match=True, feature_map=True).algo_config().local_match
    assert TrainConfig.from_dict({"algo": "simpleshot"}).local_loss == 0  # a checkpoint from before it
    with pytest.raises(ValueError, match="local_loss"):
        TrainConfig(local_loss=-1).validate()


def test_dense_and_local_losses_together_each_add_theirs():
    _, dense, loss_dense, task = _losses_beside_plain(dense_loss=0.5)
    both = _simpleshot(dense_loss=0.5, local_loss=0.5, local_levels=2)
    both.model.load_state_dict(dense.model.state_dict())
    both.big_head.load_state_dict(dense.big_head.state_dict())
    both.seen.copy_(dense.seen)
    _, maps = pooled_and_maps(both.model.features, torch.cat([task.support_x, task.query_x]), 2)
    expected = loss_dense + 0.5 * both.local_episode_loss(maps, task)
    assert torch.allclose(both.task_loss(task)[0], expected, atol=1e-4)
