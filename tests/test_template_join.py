"""The deformable template distance (engine.deformation) and its join to a learner's logits
(engine.algorithms.template_join): a fitted map carries a drawing onto another drawing of its shape, the distance left
picks the right class, scores stay inductive, a query is fitted once per adaptation, the weight travels in the
checkpoint and the command line, and an exported file says it leaves the fit out."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from engine import deformation
from engine.algorithms.local_match import standardised
from engine.algorithms.template_join import TemplateJoin, lowered
from engine.build import build_model_and_algorithm
from engine.cli import _config_from_args, _score_as_asked, build_parser
from engine.config import RECIPE_EXTRA_KEYS, TrainConfig
from engine.data.base import DataError
from engine.deformation import TemplateDistance, distance_left, fit_maps, pairs, starts, turned, warp
from engine.recipes import recipe
from engine.trainer import RunControl, restore, run


def _shape(kind: int) -> torch.Tensor:
    """A 28x28 drawing [1, 28, 28] of one of four strokes: a ring, a cross, a bar, a corner."""
    y, x = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    r = ((x - 14) ** 2 + (y - 14) ** 2).sqrt()
    if kind == 0:
        ink = (r - 8).abs() < 1.5
    elif kind == 1:
        ink = ((x - y).abs() < 1.5) | ((x + y - 27).abs() < 1.5)
    elif kind == 2:
        ink = ((x - 14).abs() < 1.5) & ((y - 14).abs() < 10)
    else:
        ink = (((y - 6).abs() < 1.5) & (x > 5) & (x < 22)) | (((x - 21).abs() < 1.5) & (y > 5) & (y < 22))
    return ink.float()[None]


def _drawn_again(images: torch.Tensor, seed: int) -> torch.Tensor:
    """``images`` as another hand draws them: each slightly rotated, scaled, shifted and bent."""
    g = torch.Generator().manual_seed(seed)
    n = len(images)
    angle = (torch.rand(n, generator=g) - 0.5) * 0.3
    scale = 1 + (torch.rand(n, generator=g) - 0.5) * 0.2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = scale * angle.cos(), -scale * angle.sin()
    theta[:, 1, 0], theta[:, 1, 1] = scale * angle.sin(), scale * angle.cos()
    theta[:, :, 2] = (torch.rand(n, 2, generator=g) - 0.5) * 0.15
    field = (torch.rand(n, 2, 4, 4, generator=g) - 0.5) * 0.1
    return warp(images, theta, field)


def _support() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([_shape(k) for k in range(4)]), torch.arange(4)


def test_a_fitted_map_carries_a_drawing_onto_another_hands_drawing_of_it():
    first, _ = _support()
    second = _drawn_again(first, 0)
    before = (first - second).square().mean((1, 2, 3))
    theta, field = fit_maps(first, second)
    after = (warp(first, theta, field) - second).square().mean((1, 2, 3))
    assert theta.shape == (4, 2, 3) and field.shape == (4, 2, 4, 4)
    assert (after < 0.4 * before).all(), (after / before)
    assert torch.equal(distance_left(first, second), after)


def test_the_distance_left_picks_each_querys_own_shape_where_pixels_alone_do_not_always():
    support, labels = _support()
    queries = _drawn_again(support, 1)
    distances = TemplateDistance(support, labels, 4)(queries)
    assert distances.shape == (4, 4)
    assert torch.equal(distances.argmin(1), labels)
    plain = (queries[:, None] - support[None]).square().mean((2, 3, 4))
    gained = torch.diagonal(distances) / distances.masked_fill(torch.eye(4, dtype=torch.bool), math.inf).amin(1)
    assert (gained < torch.diagonal(plain) / plain.masked_fill(torch.eye(4, dtype=torch.bool), math.inf).amin(1)).all()


def test_scores_are_inductive_and_the_same_in_any_chunking(monkeypatch):
    support, labels = _support()
    queries = _drawn_again(torch.cat([support, support]), 2)
    together = TemplateDistance(support, labels, 4)(queries)
    alone = torch.cat([TemplateDistance(support, labels, 4)(q[None]) for q in queries])
    assert torch.equal(together, alone)  # to the last bit: 100 steps of a fit would amplify any rounding
    monkeypatch.setattr(deformation, "CHUNK", 3)  # pairs fitted three at a time
    assert torch.equal(TemplateDistance(support, labels, 4)(queries), together)
    assert TemplateDistance(support, labels, 4)(queries[:0]).shape == (0, 4)  # no query: nothing to fit


def test_a_turn_is_a_rotation_about_the_centre_and_asks_for_three_starts():
    bar = _shape(2)[None]  # upright
    assert torch.allclose(turned(bar, 0.0), bar, atol=1e-6)
    lying = turned(bar, 90.0)[0, 0]
    assert lying[14, 5:23].mean() > 0.9 and lying[5:23, 14].mean() < 0.3  # the bar now lies across
    assert starts(0.0) == (0.0,) and starts(15.0) == (-15.0, 0.0, 15.0)


def test_fits_started_from_turns_keep_each_pairs_smallest_distance_and_stay_inductive():
    support, labels = _support()
    queries = turned(torch.cat([support, _drawn_again(support, 9)]), 20.0)  # drawn with a slant
    one = TemplateDistance(support, labels, 4)(queries)
    three = TemplateDistance(support, labels, 4, turn=15.0)(queries)
    first, second = pairs(support, queries)
    by_start = torch.stack([distance_left(turned(first, d) if d else first, second).view(8, 4)
                            for d in (-15.0, 0.0, 15.0)])
    assert torch.equal(by_start[1], one) and torch.equal(three, by_start.amin(0))
    assert (three <= one).all() and three.diagonal().sum() < one.diagonal().sum()  # a turned start fits closer
    assert torch.equal(torch.cat([TemplateDistance(support, labels, 4, turn=15.0)(q[None]) for q in queries]), three)


def test_a_fit_blurs_coarse_for_its_first_half_then_fine_as_asked(monkeypatch):
    seen: list[float] = []
    real = deformation.blur
    monkeypatch.setattr(deformation, "blur", lambda x, sigma: seen.append(sigma) or real(x, sigma))
    first, _ = _support()
    second = _drawn_again(first, 3)
    default = distance_left(first, second, steps=4)
    assert seen == [2.0, 1.0] + [2.0, 2.0, 1.0, 1.0]  # the targets', then each step's
    assert deformation.BLURS == (2.0, 1.0) and torch.equal(distance_left(first, second, steps=4, blurs=(2.0, 1.0)),
                                                           default)
    seen.clear()
    other = distance_left(first, second, steps=4, blurs=(4.0, 0.5))
    assert seen == [4.0, 0.5, 4.0, 4.0, 0.5, 0.5] and not torch.equal(other, default)


def test_the_blur_is_a_gaussian_with_zero_beyond_the_edges():
    x = torch.rand(3, 2, 28, 30)
    for sigma in (1.0, 2.0):
        radius = math.ceil(3 * sigma)
        taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1.0) / sigma) ** 2)
        taps = taps / taps.sum()
        flat = x.reshape(6, 1, 28, 30)
        want = F.conv2d(F.conv2d(flat, taps.view(1, 1, -1, 1), padding=(radius, 0)), taps.view(1, 1, 1, -1),
                        padding=(0, radius))
        assert torch.allclose(deformation.blur(x, sigma), want.view(3, 2, 28, 30), atol=1e-6)


def test_a_class_of_several_drawings_is_as_near_as_its_nearest_and_each_framing_counts():
    support, _ = _support()
    two_each = torch.cat([support[:2], _drawn_again(support[:2], 3)])  # classes 0, 1, 0, 1
    labels = torch.tensor([0, 1, 0, 1])
    queries = _drawn_again(support[:2], 4)
    by_class = TemplateDistance(two_each, labels, 2)(queries)
    by_drawing = TemplateDistance(two_each, torch.arange(4), 4)(queries)
    assert torch.allclose(by_class, torch.stack([by_drawing[:, [0, 2]].amin(1), by_drawing[:, [1, 3]].amin(1)], 1))
    # a drawing read two ways (two channels) is fitted in each and the two distances averaged
    both = TemplateDistance(torch.cat([support, support.flip(-1)], 1), torch.arange(4), 4)(
        torch.cat([queries, queries.flip(-1)], 1))
    mirrored = TemplateDistance(support.flip(-1), torch.arange(4), 4)(queries.flip(-1))
    assert torch.allclose(both, (TemplateDistance(support, torch.arange(4), 4)(queries) + mirrored) / 2, atol=1e-6)


def test_pairs_hold_every_drawing_beside_every_query_in_each_framing_where_the_docstring_says():
    support, queries = torch.rand(3, 2, 5, 5), torch.rand(4, 2, 5, 5)
    first, second = pairs(support, queries)
    assert first.shape == second.shape == (2 * 4 * 3, 1, 5, 5)
    for c in range(2):
        for i in range(4):
            for j in range(3):
                at = (c * 4 + i) * 3 + j
                assert torch.equal(first[at, 0], support[j, c]) and torch.equal(second[at, 0], queries[i, c])
    # a one-framing query meets only the support's first framing
    assert pairs(support, queries[:, :1])[0].shape[0] == 4 * 3


def test_a_query_seen_again_is_not_fitted_again(monkeypatch):
    support, labels = _support()
    fits = []
    monkeypatch.setattr(deformation, "distance_left", lambda a, b, *rest: fits.append(len(a)) or torch.rand(len(a)))
    templates = TemplateDistance(support, labels, 4)
    query = _drawn_again(support[:1], 5)
    first = templates(query)
    assert torch.equal(templates(query.clone()), first) and fits == [4]
    templates(_drawn_again(support[:1], 6))
    assert len(fits) == 2


def test_the_join_weighs_ratios_of_distances_and_a_copy_of_a_drawing_is_finite():
    distances = torch.tensor([[0.01, 0.02, 0.5, 0.6], [0.0, 0.03, 0.04, 0.2]])
    low = lowered(distances)
    assert torch.isfinite(low).all()
    assert torch.equal(low.argsort(1), distances.argsort(1))  # nearer is lowered less
    # only the ratios count: the distances squared (or scaled) give the same join
    assert torch.allclose(lowered(distances[:1] ** 2), low[:1], atol=1e-5)
    assert torch.allclose(lowered(distances[:1] * 7), low[:1], atol=1e-5)
    # the two near classes are told apart as far as the two far ones, which the plain distance squeezes together
    near, far = low[0, 1] - low[0, 0], low[0, 3] - low[0, 2]
    assert near > far
    plain = standardised(distances[:1])[0]
    assert plain[1] - plain[0] < plain[3] - plain[2]


def _protohead(**settings):
    config = TrainConfig(algo="protohead", inner_steps=3, inner_lr=0.01, device="cpu", **settings)
    return build_model_and_algorithm(config, torch.device("cpu"))


def test_the_join_lowers_each_class_by_its_standardised_log_distance_and_every_step_shares_one_fit(monkeypatch):
    plain, joined = _protohead(), _protohead(template_weight=3.0)
    joined.model.load_state_dict(plain.model.state_dict())
    support, labels = _support()
    queries = _drawn_again(support, 7)
    base = plain.adapt(support, labels)
    learner = joined.adapt(support, labels)
    assert isinstance(learner, TemplateJoin) and not isinstance(base, TemplateJoin)
    with torch.no_grad():
        want = base.logits(queries) - 3.0 * standardised(TemplateDistance(support, labels, 4)(queries).log())
        assert torch.allclose(learner.logits(queries), want, atol=1e-5)
        assert torch.allclose(learner.predict(queries), F.softmax(want, -1), atol=1e-5)
        assert torch.equal(learner.embed(queries), base.embed(queries))
    # the steps' learners share one distance: probing each step with the same query fits it once
    fits = []
    real = deformation.distance_left
    monkeypatch.setattr(deformation, "distance_left", lambda *a: fits.append(1) or real(*a))
    states = []
    joined.adapt(support, labels, on_step=lambda s: states.append(s.state()))
    assert len(states) == 4 and all(isinstance(s, TemplateJoin) for s in states)
    for state in states:
        state.predict(queries[:1])
    assert len(fits) == 1
    # one class: nothing to tell apart, the logits are the base's
    one = joined.adapt(support[:1], labels[:1], steps=0)
    with torch.no_grad():
        assert torch.equal(one.logits(queries), one.base.logits(queries))


def test_the_weight_is_set_by_the_cli_kept_in_the_checkpoint_and_the_lake_recipe_joins_it(tmp_path, small_glyph_pool):
    assert TrainConfig().template_weight == 0 and "template_weight" in RECIPE_EXTRA_KEYS
    assert recipe("lake")["template_weight"] == 3.0
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "simpleshot", "--template-weight", "2"]))
    assert parsed.template_weight == 2 and parsed.algo_config().template_weight == 2
    with pytest.raises(ValueError, match="template"):
        TrainConfig(template_weight=-1).validate()
    assert TrainConfig(algo="maml", template_weight=2).algo_config().template_weight == 0  # ignored where unread
    config = TrainConfig(algo="simpleshot", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=0,
                         workers=1, template_weight=1.5, checkpoint=str(tmp_path / "m.pt"))
    list(run(config, RunControl(), pool=small_glyph_pool))
    algo, trained, _ = restore(str(tmp_path / "m.pt"))
    assert trained.template_weight == algo.config.template_weight == 1.5
    learner = algo.adapt(*_support())
    assert isinstance(learner, TemplateJoin) and learner.weight == 1.5
    # scoring commands take the checkpoint's weight unless told otherwise (0: the network alone, faster)
    for command in (["omniglot-challenge", "--runs", "R"], ["eval"]):
        args = build_parser().parse_args([*command, "--checkpoint", "m.pt", "--template-weight", "0"])
        _score_as_asked(algo, args)
        assert algo.config.template_weight == 0 and not isinstance(algo.adapt(*_support()), TemplateJoin)
        _score_as_asked(algo, build_parser().parse_args([*command, "--checkpoint", "m.pt", "--template-weight", "2"]))
        assert algo.adapt(*_support()).weight == 2
    with pytest.raises(DataError, match="template-weight"):
        _score_as_asked(algo, build_parser().parse_args(["eval", "--checkpoint", "m.pt", "--template-weight", "-1"]))


@pytest.mark.parametrize("name, attribute, trained, out_of_range, in_lake, fits", [
    # 2 episodes x 3 queries x 3 drawings x 3 starts
    ("template_turn", "turn", 10.0, -5, 15.0, "54 fits"),
    # 2 episodes x (3 queries x 3 drawings + the support set's own 3 x 3)
    ("template_hubness", "hubness", 0.5, -1, None, "36 fits"),
])
def test_a_template_setting_is_set_by_the_cli_kept_in_the_checkpoint_and_counted_in_evals_note(
        tmp_path, small_glyph_pool, capsys, name, attribute, trained, out_of_range, in_lake, fits):
    from engine.cli import main

    flag = "--" + name.replace("_", "-")
    assert getattr(TrainConfig(), name) == 0 and name in RECIPE_EXTRA_KEYS
    assert recipe("lake").get(name) == in_lake
    parsed = _config_from_args(build_parser().parse_args(["train", "--algo", "protohead", "--template-weight", "2",
                                                          flag, "1"]))
    assert getattr(parsed, name) == 1 and getattr(parsed.algo_config(), name) == 1
    with pytest.raises(ValueError, match=flag[2:]):
        TrainConfig(**{name: 60}).validate()
    config = TrainConfig(algo="simpleshot", ways=3, shots=1, queries=1, meta_batch=1, iterations=1, val_every=0,
                         workers=1, template_weight=3.0, checkpoint=str(tmp_path / "m.pt"), **{name: trained})
    list(run(config, RunControl(), pool=small_glyph_pool))
    algo, saved, _ = restore(str(tmp_path / "m.pt"))
    assert getattr(saved, name) == getattr(algo.config, name) == trained
    assert getattr(algo.adapt(*_support()).distance, attribute) == trained
    _score_as_asked(algo, build_parser().parse_args(["omniglot-challenge", "--runs", "R", "--checkpoint", "m.pt",
                                                     flag, "0"]))
    assert getattr(algo.adapt(*_support()).distance, attribute) == 0
    with pytest.raises(DataError, match=flag[2:]):
        _score_as_asked(algo, build_parser().parse_args(["eval", "--checkpoint", "m.pt", flag, str(out_of_range)]))
    assert main(["eval", "--checkpoint", str(tmp_path / "m.pt"), "--episodes", "2", "--json"]) == 0
    assert fits in capsys.readouterr().err

def test_eval_says_what_the_template_fits_will_cost_and_how_to_leave_them_out(tmp_path, small_glyph_pool, capsys):
    from engine.cli import main

    config = TrainConfig(algo="simpleshot", ways=3, shots=1, queries=1, meta_batch=1, iterations=1, val_every=0,
                         workers=1, template_weight=3.0, checkpoint=str(tmp_path / "m.pt"))
    list(run(config, RunControl(), pool=small_glyph_pool))
    assert main(["eval", "--checkpoint", str(tmp_path / "m.pt"), "--episodes", "2", "--json"]) == 0
    err = capsys.readouterr().err
    assert "18 fits" in err and "--template-weight 0" in err  # 2 episodes x 3 queries x 3 drawings
    assert main(["eval", "--checkpoint", str(tmp_path / "m.pt"), "--episodes", "2", "--template-weight", "0"]) == 0
    assert "fits" not in capsys.readouterr().err


def test_an_exported_classifier_says_it_leaves_the_fit_out_and_matches_the_network_alone(tmp_path):
    from engine.adaptation import adapt_with_progress, predict_probabilities
    from engine.export import META_NAME, export_learner, load_classifier

    algo = _protohead(template_weight=3.0)
    images = (torch.cat([_support()[0], _drawn_again(_support()[0], 8)])[:, 0] * 255).to(torch.uint8).numpy()
    learner = adapt_with_progress(algo, images, [0, 1, 2, 3] * 2, steps=2, leave_one_out=False)
    assert isinstance(learner, TemplateJoin)
    summary = export_learner(learner, ["ring", "cross", "bar", "corner"], tmp_path / "c.pt2")
    assert "left out" in summary.leaves_out and "3" in summary.leaves_out
    loaded = load_classifier(tmp_path / "c.pt2")
    assert loaded.info["leaves_out"] == summary.leaves_out
    extra = {META_NAME: ""}
    torch.export.load(tmp_path / "c.pt2", extra_files=extra)
    assert json.loads(extra[META_NAME])["leaves_out"] == summary.leaves_out
    query = images[:1]
    assert torch.allclose(loaded.probabilities(torch.from_numpy(query)),
                          torch.from_numpy(predict_probabilities(learner.base, query)), atol=1e-5)


def test_validation_in_training_leaves_the_fits_out(small_glyph_pool, monkeypatch):
    from engine.events import Finished, ValidationMetrics

    def no_fits(*args, **kwargs):
        raise AssertionError("validation fitted a template")

    monkeypatch.setattr(deformation, "distance_left", no_fits)
    config = TrainConfig(algo="protohead", ways=4, shots=1, queries=1, meta_batch=1, iterations=2, val_every=1,
                         val_episodes=2, workers=1, template_weight=3.0)
    events = list(run(config, RunControl(), pool=small_glyph_pool))
    assert sum(isinstance(e, ValidationMetrics) for e in events) == 2
    finished = next(e for e in events if isinstance(e, Finished))
    assert finished.reason == "completed" and finished.val_acc is not None, finished


def test_reach_is_each_class_drawings_mean_log_distance_to_the_other_classes_drawings_and_divides_its_distances():
    support, labels = _support()
    queries = _drawn_again(support, 11)
    plain = TemplateDistance(support, labels, 4)
    between = plain(support).clamp_min(1e-8).log()  # [drawing, class]
    by_hand = torch.stack([between[[i for i in range(4) if i != c], c].mean() for c in range(4)])
    weighed = TemplateDistance(support, labels, 4, hubness=0.5)
    assert torch.allclose(weighed.reach(), by_hand - by_hand.mean(), atol=1e-6)
    assert torch.allclose(weighed(queries), plain(queries) * torch.exp(-0.5 * weighed.reach()), rtol=1e-5)
    # the reach comes from the support set alone: a query's distances are the same scored alone or in a batch
    assert torch.equal(TemplateDistance(support, labels, 4, hubness=0.5)(queries[2:3]), weighed(queries)[2:3])
    # with two drawings a class, a class's own drawings do not count towards its reach
    two = TemplateDistance(torch.cat([support, queries]), torch.cat([labels, labels]), 4, hubness=1.0)
    both = two._measure(torch.cat([support, queries])).clamp_min(1e-8).log()
    want = torch.stack([both[(torch.cat([labels, labels]) != c).nonzero().squeeze(1), c].mean() for c in range(4)])
    assert torch.allclose(two.reach(), want - want.mean(), atol=1e-6)
    # one class: no other drawings, no reach
    assert torch.equal(TemplateDistance(support[:1], labels[:1], 1, hubness=1.0).reach(), torch.zeros(1))


def test_a_class_drawn_far_from_the_others_is_no_longer_far_from_its_own_query():
    # the class 0 drawing is a ring drawn much larger than the others: far from every drawing, its own query's
    # included, so the plain distance gives its query to another class and the reach gives it back
    support, labels = _support()
    ring = warp(support[:1], torch.tensor([[[0.55, 0.0, 0.0], [0.0, 0.55, 0.0]]]), torch.zeros(1, 2, 4, 4))
    support = torch.cat([ring, support[1:]])
    queries = _drawn_again(_support()[0], 3)
    plain = TemplateDistance(support, labels, 4)(queries)
    weighed = TemplateDistance(support, labels, 4, hubness=2.0)
    assert weighed.reach()[0] == weighed.reach().max()  # the large ring reaches least near the others
    ratio = weighed(queries) / plain
    assert torch.allclose(ratio, ratio[:1].expand_as(ratio))  # one factor a class, the same for every query
    assert plain.argmin(1).tolist() == [2, 1, 2, 3]  # the ring's query nearest the bar
    assert weighed(queries).argmin(1).tolist() == [0, 1, 2, 3]  # and back to its own class, the others kept
    assert (lowered(weighed(queries))[0, 0] < lowered(plain)[0, 0])  # (in the join's terms too)
