"""The live plots: axes that move in 1-2-5 steps, not with every iteration, and readable legends (gui.metrics_plot)."""

from __future__ import annotations

import pytest

from gui.metrics_plot import MetricsPlot, nice_ceiling


@pytest.mark.parametrize(
    "value, ceiling", [(0.2, 1), (1, 1), (1.5, 2), (2, 2), (2.1, 5), (7, 10), (11, 20), (480, 500), (501, 1000)]
)
def test_nice_ceiling(value, ceiling):
    assert nice_ceiling(value) == ceiling


def x_range(plot: MetricsPlot) -> tuple[float, float]:
    return tuple(plot.loss_plot.getViewBox().viewRange()[0])


def test_the_x_axis_stays_put_until_the_data_outgrows_its_step(qtbot):
    plot = MetricsPlot()
    qtbot.addWidget(plot)
    plot.begin_run("run")
    ranges = []
    for i in range(1, 121):
        plot.add_iteration(i, 2.0 - i / 100, 0.5)
        plot.redraw_now()
        plot.loss_plot.getViewBox().updateAutoRange()
        ranges.append(x_range(plot))
    assert len(set(ranges[21:48])) == 1  # iterations 22..48 share the range up to 50
    # 1, 2, 5, 10, 20, 50, 100, 200 (plus a pixel of padding when the data touches a step): not 120 changes
    assert len(set(ranges)) <= 16
    assert ranges[-1][1] >= 120 and ranges[-1][1] <= 200 * 1.1  # the whole run is in view, with padding


def test_the_legends_have_a_background_so_a_curve_under_them_leaves_them_readable(qtbot):
    plot = MetricsPlot()
    qtbot.addWidget(plot)
    plot.begin_run("run")
    for legend in (plot.loss_legend, plot.acc_legend):
        color = legend.brush().color()
        assert (color.red(), color.green(), color.blue()) == (255, 255, 255) and color.alpha() >= 200
