"""A short seeded random walk over the real main window (issue 21): nothing uncaught, nothing left running.

The walk itself lives in tests/monkey_actions.py (``bench/monkey.py`` runs long
ones). A failure message names the seed and the actions that led to it.
"""

from __future__ import annotations

import os

import pytest
from monkey_actions import Monkey, bomb_png

#: GUI stalls fail the walk above this; the default is generous because this machine is shared (a loaded
#: 2-core box showed stalls of 0.4-0.7 s from the load alone): set it to 1000 on a quiet machine
STALL_LIMIT_MS = float(os.environ.get("META_PLAYGROUND_MONKEY_STALL_MS", "3000"))


@pytest.mark.slow
def test_a_seeded_random_walk_over_the_window_raises_nothing_and_leaves_nothing(tmp_path, small_glyph_pool,
                                                                                 monkeypatch):
    monkeypatch.setenv("META_PLAYGROUND_WORKERS", "1")
    monkey = Monkey(seed=21, workdir=tmp_path, pool=small_glyph_pool, stall_limit_ms=STALL_LIMIT_MS)
    figures = monkey.walk(250)
    assert not monkey.failures, "\n\n".join(monkey.failures) + "\n\n" + monkey.replay_text()
    assert figures.actions == 250 and figures.threads_left == 0 and figures.processes_left == 0
    done = sum(d for d, _disabled in figures.by_action.values())
    assert done >= 125, f"the walk found most controls disabled: {figures.by_action}"  # it did act


def test_the_bomb_image_claims_a_size_beyond_the_decoder_limit():
    """The harness's hostile image is what it says: its header asks for more pixels than PIL will decode."""
    import io

    from PIL import Image

    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb_png()))
