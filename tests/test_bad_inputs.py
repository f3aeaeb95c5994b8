"""A generated corpus of bad inputs: every one is refused with a DataError (or loads correctly), none crashes.

Every file is made by the test in ``tmp_path`` (nothing binary is committed).
Each case runs the engine the way the app does and is counted: the tally
(tried / handled with a clear message / crashed) is printed by the last test
and stored in the pytest cache under ``meta-playground/bad-inputs``
(``.pytest_cache/v/meta-playground/bad-inputs``), so it can be quoted.
A smaller set runs the real command line, which must exit 2 with one line.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import cli

import engine.trainer as trainer
from engine.challenge import load_runs
from engine.checkpoint import save_checkpoint
from engine.classset import ClassSet, load_classset, save_classset
from engine.config import TrainConfig
from engine.data import load_source
from engine.data.base import DataError
from engine.data.images import load_image
from engine.data.omniglot import load_omniglot
from engine.events import Finished
from engine.tasks import TaskSampler

TALLY: dict = {"tried": 0, "handled": 0, "crashed": 0, "failures": []}
CASES: dict[str, tuple[str, Callable]] = {}


# ---- makers of bad files -------------------------------------------------------------------------------------


def png(value: int = 0, size=(28, 28), mode="L") -> bytes:
    buf = io.BytesIO()
    img = Image.new(mode, size, value)
    if value == 0 and mode == "L":  # a stroke, so frames and images differ
        img.paste(255, (4, 10, 24, 14))
    img.save(buf, "PNG")
    return buf.getvalue()


def jpeg() -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (40, 40), (255, 255, 255))
    img.paste((0, 0, 0), (5, 15, 35, 22))
    img.save(buf, "JPEG")
    return buf.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (IHDR patched, CRC fixed)."""
    data = bytearray(png(size=(1, 1), mode="1"))
    ihdr = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def omniglot_zip(path: Path, extra: dict[str, bytes] | None = None, alphabets=("A", "B", "C")) -> Path:
    """A small Omniglot-layout zip (3 alphabets x 2 characters x 2 drawings) plus ``extra`` entries."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for a in alphabets:
            for c in ("character01", "character02"):
                for i in range(2):
                    zf.writestr(f"images_background/{a}/{c}/{i}.png", png())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def folder(root: Path, classes: dict[str, list[bytes]]) -> Path:
    for name, files in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(files):
            (root / name / f"{i:02d}.png").write_bytes(data)
    return root


def checkpoint_file(path: Path, **config) -> Path:
    cfg = TrainConfig(device="cpu", val_every=0)
    algo = trainer.build_model_and_algorithm(cfg, torch.device("cpu"))
    save_checkpoint(path, config={**cfg.to_dict(), **config}, model_state=algo.model.state_dict())
    return path


def classset(root: Path) -> Path:
    save_classset(
        root, ClassSet(["a", "b"], [[np.zeros((28, 28), np.uint8)] * 2, [np.full((28, 28), 255, np.uint8)] * 2])
    )
    return root


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


# ---- the corpus: name -> (expected outcome, case(tmp_path) -> result) ----------------------------------------


def case(name: str, expect: str = "refused"):
    """Register a bad input; ``expect`` is "refused" (DataError) or "loaded" (a correct result is the right answer)."""

    def register(fn):
        CASES[name] = (expect, fn)
        return fn

    return register


def image_case(name: str, data: Callable[[], bytes], filename: str = "x.png", expect: str = "refused"):
    def run(tmp_path):
        p = tmp_path / filename
        p.write_bytes(data())
        return load_image(p)

    case(name, expect)(run)


image_case("zero-byte image", lambda: b"")
image_case("truncated png", lambda: png()[:60])
image_case("truncated png (header only)", lambda: png()[:8])
image_case("truncated jpeg", lambda: jpeg()[: len(jpeg()) // 2], "x.jpg")
image_case(
    "png with a damaged data stream",
    lambda: (lambda b: b[: b.find(b"IDAT") + 6] + bytes([b[b.find(b"IDAT") + 6] ^ 0xFF]) + b[b.find(b"IDAT") + 7 :])(
        png()
    ),
)
image_case("text named .png", lambda: b"hello, this is not an image\n")
image_case("html named .jpg", lambda: b"<html><body>404</body></html>", "x.jpg")
image_case("random bytes named .png", lambda: np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
image_case("decompression bomb 50000x50000", lambda: bomb_png(50_000, 50_000))
image_case("decompression bomb 10000x10000 (PIL warning band)", lambda: bomb_png(10_000, 10_000))
image_case("decompression bomb 9000x9000 (our limit)", lambda: bomb_png(9_000, 9_000))
image_case("jpeg named .png", jpeg, "x.png", expect="loaded")
image_case("png named .jpg", png, "x.jpg", expect="loaded")


@case("float image holding inf and NaN", "loaded")
def _float_inf(tmp_path):
    a = np.zeros((28, 28), np.float32)
    a[0, 0], a[1, 1], a[5:9] = np.inf, np.nan, 1.0
    Image.fromarray(a, mode="F").save(tmp_path / "x.tif")
    out = load_image(tmp_path / "x.tif")
    assert out.dtype == torch.uint8 and out.shape == (28, 28)
    return out


@case("animated gif (first frame is used)", "loaded")
def _animated_gif(tmp_path):
    frames = [Image.open(io.BytesIO(png())).convert("L"), Image.new("L", (28, 28), 128), Image.new("L", (28, 28), 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "first.gif")
    out = load_image(tmp_path / "anim.gif")
    assert torch.equal(out, load_image(tmp_path / "first.gif")), "not the first frame"
    return out


@case("animated png (first frame is used)", "loaded")
def _animated_png(tmp_path):
    frames = [Image.open(io.BytesIO(png())).convert("RGB"), Image.new("RGB", (28, 28), (255, 0, 0))]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "first.png")
    out = load_image(tmp_path / "anim.png")
    assert torch.equal(out, load_image(tmp_path / "first.png"))
    return out


@case("non-UTF-8 file name", "loaded")
def _non_utf8_name(tmp_path):
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/\xff\xfe.png"))
    path.write_bytes(png())
    return load_image(path)


@case("non-UTF-8 file name, damaged file")
def _non_utf8_damaged(tmp_path):
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/\xff\xfe.png"))
    path.write_bytes(b"garbage")
    try:
        return load_image(path)
    except DataError as exc:
        str(exc).encode("utf-8", "backslashreplace")  # printable on any terminal
        raise


@case("non-UTF-8 class folder and file names", "loaded")
def _non_utf8_folder(tmp_path):
    root = os.fsencode(tmp_path / "data")
    for cls in (b"cl\xffass", b"b", b"c"):
        os.makedirs(os.path.join(root, cls))
        for i in range(3):
            with open(os.path.join(root, cls, b"\xfe%d.png" % i), "wb") as f:
                f.write(png())
    first = load_source("folder", os.fsdecode(root))
    again = load_source("folder", os.fsdecode(root))  # through the decode cache
    assert first.class_names == again.class_names and first.num_classes == 3
    return first


@case("data folder that does not exist")
def _no_folder(tmp_path):
    return load_source("folder", tmp_path / "absent", cache=False)


@case("empty data folder")
def _empty_folder(tmp_path):
    (tmp_path / "data").mkdir()
    return load_source("folder", tmp_path / "data", cache=False)


@case("data folder of empty class folders")
def _empty_classes(tmp_path):
    for c in "abc":
        (tmp_path / "data" / c).mkdir(parents=True)
    return load_source("folder", tmp_path / "data", cache=False)


@case("data folder with one damaged image among good ones")
def _folder_one_bad(tmp_path):
    folder(tmp_path / "data", {"a": [png()] * 3, "b": [png(), b"\x89PNG\r\n\x1a\nbroken"], "c": [png()] * 3})
    try:
        return load_source("folder", tmp_path / "data", cache=False)
    except DataError as exc:
        assert "01.png" in str(exc), "the message must name the file"
        raise


@case("data folder with a decompression bomb")
def _folder_bomb(tmp_path):
    folder(tmp_path / "data", {"a": [png()] * 2, "b": [png(), bomb_png(50_000, 50_000)], "c": [png()] * 2})
    return load_source("folder", tmp_path / "data", cache=False)


@case("two classes (splits need three)")
def _two_classes(tmp_path):
    return load_source("folder", folder(tmp_path / "data", {"a": [png()] * 3, "b": [png()] * 3}), cache=False)


@case("classes with too few examples")
def _too_few(tmp_path):
    pool = load_source("folder", folder(tmp_path / "data", {c: [png()] * 2 for c in "abcdefgh"}), cache=False)
    try:
        return TaskSampler(pool, "train", ways=3, shots=1, queries=5)
    except DataError as exc:
        assert "(2)" in str(exc), "the message must give the counts"
        raise


@case("ways larger than the classes available")
def _too_many_ways(tmp_path, small_glyph_pool):
    return TaskSampler(small_glyph_pool, "train", ways=1000, shots=1, queries=1)


@case("zero shots")
def _zero_shots(tmp_path, small_glyph_pool):
    return list(trainer.run(TrainConfig(shots=0, device="cpu", val_every=0), pool=small_glyph_pool))


@case("negative learning rate")
def _negative_lr(tmp_path, small_glyph_pool):
    return list(trainer.run(TrainConfig(outer_lr=-1.0, device="cpu", val_every=0), pool=small_glyph_pool))


# ---- zip archives (read in memory; nothing is ever extracted) ----


def _omniglot(tmp_path, make):
    root = tmp_path / "root"
    root.mkdir()
    make(root / "images_background.zip")
    before = files_under(tmp_path.parent)
    try:
        return load_omniglot(root, rotations=False)
    finally:
        assert files_under(tmp_path.parent) == before, "reading a zip wrote files"


@case("zero-byte zip")
def _zip_empty(tmp_path):
    return _omniglot(tmp_path, lambda p: p.write_bytes(b""))


@case("truncated zip")
def _zip_truncated(tmp_path):
    return _omniglot(tmp_path, lambda p: p.write_bytes(omniglot_zip(tmp_path / "ok.zip").read_bytes()[:700]))


@case("text named .zip")
def _zip_text(tmp_path):
    return _omniglot(tmp_path, lambda p: p.write_text("not a zip"))


@case("zip with an unexpected layout (flat images)")
def _zip_flat(tmp_path):
    def make(p):
        with zipfile.ZipFile(p, "w") as zf:
            for i in range(10):
                zf.writestr(f"{i}.png", png())

    return _omniglot(tmp_path, make)


@case("zip with '../' entries")
def _zip_dotdot(tmp_path):
    return _omniglot(tmp_path, lambda p: omniglot_zip(p, {"../../evil/char/evil.png": png(), "../evil.png": png()}))


@case("zip with absolute-path entries")
def _zip_absolute(tmp_path):
    return _omniglot(tmp_path, lambda p: omniglot_zip(p, {str(tmp_path.parent / "abs" / "x" / "evil.png"): png()}))


@case("zip bomb entry (20 MB of zeros as a .png)")
def _zip_bomb(tmp_path):
    return _omniglot(tmp_path, lambda p: omniglot_zip(p, {"images_background/A/character03/0.png": bytes(20_000_000)}))


@case("zip whose entries are marked encrypted")
def _zip_encrypted(tmp_path):
    def make(p):
        data = bytearray(omniglot_zip(p).read_bytes())
        for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
            at = data.find(sig)
            while at >= 0:
                data[at + flag_at] |= 0x1
                at = data.find(sig, at + 4)
        p.write_bytes(bytes(data))

    return _omniglot(tmp_path, make)


@case("zip with a damaged image inside")
def _zip_bad_png(tmp_path):
    return _omniglot(
        tmp_path, lambda p: omniglot_zip(p, {"images_background/A/character03/0.png": b"\x89PNG\r\n\x1a\n!"})
    )


@case("zip with only one alphabet")
def _zip_one_alphabet(tmp_path):
    return _omniglot(tmp_path, lambda p: omniglot_zip(p, alphabets=("A",)))


def _runs_folder(root: Path, labels: str) -> Path:
    (root / "run01" / "training").mkdir(parents=True)
    (root / "run01" / "test").mkdir()
    (root / "run01" / "training" / "class01.png").write_bytes(png())
    (root / "run01" / "test" / "item01.png").write_bytes(png())
    (root / "run01" / "class_labels.txt").write_text(labels)
    return root


@case("challenge runs naming a file outside the runs folder")
def _runs_escape(tmp_path):
    (tmp_path / "secret.png").write_bytes(png())
    return load_runs(_runs_folder(tmp_path / "runs", "../secret.png run01/training/class01.png\n"))


@case("challenge runs naming an absolute path")
def _runs_absolute(tmp_path):
    (tmp_path / "secret.png").write_bytes(png())
    return load_runs(_runs_folder(tmp_path / "runs", f"{tmp_path / 'secret.png'} run01/training/class01.png\n"))


@case("challenge zip with '../' references")
def _runs_zip_escape(tmp_path):
    (tmp_path / "secret.png").write_bytes(png())
    with zipfile.ZipFile(tmp_path / "all_runs.zip", "w") as zf:
        zf.writestr("run01/class_labels.txt", "../secret.png run01/training/class01.png\n")
        zf.writestr("run01/training/class01.png", png())
        zf.writestr("../run02/class_labels.txt", "run02/test/item01.png run02/training/class01.png\n")
    return load_runs(tmp_path / "all_runs.zip")


@case("challenge class_labels.txt malformed")
def _runs_malformed(tmp_path):
    return load_runs(_runs_folder(tmp_path / "runs", "one two three\n"))


@case("challenge runs file that is not a zip")
def _runs_not_zip(tmp_path):
    (tmp_path / "all_runs.zip").write_bytes(png())
    return load_runs(tmp_path / "all_runs.zip")


# ---- checkpoints ----


def _restore(path: Path):
    return trainer.restore(str(path))


@case("checkpoint that is not ours (a bare state_dict)")
def _ckpt_foreign(tmp_path):
    torch.save(
        trainer.build_model_and_algorithm(TrainConfig(device="cpu"), torch.device("cpu")).model.state_dict(),
        tmp_path / "m.pt",
    )
    return _restore(tmp_path / "m.pt")


@case("checkpoint truncated")
def _ckpt_truncated(tmp_path):
    data = checkpoint_file(tmp_path / "ok.pt").read_bytes()
    (tmp_path / "m.pt").write_bytes(data[: len(data) // 3])
    return _restore(tmp_path / "m.pt")


@case("checkpoint zero bytes")
def _ckpt_empty(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"")
    return _restore(tmp_path / "m.pt")


@case("image named .pt")
def _ckpt_png(tmp_path):
    (tmp_path / "m.pt").write_bytes(png())
    return _restore(tmp_path / "m.pt")


@case("checkpoint from another architecture")
def _ckpt_arch(tmp_path):
    payload = torch.load(checkpoint_file(tmp_path / "ok.pt"), weights_only=True)
    save_checkpoint(tmp_path / "m.pt", config={**payload["config"], "backbone": "seed"}, model_state=payload["model"])
    return _restore(tmp_path / "m.pt")


@case("checkpoint naming an unknown algorithm")
def _ckpt_algo(tmp_path):
    return _restore(checkpoint_file(tmp_path / "m.pt", algo="quantum"))


@case("checkpoint with a non-numeric ways")
def _ckpt_ways(tmp_path):
    return _restore(checkpoint_file(tmp_path / "m.pt", ways="five"))


# ---- class-set manifests ----


def _manifest(tmp_path, text: str | bytes):
    root = classset(tmp_path / "set")
    (root / "manifest.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_classset(root)


@case("manifest nested 100000 deep")
def _mf_deep(tmp_path):
    return _manifest(tmp_path, "[" * 100_000 + "]" * 100_000)


@case("manifest not UTF-8")
def _mf_bytes(tmp_path):
    return _manifest(tmp_path, b"\xff\xfe{\x00")


@case("manifest null")
def _mf_null(tmp_path):
    return _manifest(tmp_path, "null")


@case("manifest larger than 4 MB")
def _mf_huge(tmp_path):
    return _manifest(tmp_path, json.dumps({"format": "meta-playground-classset", "pad": "x" * 4_100_000}))


@case("manifest referencing a missing file")
def _mf_missing(tmp_path):
    m = {
        "format": "meta-playground-classset",
        "version": 1,
        "classes": [{"name": "a", "folder": "00-a", "examples": ["007.png"]}],
    }
    return _manifest(tmp_path, json.dumps(m))


@case("manifest with examples that are not names")
def _mf_ints(tmp_path):
    m = {
        "format": "meta-playground-classset",
        "version": 1,
        "classes": [{"name": "a", "folder": "00-a", "examples": [1, 2]}],
    }
    return _manifest(tmp_path, json.dumps(m))


@case("class set with a damaged example image")
def _mf_bad_png(tmp_path):
    root = classset(tmp_path / "set")
    (root / "00-a" / "000.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    return load_classset(root)


# ---- the test ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _tally_to_cache(request):
    yield
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        cache.set(
            "meta-playground/bad-inputs", {k: TALLY[k] for k in ("tried", "handled", "crashed", "failures")}
        )


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_handled(name, tmp_path, request):
    expect, fn = CASES[name]
    args = (
        [request.getfixturevalue("small_glyph_pool")]
        if "small_glyph_pool" in fn.__code__.co_varnames[: fn.__code__.co_argcount]
        else []
    )
    TALLY["tried"] += 1
    try:
        fn(tmp_path, *args)
        outcome, message = "loaded", ""
    except DataError as exc:
        outcome, message = "refused", str(exc)
    except BaseException as exc:
        TALLY["crashed"] += 1
        TALLY["failures"].append(f"{name}: crashed with {exc.__class__.__name__}")
        raise
    clear = outcome == expect and (
        outcome == "loaded" or (message.strip() != "" and "\n" not in message and len(message) < 600)
    )
    if not clear:
        TALLY["failures"].append(f"{name}: {outcome} ({message!r}), expected {expect}")
    assert outcome == expect, f"{name}: {outcome} ({message}), expected {expect}"
    assert clear, f"{name}: the message is not one clear line: {message!r}"
    TALLY["handled"] += 1


@pytest.mark.slow
def test_diverging_maml_stops_with_a_message_and_finite_weights(small_glyph_pool, tmp_path):
    """Inner learning rate 1e6: the run ends 'diverged', says so, and the saved weights hold no NaN."""
    TALLY["tried"] += 1
    config = TrainConfig(
        algo="maml",
        inner_lr=1e6,
        ways=5,
        shots=1,
        queries=2,
        meta_batch=2,
        iterations=5,
        val_every=0,
        device="cpu",
        checkpoint=str(tmp_path / "m.pt"),
    )
    events = list(trainer.run(config, pool=small_glyph_pool))
    end = events[-1]
    assert isinstance(end, Finished) and end.reason == "diverged", end
    assert "learning rate" in end.message and "\n" not in end.message
    algo, _, _ = trainer.restore(str(tmp_path / "m.pt"))
    assert all(torch.isfinite(p).all() for p in algo.model.state_dict().values() if p.is_floating_point())
    TALLY["handled"] += 1


# ---- the command line: exit 2, one line on stderr, no traceback ----


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _cli_folder_bad_image(tmp_path):
    folder(tmp_path / "data", {"a": [png()] * 3, "b": [png(), b"not an image"], "c": [png()] * 3})
    return ["train", "--dataset", "folder", "--data-root", str(tmp_path / "data"), "--iterations", "1"], "01.png"


def _cli_folder_bomb(tmp_path):
    folder(tmp_path / "data", {"a": [png()] * 3, "b": [bomb_png(50_000, 50_000)], "c": [png()] * 3})
    return ["train", "--dataset", "folder", "--data-root", str(tmp_path / "data"), "--iterations", "1"], "pixels"


def _cli_zip_escape(tmp_path):
    omniglot_zip(tmp_path / "images_background.zip", {"../../evil/char/evil.png": png()})
    return ["train", "--dataset", "omniglot", "--data-root", str(tmp_path), "--iterations", "1"], "outside"


def _cli_crafted_pickle(tmp_path):
    torch.save(
        {
            "format": "meta-playground-checkpoint",
            "version": 1,
            "config": {},
            "model": {},
            "x": _Exploit(str(tmp_path / "pwned")),
        },
        tmp_path / "evil.pt",
    )
    return ["eval", "--checkpoint", str(tmp_path / "evil.pt"), "--episodes", "2"], "refused"


def _cli_foreign_checkpoint(tmp_path):
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    return ["eval", "--checkpoint", str(tmp_path / "other.pt"), "--episodes", "2"], "not a Meta Playground checkpoint"


def _cli_bad_manifest(tmp_path):
    ckpt = checkpoint_file(tmp_path / "m.pt")
    root = classset(tmp_path / "set")
    (root / "manifest.json").write_text(
        '{"format": "meta-playground-classset", "version": 1, '
        '"classes": [{"name": "a", "folder": "../..", "examples": []}]}'
    )
    return [
        "eval",
        "--checkpoint",
        str(ckpt),
        "--dataset",
        "classset",
        "--data-root",
        str(root),
        "--episodes",
        "2",
    ], "plain"


def _cli_runs_escape(tmp_path):
    ckpt = checkpoint_file(tmp_path / "m.pt")
    (tmp_path / "secret.png").write_bytes(png())
    runs = _runs_folder(tmp_path / "runs", "../secret.png run01/training/class01.png\n")
    return ["omniglot-challenge", "--checkpoint", str(ckpt), "--runs", str(runs), "--device", "cpu"], "outside"


CLI_CASES = {
    "folder with a damaged image": _cli_folder_bad_image,
    "folder with a decompression bomb": _cli_folder_bomb,
    "omniglot zip with a '../' entry": _cli_zip_escape,
    "crafted pickle checkpoint": _cli_crafted_pickle,
    "checkpoint that is not ours": _cli_foreign_checkpoint,
    "class-set manifest escaping its folder": _cli_bad_manifest,
    "challenge labels escaping the runs folder": _cli_runs_escape,
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_bad_input_exits_2_with_one_line(name, tmp_path):
    args, needle = CLI_CASES[name](tmp_path)
    TALLY["tried"] += 1
    result = cli(*args, "--device", "cpu") if args[0] != "omniglot-challenge" else cli(*args)
    if "Traceback" in result.stderr or result.returncode not in (0, 2):
        TALLY["crashed"] += 1
        TALLY["failures"].append(f"cli {name}: exit {result.returncode}")
    lines = result.stderr.splitlines()
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stderr}"
    assert len(lines) == 1 and needle.lower() in lines[0].lower() and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "pwned").exists(), "loading the checkpoint ran code"
    assert not (tmp_path.parent / "evil").exists() and not Path("evil").exists()
    TALLY["handled"] += 1


@pytest.mark.slow
def test_cli_diverging_run_exits_2_and_keeps_finite_weights(tmp_path):
    TALLY["tried"] += 1
    ckpt = tmp_path / "m.pt"
    result = cli(
        "train",
        "--algo",
        "maml",
        "--inner-lr",
        "1e6",
        "--iterations",
        "3",
        "--meta-batch",
        "1",
        "--queries",
        "2",
        "--val-every",
        "0",
        "--device",
        "cpu",
        "--checkpoint",
        str(ckpt),
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "learning rate" in errors[0] and result.stderr.rstrip().endswith(errors[0]), (
        result.stderr
    )
    algo, _, _ = trainer.restore(str(ckpt))
    assert all(torch.isfinite(p).all() for p in algo.model.state_dict().values() if p.is_floating_point())
    TALLY["handled"] += 1


def test_tally_no_bad_input_crashed(capsys):
    """Runs last in this module: print the tally (also in .pytest_cache/v/meta-playground/bad-inputs)."""
    with capsys.disabled():
        print(
            f"\nbad inputs: {TALLY['tried']} tried, {TALLY['handled']} handled with a clear message, "
            f"{TALLY['crashed']} crashed"
        )
    assert TALLY["crashed"] == 0, TALLY["failures"]
    assert TALLY["handled"] == TALLY["tried"], TALLY["failures"]
