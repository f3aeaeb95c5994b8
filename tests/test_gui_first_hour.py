"""What a newcomer meets in the first hour: runs keep their models, status text that is never stale.

Offscreen, on the small glyph pool, with tiny runs; waits are on signals or conditions.
"""

from __future__ import annotations

from pathlib import Path

from test_gui_window import LONG, TINY, iterations_plotted


def _finish_a_run(qtbot, window):
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000) as blocker:
        window.start_run()
    return blocker.args[1]


def test_a_stopped_run_never_replaces_a_finished_model_silently(qtbot, make_window):
    window = make_window(**TINY)
    first = _finish_a_run(qtbot, window)
    assert first.reason == "completed"
    assert window.checkpoint == first.checkpoint
    qtbot.waitUntil(lambda: window.workspace.model_choice.count() == 1, timeout=5_000)

    window.algorithm_panel.set_values({**window.algorithm_panel.values(), **LONG})
    window.start_run()
    qtbot.waitUntil(lambda: iterations_plotted(window) >= 1, timeout=30_000)
    with qtbot.waitSignal(window.controller.runFinished, timeout=10_000) as blocker:
        window.controller.stop()
    stopped = blocker.args[1]
    assert stopped.reason == "stopped" and Path(stopped.checkpoint).is_file()
    # the finished model stays in use; the stopped one is kept and offered, and the window says so
    assert window.checkpoint == first.checkpoint
    assert "still uses the finished model of #1" in window.run_controls.message.text()
    combo = window.workspace.model_choice
    qtbot.waitUntil(lambda: combo.count() == 2, timeout=5_000)
    assert combo.currentData() == first.checkpoint
    assert "stopped" in combo.itemText(combo.findData(stopped.checkpoint))

    # choosing the stopped run on the New classes tab makes it the current model
    with qtbot.waitSignal(window.modelChanged, timeout=5_000):
        combo.activated.emit(combo.findData(stopped.checkpoint))
    assert window.checkpoint == stopped.checkpoint


def test_run_models_outlive_the_window(qtbot, make_window):
    window = make_window(**TINY)
    finished = _finish_a_run(qtbot, window)
    window.close()
    assert Path(finished.checkpoint).is_file()


def test_a_finished_run_after_a_stopped_one_takes_over(qtbot, make_window):
    window = make_window(**LONG)
    window.start_run()
    qtbot.waitUntil(lambda: iterations_plotted(window) >= 1, timeout=30_000)
    with qtbot.waitSignal(window.controller.runFinished, timeout=10_000) as blocker:
        window.controller.stop()
    assert window.checkpoint == blocker.args[1].checkpoint  # nothing better was there: the stopped model is used
    window.algorithm_panel.set_values({**window.algorithm_panel.values(), **TINY})
    second = _finish_a_run(qtbot, window)
    assert window.checkpoint == second.checkpoint


def test_status_after_resume_no_longer_says_paused(qtbot, make_window):
    window = make_window(**LONG)
    window.start_run()
    qtbot.waitUntil(lambda: iterations_plotted(window) >= 1, timeout=30_000)
    window.pause_action.trigger()
    assert "Paused" in window.statusBar().currentMessage()
    window.pause_action.trigger()
    assert "Paused" not in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.controller.runFinished, timeout=10_000):
        window.controller.stop()


def _image_folder(root: Path, classes: int, per_class: int = 3) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray((rng.random((28, 28)) * 255).astype("uint8")).save(root / f"c{c}" / f"{i}.png")
    return root


def test_a_fixed_folder_loads_again_and_the_old_error_goes(qtbot, make_window, tmp_path):
    window = make_window(**TINY)
    folder = tmp_path / "mine"
    folder.mkdir()
    window.data_panel.set_source("folder", str(folder))
    qtbot.waitUntil(lambda: "no class subfolders" in window.data_panel.message.text(), timeout=10_000)
    assert "could not be loaded" in window.invalid_label.text()  # not "still loading"
    _image_folder(folder, classes=12)  # the person fixes the folder and presses Enter on the same path
    window.data_panel.folder_edit.returnPressed.emit()
    qtbot.waitUntil(lambda: window.data.pool is not None, timeout=20_000)
    assert "color: #b00020" not in window.data_panel.message.styleSheet()
    assert "classes for meta-training" in window.data_panel.message.text()
    assert "no class subfolders" not in window.statusBar().currentMessage()


def test_switching_back_to_the_glyphs_clears_a_data_error(qtbot, make_window, tmp_path):
    window = make_window(**TINY)
    window.data_panel.set_source("kmnist", str(tmp_path))  # no KMNIST files there
    qtbot.waitUntil(lambda: "color: #b00020" in window.data_panel.message.styleSheet(), timeout=20_000)
    window.data_panel.set_source("synthetic")
    qtbot.waitUntil(lambda: window.data.pool is not None, timeout=20_000)
    assert "color: #b00020" not in window.data_panel.message.styleSheet()
    assert "KMNIST" not in window.statusBar().currentMessage()


