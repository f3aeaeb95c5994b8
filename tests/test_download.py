"""Omniglot download, against a local HTTP server on 127.0.0.1 serving tiny zips in the official format."""

from __future__ import annotations

import functools
import http.server
import io
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data import load_source
from engine.data.base import DataError
from engine.download import ENV_URL, RUNS_PATH, download_omniglot, official_base


def png(seed: int) -> bytes:
    """A 105x105 Omniglot-like PNG: dark strokes on white paper."""
    rng = np.random.default_rng(seed)
    img = np.full((105, 105), 255, np.uint8)
    for _ in range(3):
        r, c = rng.integers(10, 90, 2)
        img[r : r + 12, c : c + 4] = 0
    buf = io.BytesIO()
    Image.fromarray(img).convert("1").save(buf, format="PNG")
    return buf.getvalue()


def omniglot_zip(path: Path, top: str, alphabets: int = 2, characters: int = 3, drawers: int = 4) -> None:
    """``top/ALPHABET/characterNN/NNNN_MM.png``, as in images_background.zip."""
    with zipfile.ZipFile(path, "w") as z:
        for a in range(alphabets):
            for c in range(1, characters + 1):
                for d in range(1, drawers + 1):
                    z.writestr(
                        f"{top}/{top[-4:]}_Alphabet{a}/character{c:02d}/{c:02d}{a:02d}_{d:02d}.png",
                        png(a * 100 + c * 10 + d),
                    )


def runs_zip(path: Path) -> None:
    """``all_runs.zip``: run01 with 2 training classes and 2 test items."""
    with zipfile.ZipFile(path, "w") as z:
        lines = []
        for k in (1, 2):
            z.writestr(f"run01/training/class{k:02d}.png", png(k))
            z.writestr(f"run01/test/item{k:02d}.png", png(k + 50))
            lines.append(f"run01/test/item{k:02d}.png run01/training/class{k:02d}.png")
        z.writestr("run01/class_labels.txt", "\n".join(lines) + "\n")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request lines on stderr
        pass


@pytest.fixture
def mirror(tmp_path):
    """A threaded HTTP server on 127.0.0.1 serving the fixture zips; yields (base URL, served folder)."""
    served = tmp_path / "served"
    (served / Path(RUNS_PATH).parent).mkdir(parents=True)
    omniglot_zip(served / "images_background.zip", "images_background")
    omniglot_zip(served / "images_evaluation.zip", "images_evaluation", alphabets=1)
    runs_zip(served / RUNS_PATH)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()
    thread.join()


def test_downloads_the_sets_and_the_runs_with_progress(mirror, tmp_path):
    base, served = mirror
    root = tmp_path / "omniglot"
    seen: list[tuple[str, int, int]] = []
    files = download_omniglot(root, runs=True, base_url=base, on_progress=lambda *a: seen.append(a))
    assert sorted(p.name for p in files) == ["all_runs.zip", "images_background.zip", "images_evaluation.zip"]
    for p in files:
        source = served / (RUNS_PATH if p.name == "all_runs.zip" else p.name)
        assert p.read_bytes() == source.read_bytes()
    finals = {name: (done, total) for name, done, total in seen if total >= 0}
    assert finals["images_background.zip"][0] == (served / "images_background.zip").stat().st_size
    assert sorted(q.name for q in root.iterdir()) == sorted(p.name for p in files)  # no temporary folders left
    pool = load_source("omniglot", root, rotations=False, cache=False)
    assert pool.num_classes == 2 * 3 + 1 * 3 and len(pool.images) == 9 * 4
    from engine.challenge import load_runs

    assert len(load_runs(root / "all_runs.zip")) == 1


def test_download_flag_through_the_environment_variable(mirror, tmp_path, monkeypatch):
    base, _ = mirror
    monkeypatch.setenv(ENV_URL, base)
    root = tmp_path / "data"
    pool = load_source("omniglot", root, rotations=False, allow_download=True, cache=False)
    assert pool.num_classes == 9
    stamp = (root / "images_background.zip").stat().st_mtime_ns
    load_source("omniglot", root, rotations=False, allow_download=True, cache=False)  # present: not fetched again
    assert (root / "images_background.zip").stat().st_mtime_ns == stamp


def test_offline_is_one_clear_error_and_leaves_nothing(tmp_path):
    with socket.socket() as s:  # a port on 127.0.0.1 that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "omniglot"
    with pytest.raises(DataError, match="could not download .*no network"):
        download_omniglot(root, base_url=f"http://127.0.0.1:{port}")
    assert list(root.iterdir()) == []


def test_missing_and_damaged_files_are_refused(mirror, tmp_path):
    base, served = mirror
    (served / "images_evaluation.zip").write_bytes(b"<html>not a zip</html>")
    root = tmp_path / "omniglot"
    with pytest.raises(DataError, match="not a readable zip"):
        download_omniglot(root, base_url=base)
    assert [p.name for p in root.iterdir()] == ["images_background.zip"]  # the good one is kept, no half file
    (served / "images_evaluation.zip").unlink()
    with pytest.raises(DataError, match="404"):
        download_omniglot(root, base_url=base)


def test_the_default_source_is_torchvisions(monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    assert official_base().startswith("https://raw.githubusercontent.com/brendenlake/omniglot")


def test_challenge_runs_are_fetched_to_the_given_path(mirror, tmp_path):
    from engine.challenge import load_runs
    from engine.download import fetch_runs

    base, _ = mirror
    into_folder = fetch_runs(tmp_path / "runs", base_url=base)
    assert into_folder == tmp_path / "runs" / "all_runs.zip" and len(load_runs(into_folder)) == 1
    named = fetch_runs(tmp_path / "elsewhere" / "lake.zip", base_url=base)
    assert named == tmp_path / "elsewhere" / "lake.zip" and len(load_runs(named)) == 1
    assert fetch_runs(named, base_url="http://127.0.0.1:9") == named  # present: nothing fetched
