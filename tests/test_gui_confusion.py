"""Per-class insight in the window: the confusion view, the New classes tab's check and export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.config import TrainConfig
from engine.confusion import KEEP_PER_CELL, Confusion
from engine.trainer import build_model_and_algorithm
from gui.confusion_view import MAX_CLASSES_SHOWN, ConfusionView
from gui.workspace import NewClassesWorkspace

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample_classes"


def confusion_of(counts: np.ndarray, names: list[str] | None = None) -> Confusion:
    """A confusion whose cell (i, j) keeps images filled with the value (10 * i + j) % 256 (to tell them apart)."""
    n = len(counts)
    images = {
        (i, j): [np.full((28, 28), (10 * i + j) % 256, np.uint8)] * min(int(counts[i, j]), KEEP_PER_CELL)
        for i in range(n)
        for j in range(n)
        if counts[i, j]
    }
    return Confusion(names or [f"c{i}" for i in range(n)], counts, images, "test")


def test_the_view_shows_counts_accuracy_and_the_images_of_a_cell(qtbot):
    view = ConfusionView()
    qtbot.addWidget(view)
    counts = np.array([[8, 2, 0], [0, 5, 5], [1, 0, 9]])
    view.set_confusion(confusion_of(counts, ["alpha", "beta", "gamma"]))
    assert view.table.rowCount() == 3 and view.table.columnCount() == 4
    assert [view.table.item(i, 3).text() for i in range(3)] == ["80%", "50%", "90%"]
    assert view.table.item(1, 2).text() == "5" and view.table.item(0, 2).text() == "·"
    # the most confused cell (beta taken for gamma) is open from the start
    assert view.shown_images() == 5 and "beta → gamma" in view.cell_caption.text()
    with qtbot.waitSignal(view.cellChosen) as chosen:
        view.table.cellClicked.emit(0, 1)
    assert chosen.args == [0, 1] and view.shown_images() == 2 and "alpha → gamma" not in view.cell_caption.text()
    view.show_cell(2, 3)  # the accuracy column: every miss of the row
    assert view.shown_images() == 1 and "gamma" in view.cell_caption.text()
    big = np.diag(np.full(40, 12))
    big[np.arange(40), (np.arange(40) + 1) % 40] = np.arange(40)  # class i misses i times
    view.set_confusion(confusion_of(big))
    assert view.table.rowCount() == MAX_CLASSES_SHOWN
    assert "c39" in [view.table.verticalHeaderItem(i).text() for i in range(MAX_CLASSES_SHOWN)]
    assert "c0" not in [view.table.verticalHeaderItem(i).text() for i in range(MAX_CLASSES_SHOWN)]
    view.set_confusion(None)
    assert view.table.rowCount() == 0 and view.shown_images() == 0


@pytest.fixture
def workspace(qtbot):
    algo = build_model_and_algorithm(TrainConfig(algo="protonet", device="cpu"), torch.device("cpu"))
    ws = NewClassesWorkspace(lambda: algo)
    qtbot.addWidget(ws)
    ws.load_folder(str(SAMPLE))
    qtbot.waitUntil(lambda: ws.board.shots() == [5] * 5, timeout=10_000)
    yield ws
    ws.wait_for_workers()


def test_per_class_check_and_export_from_the_new_classes_tab(workspace, qtbot, tmp_path):
    ws = workspace
    panel = ws.insight
    panel.check()
    qtbot.waitUntil(lambda: panel.view.confusion is not None, timeout=60_000)
    confusion = panel.view.confusion
    assert confusion.class_names == ["alpha", "beta", "gamma", "delta", "omega"]
    assert confusion.counts.sum() == 25  # every example held out once
    assert panel.check_button.isEnabled()

    panel.export(str(tmp_path / "mine.pt2"))  # before Adapt: refused in place
    assert "Adapt first" in ws.status.text() and not (tmp_path / "mine.pt2").exists()
    with qtbot.waitSignal(ws.leaveOneOut, timeout=60_000):
        ws.adapt()
    panel.export(str(tmp_path / "mine"))
    qtbot.waitUntil(lambda: panel.last_export is not None, timeout=60_000)
    assert panel.last_export.path.endswith("mine.pt2") and "exported 5 classes" in ws.status.text()
    from engine.export import load_classifier

    loaded = load_classifier(panel.last_export.path)
    assert loaded.class_names == confusion.class_names
    images, _ = ws.board.support()
    from engine.adaptation import predict_probabilities

    np.testing.assert_allclose(
        loaded.probabilities(torch.from_numpy(images[:1])).numpy(),
        predict_probabilities(ws._learner, images[:1]),
        atol=1e-5,
    )
    ok, why = __import__("engine.api_export", fromlist=["onnx_status"]).onnx_status()
    assert panel.onnx.isEnabled() == ok and panel.onnx.toolTip() == why


def test_compare_tab_keeps_one_confusion_per_algorithm(qtbot):
    from engine.api_export import AlgoConfusion
    from gui.compare_controller import CompareState
    from gui.compare_insight import CompareInsightPanel

    state = CompareState(["protonet", "maml"])
    panel = CompareInsightPanel()
    qtbot.addWidget(panel)
    assert panel.isHidden()
    first = confusion_of(np.array([[3, 1], [0, 4]]), ["a", "b"])
    second = confusion_of(np.array([[1, 3], [2, 2]]), ["a", "b"])
    for algo, confusion in (("protonet", first), ("maml", second)):
        item = AlgoConfusion(algo, confusion)
        assert state.add(item) == "confusion"
        panel.add(item.algo, item.confusion)
    assert state.confusions == {"protonet": first, "maml": second}
    assert not panel.isHidden() and panel.view.confusion is second
    panel.chooser.setCurrentText("protonet")
    assert panel.view.confusion is first and panel.view.table.item(0, 2).text() == "75%"
    panel.clear()
    assert panel.isHidden() and panel.chooser.count() == 0


def test_file_menu_export_goes_to_the_new_classes_tab(qtbot, make_window):
    window = make_window()
    action = window.export_classifier_action
    assert action in window.menuBar().actions()[0].menu().actions()
    action.trigger()  # nothing adapted yet: the tab comes to the front and says what to do, no dialog
    assert window.tabs.currentWidget() is window.workspace
    assert "Adapt first" in window.workspace.status.text()
