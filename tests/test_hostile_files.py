"""Files a person might hand the window (issue 21): each gets a correct result or one clear message.

tests/test_bad_inputs.py and tests/test_fuzz_readers.py cover the engine's
readers against crafted bytes; this file covers what they did not: the
window's own loaders (engine.api load_images / read_class_folder, the New
classes tab's buttons) with the files and folders a person really has, and
regressions found by the random walk (tests/monkey_actions.py, seed named).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from monkey_actions import bomb_png

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



# ---- image kinds: each loads to what the plain 8-bit grey image of the same drawing gives ----------------

def _drawing() -> np.ndarray:
    """A white, asymmetric "L" on black (64x64): rotations and inversions show."""
    arr = np.zeros((64, 64), np.uint8)
    arr[8:56, 12:22] = 255
    arr[46:56, 12:50] = 255
    return arr


def _save_kind(kind: str, path: Path) -> Path:
    from PIL import Image

    arr = _drawing()
    grey = Image.fromarray(arr, mode="L")
    ink_on_clear = np.zeros((64, 64, 4), np.uint8)  # dark ink on a transparent background
    ink_on_clear[..., 3] = arr
    if kind == "16-bit grey png":
        Image.fromarray(arr.astype(np.uint16) * 257).save(path)
    elif kind == "palette png":
        grey.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    elif kind == "palette png with a transparent background":
        Image.fromarray(ink_on_clear, "RGBA").convert("P", palette=Image.Palette.ADAPTIVE).save(path,
                                                                                           transparency=0)
    elif kind == "transparent png (dark ink, clear background)":
        Image.fromarray(ink_on_clear, "RGBA").save(path)
    elif kind == "cmyk jpeg":
        grey.convert("CMYK").save(path, quality=95)
    elif kind in ("exif-rotated jpeg", "exif-rotated png"):
        exif = Image.Exif()
        exif[0x0112] = 6  # "turn 90 degrees clockwise to view": the pixels are stored turned the other way
        stored = grey.transpose(Image.Transpose.ROTATE_90)
        stored.save(path, exif=exif, **({"quality": 95} if path.suffix == ".jpg" else {}))
    elif kind == "animated gif (first frame)":
        grey.save(path, save_all=True, append_images=[Image.fromarray(255 - arr)], duration=100, loop=0)
    elif kind == "non-ASCII name with spaces":
        grey.save(path)
    else:
        raise AssertionError(kind)
    return path


KINDS = {
    "16-bit grey png": "x.png", "palette png": "x.png", "palette png with a transparent background": "x.png",
    "transparent png (dark ink, clear background)": "x.png", "cmyk jpeg": "x.jpg", "exif-rotated jpeg": "x.jpg",
    "exif-rotated png": "x.png", "animated gif (first frame)": "x.gif",
    "non-ASCII name with spaces": "ñ 名 with spaces.png",
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_image_loads_as_the_plain_image_does(tmp_path, kind):
    from PIL import Image

    Image.fromarray(_drawing(), mode="L").save(tmp_path / "plain.png")
    (reference,), problems = api.load_images([str(tmp_path / "plain.png")])
    images, problems = api.load_images([str(_save_kind(kind, tmp_path / KINDS[kind]))])
    assert problems == [] and len(images) == 1 and images[0].shape == (28, 28) and images[0].dtype == np.uint8
    diff = np.abs(images[0].astype(int) - reference.astype(int)).mean()
    assert diff < 6, f"{kind}: mean difference {diff:.1f} of 255 from the plain image (turned or inverted?)"


@pytest.mark.parametrize("size", [(1, 1), (4000, 3), (3, 4000)], ids=["1 pixel", "very wide", "very tall"])
def test_tiny_and_extreme_aspect_images_load(tmp_path, size):
    from PIL import Image

    Image.new("L", size, 200).save(tmp_path / "x.png")
    images, problems = api.load_images([str(tmp_path / "x.png")])
    assert problems == [] and images[0].shape == (28, 28)


def _unreadable(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip("runs as root, which reads any file whatever its mode")
    p = tmp_path / "locked.png"
    p.write_bytes(b"\x89PNG")
    p.chmod(0)
    return p


REFUSED = {
    "empty file": lambda d: (d / "e.png", (d / "e.png").write_bytes(b""))[0],
    "text that says it is a png": lambda d: (d / "t.png", (d / "t.png").write_text("not an image"))[0],
    "jpeg bytes named .gif, damaged": lambda d: (d / "j.gif", (d / "j.gif").write_bytes(b"\xff\xd8\xff\xe0junk"))[0],
    "decompression bomb": lambda d: (d / "b.png", (d / "b.png").write_bytes(bomb_png()))[0],
    "symlink loop": lambda d: (d / "loop.png", (d / "loop.png").symlink_to(d / "loop.png"))[0],
    "missing file": lambda d: d / "gone.png",
    "unreadable file": _unreadable,
}


@pytest.mark.parametrize("kind", REFUSED)
def test_a_file_that_is_not_a_usable_image_is_one_clear_message(tmp_path, kind):
    path = REFUSED[kind](tmp_path)
    images, problems = api.load_images([str(path)])
    assert images == [] and len(problems) == 1
    assert path.name in problems[0] and "Traceback" not in problems[0] and "\n" not in problems[0]


def test_a_class_folder_with_every_kind_loads_in_the_new_classes_loader(tmp_path):
    """The New classes tab's Load folder / set… (api.read_class_folder): good kinds load, bad ones are named."""
    for kind, name in KINDS.items():
        folder = tmp_path / "set" / kind.replace("/", " ")
        folder.mkdir(parents=True)
        _save_kind(kind, folder / name)
    (tmp_path / "set" / "bad").mkdir()
    (tmp_path / "set" / "bad" / "bomb.png").write_bytes(bomb_png())
    names, examples, problems = api.read_class_folder(str(tmp_path / "set"))
    assert len(names) == len(KINDS) + 1 and sum(len(e) for e in examples) == len(KINDS)
    assert len(problems) == 1 and "bomb.png" in problems[0]


