"""A damaged or foreign preferences store (issue 21): the window starts on defaults and says so once.

(Kills in the middle of writing the preferences: tests/test_kill_during_save.py.)
"""

from __future__ import annotations

import pytest

from gui.settings import settings_problem

DAMAGED = {
    "binary garbage": b"\x00\xff\xfe garbage \x01\x02",
    "hand-edited JSON": b"[run]\nhyperparameters={not json\n[data]\nsource=nonsense\nfolder=/nope\n",
    "wrong types": b"[run]\nhyperparameters=[1,2,3]\n[window]\ngeometry=hello\nmain_splitter=\"[-5, \\\"a\\\"]\"\n",
    "another app's": b"[General]\ntheme=dark\n[editor]\nfont=Mono\n",
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_store_starts_on_defaults_and_says_so_once(make_window, tmp_path, content):
    (tmp_path / "settings.ini").write_bytes(content)
    window = make_window()
    note = window.run_controls.message.text()
    assert note.startswith("Started on the default settings:") and "settings.ini" in note
    assert window.data_panel.source() == "synthetic"
    assert window.algorithm_panel.values() == window.algorithm_panel.__class__(
        window.engine.defaults, window.engine.algorithms, window.engine.backbones, window.engine.cuda,
        shapes=window.engine.shapes, recipes=window.engine.recipes).values()
    window.close()  # the store is rewritten whole: the next start is quiet
    again = make_window()
    assert again.run_controls.message.text() == ""
    from gui.settings import open_settings

    assert settings_problem(open_settings(tmp_path / "settings.ini")) is None


def test_a_new_or_sound_store_says_nothing(make_window, tmp_path):
    from gui.settings import open_settings

    assert settings_problem(open_settings(tmp_path / "none-yet.ini")) is None
    window = make_window(ways=3)
    assert window.run_controls.message.text() == ""
    window.close()
    assert make_window().algorithm_panel.values()["ways"] == 3
