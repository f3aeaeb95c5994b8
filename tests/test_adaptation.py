"""engine.adaptation: adapting to a person's classes, step reports, leave-one-out, the embedding view."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.adaptation import (
    adapt_with_progress,
    as_model_input,
    embedding_projection,
    predict_probabilities,
    predict_query,
)
from engine.algorithms.base import StepStats
from engine.checkpoint import save_checkpoint
from engine.classset import ClassSet, load_classset, save_classset
from engine.cli import main as cli_main
from engine.config import TrainConfig
from engine.data.base import DataError
from engine.tasks import TaskSampler
from engine.trainer import build_model_and_algorithm, meta_train_steps

CPU = torch.device("cpu")


def _algo(name: str, **kw):
    return build_model_and_algorithm(TrainConfig(algo=name, device="cpu", **kw), CPU)


def _support(pool, classes, shots, offset=0):
    """uint8 images [len(classes) * shots, 28, 28] and labels from the pool's classes."""
    xs, ys = [], []
    for label, c in enumerate(classes):
        members = pool.members(c)[offset:offset + shots]
        xs.append(pool.images[members].numpy())
        ys += [label] * len(members)
    return np.concatenate(xs), np.array(ys)


def test_maml_reports_every_step_and_fits_the_support(small_glyph_pool):
    algo = _algo("maml")
    classes = small_glyph_pool.split_classes("test")[:5]
    x, y = _support(small_glyph_pool, classes, 3)
    steps: list[StepStats] = []
    adapt_with_progress(algo, x, y, steps=6, inner_lr=0.4, on_step=steps.append)
    assert [s.step for s in steps] == list(range(7))
    assert all(s.loo_accuracy is None for s in steps[:-1])
    assert 0.0 <= steps[-1].loo_accuracy <= 1.0  # K = 3: leave-one-out on the final step
    assert steps[-1].loss < steps[0].loss * 0.7  # the inner steps fit the support set
    assert steps[-1].accuracy > 0.5


def test_one_shot_has_no_leave_one_out_and_protonet_reports_step_zero(small_glyph_pool):
    classes = small_glyph_pool.split_classes("test")[:4]
    x, y = _support(small_glyph_pool, classes, 1)
    seen: list[StepStats] = []
    learner = adapt_with_progress(_algo("protonet"), x, y, steps=5, on_step=seen.append)
    assert [(s.step, s.loo_accuracy) for s in seen] == [(0, None)]
    probs = predict_probabilities(learner, x[0])
    assert probs.shape == (1, 4) and probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_empty_class_is_refused(small_glyph_pool):
    x, y = _support(small_glyph_pool, small_glyph_pool.split_classes("test")[:3], 2)
    with pytest.raises(DataError, match="class 2 has no examples"):
        adapt_with_progress(_algo("protonet"), x[y != 1], np.where(y[y != 1] == 2, 2, 0))


@pytest.mark.parametrize("name", ["protonet", "maml"])
def test_embedding_projection_is_consistent(small_glyph_pool, name):
    classes = small_glyph_pool.split_classes("test")[:4]
    x, y = _support(small_glyph_pool, classes, 3)
    learner = adapt_with_progress(_algo(name), x, y, steps=2, leave_one_out=False)
    view = embedding_projection(learner, x, y, x[:1])
    assert view["support"].shape == (12, 2) and view["prototypes"].shape == (4, 2) and view["query"].shape == (1, 2)
    for c in range(4):  # PCA is linear: a prototype projects onto the mean of its class's points
        np.testing.assert_allclose(view["prototypes"][c], view["support"][y == c].mean(0), atol=1e-4)
    np.testing.assert_allclose(view["query"][0], view["support"][0], atol=1e-4)  # same image, same point
    assert 0.0 < view["explained"].sum() <= 1.0 + 1e-6
    again = predict_query(learner, x, y, x[0])
    np.testing.assert_allclose(again["support"], view["support"], atol=1e-5)  # axes do not move with the query
    assert again["probabilities"].shape == (4,)


