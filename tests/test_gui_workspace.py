"""The New classes workspace: canvas -> model input, odd images, cards and undo, off-thread adapt/predict."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.config import TrainConfig
from engine.sketch import sketch_to_input
from engine.trainer import build_model_and_algorithm
from gui.workspace import NewClassesWorkspace

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample_classes"


@pytest.fixture
def workspace(qtbot):
    made = []

    def make(algo=None, **kw):
        ws = NewClassesWorkspace(lambda: algo, **kw)
        qtbot.addWidget(ws)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.wait_for_workers()


def _algo(name):
    return build_model_and_algorithm(TrainConfig(algo=name, device="cpu"), torch.device("cpu"))


def _mouse(widget, kind, x, y):
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
    pos = QPointF(x, y)
    event = QMouseEvent(
        kind, pos, widget.mapToGlobal(pos), Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)


def test_a_mouse_stroke_becomes_the_expected_model_input(workspace, qtbot):
    ws = workspace()
    canvas = ws.canvas
    with qtbot.waitSignal(canvas.strokeFinished) as blocker:
        _mouse(canvas, QEvent.Type.MouseButtonPress, 30, 60)
        for x in range(40, 260, 20):
            _mouse(canvas, QEvent.Type.MouseMove, x, 60)
        _mouse(canvas, QEvent.Type.MouseButtonRelease, 250, 60)
    raster = blocker.args[0]
    assert raster.shape == (280, 280) and raster[60, 140] == 255 and raster[200, 140] == 0
    seen = ws._query  # what the preview shows and the model gets
    assert np.array_equal(seen, sketch_to_input(raster))
    rows = np.flatnonzero(seen.max(1) > 25)
    assert seen.dtype == np.uint8 and seen.shape == (28, 28)
    assert len(rows) <= 5 and abs(rows.mean() - 13.5) <= 2  # a bright horizontal band in the middle
    assert seen[:, 4:24].max(0).min() > 100  # spanning the 22-pixel box
    assert ws.preview.pixmap() is not None and not ws.preview.pixmap().isNull()


def test_canvas_eraser_undo_and_clear(workspace):
    canvas = workspace().canvas
    canvas.draw_stroke([(40, 140), (240, 140)])
    drawn = canvas.raster()
    canvas.eraser = True
    canvas.draw_stroke([(140, 100), (140, 180)])
    assert canvas.raster()[140, 140] == 0 and canvas.raster()[140, 60] == 255
    canvas.undo()
    assert np.array_equal(canvas.raster(), drawn)
    canvas.clear()
    assert canvas.is_empty() and canvas.undo() and not canvas.is_empty()


def _odd_images(tmp: Path) -> list[Path]:
    """Dark strokes on light paper in awkward formats; each has ink in a central cross."""

    def cross(size, mode, ink, paper):
        img = Image.new(mode, (size, size), paper)
        d = ImageDraw.Draw(img)
        w = max(1, size // 10)
        d.line((size * 0.2, size / 2, size * 0.8, size / 2), fill=ink, width=w)
        d.line((size / 2, size * 0.2, size / 2, size * 0.8), fill=ink, width=w)
        return img

    paths = []
    rgba = Image.new("RGBA", (120, 90), (0, 0, 0, 0))  # transparent paper, opaque black ink
    ImageDraw.Draw(rgba).line((20, 45, 100, 45), fill=(0, 0, 0, 255), width=8)
    ImageDraw.Draw(rgba).line((60, 10, 60, 80), fill=(0, 0, 0, 255), width=8)
    paths.append(tmp / "rgba.png")
    rgba.save(paths[-1])
    paths.append(tmp / "deep.png")
    cross(64, "I;16", 500, 60000).save(paths[-1])
    paths.append(tmp / "palette.gif")
    cross(50, "RGB", (10, 10, 120), (250, 250, 240)).convert("P", palette=Image.Palette.ADAPTIVE).save(paths[-1])
    paths.append(tmp / "huge.png")
    cross(4000, "L", 0, 255).save(paths[-1])
    tiny = Image.new("L", (3, 3), 255)
    tiny.putpixel((1, 1), 0)
    paths.append(tmp / "tiny.bmp")
    tiny.save(paths[-1])
    paths.append(tmp / "colour.jpg")
    cross(200, "RGB", (200, 0, 0), (255, 255, 255)).save(paths[-1], quality=95)
    return paths


def test_odd_image_files_load_into_a_card(workspace, qtbot, tmp_path):
    ws = workspace()
    paths = _odd_images(tmp_path)
    for path, mode in ((paths[1], "I;16"), (paths[2], "P")):
        with Image.open(path) as img:
            assert img.mode == mode
    (tmp_path / "notes.png").write_bytes(b"not an image")
    ws._load_files_into(2, [str(p) for p in paths] + [str(tmp_path / "notes.png")])
    qtbot.waitUntil(lambda: ws.board.shots()[2] == len(paths), timeout=20_000)
    for image in ws.board.examples[2]:
        assert image.dtype == np.uint8 and image.shape == (28, 28)
        assert image[12:16, 12:16].max() > 120  # the strokes are bright...
        assert image[0].max() < 60 and image[:, 0].max() < 60  # ...on a dark background
    assert "notes.png" in ws.status.text()  # the bad file is named, the good ones kept
    assert len(ws.cards.cards[2].thumbs) == len(paths)


def test_cards_remove_clear_resize_and_undo(workspace, qtbot):
    ws = workspace()
    blank = np.zeros((28, 28), np.uint8)
    ws.canvas.draw_stroke([(40, 140), (240, 140)])
    ws.board.select(1)
    ws.add_drawing()
    assert ws.board.shots() == [0, 1, 0, 0, 0] and ws.canvas.is_empty()
    ws.board.add(1, [blank, blank + 1])
    ws.cards.cards[1].thumbs[0].click()  # click a thumbnail: that example goes
    assert ws.board.shots()[1] == 2 and ws.board.examples[1][0].max() == 0
    ws.board.clear(1)
    assert ws.board.shots()[1] == 0
    ws.class_count.setValue(3)
    assert ws.board.count == 3 and len(ws.cards.cards) == 3
    ws.show()
    qtbot.waitExposed(ws)
    ws.activateWindow()
    ws.cards.setFocus()
    qtbot.waitUntil(ws.cards.hasFocus, timeout=2000)
    qtbot.keyClick(ws.cards, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Z: back to 5 classes
    assert ws.board.count == 5 and ws.class_count.value() == 5
    ws.board.undo()  # the clear
    assert ws.board.shots()[1] == 2
    ws.board.undo()  # the removal
    assert ws.board.shots()[1] == 3 and ws.board.examples[1][0].max() == 255
    ws.cards.cards[0].name_edit.setText("circle")
    ws.cards.cards[0].name_edit.editingFinished.emit()
    assert ws.board.names[0] == "circle"


def test_without_a_model_the_workspace_offers_quick_training(workspace, qtbot):
    ws = workspace(None)
    ws.show()
    assert ws.quick_train_button.isVisible() and "No meta-trained model" in ws.banner.text()
    with qtbot.waitSignal(ws.failed, timeout=1000):
        ws.adapt_button.click()  # says so in place
    with qtbot.waitSignal(ws.quickTrainRequested, timeout=1000):
        ws.quick_train_button.click()
    with qtbot.waitSignal(ws.modelReady, timeout=1000):
        ws.set_model(_algo("protonet"), "test model")
    assert not ws.quick_train_button.isVisible() and "test model" in ws.banner.text()


def test_adapt_refuses_an_empty_class(workspace, qtbot):
    ws = workspace(_algo("protonet"))
    ws.board.add(0, [np.zeros((28, 28), np.uint8)])
    with qtbot.waitSignal(ws.failed, timeout=1000) as blocker:
        ws.adapt()
    assert "class 2" in blocker.args[0] and ws._learner is None


def test_adapt_and_predict_run_off_the_gui_thread_and_the_gui_stays_responsive(workspace, qtbot):
    ws = workspace(_algo("maml"))
    ws.load_folder(str(SAMPLE))
    qtbot.waitUntil(lambda: ws.board.shots() == [5] * 5, timeout=10_000)
    ws.steps.setValue(3)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    gui = threading.get_ident()
    with qtbot.waitSignal(ws.adapted, timeout=60_000) as ready:
        ws.adapt()
        assert ws._adapting and ws.adapt_button.isEnabled()  # adapt() returned at once; pressing again restarts
    timer.stop()
    assert ready.args[0].thread != gui
    assert ticks  # the event loop kept running while the worker adapted
    assert ws.chart.runs[-1].steps == [0, 1, 2, 3]  # every step streamed to the chart
    loo = []
    ws.leaveOneOut.connect(loo.append)
    with qtbot.waitSignal(ws.predicted, timeout=30_000) as blocker:  # test while leave-one-out still runs
        ws.canvas.draw_stroke([(60, 60), (220, 220)])
    result = blocker.args[0]
    assert result.thread != gui
    assert result.probabilities.shape == (5,) and result.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert ws.bars.top == int(result.probabilities.argmax())
    assert ws.embedding.view["query"].shape == (1, 2) and ws.embedding.view["prototypes"].shape == (5, 2)
    qtbot.waitUntil(lambda: bool(loo), timeout=60_000)
    assert 0.0 <= loo[0] <= 1.0 and ws.chart.runs[-1].loo == (3, loo[0]) and ws.adapt_button.isEnabled()
    ws.steps.setValue(1)
    with qtbot.waitSignal(ws.leaveOneOut, timeout=60_000):
        ws.adapt()
    assert len(ws.chart.runs) == 2  # the previous curves stay, faded, beside the new ones


def test_save_and_reopen_a_class_set_from_the_workspace(workspace, qtbot, tmp_path):
    ws = workspace()
    ws.load_folder(str(SAMPLE))
    qtbot.waitUntil(lambda: ws.board.shots() == [5] * 5, timeout=10_000)
    ws.board.rename(0, "my hook")
    ws.save_set(str(tmp_path / "mine"))
    qtbot.waitUntil(lambda: "saved" in ws.status.text(), timeout=10_000)
    other = workspace()
    other.load_folder(str(tmp_path / "mine"))
    qtbot.waitUntil(lambda: other.board.count == 5 and other.board.shots() == [5] * 5, timeout=10_000)
    assert other.board.names == ws.board.names
    for a, b in zip(ws.board.examples, other.board.examples):
        assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b))


def _tablet(widget, kind, x, y, pressure):
    from PySide6.QtGui import QPointingDevice, QTabletEvent

    pos = QPointF(x, y)
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.TabletRelease else Qt.MouseButton.LeftButton
    event = QTabletEvent(
        kind,
        QPointingDevice.primaryPointingDevice(),
        pos,
        widget.mapToGlobal(pos),
        pressure,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        Qt.KeyboardModifier.NoModifier,
        Qt.MouseButton.LeftButton,
        buttons,
    )
    QApplication.sendEvent(widget, event)


@pytest.mark.parametrize("pressure", [0.25, 1.0])
def test_tablet_pressure_sets_the_line_width(workspace, qtbot, pressure):
    canvas = workspace().canvas
    with qtbot.waitSignal(canvas.strokeFinished) as blocker:
        _tablet(canvas, QEvent.Type.TabletPress, 40, 140, pressure)
        _tablet(canvas, QEvent.Type.TabletMove, 240, 140, pressure)
        _tablet(canvas, QEvent.Type.TabletRelease, 240, 140, pressure)
    thickness = int((blocker.args[0][:, 140] > 127).sum())
    assert thickness == pytest.approx(canvas.brush * pressure, abs=2)


def test_dropping_files_on_a_card_adds_them_there(workspace, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPoint, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    ws = workspace()
    paths = _odd_images(tmp_path)[:2]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    card = ws.cards.cards[3]
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(5, 5), *args)  # Qt's signature takes a QPoint here, a QPointF for the drop
    card.dragEnterEvent(enter)  # what Qt calls while a drag hovers the card
    assert enter.isAccepted()
    card.dropEvent(QDropEvent(QPointF(5, 5), *args))
    qtbot.waitUntil(lambda: ws.board.shots()[3] == 2, timeout=10_000)
    assert ws.board.shots() == [0, 0, 0, 2, 0]


def test_the_mixture_of_experts_shows_its_gate_for_these_classes(workspace, qtbot):
    ws = workspace(_algo("moe"))
    ws.load_folder(str(SAMPLE))
    qtbot.waitUntil(lambda: ws.board.shots() == [5] * 5, timeout=10_000)
    with qtbot.waitSignal(ws.leaveOneOut, timeout=60_000):
        ws.adapt()
    assert ws.gate.isVisibleTo(ws)
    weights = ws.gate.values["gate weight"]
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-5)
    ws.set_model(_algo("protonet"))  # an algorithm without a gate hides the chart
    with qtbot.waitSignal(ws.leaveOneOut, timeout=60_000):
        ws.adapt()
    assert not ws.gate.isVisibleTo(ws)


def test_a_failing_job_is_reported_in_words_only(workspace, qtbot, tmp_path):
    """A job's error reaches the status line, and nothing is re-raised on the GUI thread
    (pytest-qt fails a test on an exception raised in a slot)."""
    ws = workspace()
    with qtbot.waitSignal(ws.failed, timeout=20_000) as blocker:
        ws.load_checkpoint(str(tmp_path / "gone.pt"))
    assert "does not exist" in blocker.args[0] and ws.status.text() == blocker.args[0]


@pytest.mark.parametrize("name", ["protonet", "simpleshot"])
def test_one_pass_adaptation_charts_one_point_whatever_the_steps(workspace, qtbot, name):
    ws = workspace(_algo(name))
    ws.load_folder(str(SAMPLE))
    qtbot.waitUntil(lambda: ws.board.shots() == [5] * 5, timeout=10_000)
    ws.steps.setValue(3)  # ignored: these algorithms adapt by computing class means
    with qtbot.waitSignal(ws.adapted, timeout=60_000):
        ws.adapt()
    run = ws.chart.runs[-1]
    assert run.label.endswith("prototypes") and run.steps == [0]