@pytest.mark.parametrize("manifest", [
    '{"format": "meta-playground-classset", "version": 1, "classes": [{"name": "x", "folder": "..", '
    '"examples": []}]}',
    '{"format": "meta-playground-classset", "version": 1, "classes": [{"name": "x", "folder": "a", '
    '"examples": ["../../outside.png"]}]}',
    '{"format": "meta-playground-classset", "version": 1, "classes": "everything"}',
    '{"format": "meta-playground-classset", "version": 1, "classes": [{"name": "x", "folder": "a", ',
], ids=["folder outside", "example outside", "classes not a list", "cut short"])
def test_a_hand_edited_manifest_is_one_clear_message_in_the_loader(tmp_path, manifest):
    (tmp_path / "set" / "a").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(b"")
    (tmp_path / "set" / "manifest.json").write_text(manifest)
    with pytest.raises(api.DataError) as caught:
        api.read_class_folder(str(tmp_path / "set"))
    assert "manifest" in str(caught.value) or "class set" in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"\x80\x02}q\x00.", b"not a model"],
                         ids=["empty", "truncated zip", "foreign pickle", "text"])
def test_a_truncated_or_foreign_checkpoint_is_one_clear_message_when_opened(tmp_path, content):
    path = tmp_path / "model ñ.pt"
    path.write_bytes(content)
    with pytest.raises(api.DataError) as caught:
        api.open_model(str(path))
    assert "model ñ.pt" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_the_command_line_trains_on_a_folder_of_every_kind(tmp_path):
    """The same kinds through the CLI's folder source: it trains on them (exit 0), and a bomb among them is
    one line naming the file (exit 2)."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    for kind, name in KINDS.items():
        folder = tmp_path / "data" / kind.replace("/", " ")
        folder.mkdir(parents=True)
        _save_kind(kind, folder / name)
        _save_kind(kind, folder / f"2 {name}")
    command = [sys.executable, "main.py", "train", "--dataset", "folder", "--data-root", str(tmp_path / "data"),
               "--algo", "protonet", "--ways", "2", "--shots", "1", "--queries", "1", "--meta-batch", "1",
               "--iterations", "1", "--val-every", "0", "--device", "cpu", "--json"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["iterations"] == 1
    (tmp_path / "data" / "animated gif (first frame)" / "bomb.png").write_bytes(bomb_png())
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "bomb.png" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
