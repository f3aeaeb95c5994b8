"""The Data panel's Omniglot download button, against the 127.0.0.1 mirror of tests/test_download.py."""

from __future__ import annotations

import socket

from test_download import mirror  # noqa: F401 - the fixture

from gui.data_panel import DataPanel

SOURCES = [("synthetic", True), ("omniglot", True), ("folder", True)]


def test_the_button_downloads_with_progress_and_selects_the_folder(qtbot, mirror, tmp_path, monkeypatch):  # noqa: F811
    base, _ = mirror
    monkeypatch.setenv("META_PLAYGROUND_OMNIGLOT_URL", base)
    import tqdm

    monkeypatch.setattr(
        tqdm.tqdm, "monitor_interval", 0
    )  # torchvision's progress bar would leave tqdm's monitor thread
    panel = DataPanel(SOURCES)
    qtbot.addWidget(panel)
    button = panel.download_button
    assert button.isHidden()  # only for Omniglot
    panel.source_combo.setCurrentIndex(panel.source_combo.findData("omniglot"))
    assert not button.isHidden() and "internet" in button.toolTip()
    progress = []
    button.relay.progress.connect(lambda *a: progress.append(a))
    with qtbot.waitSignal(panel.sourceChanged, timeout=30_000) as changed:
        button.download(str(tmp_path / "omniglot"))
        assert not button.isEnabled()
    assert changed.args == ["omniglot", str(tmp_path / "omniglot")]
    assert (tmp_path / "omniglot" / "images_background.zip").is_file()
    assert any(total > 0 for _, _, total in progress) and button.isEnabled()
    assert "Omniglot is in" in panel.message.text()


def test_offline_shows_the_reason_in_place(qtbot, tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("META_PLAYGROUND_OMNIGLOT_URL", f"http://127.0.0.1:{port}")
    panel = DataPanel(SOURCES)
    qtbot.addWidget(panel)
    panel.source_combo.setCurrentIndex(panel.source_combo.findData("omniglot"))
    with qtbot.waitSignal(panel.download_button.finished, timeout=30_000) as done:
        panel.download_button.download(str(tmp_path / "o"))
    assert isinstance(done.args[0], Exception)
    assert "no network" in panel.message.text() and panel.download_button.isEnabled()
