"""The adaptation animation's clock and the chart's runs: a short Adapt is not slowed by painting.

While the worker computes, the player shows frames only at the busy pace (the first
one that long after the Adapt began) and the workspace holds its views' painting; once
the Adapt is ready the steps play from the first at full pace. The chart reuses the
plot items of its oldest run, in the same colour, and fades runs by opacity.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.config import TrainConfig
from engine.trainer import build_model_and_algorithm
from gui.workspace import NewClassesWorkspace
from gui.workspace.charts import MAX_RUNS, RUN_COLOURS, AdaptationChart
from gui.workspace.player import StepPlayer

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample_classes"


def test_no_frame_while_computing_until_the_busy_pace_then_all_in_order(qtbot):
    player = StepPlayer(frame_ms=5, busy_frame_ms=60_000)
    shown: list[int] = []
    player.frameShown.connect(shown.append)
    player.reset()
    for step in range(4):
        player.arrived(step)
    assert shown == [] and player.playing  # steps arrived, but the first frame is not due yet
    with qtbot.waitSignal(player.finished, timeout=5_000):
        player.finish()
    assert shown == [0, 1, 2, 3]


def test_a_long_adapt_shows_progress_at_the_busy_pace(qtbot):
    player = StepPlayer(frame_ms=5, busy_frame_ms=30)
    shown: list[int] = []
    player.frameShown.connect(shown.append)
    player.reset()
    player.arrived(0)
    qtbot.waitUntil(lambda: shown == [0], timeout=5_000)  # due after the busy interval, while computing
    player.arrived(1)
    player.arrived(2)
    qtbot.waitUntil(lambda: shown == [0, 1], timeout=5_000)
    assert player.playing and not player.complete  # still waiting for the worker
    with qtbot.waitSignal(player.finished, timeout=5_000):
        player.finish()
    assert shown == [0, 1, 2]


def test_a_person_scrubbing_keeps_their_step_when_the_adapt_finishes(qtbot):
    player = StepPlayer(frame_ms=5, busy_frame_ms=60_000)
    shown: list[int] = []
    player.frameShown.connect(shown.append)
    player.reset()
    for step in range(3):
        player.arrived(step)
    player.show(1)
    player.finish()
    assert shown == [1] and not player.playing and player.shown == 1


def test_views_are_held_while_a_short_adapt_computes(qtbot):
    algo = build_model_and_algorithm(TrainConfig(algo="protonet", device="cpu"), torch.device("cpu"))
    ws = NewClassesWorkspace(lambda: algo)
    qtbot.addWidget(ws)
    ws.load_folder(str(SAMPLE))
    qtbot.waitUntil(lambda: ws.board.shots() == [5] * 5, timeout=10_000)
    views = (ws.chart, ws.embedding, ws.bars)
    held: list[bool] = []
    ws.adapted.connect(lambda _r: held.append(all(v.updatesEnabled() for v in views)))
    with qtbot.waitSignal(ws.adapted, timeout=60_000):
        ws.adapt()
        assert not any(v.updatesEnabled() for v in views)  # held from the click...
    assert held == [True]  # ...and painting again once the Adapt is ready
    with qtbot.waitSignal(ws.leaveOneOut, timeout=60_000):
        pass
    ws.wait_for_workers()


def test_the_chart_reuses_its_oldest_runs_items_in_the_same_colour(qtbot):
    chart = AdaptationChart()
    qtbot.addWidget(chart)
    runs = [chart.start_run(f"run {i}", 3) for i in range(MAX_RUNS)]
    for run in runs:
        chart.add_step(0, 1.0, 0.5, None, run)
    first_items = list(runs[0].items)
    assert all(item.opacity() < 1 for run in runs[:-1] for item in run.items)  # earlier runs are faded
    assert all(item.opacity() == 1 for item in runs[-1].items)
    newest = chart.start_run("again", 3)
    assert newest.items == first_items and newest.colour == runs[0].colour == RUN_COLOURS[0]
    assert len(chart.runs) == MAX_RUNS and runs[0] not in chart.runs
    assert all(item.opacity() == 1 for item in newest.items)  # the reused items are drawn in full
    assert all(len(item.getData()[0] if item.getData()[0] is not None else []) == 0 for item in newest.items)
    assert max(item.zValue() for r in chart.runs[:-1] for item in r.items) < newest.items[0].zValue()
