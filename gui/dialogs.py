"""File dialogs that open where the person last was, not in the program's folder.

Every open/save dialog of the window goes through here: the folder of the last
file or folder chosen is kept in the preferences (``dialogs/last_folder``) and
the next dialog starts there; the home folder the first time.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDir
from PySide6.QtWidgets import QFileDialog, QWidget

from .settings import open_settings

KEY = "dialogs/last_folder"


def last_folder() -> str:
    """The folder the last dialog ended in (the home folder if none, or if it is gone)."""
    folder = str(open_settings().value(KEY, "") or "")
    return folder if folder and Path(folder).is_dir() else QDir.homePath()


def remember(path: str, is_folder: bool = False) -> str:
    """Keep ``path``'s folder (or ``path`` itself when it is one) for the next dialog; returns ``path``."""
    if path:
        settings = open_settings()
        settings.setValue(KEY, str(Path(path) if is_folder else Path(path).parent))
        settings.sync()
    return path


def open_file(parent: QWidget | None, title: str, name_filter: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, last_folder(), name_filter)
    return remember(path)


def open_files(parent: QWidget | None, title: str, name_filter: str) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, last_folder(), name_filter)
    if paths:
        remember(paths[0])
    return paths


def save_file(parent: QWidget | None, title: str, file_name: str, name_filter: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, title, str(Path(last_folder()) / file_name), name_filter)
    return remember(path)


def existing_folder(parent: QWidget | None, title: str, start: str = "") -> str:
    folder = QFileDialog.getExistingDirectory(parent, title, start if start and Path(start).is_dir() else last_folder())
    return remember(folder, is_folder=True)
