"""Drawings framed both ways (``--frame-both``, engine.framing.BothFramings; issue #18): every training drawing
framed by its ink's box and by its ink's moments as two drawings of its class, and every drawing scored read
both ways at once, a two-channel image whose channels the embedding takes as test-time views of one drawing.
The two-channel drawing travels through Lake's runs, predict, an export and the window."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_challenge import build_runs
from test_lake import minimal_set, person_support

from engine.algorithms import AlgoConfig
from engine.algorithms.local_match import LocalMaps
from engine.algorithms.protohead import ProtoHead
from engine.algorithms.simpleshot import SimpleShot, ViewMean
from engine.cli import _config_from_args, build_parser
from engine.cli import main as cli_main
from engine.config import TrainConfig
from engine.data import load_source
from engine.data.base import DataError
from engine.framing import BothFramings, MomentFraming, framed_by, framing_named, framings
from engine.models import Conv4
from engine.trainer import run, task_samplers

RECIPE = dict(dataset="omniglot", algo="protohead", ways=5, shots=1, queries=1, meta_batch=1, iterations=2,
              val_every=0, frame_ink=True, frame_stretch=2.0, frame_both=True, tta=2, local_match=True,
              local_levels=2, inner_steps=2, device="cpu")


def test_both_framings_are_the_moments_then_the_box_and_are_written_down_and_read_back():
    both = BothFramings(2.0)
    assert framings(both) == (MomentFraming(2.0), 2.0) and framings(2.0) == (2.0,)
    for frame in (0.0, 1.0, 2.0, MomentFraming(2.0), both):
        assert framing_named(frame if not isinstance(frame, (MomentFraming, BothFramings)) else frame.stretch,
                             framed_by(frame)) == frame


def test_frame_both_needs_frame_ink_and_an_algorithm_that_reads_views():
    config = TrainConfig(**RECIPE)
    assert config.frames_ink == config.algo_config().frame_ink == BothFramings(2.0)
    with pytest.raises(DataError, match="frame_ink"):
        TrainConfig(dataset="omniglot", frame_both=True).validate()
    # another algorithm ignores it (the window carries a recipe's settings to the algorithm picked next)
    assert TrainConfig(**{**RECIPE, "algo": "maml"}).frames_ink == 2.0
    assert TrainConfig(**{**RECIPE, "algo": "anil", "frame_moments": True}).frames_ink == MomentFraming(2.0)
    assert TrainConfig(**{**RECIPE, "tta": 0}).frames_ink == BothFramings(2.0)  # (the two ways are views enough)
    assert TrainConfig(**{**RECIPE, "dataset": "synthetic"}).frames_ink == 0.0  # only Omniglot is framed
    parsed = _config_from_args(build_parser().parse_args(
        ["train", "--dataset", "omniglot", "--frame-ink", "--frame-both", "--algo", "simpleshot"]))
    assert parsed.frame_both and parsed.frames_ink == BothFramings(1.0)


def test_a_pool_framed_both_ways_reads_each_drawing_both_ways_and_trains_on_each_way(small_glyph_pool, tmp_path):
    root = minimal_set(small_glyph_pool, tmp_path / "data")
    both = load_source("omniglot", root, frame=BothFramings(2.0))
    moments, box = load_source("omniglot", root, frame=MomentFraming(2.0)), load_source("omniglot", root, frame=2.0)
    assert both.framed == BothFramings(2.0) and both.images.shape == (len(box.images), 2, 28, 28)
    assert torch.equal(both.images[:, 0], moments.images) and torch.equal(both.images[:, 1], box.images)
    assert both.input_shape == (2, 28, 28) and box.input_shape == (1, 28, 28)

    drawings = both.framings_as_drawings()  # each way another drawing of its class, the moments first
    assert torch.equal(drawings.images, torch.cat([moments.images, box.images]))
    assert all(drawings.count(c) == 2 * box.count(c) for c in range(box.num_classes))
    pool, sampler, _, _ = task_samplers(TrainConfig(**{**RECIPE, "data_root": str(root)}), None, False)
    assert pool.images.dim() == 3 and len(pool.images) > len(box.images)  # (mirrors and composed added)
    assert sampler.episode(0).support_x.shape[1:] == (1, 28, 28)  # a training drawing is one way at a time
    # validation reads each drawing both ways, as the model is scored (and so never pairs a drawing with itself)
    _, _, val, _ = task_samplers(TrainConfig(**{**RECIPE, "data_root": str(root), "ways": 2}), None, True)
    assert val.episode(0).support_x.shape[1:] == (2, 28, 28) and val.episode(0).query_x.shape[1:] == (2, 28, 28)
    # a pool read both ways mirrors and joins halves as a pool of one way does, each way alike
    mirrored, composed = both.with_mirrored_classes("train"), both.with_composed_classes(1.0, "train", seed=3)
    for i in range(2):
        one_way = moments if i == 0 else box
        assert torch.equal(mirrored.images[:, i], one_way.with_mirrored_classes("train").images)
        assert torch.equal(composed.images[:, i], one_way.with_composed_classes(1.0, "train", seed=3).images)


def test_the_embedding_reads_the_two_channels_as_views_of_one_drawing(small_glyph_pool):
    torch.manual_seed(0)
    algo = SimpleShot(Conv4(), AlgoConfig(tta=2, local_match=True, local_levels=2))
    algo.model.eval()
    pool = small_glyph_pool
    drawn = torch.stack([pool.images[pool.members(c)[i]] for c in pool.split_classes("test")[:4] for i in (0, 1)])
    # (a stand-in for the second framing: the drawing turned over its diagonal)
    x = torch.stack([drawn, drawn.transpose(1, 2)], 1).float() / 255
    support_x, query_x, support_y = x[0::2], x[1::2], torch.arange(4)
    views = ViewMean(algo.model.features, 2)
    maps = LocalMaps(algo.model.features, 2, levels=2)
    with torch.no_grad():
        torch.testing.assert_close(views(x), (views(x[:, :1]) + views(x[:, 1:])) / 2)
        torch.testing.assert_close(maps(x), torch.cat([maps(x[:, :1]), maps(x[:, 1:])], 1))  # each way's views

    learner = algo.adapt(support_x, support_y)
    with torch.no_grad():  # scores stay inductive: a query's alone as in a batch
        together = learner.logits(query_x)
        torch.testing.assert_close(torch.cat([learner.logits(q[None]) for q in query_x]), together)
        one_way = algo.adapt(support_x[:, :1], support_y).logits(query_x[:, :1])
    assert not torch.allclose(together, one_way, atol=1e-3)  # and the second way matters

    # without test-time views a model framed both ways still reads the two as views; Proto-head's steps then
    # leave the last block alone (its path feeds the block one channel)
    plain = ProtoHead(algo.model, AlgoConfig(frame_ink=BothFramings(2.0), adapt_block=True, inner_steps=2))
    assert not plain.adapts_features
    with torch.no_grad():
        features = plain.model.features
        torch.testing.assert_close(plain.embedding()(x), (features(x[:, :1]) + features(x[:, 1:])) / 2)
    assert plain.adapt(support_x, support_y).logits(query_x).shape == (4, 4)


def test_a_model_framed_both_ways_trains_scores_lakes_runs_predicts_exports_and_adapts_in_the_window(
        small_glyph_pool, tmp_path, capsys):
    from engine import api, api_export
    from engine.adaptation import predict_probabilities
    from engine.challenge import load_runs, run_challenge
    from engine.data.images import frame_images, load_image
    from engine.export import export_learner, load_classifier
    from engine.predict import Classifier, predict_files, read_queries
    from engine.trainer import restore

    ckpt = tmp_path / "both.pt"
    config = TrainConfig(**RECIPE, data_root=str(minimal_set(small_glyph_pool, tmp_path / "data")),
                         checkpoint=str(ckpt))
    for _ in run(config):
        pass
    algo, trained, _ = restore(str(ckpt))
    assert trained.frames_ink == algo.config.frame_ink == BothFramings(2.0)

    build_runs(small_glyph_pool, tmp_path / "runs")  # Lake's runs, each drawing read both ways
    runs = load_runs(tmp_path / "runs", 28, trained.frames_ink)
    assert runs[0].support_x.shape[1:] == (2, 28, 28) and runs[0].query_x.shape[1:] == (2, 28, 28)
    error = run_challenge(algo, runs)["error_rate"]
    assert cli_main(["omniglot-challenge", "--checkpoint", str(ckpt), "--runs", str(tmp_path / "runs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error_rate"] == pytest.approx(error)
    # ordinary episodes of the data set, each drawing read both ways (`main.py eval`)
    assert cli_main(["eval", "--checkpoint", str(ckpt), "--split", "train", "--ways", "5", "--shots", "1",
                     "--queries", "2", "--episodes", "3", "--device", "cpu", "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out.strip().splitlines()[-1])["accuracy"] <= 1

    support, query = person_support(tmp_path)
    classifier, learner = Classifier.adapted(ckpt, support)  # `main.py predict --checkpoint --support`
    assert classifier.frame == learner.frame_ink == BothFramings(2.0)
    framed = load_image(query, frame=BothFramings(2.0)).numpy()
    assert framed.shape == (2, 28, 28)
    np.testing.assert_array_equal(framed[0], load_image(query, frame=MomentFraming(2.0)).numpy())
    np.testing.assert_array_equal(framed[1], load_image(query, frame=2.0).numpy())
    np.testing.assert_array_equal(read_queries([query], frame=BothFramings(2.0))[0], framed)
    (by_checkpoint,) = predict_files(classifier, [query])
    np.testing.assert_allclose(list(by_checkpoint.probabilities.values()),
                               predict_probabilities(learner, framed[None])[0], atol=1e-6)

    exported = export_learner(learner, classifier.class_names, tmp_path / "both.pt2")  # `main.py export`
    info = load_classifier(exported.path).info
    assert info["frame_by"] == "both" and info["version"] == 2 and info["input"]["shape"] == ["n", 2, 28, 28]
    assert "channel 0" in info["input"]["from_a_file"] and "centre of mass" in info["input"]["from_a_file"]
    from_file = Classifier.exported(exported.path)
    assert from_file.frame == BothFramings(2.0)
    (by_file,) = predict_files(from_file, [query])
    np.testing.assert_allclose(list(by_file.probabilities.values()),
                               list(by_checkpoint.probabilities.values()), atol=1e-5)

    # the window hands the engine drawings as drawn; the engine frames each both ways for this model
    model = api.open_model(str(ckpt)).model
    as_drawn = load_image(query).numpy()
    images = np.stack([load_image(f).numpy() for f in sorted(support.glob("*/a.png"))])
    ready: list = []
    steps: list = []
    api.adapt(model, images, np.arange(3), 2, 0.01, on_step=steps.append, on_ready=ready.append, query=as_drawn)
    seen = api.predict(ready[0].learner, images, np.arange(3), as_drawn)
    np.testing.assert_array_equal(seen.query, frame_images(as_drawn[None], BothFramings(2.0))[0])
    assert seen.query.shape == (2, 28, 28)
    np.testing.assert_allclose(seen.probabilities, predict_probabilities(ready[0].learner, seen.query[None])[0],
                               atol=1e-5)
    np.testing.assert_allclose(steps[-1].probabilities, seen.probabilities, atol=1e-5)  # Adapt's live query
    with_view = api.predict(ready[0].learner, images, np.arange(3), as_drawn, ready[0].view)  # as the window does
    np.testing.assert_allclose(with_view.probabilities, seen.probabilities, atol=1e-5)
    # the confusion over a person's classes shows each held-out drawing as one image
    two_each = np.concatenate([images, images[:, ::-1]])
    confusion = api_export.leave_one_out_insight(model, two_each, np.tile(np.arange(3), 2), ["bar", "post", "block"])
    assert confusion.counts.sum() == 6
    assert all(image.shape == (28, 28) for kept in confusion.images.values() for image in kept)
