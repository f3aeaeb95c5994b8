"""Files a person might hand the window (issue 21): each gets a correct result or one clear message.

tests/test_bad_inputs.py and tests/test_fuzz_readers.py cover the engine's
readers against crafted bytes; this file covers what they did not: the
window's own loaders (engine.api load_images / read_class_folder, the New
classes tab's buttons) with the files and folders a person really has, and
regressions found by the random walk (tests/monkey_actions.py, seed named).
"""

from __future__ import annotations

from engine import api


def test_a_folder_without_images_given_as_images_is_a_message_not_nothing(tmp_path):
    """Seed 100 of bench/monkey.py: Load query… on a folder with no images returned neither an image nor a
    reason, and the workspace indexed the empty list of problems (IndexError on the GUI thread)."""
    (tmp_path / "sub").mkdir()
    images, problems = api.load_images([str(tmp_path)])
    assert images == [] and len(problems) == 1 and "no images" in problems[0]


def test_load_query_on_an_empty_folder_shows_a_message(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from gui.workspace import NewClassesWorkspace

    workspace = NewClassesWorkspace()
    qtbot.addWidget(workspace)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(tmp_path), "")))
    with qtbot.waitSignal(workspace.failed, timeout=10_000) as blocker:
        workspace._on_load_query()
    assert "no images" in blocker.args[0]
    workspace.wait_for_workers()

