"""Fetch Omniglot where the network allows, through torchvision's downloader.

What: ``images_background.zip`` and ``images_evaluation.zip`` (the official
zips, which :mod:`engine.data.omniglot` reads as they are; checked against
torchvision's MD5 sums) and, optionally, Lake's 20 one-shot runs
(``all_runs.zip``, public in the same repository; no published checksum, so
it is checked by reading it with :func:`engine.challenge.load_runs`).

From where: torchvision's ``Omniglot.download_url_prefix`` (Brenden Lake's
GitHub repository). ``META_PLAYGROUND_OMNIGLOT_URL`` (or ``base_url=``)
points at a mirror instead; a mirror's zips are checked by reading them, not
by the official MD5 sums (the tests serve a small fixture on 127.0.0.1 this way).

Safety: each file is downloaded into a temporary folder next to the target
and renamed into place only once it is complete and checked, so an
interrupted download never leaves a half file that looks present. Offline,
or when the server refuses, the error is one :class:`DataError` saying what
to do instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import urllib.error
from pathlib import Path
from typing import Callable, Sequence

from .data.base import DataError

ENV_URL = "META_PLAYGROUND_OMNIGLOT_URL"
SETS = ("images_background", "images_evaluation")
RUNS_PATH = "one-shot-classification/all_runs.zip"  # relative to the base URL (python/ in Lake's repository)
Progress = Callable[[str, int, int], None]  # (file name, bytes so far, total bytes or -1)


def official_base() -> str:
    from torchvision.datasets import Omniglot

    return Omniglot.download_url_prefix


def official_md5() -> dict[str, str]:
    from torchvision.datasets import Omniglot

    return dict(Omniglot.zips_md5)


def _watch(path: Path, name: str, on_progress: Progress | None, stop: threading.Event) -> None:
    """Report the growing size of ``path`` a few times a second (torchvision's downloader has no callback)."""
    while not stop.wait(0.2):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if on_progress is not None:
            on_progress(name, size, -1)


def _fetch(url: str, folder: Path, filename: str, md5: str | None, on_progress: Progress | None) -> Path:
    from torchvision.datasets.utils import download_url

    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(folder / filename, filename, on_progress, stop), daemon=True)
    watcher.start()
    try:
        download_url(url, str(folder), filename=filename, md5=md5)
    except urllib.error.HTTPError as exc:
        raise DataError(f"could not download {url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"could not download {url} ({reason}): no network? Put the Omniglot zips in the data folder by hand "
            f"(from {official_base()}) and pass --data-root"
        ) from None
    except RuntimeError as exc:  # torchvision: "File not found or corrupted." (MD5 mismatch)
        raise DataError(f"{url} arrived damaged ({exc}); try the download again") from None
    finally:
        stop.set()
        watcher.join()
    path = folder / filename
    if not path.is_file():
        raise DataError(f"could not download {url}: nothing arrived")
    if on_progress is not None:
        size = path.stat().st_size
        on_progress(filename, size, size)
    return path


def _check_zip(path: Path, name: str) -> None:
    """A mirror's file (no official checksum): it must read as what it claims to be."""
    if name == "all_runs":
        from .challenge import load_runs

        load_runs(path)
    else:
        from .data.omniglot import _read_zip

        _read_zip(path)


def download_omniglot(
    root: str | os.PathLike,
    sets: Sequence[str] = SETS,
    runs: bool = False,
    base_url: str | None = None,
    on_progress: Progress | None = None,
) -> list[Path]:
    """Download the missing Omniglot zips into ``root``; return the paths of all the requested files.

    Files already in ``root`` are kept (and not fetched again). ``runs`` also fetches Lake's
    ``all_runs.zip``. Raises :class:`DataError` with a clear message when offline.
    """
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise DataError(f"unknown Omniglot set {unknown[0]!r}; choose from {', '.join(SETS)}")
    base = (base_url or os.environ.get(ENV_URL) or official_base()).rstrip("/")
    official = base == official_base().rstrip("/")
    md5 = official_md5() if official else {}
    target = Path(root)
    target.mkdir(parents=True, exist_ok=True)
    wanted = [(s, f"{base}/{s}.zip", f"{s}.zip", md5.get(s)) for s in sets]
    if runs:
        wanted.append(("all_runs", f"{base}/{RUNS_PATH}", "all_runs.zip", None))
    done: list[Path] = []
    for name, url, filename, checksum in wanted:
        final = target / filename
        if final.is_file():
            done.append(final)
            continue
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=target))
        try:
            path = _fetch(url, tmp, filename, checksum, on_progress)
            if checksum is None:
                _check_zip(path, name)
            os.replace(path, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        done.append(final)
    return done


def fetch_runs(path: str | os.PathLike, base_url: str | None = None, on_progress: Progress | None = None) -> Path:
    """``omniglot-challenge --download``: ``path`` itself when it exists, else Lake's runs fetched to it.

    ``path`` ending in ``.zip`` is the file to write; otherwise it is a folder that receives ``all_runs.zip``.
    """
    target = Path(path)
    if target.exists() and (target.is_file() or not (target / "all_runs.zip").exists()):
        return target
    folder = target.parent if target.suffix.lower() == ".zip" else target
    fetched = download_omniglot(folder, sets=(), runs=True, base_url=base_url, on_progress=on_progress)[0]
    if target.suffix.lower() == ".zip" and fetched != target:
        os.replace(fetched, target)
        return target
    return fetched
