"""Local-descriptor matching (engine.algorithms.local_match): a query's places matched against a class's
examples' places, joined to the nearest-mean rule; inductive, kept in the checkpoint, ignored where it has no map."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.algorithms.local_match import LocalMaps, LocalMatchLearner, local_similarity, split_places
from engine.build import build_model_and_algorithm
from engine.cli import _config_from_args, build_parser
from engine.config import TrainConfig
from engine.trainer import RunControl, restore, run


def _protohead(**settings):
    config = TrainConfig(algo="protohead", inner_steps=3, inner_lr=0.01, device="cpu", **settings)
    return build_model_and_algorithm(config, torch.device("cpu"))


def test_each_place_finds_itself_in_the_image_it_came_from():
    torch.manual_seed(0)
    support = torch.rand(6, 2, 8, 9)  # 6 images, 2 views, 8 channels, 9 places
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    shuffled = support[4, :, :, torch.randperm(9)]  # the same places in another order: where they are is free
    sim = local_similarity(torch.stack([support[1], shuffled]), support, labels, 3)
    assert sim.shape == (2, 3)
    assert torch.allclose(sim[0, 0], torch.tensor(1.0)) and sim[0, 1:].max() < 1
    assert torch.allclose(sim[1, 2], torch.tensor(1.0)) and sim[1, :2].max() < 1
    # image-to-class: a class scores each place by its best match over all of its images
    mixed = torch.cat([support[2, :, :, :5], support[3, :, :, 5:]], 2)
    assert torch.allclose(local_similarity(mixed[None], support, labels, 3)[0, 1], torch.tensor(1.0))


def test_the_maps_are_the_last_block_unpooled_over_the_same_views():
    algo = _protohead(tta=2, local_match=True)
    maps = LocalMaps(algo.model.features, views=2)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        out = maps(x)
        pooled = algo.model.features(x)
    assert out.shape == (5, 3, 64, 9)  # an image and 2 views; 64 channels over the 3x3 map
    # the embedding is the max over the map's top-left 2x2 (a 2x2 pool of a 3x3 map)
    assert torch.allclose(out[:, 0].view(5, 64, 3, 3)[:, :, :2, :2].amax((2, 3)), pooled, atol=1e-5)


def test_with_a_radius_a_place_finds_its_match_only_near_where_it_is():
    torch.manual_seed(0)
    support = torch.rand(2, 1, 8, 25)  # two classes of one image, 8 channels over a 5x5 map
    labels = torch.tensor([0, 1])
    maps = support[0, :, :].view(1, 8, 5, 5)
    near = maps.roll(1, 3).flatten(2)  # every place moved one column (the last wraps round to the first)
    far = maps.roll(3, 3).flatten(2)  # three columns
    assert torch.allclose(local_similarity(far[None], support, labels, 2)[0, 0], torch.tensor(1.0))
    within = local_similarity(torch.stack([near, far]), support, labels, 2, radius=1)[:, 0]
    # the near map's places find themselves one column away, except the wrapped column (four away): 20 of 25
    assert 20 / 25 - 5 / 25 < within[0] < 1
    assert within[1] < within[0]  # every place of the far map is two or three columns from its match


def test_two_levels_are_the_last_map_then_the_finer_map_before_it():
    algo = _protohead(tta=2, local_match=True)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        one = LocalMaps(algo.model.features, views=2)(x)
        two = LocalMaps(algo.model.features, views=2, levels=2)(x)
        before = algo.model.features[:3](x)  # the third block's output: its 7x7 map pooled to 3x3
    assert two.shape == (5, 3, 64, 9 + 49) and split_places(58) == (9, 49) and split_places(4 + 16) == (4, 16)
    assert torch.allclose(two[..., :9], one, atol=1e-5)
    finer = two[:, 0, :, 9:].view(5, 64, 7, 7)
    assert torch.allclose(torch.nn.functional.max_pool2d(finer, 2), before, atol=1e-5)


def test_two_levels_score_differently_and_stay_inductive():
    one, two = _protohead(tta=2, local_match=True), _protohead(tta=2, local_match=True, local_levels=2)
    two.model.load_state_dict(one.model.state_dict())
    x, y, queries = _drawings(5, 0), torch.arange(5), _drawings(6, 1)
    with torch.no_grad():
        a, b = one.adapt(x, y, steps=0).logits(queries), two.adapt(x, y, steps=0).logits(queries)
        alone = torch.cat([two.adapt(x, y, steps=0).logits(q[None]) for q in queries])
    assert not torch.allclose(a, b, atol=1e-3)
    assert torch.allclose(alone, b, atol=1e-4)


def _drawings(n: int, seed: int) -> torch.Tensor:
    """``n`` random-stroke images [n, 1, 28, 28] (sparse ink, as drawings are)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.85).float()


