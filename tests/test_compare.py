"""Compare mode: same seed, same data, same fixed test episodes for every
algorithm; events tagged by algorithm; table, CSV and JSON from the CLI."""

from __future__ import annotations

import csv
import json

import pytest
import torch

import engine.compare as cmp
from engine.cli import main
from engine.compare import AlgoEvent, CompareResults, Evaluated, compare, configs_for
from engine.config import TrainConfig
from engine.data.base import DataError
from engine.events import Finished, IterationMetrics, Started
from engine.tasks import TaskSampler
from engine.trainer import RunControl

BASE = TrainConfig(device="cpu", queries=2, meta_batch=1, iterations=2, val_every=0, seed=3)


@pytest.fixture
def recorded_evaluations(monkeypatch):
    """Record the task list each algorithm is evaluated on (the real evaluation still runs)."""
    calls: list[tuple[str, list]] = []
    real = cmp.evaluate

    def spy(algo, tasks, device, should_stop=None):
        calls.append((algo.name, tasks))
        return real(algo, tasks, device, should_stop=should_stop)

    monkeypatch.setattr(cmp, "evaluate", spy)
    return calls


def test_compare_trains_each_algorithm_and_scores_all_on_the_same_test_episodes(small_glyph_pool, recorded_evaluations):
    items = list(compare(configs_for(BASE, ["protonet", "moe"]), test_episodes=4, pool=small_glyph_pool))
    tagged = [i for i in items if isinstance(i, AlgoEvent)]
    assert [type(i.event) for i in tagged if i.algo == "protonet"] == [
        Started,
        IterationMetrics,
        IterationMetrics,
        Finished,
    ]
    assert [i.algo for i in tagged] == ["protonet"] * 4 + ["moe"] * 4
    started = [i.event for i in tagged if isinstance(i.event, Started)]
    assert [s.config["algo"] for s in started] == ["protonet", "moe"]
    assert {s.config["seed"] for s in started} == {3}
    assert [e.algo for e in items if isinstance(e, Evaluated)] == ["protonet", "moe"]

    (first_algo, first), (second_algo, second) = recorded_evaluations
    assert (first_algo, second_algo) == ("protonet", "moe")
    assert first is second  # literally the same episodes
    expected = TaskSampler(small_glyph_pool, "test", 5, 1, 2, seed=3 + 1000).fixed(4)
    assert [t.classes for t in first] == [t.classes for t in expected]
    assert all(torch.equal(a.query_x, b.query_x) for a, b in zip(first, expected))

    results = items[-1]
    assert isinstance(results, CompareResults) and results.complete and results.episodes == 4
    assert [r.algo for r in results.rows] == ["protonet", "moe"]
    for row, evaluated in zip(results.rows, [e for e in items if isinstance(e, Evaluated)]):
        assert row.accuracy == evaluated.accuracy and 0.0 <= row.accuracy <= 1.0
        assert row.iterations == 2 and row.seconds > 0


def test_compare_stops_between_tasks_and_reports_what_it_has(small_glyph_pool):
    control = RunControl()
    items = []
    for item in compare(
        configs_for(BASE.replace(iterations=50), ["protonet", "moe"]),
        test_episodes=2,
        pool=small_glyph_pool,
        control=control,
    ):
        items.append(item)
        if isinstance(item, AlgoEvent) and isinstance(item.event, IterationMetrics):
            control.stop()
    results = items[-1]
    assert isinstance(results, CompareResults) and not results.complete and results.rows == ()
    assert {i.algo for i in items if isinstance(i, AlgoEvent)} == {"protonet"}
    assert [i.event.reason for i in items if isinstance(i, AlgoEvent) and isinstance(i.event, Finished)] == ["stopped"]


def test_bad_comparisons_are_refused_with_the_fix():
    with pytest.raises(DataError, match="unknown algorithm 'mamal'"):
        configs_for(BASE, ["maml", "mamal"])
    with pytest.raises(DataError, match="twice"):
        configs_for(BASE, ["maml", "maml"])
    with pytest.raises(DataError, match="must share ways"):
        next(compare([BASE, BASE.replace(algo="maml", ways=10)]))


def test_cli_compare_prints_a_table_writes_csv_and_ends_with_json(small_glyph_pool, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cmp, "load_source", lambda *a, **k: small_glyph_pool)
    out_csv = tmp_path / "results.csv"
    rc = main(
        [
            "compare",
            "--algos",
            "protonet,moe",
            "--iterations",
            "2",
            "--meta-batch",
            "1",
            "--queries",
            "2",
            "--val-every",
            "0",
            "--test-episodes",
            "3",
            "--device",
            "cpu",
            "--csv",
            str(out_csv),
            "--json",
        ]
    )
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["algorithm", "accuracy"]
    assert lines[1].startswith("protonet") and lines[2].startswith("moe")
    payload = json.loads(lines[-1])
    assert [r["algo"] for r in payload["results"]] == ["protonet", "moe"]
    for r in payload["results"]:
        assert {"algo", "accuracy", "ci95", "seconds", "tasks_per_second"} <= set(r)
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["algo"] for r in rows] == ["protonet", "moe"]
    assert [float(r["accuracy"]) for r in rows] == [r["accuracy"] for r in payload["results"]]


def test_cli_compare_bad_algorithm_exits_2_with_one_line(capsys):
    rc = main(["compare", "--algos", "maml,nope", "--iterations", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unknown algorithm 'nope'" in err[0]


def test_each_algorithm_is_scored_on_the_test_episodes_drawn_as_it_was_trained(
        small_glyph_pool, recorded_evaluations, tmp_path):
    """The window hands compare its pool (Omniglot decoded at 28x28, unframed); a config that frames drawings is
    trained on them framed, so it is scored on the same episodes framed as it reads them: SimpleShot both ways,
    ProtoNet (which does not read two framings) by the box alone. Same classes, same drawings."""
    from test_lake import minimal_set

    from engine.api_export import compare_insight
    from engine.data import load_source
    from engine.framing import BothFramings

    root = minimal_set(small_glyph_pool, tmp_path / "data")
    window_pool = load_source("omniglot", root)
    base = BASE.replace(dataset="omniglot", data_root=str(root), ways=3, frame_ink=True, frame_stretch=2.0,
                        frame_both=True)
    configs = configs_for(base, ["protonet", "simpleshot"])
    items = list(compare(configs, test_episodes=3, pool=window_pool, checkpoint_dir=tmp_path / "ckpt"))
    assert items[-1].complete

    (_, box_tasks), (_, both_tasks) = recorded_evaluations
    plain = TaskSampler(window_pool, "test", 3, 1, 2, seed=3 + 1000).fixed(3)
    for tasks, frame in ((box_tasks, 2.0), (both_tasks, BothFramings(2.0))):
        expected = TaskSampler(load_source("omniglot", root, frame=frame), "test", 3, 1, 2, seed=3 + 1000).fixed(3)
        assert [t.classes for t in tasks] == [t.classes for t in expected] == [t.classes for t in plain]
        assert all(torch.equal(a.query_x, b.query_x) for a, b in zip(tasks, expected))
    assert box_tasks[0].query_x.shape[1:] == (1, 28, 28) and both_tasks[0].query_x.shape[1:] == (2, 28, 28)

    # the per-class view of the table reads the same episodes as the table did
    for cfg, evaluated in zip(configs, [i for i in items if isinstance(i, Evaluated)]):
        insight = compare_insight(str(tmp_path / "ckpt" / f"{cfg.algo}.pt"), cfg, window_pool, 3)
        assert insight.confusion.accuracy == pytest.approx(evaluated.accuracy)
