"""Preferences kept across launches (QSettings), redirectable for tests.

``META_PLAYGROUND_SETTINGS=/path/file.ini`` (or the ``path`` argument) puts
every preference in that INI file instead of the user's own settings, so
tests and benchmarks never touch them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from PySide6.QtCore import QSettings

ENV_VAR = "META_PLAYGROUND_SETTINGS"
ORGANIZATION = "MetaPlayground"
APPLICATION = "Meta Playground"


def open_settings(path: str | os.PathLike | None = None) -> QSettings:
    """The settings store: ``path`` or ``$META_PLAYGROUND_SETTINGS`` if set, else the user's."""
    path = path or os.environ.get(ENV_VAR)
    if path:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def read_json(settings: QSettings, key: str, default: Any = None) -> Any:
    """A JSON value stored under ``key`` (JSON keeps ints, floats and None apart)."""
    raw = settings.value(key)
    if not raw:
        return default
    try:
        return json.loads(str(raw))
    except ValueError:
        return default


def write_json(settings: QSettings, key: str, value: Any) -> None:
    settings.setValue(key, json.dumps(value))