def test_local_matching_joins_the_nearest_mean_logits_and_stays_inductive():
    plain, matched = _protohead(tta=2), _protohead(tta=2, local_match=True)
    matched.model.load_state_dict(plain.model.state_dict())
    x, y, queries = _drawings(5, 0), torch.arange(5), _drawings(5, 1)
    base = plain.adapt(x, y)
    learner = matched.adapt(x, y)
    assert isinstance(learner, LocalMatchLearner) and not isinstance(base, LocalMatchLearner)
    with torch.no_grad():
        got, want = learner.logits(queries), base.logits(queries)
        sim = learner.similarity(queries)
        z = lambda t: (t - t.mean(1, keepdim=True)) / t.std(1, keepdim=True)  # noqa: E731
        assert torch.equal(got.argmax(1), (z(want) + z(sim)).argmax(1))
        assert not torch.allclose(got, want)
        # on the nearest-mean logits' own scale: the probabilities shown stay those of a comparable classifier
        assert torch.allclose(got, want + want.std(1, keepdim=True) * z(sim), atol=1e-5)
        # inductive: a query's logits are the same alone as among the others
        for i in range(len(queries)):
            assert torch.allclose(learner.logits(queries[i:i + 1])[0], got[i], atol=1e-5)
        assert torch.equal(learner.embed(queries), base.embed(queries))


@pytest.mark.parametrize("levels, members", [(1, 1), (2, 1), (2, 2)])
def test_an_exported_classifier_matches_too(tmp_path, levels, members):
    from engine.adaptation import adapt_with_progress, predict_probabilities
    from engine.export import export_learner, load_classifier

    algo = _protohead(tta=2, local_match=True, local_levels=levels, members=members)
    images = (_drawings(6, 3)[:, 0] * 255).to(torch.uint8).numpy()
    learner = adapt_with_progress(algo, images, [0, 0, 1, 1, 2, 2], steps=2, leave_one_out=False)
    assert isinstance(learner, LocalMatchLearner)
    export_learner(learner, ["a", "b", "c"], tmp_path / "c.pt2")
    loaded = load_classifier(tmp_path / "c.pt2")
    queries = (_drawings(3, 4)[:, 0] * 255).to(torch.uint8).numpy()
    for i in range(3):
        one = queries[i : i + 1]
        np.testing.assert_allclose(loaded.probabilities(torch.from_numpy(one)).numpy(),
                                   predict_probabilities(learner, one), atol=1e-5)


def test_every_adaptation_step_is_matched_too():
    algo = _protohead(local_match=True)
    states = []
    algo.adapt(torch.rand(4, 1, 28, 28), torch.arange(4), on_step=lambda s: states.append(s.state()))
    assert len(states) == 4 and all(isinstance(s, LocalMatchLearner) for s in states)
    assert not algo.adapts_features


def test_the_option_is_set_by_the_cli_kept_in_the_checkpoint_and_ignored_without_a_map(tmp_path, small_glyph_pool):
    assert TrainConfig().local_match is False
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "protohead", "--local-match"]))
    assert parsed.local_match and parsed.local_levels == 1
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "protohead", "--local-match",
                                                          "--local-levels", "2"]))
    assert parsed.local_levels == 2 and parsed.algo_config().local_levels == 2
    with pytest.raises(ValueError, match="local_levels"):
        TrainConfig(local_levels=3).validate()
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=0,
                         workers=1, local_match=True, local_levels=2, checkpoint=str(tmp_path / "m.pt"))
    list(run(config, RunControl(), pool=small_glyph_pool))
    algo, trained, _ = restore(str(tmp_path / "m.pt"))
    assert trained.local_match and algo.config.local_match and algo.config.local_levels == 2
    assert isinstance(algo.adapt(_drawings(4, 2), torch.arange(4)), LocalMatchLearner)
    # other algorithms and backbones ignore it (the window carries the lake recipe's settings to the next algorithm)
    for ignored in (dict(algo="maml"), dict(algo="protohead", backbone="seed")):
        config = TrainConfig(local_match=True, **ignored).validate()
        assert not config.algo_config().local_match
        algo = build_model_and_algorithm(config, torch.device("cpu"))
        assert not isinstance(algo.adapt(_drawings(4, 2), torch.arange(4), steps=1), LocalMatchLearner)


@pytest.mark.parametrize("levels", [1, 2])
def test_an_ensemble_matches_each_members_places_and_averages_their_cosines(levels):
    """Two members that are copies of one network match exactly as that network does; members that differ
    give each place's cosine as the mean of the members' (each place normalised member by member)."""
    one = _protohead(tta=2, local_match=True, local_levels=levels)
    pair = _protohead(tta=2, local_match=True, local_levels=levels, members=2)
    assert pair.config.local_match
    networks = pair.model.features[-1].networks
    for network in networks:
        network.load_state_dict(one.model.features.state_dict())
    pair.big_head.weight.data = one.big_head.weight.data.repeat(1, 2)
    x, y, queries = _drawings(5, 0), torch.arange(5), _drawings(4, 1)
    matched = pair.adapt(x, y, steps=0)
    assert isinstance(matched, LocalMatchLearner)
    with torch.no_grad():
        assert torch.allclose(matched.similarity(queries), one.adapt(x, y, steps=0).similarity(queries), atol=1e-4)
        torch.manual_seed(1)
        for p in networks[1].parameters():
            p.add_(0.3 * torch.randn_like(p))
        joined = LocalMaps(pair.model.features, views=1, levels=levels)(x)
        alone = [LocalMaps(torch.nn.Sequential(*network), views=1, levels=levels)(x) for network in networks]
    cosine = lambda m: torch.einsum("vcp,vcr->vpr", *torch.nn.functional.normalize(m[:2], dim=2))  # noqa: E731
    assert torch.allclose(cosine(joined), (cosine(alone[0]) + cosine(alone[1])) / 2, atol=1e-5)
    assert not torch.allclose(cosine(alone[0]), cosine(alone[1]), atol=1e-3)
