"""Kill a process at random points while it saves, many times; count the files left unloadable (issue 21).

Run as ``python tests/kill_saver.py KIND FOLDER KILLS SEED`` (KIND: checkpoint,
classset or preferences). This process imports what the save needs once,
then forks KILLS children: each one saves two alternating versions of the file
in a loop, as fast as it can, and is SIGKILLed after a random delay, so the
kill lands at a random point of a write (the temp file, the fsync, the rename,
or between two saves). After each kill the file must load and be one of the two
versions. The last line of stdout is one JSON object: kills, unloadable, inside_save (kills
that landed while a save call was running), mid_write (kills that left a temp
file behind; Qt's QSaveFile writes through an unnamed O_TMPFILE on Linux, so
the preferences leave none), problems.
"""

from __future__ import annotations

import json
import mmap
import os
import random
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def checkpoint_saver(path: Path):
    import torch

    from engine.checkpoint import load_checkpoint, save_checkpoint

    weights = {1: torch.full((200_000,), 1.0), 2: torch.full((50_000,), 2.0)}  # two sizes: truncation shows

    def save(version: int) -> None:
        save_checkpoint(path, config={"version": version}, model_state={"w": weights[version]}, iteration=version)

    def check() -> int:
        payload = load_checkpoint(path)
        version = payload["iteration"]
        assert payload["config"] == {"version": version} and bool((payload["model"]["w"] == version).all())
        return version

    return save, check


def classset_saver(path: Path):
    import numpy as np

    from engine.classset import ClassSet, load_classset, save_classset

    sets = {v: ClassSet([f"v{v} a", f"v{v} b"], [[np.full((28, 28), v, np.uint8)] * (3 * v)] * 2) for v in (1, 2)}

    def save(version: int) -> None:
        save_classset(path, sets[version])

    def check() -> int:
        loaded = load_classset(path)
        version = int(loaded.names[0][1])
        assert loaded.names == [f"v{version} a", f"v{version} b"] and loaded.shots() == [3 * version] * 2
        assert all(int(x[0, 0]) == version for e in loaded.examples for x in e)
        return version

    return save, check


def preferences_saver(path: Path):
    from PySide6.QtCore import QSettings

    from gui.settings import open_settings, read_json, write_json

    def save(version: int) -> None:
        settings = open_settings(path)
        write_json(settings, "run/hyperparameters", {"version": version, "ways": 5 * version,
                                                     "pad": "x" * 200_000 * version})
        settings.setValue("data/source", f"source{version}")
        settings.sync()
        assert settings.status() == QSettings.Status.NoError

    def check() -> int:
        settings = open_settings(path)
        assert settings.status() == QSettings.Status.NoError, settings.status()
        values = read_json(settings, "run/hyperparameters")
        version = values["version"]
        assert values["ways"] == 5 * version and settings.value("data/source") == f"source{version}"
        return version

    return save, check


SAVERS = {"checkpoint": checkpoint_saver, "classset": classset_saver, "preferences": preferences_saver}


def leftovers(folder: Path, name: str) -> list[Path]:
    """Temp files or folders a killed save left next to ``name``."""
    return [p for p in folder.iterdir() if p.name != name and not p.name.endswith(".lock")]


def main() -> None:
    kind, folder, kills, seed = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / {"checkpoint": "model.pt", "classset": "my set", "preferences": "settings.ini"}[kind]
    save, check = SAVERS[kind](path)
    save(1)  # the previous file every kill must leave intact
    check()
    result = {"kind": kind, "kills": 0, "unloadable": 0, "mid_write": 0, "inside_save": 0, "versions_seen": [],
              "problems": []}
    inside = mmap.mmap(-1, 1)  # shared with the forked children: 1 while a save call is running
    for _ in range(kills):
        inside[0] = 0
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: save, save, save... until killed
            os.close(read)
            version = 2
            try:
                save(version)
                os.write(write, b"1")  # one save done: from now on kill at random
                while True:
                    version = 3 - version
                    inside[0] = 1
                    save(version)
                    inside[0] = 0
            finally:
                os._exit(1)
        os.close(write)
        os.read(read, 1)  # blocks until the child finished its first save (or died)
        os.close(read)
        time.sleep(rng.uniform(0.0, 0.25))  # the random point of the kill (not a race to win)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        result["kills"] += 1
        result["inside_save"] += inside[0]
        left = leftovers(folder, path.name)
        result["mid_write"] += bool(left)
        # the dead child's lock: Qt removes a dead owner's lock by itself, but waits its 30 s stale time when
        # the kill came before the owner wrote its pid into it; the data file is what this test is about
        for lock in folder.glob("*.lock"):
            lock.unlink(missing_ok=True)
        try:
            result["versions_seen"].append(check())
        except Exception as exc:  # noqa: BLE001 - any failure to load is what this counts
            result["unloadable"] += 1
            result["problems"].append(f"{type(exc).__name__}: {exc}"[:300])
            save(1)  # start the next round from an intact file
        for p in left:  # the next round starts clean (a later save cleans up or recovers on its own anyway)
            if p.is_dir():
                import shutil

                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
    result["versions_seen"] = sorted(set(result["versions_seen"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
