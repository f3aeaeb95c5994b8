"""SimpleShot: nearest mean of L2-normalised features, and the window's default recipe built on it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch
import torch.nn.functional as F
from test_algorithms_zoo import make_task

from engine.algorithms.simpleshot import DISTANCE_SCALE
from engine.config import QUICK_RECIPE, TrainConfig, app_defaults, recommended_shape
from engine.models import with_support
from engine.trainer import build_model_and_algorithm, meta_step


def _algo(**overrides):
    return build_model_and_algorithm(TrainConfig(algo="simpleshot", device="cpu", **overrides), torch.device("cpu"))


def test_adapt_is_the_nearest_mean_of_normalised_features():
    algo = _algo()
    task = make_task(ways=4, shots=3, queries=5, seed=2)
    with torch.no_grad():
        # inductive scoring: queries are normalised with the support set's BatchNorm statistics
        feats = F.normalize(with_support(algo.model.features, task.support_x, task.query_x), dim=1)
        n = len(task.support_x)
        means = torch.stack([feats[:n][task.support_y == c].mean(0) for c in range(4)])
        expected = -DISTANCE_SCALE * torch.cdist(feats[n:], means).pow(2)
        learner = algo.adapt(task.support_x, task.support_y)
        torch.testing.assert_close(learner.logits(task.query_x), expected, rtol=1e-4, atol=1e-4)
        assert torch.equal(learner.predict(task.query_x).argmax(1), expected.argmax(1))


def test_adapt_takes_no_step_and_reports_its_support_fit():
    algo = _algo()
    before = {k: v.clone() for k, v in algo.model.state_dict().items()}
    task = make_task(ways=5, shots=2, queries=2, seed=3)
    steps = []
    algo.adapt(task.support_x, task.support_y, steps=10, on_step=steps.append)
    assert [s.step for s in steps] == [0]  # one forward pass, whatever steps are asked for
    assert all(torch.equal(before[k], v) for k, v in algo.model.state_dict().items())


def test_meta_training_classifies_among_all_seen_classes():
    algo = _algo(queries=2, meta_batch=1)
    optimizer = torch.optim.Adam(algo.outer_parameters(), lr=0.01)
    meta_step(algo, optimizer, [make_task(seed=5, classes=(11, 4, 27, 3, 19))])
    assert algo.seen.nonzero().flatten().tolist() == [3, 4, 11, 19, 27]
    assert algo.big_head.weight.grad[[3, 4, 11, 19, 27]].abs().sum(1).min() > 0


def test_the_window_starts_on_the_quick_recipe_and_other_algorithms_keep_their_shape():
    config = app_defaults().validate()
    assert config.algo == QUICK_RECIPE["algo"] == "protohead"  # SimpleShot's training, adapted in steps
    assert (config.ways, config.shots, config.queries, config.meta_batch) == (32, 1, 1, 1)
    assert recommended_shape("simpleshot") == {"ways": 32, "shots": 1, "queries": 1, "meta_batch": 1}
    default = TrainConfig()
    assert recommended_shape("maml") == {"ways": default.ways, "shots": default.shots, "queries": default.queries,
                                          "meta_batch": default.meta_batch}
    assert default.algo == "protonet"  # the command line keeps DESIGN.md's default


def test_switching_algorithm_swaps_an_untouched_task_shape_only(qtbot):
    from engine.api import AlgorithmInfo
    from gui.algorithm_panel import AlgorithmPanel

    names = ["simpleshot", "maml", "protonet"]
    panel = AlgorithmPanel(app_defaults().to_dict(), [AlgorithmInfo(n, True) for n in names], ["conv4"], False,
                           shapes={n: recommended_shape(n) for n in names})
    qtbot.addWidget(panel)
    shape = lambda: tuple(panel.values()[k] for k in ("ways", "shots", "queries", "meta_batch"))  # noqa: E731
    assert panel.values()["algo"] == "simpleshot" and shape() == (32, 1, 1, 1)
    panel.algo_combo.setCurrentIndex(panel.algo_combo.findData("maml"))
    assert shape() == (5, 1, 15, 8)
    panel.algo_combo.setCurrentIndex(panel.algo_combo.findData("protonet"))
    assert shape() == (5, 1, 15, 8)
    panel.ways.setValue(10)  # the person's own choice survives a switch
    panel.algo_combo.setCurrentIndex(panel.algo_combo.findData("simpleshot"))
    assert shape() == (10, 1, 15, 8)
    panel.ways.setValue(5)
    panel.algo_combo.setCurrentIndex(panel.algo_combo.findData("maml"))
    panel.algo_combo.setCurrentIndex(panel.algo_combo.findData("simpleshot"))
    assert shape() == (32, 1, 1, 1)
