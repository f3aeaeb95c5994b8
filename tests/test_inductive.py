"""Inductive scoring: a query's prediction depends on the support set and itself alone.

Every algorithm's learner is asked for the same queries alone, all in one
batch, and shuffled; the probabilities must agree to 1e-5. The transductive
protocol (batch statistics over support and queries together) is the labelled
exception, and the test checks that it really does differ, so the invariance
above is not an accident of the model.
"""

from __future__ import annotations

import pytest
import torch

from engine.algorithms import ALGORITHMS, AlgoConfig
from engine.models import Conv4, scoring_protocol
from engine.tasks import TaskSampler


def _learner_and_queries(name: str, glyph_pool, shots: int = 2):
    torch.manual_seed(0)
    algo = ALGORITHMS[name](Conv4(ways=5, channels=16), AlgoConfig(ways=5, inner_steps=2, inner_lr=0.1))
    task = TaskSampler(glyph_pool, "test", 5, shots, 4, seed=3).fixed(1)[0]
    return algo.adapt(task.support_x, task.support_y), task.query_x


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_query_scores_the_same_alone_in_a_batch_and_shuffled(name, glyph_pool):
    learner, queries = _learner_and_queries(name, glyph_pool)
    batched = learner.predict(queries)
    alone = torch.cat([learner.predict(queries[i : i + 1]) for i in range(len(queries))])
    order = torch.randperm(len(queries), generator=torch.Generator().manual_seed(1))
    shuffled = torch.empty_like(batched)
    shuffled[order] = learner.predict(queries[order])
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=0)
    torch.testing.assert_close(shuffled, batched, atol=1e-5, rtol=0)
    # the view's path (scores and embedding in one pass) agrees with predict
    logits, _ = learner.logits_and_embedding(queries[:1])
    torch.testing.assert_close(torch.softmax(logits, -1), batched[:1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["protonet", "maml"])
def test_the_transductive_protocol_lets_queries_share_statistics(name, glyph_pool):
    learner, queries = _learner_and_queries(name, glyph_pool)
    with scoring_protocol("transductive"):
        batched = learner.predict(queries)
        alone = torch.cat([learner.predict(queries[i : i + 1]) for i in range(len(queries))])
    assert (batched - alone).abs().max() > 1e-4


def test_support_rows_are_normalised_as_the_support_set_alone(glyph_pool):
    """The support set's own statistics: the support rows come out as a support-only pass gives them."""
    from engine.models import with_support

    torch.manual_seed(0)
    model = Conv4(ways=5, channels=16)
    task = TaskSampler(glyph_pool, "test", 5, 1, 3, seed=4).fixed(1)[0]
    with torch.no_grad():
        joint = with_support(model.features, task.support_x, task.query_x)
        torch.testing.assert_close(joint[: len(task.support_x)], model.features(task.support_x), atol=1e-5, rtol=1e-5)


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="inductive or transductive"):
        with scoring_protocol("psychic"):
            pass
