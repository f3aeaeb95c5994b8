"""The seed article's API works as the article writes it."""

from __future__ import annotations

import math

import pytest
import torch

SNIPPET = """
from engine import MetaLearner, ConvNet, EpisodeLoader
dataset_loader = EpisodeLoader("synthetic", ways=5, shots=1, queries=5, episodes_per_epoch=20)
meta_learner = MetaLearner(ConvNet(), learning_rate=0.001, epochs=5)
history = meta_learner.train(dataset_loader)
"""


def test_convnet_is_the_articles_network():
    from engine import ConvNet

    net = ConvNet()
    shapes = [tuple(p.shape) for p in net.parameters()]
    assert shapes == [(10, 1, 5, 5), (10,), (20, 10, 5, 5), (20,), (50, 320), (50,), (10, 50), (10,)]
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert net.features(torch.zeros(3, 1, 28, 28)).shape == (3, 50)


@pytest.mark.slow
def test_article_snippet_verbatim():
    scope: dict = {}
    exec(compile(SNIPPET, "<seed article>", "exec"), scope)  # noqa: S102 - the snippet is the test
    history, learner = scope["history"], scope["meta_learner"]
    assert isinstance(history, list) and len(history) == 5 * 20
    assert [h["iteration"] for h in history] == list(range(1, 101))
    assert [h["epoch"] for h in history] == [e for e in range(1, 6) for _ in range(20)]
    assert all(math.isfinite(h["loss"]) and 0.0 <= h["accuracy"] <= 1.0 for h in history)
    assert learner.model.head.out_features == 5  # ConvNet's 10-way head resized to the loader's 5 ways
    assert learner.algorithm.name == "maml"
    # it trained: later epochs fit their query sets better than the first iterations
    first = sum(h["loss"] for h in history[:20]) / 20
    last = sum(h["loss"] for h in history[-20:]) / 20
    assert last < first


def test_other_algorithm_by_keyword_and_adapt():
    from engine import ConvNet, EpisodeLoader, MetaLearner

    loader = EpisodeLoader("synthetic", ways=3, shots=2, queries=2, episodes_per_epoch=3, meta_batch=2)
    learner = MetaLearner(ConvNet(), learning_rate=0.001, epochs=1, algorithm="protonet")
    with pytest.raises(RuntimeError, match="train"):
        learner.adapt(torch.zeros(3, 1, 28, 28), torch.arange(3))
    before = [p.detach().clone() for p in learner.model.features.parameters()]
    history = learner.train(loader)
    assert len(history) == 3 and learner.algorithm.name == "protonet"
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.model.features.parameters()))
    task = loader.sampler.episode(99)
    probs = learner.adapt(task.support_x, task.support_y).predict(task.query_x)
    assert probs.shape == (6, 3)
    torch.testing.assert_close(probs.sum(1), torch.ones(6))
