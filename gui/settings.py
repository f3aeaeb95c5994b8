"""Preferences kept across launches (QSettings), redirectable for tests.

``META_PLAYGROUND_SETTINGS=/path/file.ini`` (or the ``path`` argument) puts
every preference in that INI file instead of the user's own settings, so
tests and benchmarks never touch them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ENV_VAR = "META_PLAYGROUND_SETTINGS"
#: every preference the window keeps, with the JSON type its value must have (None: not JSON)
KNOWN_KEYS: dict[str, type | None] = {
    "window/geometry": None, "window/main_splitter": list, "window/left_splitter": list,
    "data/source": None, "data/folder": None, "run/hyperparameters": dict,
}
_ABSENT = object()
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


def settings_problem(settings: QSettings) -> str | None:
    """Why stored preferences could not be used (a damaged or foreign store), in words; None when they are
    fine or there are none yet.

    The window starts on defaults for whatever it cannot read (each reader falls back on its own) and says
    this once; its next save (on close) rewrites the store whole, so the following start is quiet.
    """
    where = settings.fileName()
    if settings.status() != QSettings.Status.NoError:
        return f"the preferences in {where} could not be read ({settings.status().name})"
    keys = set(settings.allKeys())
    if not keys:
        try:
            damaged = settings.format() == QSettings.Format.IniFormat and Path(where).stat().st_size > 0
        except OSError:
            damaged = False
        return f"the preferences file {where} holds nothing readable" if damaged else None
    if not keys & KNOWN_KEYS.keys():
        return f"the preferences file {where} is not Meta Playground's (none of its settings are known here)"
    bad = [key for key, kind in KNOWN_KEYS.items()
           if kind is not None and settings.contains(key) and not isinstance(read_json(settings, key, _ABSENT), kind)]
    if settings.contains("window/geometry") and not isinstance(settings.value("window/geometry"), QByteArray):
        bad.append("window/geometry")
    return f"some preferences in {where} were unreadable ({', '.join(bad)})" if bad else None
