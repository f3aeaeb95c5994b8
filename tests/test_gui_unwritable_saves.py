"""Saving where nothing can be written (issue 21): one clear message, and the work stays in the window.

The tests run as root here, which writes into read-only folders regardless; so the unwritable places are
ones even root cannot write: under a file, inside /proc, and a full disk (ENOSPC, injected). The
read-only folder case runs where the tests do not run as root.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QWidget


def _read_only_folder(tmp_path: Path) -> str:
    if os.geteuid() == 0:
        pytest.skip("runs as root, which writes into read-only folders")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return str(folder / "x")


PLACES = {
    "under a file": lambda tmp: str((tmp / "a file", (tmp / "a file").write_text("x"))[0] / "x"),
    "inside /proc": lambda tmp: "/proc/meta-playground-x",
    "read-only folder": _read_only_folder,
}


@pytest.mark.parametrize("place", PLACES)
def test_saving_a_model_where_nothing_can_be_written_is_a_message(qtbot, tmp_path, place):
    from gui.app_state import AppState
    from gui.file_actions import FileActions

    parent = QWidget()
    qtbot.addWidget(parent)
    state = AppState(parent)
    model = tmp_path / "current.pt"
    model.write_bytes(b"the model's bytes")
    state.checkpoint = str(model)
    files = FileActions(state, lambda: None, parent)
    errors = []
    files.error.connect(errors.append)
    target = PLACES[place](tmp_path) + ".pt"
    assert files.save_model(target) is False
    assert len(errors) == 1 and errors[0].startswith("Could not save the model to") and "\n" not in errors[0]
    assert f"cannot write in the folder {Path(target).parent}" in errors[0], errors[0]
    assert state.checkpoint == str(model) and model.read_bytes() == b"the model's bytes"  # the work stays


def test_a_full_disk_on_save_is_a_message(qtbot, tmp_path, monkeypatch):
    from engine import api
    from gui.app_state import AppState
    from gui.file_actions import FileActions

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(api, "write_bytes", full)
    parent = QWidget()
    qtbot.addWidget(parent)
    state = AppState(parent)
    (tmp_path / "m.pt").write_bytes(b"x")
    state.checkpoint = str(tmp_path / "m.pt")
    files = FileActions(state, lambda: None, parent)
    errors = []
    files.error.connect(errors.append)
    assert files.save_model(str(tmp_path / "out.pt")) is False
    assert "No space left on device" in errors[0]


@pytest.mark.parametrize("place", PLACES)
def test_saving_a_class_set_where_nothing_can_be_written_keeps_the_cards(qtbot, tmp_path, place):
    from gui.workspace import NewClassesWorkspace

    workspace = NewClassesWorkspace()
    qtbot.addWidget(workspace)
    workspace.board.add(0, [np.full((28, 28), 9, np.uint8)])
    workspace.board.add(1, [np.full((28, 28), 7, np.uint8)] * 2)
    before = (list(workspace.board.names), [len(e) for e in workspace.board.examples])
    with qtbot.waitSignal(workspace.failed, timeout=10_000) as blocker:
        workspace.save_set(PLACES[place](tmp_path))
    assert "\n" not in blocker.args[0] and "Traceback" not in blocker.args[0]
    assert "cannot write in the folder" in blocker.args[0], blocker.args[0]
    assert (list(workspace.board.names), [len(e) for e in workspace.board.examples]) == before
    workspace.wait_for_workers()
