"""A learner forwards its support set once for all the window's predictions (engine.models.reuse_support_passes),
with exactly the probabilities of scoring each query with the support set afresh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import api
from engine.adaptation import as_model_input, predict_query
from engine.config import TrainConfig
from engine.models import TaskBatchNorm2d, reuse_support_passes, scoring_protocol, with_support
from engine.trainer import build_model_and_algorithm


def _adapted(name: str, tta: int = 0, local_match: bool = False):
    rng = np.random.default_rng(0)
    images = (rng.random((10, 28, 28)) * 255).astype(np.uint8)
    labels = np.repeat(np.arange(5), 2)
    config = TrainConfig(algo=name, device="cpu", tta=tta, local_match=local_match)
    algo = build_model_and_algorithm(config, torch.device("cpu"))
    got = {}
    api.adapt(api.as_model(algo), images, labels, 2, 0.01, lambda s: None, lambda r: got.setdefault("r", r))
    return got["r"], images, labels, (rng.random((4, 28, 28)) * 255).astype(np.uint8)


@pytest.mark.parametrize("name,tta,local", [("protonet", 0, False), ("protohead", 0, False), ("maml", 0, False),
                                            ("simpleshot", 2, False), ("protohead", 2, True)])
def test_predictions_after_adapt_forward_only_the_query_with_the_same_probabilities(name, tta, local, monkeypatch):
    result, images, labels, queries = _adapted(name, tta, local)
    learner = result.learner
    batch_sizes: list[int] = []
    forward = TaskBatchNorm2d.forward

    def counting(self, x):
        batch_sizes.append(x.shape[0])
        return forward(self, x)

    monkeypatch.setattr(TaskBatchNorm2d, "forward", counting)
    for query in queries:
        batch_sizes.clear()
        got = predict_query(learner, images, labels, query, result.view)["probabilities"]
        with torch.no_grad():  # afresh: the support set and the query in one batch, support statistics
            want = torch.softmax(learner.logits(as_model_input(query[None], torch.device("cpu"))), -1)[0].numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)
        seen = batch_sizes[: len(batch_sizes) // 2]  # (the second half is the afresh scoring)
        assert set(seen) == {1}  # Adapt forwarded the support set ahead: every query forwards only itself
        assert max(batch_sizes) == len(images) + 1  # (afresh, the support set comes along)


def test_nothing_is_kept_when_scoring_transductively():
    layer = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), TaskBatchNorm2d(2))
    support, query = torch.randn(6, 1, 8, 8), torch.randn(1, 1, 8, 8)
    cache: dict = {}
    with torch.no_grad(), reuse_support_passes(cache):
        with scoring_protocol("transductive"):
            with_support(layer, support, query)
        assert cache == {}
        first = with_support(layer, support, query)
        again = with_support(layer, support, query)
    assert len(cache) == 1
    torch.testing.assert_close(first, again)