@pytest.mark.parametrize("name", ["protonet", "maml", "anil", "moe", "finetune", "blackbox"])
def test_a_query_on_the_adapt_time_view_takes_one_forward_and_lands_where_it_should(small_glyph_pool, name):
    classes = small_glyph_pool.split_classes("test")[:4]
    x, y = _support(small_glyph_pool, classes, 3)
    learner = adapt_with_progress(_algo(name), x, y, steps=2, leave_one_out=False)
    view = embedding_projection(learner, x, y)
    query = small_glyph_pool.images[small_glyph_pool.members(classes[2])[5]].numpy()
    fast = predict_query(learner, x, y, query, view)
    np.testing.assert_allclose(fast["probabilities"], predict_probabilities(learner, query)[0], atol=1e-5)
    expected = (learner.embed(as_model_input(query)).flatten(1).numpy() - view["mean"]) @ view["basis"]
    np.testing.assert_allclose(fast["query"], expected, atol=1e-4)
    assert fast["support"] is view["support"]  # the support points are reused, not recomputed


def _meta_train_protonet(pool, iterations=20):
    algo = _algo("protonet", ways=5, shots=5, queries=5)
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(algo.outer_parameters(), lr=0.003)
    sampler = TaskSampler(pool, "train", 5, 5, 5, seed=0)
    for _ in meta_train_steps(algo, optimizer, (sampler.batch(i, 2) for i in range(iterations))):
        pass
    return algo


@pytest.mark.slow
def test_adapting_to_held_out_glyph_classes_classifies_their_other_examples(small_glyph_pool, tmp_path):
    pool = small_glyph_pool
    algo = _meta_train_protonet(pool)
    classes = pool.split_classes("test")[:5]  # never seen in meta-training
    x, y = _support(pool, classes, 5)
    save_classset(tmp_path / "set", ClassSet([f"c{i}" for i in range(5)], [list(x[y == i]) for i in range(5)]))
    cs = load_classset(tmp_path / "set")  # through the saved form, as the workspace does
    sx, sy = cs.tensors()
    steps: list[StepStats] = []
    learner = adapt_with_progress(algo, sx.numpy(), sy.numpy(), on_step=steps.append)
    qx, qy = _support(pool, classes, 15, offset=5)
    acc = float((predict_probabilities(learner, qx).argmax(1) == qy).mean())
    assert acc > 0.7, f"held-out accuracy {acc:.2f} (chance 0.20)"
    assert steps[-1].loo_accuracy > 0.5


def test_eval_cli_runs_on_a_saved_class_set(small_glyph_pool, tmp_path, capsys):
    x, y = _support(small_glyph_pool, small_glyph_pool.split_classes("test")[:3], 4)
    save_classset(tmp_path / "set", ClassSet(["a", "b", "c"], [list(x[y == i]) for i in range(3)]))
    algo = _algo("protonet", ways=3)
    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, config=TrainConfig(algo="protonet", ways=3).to_dict(), model_state=algo.model.state_dict())
    argv = ["eval", "--checkpoint", str(ckpt), "--dataset", "classset", "--data-root", str(tmp_path / "set"),
            "--ways", "3", "--shots", "2", "--queries", "2", "--episodes", "4", "--device", "cpu", "--json"]
    assert cli_main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 4 and 0.0 <= result["accuracy"] <= 1.0
    assert cli_main(argv[:-3] + ["--queries", "3", "--json"]) == 2  # 4 examples < 2 shots + 3 queries


def test_the_embedding_view_reuses_the_adapt_pass_and_matches_a_fresh_one(small_glyph_pool):
    classes = small_glyph_pool.split_classes("test")[:4]
    x, y = _support(small_glyph_pool, classes, 3)
    learner = adapt_with_progress(_algo("protonet"), x, y, on_step=lambda s: None, leave_one_out=False)
    assert learner.support_embedding is not None  # kept from the step-0 report
    reused = embedding_projection(learner, x, y)
    learner.support_embedding = None
    fresh = embedding_projection(learner, x, y)
    for key in ("support", "prototypes", "mean", "basis"):
        np.testing.assert_allclose(reused[key], fresh[key], atol=1e-4)
    other = x[::-1].copy()  # another support set of the same size is embedded afresh, not mistaken for it
    learner.support_embedding = torch.zeros(12, 64)
    assert not np.allclose(embedding_projection(learner, other, y)["support"], 0.0)