def test_the_cross_on_a_class_card_removes_the_class_and_undo_brings_it_back(qtbot):
    from gui.workspace.board import ClassBoard
    from gui.workspace.cards import CardsPanel

    board = ClassBoard(3)
    board.rename(1, "cross")
    panel = CardsPanel(board)
    qtbot.addWidget(panel)
    panel.cards[1].remove_button.click()
    assert board.names == ["class 1", "class 3"]
    assert board.undo() and board.names == ["class 1", "cross", "class 3"]
    board.set_count(2)
    assert not panel.cards[0].remove_button.isEnabled()  # a task needs two classes


def test_the_recipe_selector_applies_recipes_and_says_custom_after_an_edit(qtbot, make_window):
    from engine.config import app_defaults, recipe_choices

    window = make_window()
    panel = window.algorithm_panel
    assert panel.recipe_combo.currentText() == "quick"
    assert {k: v for k, v in panel.values().items() if k in ("algo", "ways", "iterations")} == {
        "algo": "protohead", "ways": app_defaults().ways, "iterations": app_defaults().iterations}
    panel.recipe_combo.activated.emit(panel.recipe_combo.findData("maml"))
    values = panel.values()
    assert all(values[k] == v for k, v in recipe_choices()["maml"].items())
    assert panel.recipe_combo.currentText() == "maml"
    panel.ways.setValue(7)
    assert panel.recipe_combo.currentText() == "custom"
    # picking another algorithm by hand keeps the person's own shape
    panel.algo_combo.setCurrentIndex(panel.algo_combo.findData("protonet"))
    assert panel.values()["ways"] == 7


def test_picking_an_algorithm_brings_its_own_settings(qtbot, make_window):
    from engine.config import algorithm_settings

    window = make_window()
    panel = window.algorithm_panel
    panel.algo_combo.setCurrentIndex(panel.algo_combo.findData("protohead"))
    values = panel.values()
    assert all(abs(values[k] - v) < 1e-9 for k, v in algorithm_settings("protohead").items())
    panel.algo_combo.setCurrentIndex(panel.algo_combo.findData("maml"))
    values = panel.values()
    assert all(abs(values[k] - v) < 1e-9 for k, v in algorithm_settings("maml").items())


def test_file_dialogs_open_where_the_person_last_was(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from gui import dialogs

    starts = []
    chosen = tmp_path / "models" / "mine.pt"
    chosen.parent.mkdir()

    def fake_open(parent, title, start, name_filter):
        starts.append(start)
        return str(chosen), name_filter

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake_open)
    assert dialogs.open_file(None, "Open model", "*.pt") == str(chosen)
    dialogs.open_file(None, "Open model", "*.pt")
    assert starts[1] == str(chosen.parent)  # not the program's folder
    assert Path(starts[0]) != Path(__file__).resolve().parents[1]


def test_exported_plots_name_their_run(qtbot, make_window, tmp_path):
    from PySide6.QtGui import QImage

    window = make_window(**TINY)
    _finish_a_run(qtbot, window)
    path = tmp_path / "plots.png"
    assert window.files.export_png(str(path))
    image = QImage(str(path))
    header = [image.pixelColor(x, y).lightness() for y in range(30) for x in range(0, image.width(), 2)]
    assert min(header) < 128  # the run's label is written above the plots
    assert window.plot.current.label in window.plot.caption.text()


def test_a_long_data_message_is_shown_in_full(qtbot, make_window, tmp_path):
    window = make_window(**TINY)
    window.data_panel.set_source("kmnist", str(tmp_path))  # no KMNIST files: a long message naming them all
    panel = window.data_panel
    qtbot.waitUntil(lambda: "color: #b00020" in panel.message.styleSheet(), timeout=20_000)
    qtbot.waitUntil(lambda: panel.message_area.height() > 0, timeout=5_000)
    needed = panel.message.heightForWidth(panel.message_area.viewport().width())
    assert panel.message_area.height() >= needed or panel.message_area.verticalScrollBar().maximum() > 0
    assert "t10k-labels-idx1-ubyte" in panel.message.text()


def test_the_window_scores_lake_runs_beside_the_references(qtbot, make_window, small_glyph_pool, tmp_path,
                                                           monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    from test_challenge import build_runs

    root = tmp_path / "runs"
    build_runs(small_glyph_pool, root)
    window = make_window(**TINY)
    window.lake_action.trigger()  # no model yet: said in place
    assert "needs a model" in window.run_controls.message.text()
    _finish_a_run(qtbot, window)
    picked = str(root / "run01" / "class_labels.txt")  # any run's labels stand for the folder of runs
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (picked, ""))
    said = []
    shown = window.run_controls.show_message
    monkeypatch.setattr(window.run_controls, "show_message", lambda text, *a: said.append(text) or shown(text, *a))
    window.lake_action.trigger()
    qtbot.waitUntil(lambda: "% error over" in window.run_controls.message.text(), timeout=60_000)
    text = window.run_controls.message.text()
    assert "people 4.5%" in text and "runs (20-way one-shot, inductive)" in text
    # each run done is said as it ends (a recipe with the template distance takes minutes), the last by the result
    assert any("1 of 2 runs done" in line for line in said), said
