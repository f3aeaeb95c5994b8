"""Adaptation you can watch, engine side: each step's embedding view, query probabilities, leave-one-out
curve and cancellation, through the facade (engine.api.adapt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import api
from engine.config import TrainConfig

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample_classes"


@pytest.fixture(scope="module")
def support():
    """The shipped sample class set: 5 classes x 5 drawings, uint8 [25, 28, 28]."""
    _, examples, _ = api.read_class_folder(str(SAMPLE))
    return np.stack([x for e in examples for x in e]), np.array([c for c, e in enumerate(examples) for _ in e])


def _adapt(name, support, steps=4, lr=0.4, query=None, control=None):
    images, labels = support
    model = api.new_model(TrainConfig(algo=name, device="cpu"))
    seen, ready = [], []
    loo = api.adapt(model, images, labels, steps, lr, seen.append, ready.append, query=query, control=control)
    return seen, ready, loo


def test_a_head_only_model_keeps_its_points_and_moves_its_class_weights(support):
    steps, ready, loo = _adapt("protohead", support, steps=5, lr=0.05)
    assert [s.step for s in steps] == list(range(6))
    first, last = steps[0].view, steps[-1].view
    # step 0 of Proto-head is the nearest-mean classifier: each class's weights sit on its class mean
    np.testing.assert_allclose(first["weights"], first["prototypes"], atol=1e-4)
    for s in steps:  # one set of axes for the whole Adapt, frozen features: the points never move
        np.testing.assert_array_equal(s.view["basis"], first["basis"])
        np.testing.assert_allclose(s.view["support"], first["support"], atol=1e-5)
    assert np.abs(last["weights"] - first["weights"]).max() > 1e-3  # ...and the class weights do
    # the window's final picture is the last step's, on the same axes
    np.testing.assert_allclose(ready[0].view["support"], last["support"])
    np.testing.assert_array_equal(ready[0].view["basis"], first["basis"])


def test_a_model_that_adapts_its_features_moves_its_points(support):
    steps, ready, _ = _adapt("maml", support, steps=3)
    assert [s.step for s in steps] == [0, 1, 2, 3]
    assert all("weights" not in s.view for s in steps)
    for s in steps:
        np.testing.assert_array_equal(s.view["basis"], steps[0].view["basis"])
    assert np.abs(steps[-1].view["support"] - steps[0].view["support"]).max() > 1e-3
    assert ready[0].last_step == 3


@pytest.mark.parametrize("name", ["protohead", "maml"])
def test_each_step_scores_the_query_as_that_steps_model_would(support, name):
    images, labels = support
    steps, ready, _ = _adapt(name, support, steps=3, lr=0.05 if name == "protohead" else 0.4, query=images[7])
    for s in steps:  # the step's own model, asked later, gives what was streamed
        again = api.predict(s.learner, images, labels, images[7], s.view)
        np.testing.assert_allclose(again.probabilities, s.probabilities, atol=1e-5)
        np.testing.assert_allclose(again.view["query"], s.view["query"], atol=1e-4)
    final = api.predict(ready[0].learner, images, labels, images[7], ready[0].view)
    np.testing.assert_allclose(final.probabilities, steps[-1].probabilities, atol=1e-5)
    assert not np.allclose(steps[0].probabilities, steps[-1].probabilities)


def test_leave_one_out_is_scored_at_every_step(support):
    from engine.adaptation import as_model_input, leave_one_out_accuracy

    _, _, loo = _adapt("maml", support, steps=3)
    assert loo.per_step.shape == (4,) and np.all((loo.per_step >= 0) & (loo.per_step <= 1))
    assert loo.accuracy == loo.per_step[-1] and not loo.cancelled
    model = api.new_model(TrainConfig(algo="maml", device="cpu"))  # the same seed: the same weights
    images, labels = support
    import torch

    again = leave_one_out_accuracy(model.handle, as_model_input(images), torch.as_tensor(labels), 3, 0.4)
    assert again == pytest.approx(loo.accuracy)
    _, _, one_pass = _adapt("protonet", support)
    assert one_pass.per_step.shape == (1,)


def test_stopping_an_adapt_ends_it_at_the_next_step(support):
    control = api.RunControl()
    images, labels = support
    seen, ready = [], []

    def on_step(step):
        seen.append(step.step)
        if step.step == 2:
            control.stop()  # what a newer Adapt does

    model = api.new_model(TrainConfig(algo="maml", device="cpu"))
    loo = api.adapt(model, images, labels, 50, 0.4, on_step, ready.append, control=control)
    assert loo.cancelled and loo.accuracy is None
    assert seen == [0, 1, 2] and not ready
