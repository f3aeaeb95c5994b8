"""The Data panel's "Download Omniglot…" button: fetch the official zips on a worker, with progress.

Shown while Omniglot is the chosen source. It downloads into the folder in
the Folder box (or one the person picks), reports the bytes as they arrive
in the panel's message line, then selects that folder; offline, the
message says so and what to do instead. The engine does the work
(``engine.api_export.download_omniglot``, torchvision's downloader).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QPushButton
from superqt.utils import create_worker


class _Relay(QObject):
    progress = Signal(str, int, int)  # (file name, bytes so far, total or -1), from the worker thread


def _download(root: str, relay: _Relay) -> list[str]:
    from engine.api_export import download_omniglot

    return download_omniglot(root, on_progress=lambda name, done, total: relay.progress.emit(name, done, total))


class OmniglotDownloadButton(QPushButton):
    """Downloads Omniglot (background + evaluation sets) into a folder, then selects it as the source."""

    finished = Signal(object)  # the list of file paths, or the exception when it failed

    def __init__(self, panel: Any) -> None:
        super().__init__("Download…")
        self.panel = panel
        self.setToolTip(
            "Fetch Omniglot (images_background.zip and images_evaluation.zip, about 9 MB) from Brenden "
            "Lake's repository through torchvision, into the Folder box's folder; needs the internet"
        )
        self.relay = _Relay(self)
        self.relay.progress.connect(self._on_progress)
        self.clicked.connect(self._on_clicked)
        self.worker: Any = None

    def _on_clicked(self) -> None:
        folder = self.panel.folder() or QFileDialog.getExistingDirectory(
            self, "Download Omniglot into this folder", str(Path.home())
        )
        if folder:
            self.download(folder)

    def download(self, folder: str) -> None:
        """Start the download into ``folder`` (dialog-free, for tests)."""
        self.setEnabled(False)
        self.panel.show_message(f"downloading Omniglot into {folder}…")
        worker = create_worker(_download, folder, self.relay, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda files: self._on_done(folder, files) if shiboken6.isValid(self) else None)
        worker.errored.connect(lambda exc: self._on_failed(exc) if shiboken6.isValid(self) else None)
        self.worker = worker
        worker.start()

    def _on_progress(self, name: str, done: int, total: int) -> None:
        size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total > 0 else f"{done / 1e6:.1f} MB"
        self.panel.show_message(f"downloading {name}: {size}")

    def _on_done(self, folder: str, files: list[str]) -> None:
        self.setEnabled(True)
        self.panel.show_message(f"Omniglot is in {folder} ({len(files)} files)")
        self.panel.set_source("omniglot", folder)
        self.finished.emit(files)

    def _on_failed(self, exc: BaseException) -> None:
        from .background import describe_error

        self.setEnabled(True)
        self.panel.show_message(describe_error(exc), error=True)
        self.finished.emit(exc)


def install(panel: Any) -> OmniglotDownloadButton:
    """Put the button in the panel's folder row, visible while Omniglot is the chosen source."""
    button = OmniglotDownloadButton(panel)
    panel.download_button = button
    panel.folder_row.layout().addWidget(button)
    sync = lambda *_: button.setVisible(panel.source() == "omniglot")  # noqa: E731
    panel.source_combo.currentIndexChanged.connect(sync)
    sync()
    return button
