"""A seeded random walk over the real main window, as a restless person would use it (issue 21).

:class:`Monkey` builds :class:`gui.main_window.MainWindow` (offscreen), then
performs random actions: Start / Pause / Resume / Stop, data sources (the
built-in glyphs, and folders it makes: good, empty, missing, hostile, a class
set), algorithms and every setting of the Algorithm panel (valid and invalid
values, typed garbage), recipes, Resample, Browse data, tabs, strokes on the
New classes canvas, cards (add, remove, rename, count), Adapt, queries, Undo,
Compare runs, Quick train, the file dialogs (answered by the harness with
good, missing, unwritable and hostile paths), and closing and reopening the
window.

What fails a walk (:attr:`Monkey.failures`): an uncaught exception
(``sys.excepthook``, ``threading.excepthook``), a Qt warning or critical
(``qInstallMessageHandler``), a GUI stall over ``stall_limit_ms`` (a 20 ms
``QTimer`` heartbeat measures how late the event loop runs), and a thread,
pool worker or child process left behind after a close. Every failure names
the seed and the actions that led to it; the walk is seeded, so the same seed
replays the same choices (timing may differ).

Used by ``tests/test_monkey.py`` (a short walk) and ``bench/monkey.py`` (soaks).
"""

from __future__ import annotations

import gc
import json
import os
import random
import struct
import sys
import threading
import time
import traceback
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HEARTBEAT_MS = 20
#: Qt messages that say nothing about the app (the offscreen platform's limits)
BENIGN_QT_MESSAGES = (
    "This plugin does not support",
    "propagateSizeHints",
)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 40_000, height: int = 40_000) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` grey pixels (over PIL's decompression-bomb limit),
    with one tiny data chunk: decoding it would need gigabytes; it must be refused, not attempted."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def child_pids() -> set[int]:
    """This process's children (Linux /proc, every thread's)."""
    pids: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{os.getpid()}/task").iterdir())
    except OSError:
        return pids
    for task in tasks:
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            pass
    return pids


@dataclass
class Figures:
    """What a walk measured."""

    actions: int = 0
    skipped: int = 0  # chosen, but its control was disabled (as a person would find it)
    uncaught_exceptions: int = 0
    qt_messages: int = 0
    stalls_over_limit: int = 0
    threads_left: int = 0
    processes_left: int = 0
    closes: int = 0
    windows_alive: int = 0  # closed windows still held by Python after a collection (at the last close)
    runs_started: int = 0
    gaps_ms: list[float] = field(default_factory=list)
    by_action: dict[str, list[int]] = field(default_factory=dict)  # action -> [done, found disabled]

    def stall_summary(self) -> dict:
        late = np.maximum(np.asarray(self.gaps_ms or [HEARTBEAT_MS]) - HEARTBEAT_MS, 0.0)
        return {"max_stall_ms": round(float(late.max()), 1), "p99_stall_ms": round(float(np.percentile(late, 99)), 1),
                "median_stall_ms": round(float(np.median(late)), 1), "heartbeats": int(late.size)}


class Monkey:
    """A seeded random walk over the main window; see the module docstring."""

    def __init__(self, seed: int, workdir: Path, pool: object = None, stall_limit_ms: float = 1000.0,
                 log: Callable[[str], None] | None = None) -> None:
        from PySide6.QtWidgets import QApplication

        self.seed = seed
        self.rng = random.Random(seed)
        self.workdir = Path(workdir)
        self.pool = pool
        self.stall_limit_ms = stall_limit_ms
        self.log = log or (lambda _text: None)
        self.app = QApplication.instance()
        self.window = None
        self.trail: list[str] = []  # every action, in order (the reproduction)
        self.failures: list[str] = []
        self.figures = Figures()
        self._measuring = False
        self._last_beat = 0.0
        self._heartbeat = None
        self._closed_windows: list[weakref.ref] = []
        self._make_files()
        self._baseline_threads = set(threading.enumerate())
        self._baseline_children = child_pids()

    # -- the files the dialogs and data sources are answered with -------------------------------------------
    def _make_files(self) -> None:
        from PIL import Image

        from engine.data import make_glyph_pool

        w = self.workdir
        glyphs = make_glyph_pool(classes={"train": 12, "val": 0, "test": 0}, examples_per_class=4, seed=self.seed)
        arrays = (glyphs.images.numpy() * 255 if glyphs.images.dtype.is_floating_point else glyphs.images.numpy())
        arrays = arrays.reshape(len(arrays), 28, 28).astype(np.uint8)
        self.good_folder = w / "good"
        for i, label in enumerate(glyphs.labels.tolist()):
            folder = self.good_folder / f"class {label:02d} ü"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arrays[i]).save(folder / f"{i}.png")
        self.good_images = sorted(str(p) for p in self.good_folder.rglob("*.png"))
        self.empty_folder = w / "empty"
        self.empty_folder.mkdir()
        self.missing_folder = w / "missing"
        hostile = w / "hostile"
        for name in ("a", "b ñ 名", "c"):
            (hostile / name).mkdir(parents=True)
        (hostile / "a" / "lies.png").write_text("this is not an image")
        (hostile / "a" / "empty.png").write_bytes(b"")
        (hostile / "a" / "bomb.png").write_bytes(bomb_png())
        Image.fromarray(arrays[0]).save(hostile / "b ñ 名" / "ok 1.png")
        (hostile / "b ñ 名" / "jpeg-named.png").write_bytes((hostile / "b ñ 名" / "ok 1.png").read_bytes())
        Image.fromarray(arrays[1]).convert("RGBA").save(hostile / "c" / "rgba.png")
        (hostile / "c" / "loop").symlink_to(hostile / "c", target_is_directory=True)
        (hostile / "self.png").symlink_to(hostile / "self.png")  # a symlink loop posing as a file
        self.hostile_folder = hostile
        self.hostile_images = [str(p) for p in (hostile / "a" / "lies.png", hostile / "a" / "empty.png",
                                                hostile / "a" / "bomb.png", hostile / "self.png",
                                                hostile / "c" / "rgba.png", hostile / "b ñ 名" / "ok 1.png")]
        from engine import api

        self.classset_folder = Path(api.save_classset(str(w / "my classes"), ["α", "beta"],
                                                      [[arrays[0], arrays[1]], [arrays[4]]]))
        self.bad_manifest = w / "bad manifest"
        self.bad_manifest.mkdir()
        (self.bad_manifest / "manifest.json").write_text('{"classes": [{"name": "x", "folder": "../../etc"}]')
        self.a_file = w / "a file.txt"
        self.a_file.write_text("not a folder")
        self.not_a_model = w / "model.pt"
        self.not_a_model.write_text("not a checkpoint")
        self.empty_model = w / "empty.pt"
        self.empty_model.write_bytes(b"")
        self.png_model = w / "picture.pt"
        self.png_model.write_bytes(Path(self.good_images[0]).read_bytes())
        self.model_loop = w / "loop.pt"
        self.model_loop.symlink_to(self.model_loop)
        self.saves = w / "saves ñ"
        self.saves.mkdir()

    def _run_models(self) -> list[Path]:
        folder = self.workdir / "settings-runs"
        return sorted(folder.glob("run-*.pt")) if folder.is_dir() else []

    def _open_path(self, kind: str) -> str:
        """A path a person might pick in an Open dialog; "" is a cancelled dialog."""
        rng = self.rng
        choices = {
            "model": lambda: rng.choice([
                *(str(p) for p in self._run_models()[-2:]), self._truncated_model(), str(self.not_a_model),
                str(self.empty_model), str(self.png_model), str(self.model_loop), str(self.missing_folder / "m.pt"),
                str(self.workdir), "",
            ]),
            "image": lambda: rng.choice([*self.good_images[:3], *self.hostile_images, str(self.missing_folder),
                                         str(self.empty_folder), ""]),
            "folder": lambda: rng.choice([
                str(self.good_folder), str(self.empty_folder), str(self.missing_folder), str(self.hostile_folder),
                str(self.classset_folder), str(self.bad_manifest), str(self.a_file), "",
            ]),
        }
        return choices[kind]()

    def _truncated_model(self) -> str:
        runs = self._run_models()
        if not runs:
            return str(self.not_a_model)
        target = self.workdir / "truncated.pt"
        data = runs[-1].read_bytes()
        target.write_bytes(data[: max(1, len(data) // 2)])
        return str(target)

    def _save_path(self, suffix: str) -> str:
        """A path a person might pick in a Save dialog: fine, odd, unwritable or hostile; "" is cancelled."""
        rng = self.rng
        return rng.choice([
            str(self.saves / f"out{suffix}"), str(self.saves / f"ñ 名 with spaces{suffix}"),
            str(self.saves / f"new\nline{suffix}"), str(self.a_file / f"under a file{suffix}"),
            str(self.workdir / "made by a save" / "deeper" / f"x{suffix}"), f"/proc/meta-monkey{suffix}",
            str(self.saves),
            str(self.saves / ("long" * 80 + suffix)), "",
        ])

    # -- hooks --------------------------------------------------------------------------------------------------
    def install(self) -> None:
        """Catch every uncaught exception and Qt warning from here on (:meth:`uninstall` restores)."""
        from PySide6.QtCore import QTimer, QtMsgType, qInstallMessageHandler

        self._old_hooks = (sys.excepthook, threading.excepthook)
        sys.excepthook = lambda t, v, tb: self._fail("uncaught exception",
                                                     "".join(traceback.format_exception(t, v, tb)))
        threading.excepthook = lambda a: self._fail(
            f"uncaught exception in thread {a.thread.name if a.thread else '?'}",
            "".join(traceback.format_exception(a.exc_type, a.exc_value, a.exc_traceback)))

        def on_qt_message(kind, context, message: str) -> None:
            if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg) and not any(
                    b in message for b in BENIGN_QT_MESSAGES):
                self._fail(f"Qt {kind.name}", message)

        self._old_qt_handler = qInstallMessageHandler(on_qt_message)
        self._heartbeat = QTimer()
        self._heartbeat.setInterval(HEARTBEAT_MS)
        self._heartbeat.timeout.connect(self._beat)
        self._heartbeat.start()

    def uninstall(self) -> None:
        from PySide6.QtCore import qInstallMessageHandler

        self._heartbeat.stop()
        sys.excepthook, threading.excepthook = self._old_hooks
        qInstallMessageHandler(self._old_qt_handler)

    def _beat(self) -> None:
        now = time.perf_counter()
        if self._measuring and self._last_beat:
            gap = 1000 * (now - self._last_beat)
            self.figures.gaps_ms.append(gap)
            if gap - HEARTBEAT_MS > self.stall_limit_ms:
                self.figures.stalls_over_limit += 1
                self._fail("GUI stall", f"the event loop did not run for {gap:.0f} ms")
        self._last_beat = now

    def _fail(self, what: str, details: str) -> None:
        if what.startswith("uncaught"):
            self.figures.uncaught_exceptions += 1
        elif what.startswith("Qt"):
            self.figures.qt_messages += 1
        recent = " ; ".join(self.trail[-12:])
        text = (f"{what} (seed {self.seed}, after action {len(self.trail)}: {self.trail[-1] if self.trail else '-'})\n"
                f"{details.rstrip()}\nlast actions: {recent}")
        self.failures.append(text)
        self.log(text)

    # -- the event loop ----------------------------------------------------------------------------------------
    def wait(self, ms: int) -> None:
        from PySide6.QtTest import QTest

        QTest.qWait(ms)

    def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            self.wait(10)
        return True

    # -- the window ------------------------------------------------------------------------------------------
    def open_window(self) -> None:
        from gui.main_window import MainWindow
        from gui.settings import open_settings

        self._last_beat = 0.0
        self.window = MainWindow(settings=open_settings(self.workdir / "settings.ini"), pool=self.pool)
        self.window.resize(1280, 800)
        self.window.show()
        self.window.start_loading()
        if not self.wait_until(lambda: self.window.ready and self.window.data is not None, 120):
            self._fail("window", "the engine did not load within 120 s")
        self._measuring = True

    def close_window(self) -> None:
        """Close the window (as File > Quit does), then check that nothing it started is left running."""
        from PySide6.QtCore import QThreadPool

        self._measuring = False
        window, self.window = self.window, None
        window.close()
        window.deleteLater()
        self._closed_windows.append(weakref.ref(window))
        del window
        self.wait(0)
        self.figures.closes += 1
        QThreadPool.globalInstance().waitForDone(2000)
        left = [t for t in set(threading.enumerate()) - self._baseline_threads if t.is_alive()]
        for thread in left:
            thread.join(0.5)
        left = [t.name for t in left if t.is_alive()]
        pool_active = QThreadPool.globalInstance().activeThreadCount()
        children = child_pids() - self._baseline_children
        if children:  # helper processes get a moment to exit
            self.wait_until(lambda: not (child_pids() - self._baseline_children), 5)
            children = child_pids() - self._baseline_children
        gc.collect()
        self.figures.windows_alive = sum(ref() is not None for ref in self._closed_windows)
        self.figures.threads_left += len(left) + pool_active
        self.figures.processes_left += len(children)
        if left or pool_active or children:
            from gui import background

            running = [getattr(getattr(w, "_func", None), "__name__", "?") for w in list(background._started)]
            self._fail("left behind after close",
                       f"threads {left}, {pool_active} pool workers ({running}), children {children}")

    # -- the walk ----------------------------------------------------------------------------------------------
    def walk(self, actions: int, progress_every: int = 0) -> Figures:
        """Open the window, do ``actions`` random actions, close it; returns the figures (failures in
        :attr:`failures`)."""
        from PySide6.QtWidgets import QFileDialog

        saved = {name: getattr(QFileDialog, name) for name in
                 ("getOpenFileName", "getOpenFileNames", "getSaveFileName", "getExistingDirectory")}
        QFileDialog.getOpenFileName = staticmethod(self._dialog_open)
        QFileDialog.getOpenFileNames = staticmethod(self._dialog_open_many)
        QFileDialog.getSaveFileName = staticmethod(self._dialog_save)
        QFileDialog.getExistingDirectory = staticmethod(self._dialog_folder)
        self.install()
        began = time.perf_counter()
        try:
            self.open_window()
            table = self.actions()
            names = [name for name, _fn, _w in table]
            weights = [w for _name, _fn, w in table]
            fns = {name: fn for name, fn, _w in table}
            for n in range(actions):
                name = self.rng.choices(names, weights)[0]
                self.trail.append(name)
                try:
                    done = fns[name]()
                except Exception:  # raised through the action (a slot called directly): a failure too
                    self._fail("uncaught exception", traceback.format_exc())
                    done = None
                counts = self.figures.by_action.setdefault(name, [0, 0])
                counts[done is False] += 1
                if done is False:
                    self.trail[-1] += " (disabled)"
                    self.figures.skipped += 1
                self.figures.actions += 1
                self.wait(self.rng.choice((0, 0, 5, 20, 60)))
                if progress_every and (n + 1) % progress_every == 0:
                    self.log(f"{n + 1} actions, {time.perf_counter() - began:.0f} s, "
                             f"{len(self.failures)} failures")
            self.trail.append("close")
            self.close_window()
        finally:
            self.uninstall()
            for name, fn in saved.items():
                setattr(QFileDialog, name, fn)
        return self.figures

    def replay_text(self) -> str:
        """The seed and every action, to reproduce a failure."""
        return f"seed {self.seed}; actions: " + json.dumps(self.trail, ensure_ascii=False)

    # -- dialogs -------------------------------------------------------------------------------------------------
    def _dialog_open(self, parent=None, caption: str = "", *args, **kwargs) -> tuple[str, str]:
        kind = "model" if "model" in caption.lower() else "image"
        path = self._open_path(kind)
        self.trail[-1] += f" [{caption!s}: {path!r}]"
        return path, ""

    def _dialog_open_many(self, parent=None, caption: str = "", *args, **kwargs) -> tuple[list[str], str]:
        k = self.rng.choice((0, 1, 2, 5))
        paths = [self._open_path("image") for _ in range(k)]
        paths = [p for p in paths if p]
        self.trail[-1] += f" [{caption!s}: {paths!r}]"
        return paths, ""

    def _dialog_save(self, parent=None, caption: str = "", directory: str = "", *args, **kwargs) -> tuple[str, str]:
        path = self._save_path(Path(directory).suffix if directory else "")
        self.trail[-1] += f" [{caption!s}: {path!r}]"
        return path, ""

    def _dialog_folder(self, parent=None, caption: str = "", *args, **kwargs) -> str:
        path = self._open_path("folder")
        self.trail[-1] += f" [{caption!s}: {path!r}]"
        return path

    # -- actions: each returns False when its control is disabled (nothing done) ------------------------------
    def actions(self) -> list[tuple[str, Callable[[], bool | None], float]]:
        return [
            ("start", self.start, 6), ("pause", self.pause, 3), ("stop", self.stop, 4),
            ("wait for the run", self.wait_for_run, 2), ("source", self.source, 3),
            ("folder edit", self.folder_edit, 1), ("algorithm", self.algorithm, 3), ("setting", self.setting, 8),
            ("tiny settings", self.tiny_settings, 4), ("typed setting", self.typed_setting, 2),
            ("recipe", self.recipe, 1), ("resample", self.resample, 3), ("browse data", self.browse_data, 2),
            ("close data browser", self.close_browser, 1), ("tab", self.tab, 4), ("stroke", self.stroke, 8),
            ("mouse stroke", self.mouse_stroke, 2), ("clear canvas", self.clear_canvas, 1),
            ("add to class", self.add_to_class, 6), ("remove example", self.remove_example, 2),
            ("remove class", self.remove_class, 1), ("class count", self.class_count, 1),
            ("rename class", self.rename_class, 2), ("select class", self.select_class, 2), ("adapt", self.adapt, 5),
            ("undo", self.undo, 3), ("adapt steps", self.adapt_settings, 1), ("compare", self.compare, 1),
            ("stop compare", self.stop_compare, 1), ("quick train", self.quick_train, 1),
            ("open model", self.open_model, 2), ("save model", self.save_model, 2), ("export", self.export, 1),
            ("load images", self.load_images, 2), ("load folder", self.load_folder, 1),
            ("save class set", self.save_set, 1), ("load query", self.load_query, 1),
            ("pick model", self.pick_model, 1), ("close and reopen", self.reopen, 0.5),
        ]

    @staticmethod
    def _usable(widget) -> bool:
        return widget is not None and widget.isEnabled() and widget.isVisibleTo(widget.window())

    TINY = {"iterations": 5, "meta_batch": 1, "queries": 2, "val_every": 0, "val_episodes": 5, "ways": 5,
            "shots": 1, "inner_steps": 1, "time_budget": None, "workers": 1}

    def tiny_settings(self) -> bool:
        """Settings a person fixes after an invalid edit: a valid, tiny run (a few iterations)."""
        panel = self.window.algorithm_panel
        self._bring_to_front(panel)
        if not self._usable(panel):
            return False
        panel.set_values({**panel.values(), **self.TINY, "val_every": self.rng.choice((0, 0, 2))})
        return True

    def _bring_to_front(self, widget) -> None:
        """A person clicks only what they see: first show the tab that holds ``widget``."""
        tabs = self.window.tabs
        for i in range(tabs.count()):
            page = tabs.widget(i)
            if page is widget or page.isAncestorOf(widget):
                if tabs.currentIndex() != i:
                    tabs.setCurrentIndex(i)
                    self.trail[-1] += f" (on tab {tabs.tabText(i)})"
                return

    def _click(self, button) -> bool:
        if button is None:
            return False
        self._bring_to_front(button)
        if not self._usable(button):
            return False
        button.click()
        return True

    def _trigger(self, action) -> bool:
        if not action.isEnabled():
            return False
        action.trigger()
        return True

    def start(self) -> bool:
        w = self.window
        if self.rng.random() < 0.5:
            return self._click(w.run_controls.start_button)
        if not w.start_action.isEnabled():
            return False
        w.start_action.trigger()
        self.figures.runs_started += 1
        return True

    def pause(self) -> bool:
        return self._trigger(self.window.pause_action)

    def stop(self) -> bool:
        return self._trigger(self.window.stop_action)

    def wait_for_run(self) -> None:
        """A person watching: give a run a few seconds to finish (long ones are stopped later)."""
        controller = self.window.controller
        self.wait_until(lambda: not controller.is_active, self.rng.choice((0.5, 2.0, 5.0)))

    def source(self) -> bool:
        panel = self.window.data_panel
        self._bring_to_front(panel)
        if not self._usable(panel.source_combo):
            return False
        choice = self.rng.choice(["synthetic", "synthetic", "folder", "folder", "folder", "classset", "omniglot"])
        folder = "" if choice == "synthetic" else self._open_path("folder")
        self.trail[-1] += f" {choice} {folder!r}"
        index = panel.source_combo.findData(choice)
        if index < 0 or not panel.source_combo.model().item(index).isEnabled():
            return False
        if choice != "synthetic":
            panel.folder_edit.setText(folder)
        panel.source_combo.setCurrentIndex(index)  # emits sourceChanged as a person's pick does
        panel.reload()
        return True

    def folder_edit(self) -> bool:
        """Pick the folder with the data panel's Browse… button (a dialog) or by typing it and pressing Enter."""
        panel = self.window.data_panel
        self._bring_to_front(panel)
        if not self._usable(panel.browse_button):
            return False
        if self.rng.random() < 0.5:
            panel.browse_button.click()
            return True
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        panel.folder_edit.clear()
        panel.folder_edit.insert(self._open_path("folder"))  # (QTest.keyClicks takes ASCII only)
        QTest.keyClick(panel.folder_edit, Qt.Key.Key_Return)
        return True

    def algorithm(self) -> bool:
        combo = self.window.algorithm_panel.algo_combo
        self._bring_to_front(combo)
        if not self._usable(combo):
            return False
        enabled = [i for i in range(combo.count()) if combo.model().item(i).isEnabled()]
        index = self.rng.choice(enabled)
        self.trail[-1] += f" {combo.itemData(index)}"
        combo.setCurrentIndex(index)
        return True

    #: values per setting: mostly tiny valid ones (fast runs), some invalid (0, too many ways)
    SETTINGS = {
        "ways": (0, 1, 2, 3, 5, 5, 50), "shots": (0, 1, 1, 2), "queries": (0, 1, 2, 5), "meta_batch": (0, 1, 2, 2),
        "inner_steps": (0, 1, 2), "iterations": (0, 3, 5, 10, 20), "val_every": (0, 0, 2, 5),
        "val_episodes": (0, 2, 5), "seed": (0, 1, 7, 2**31 - 1), "workers": (0, 1),
        "inner_lr": (0.0, 0.01, 0.4, 10.0), "outer_lr": (0.0, 0.001, 1.0), "time_budget": (1.0, 5.0),
    }

    def setting(self) -> bool:
        panel = self.window.algorithm_panel
        rng = self.rng
        key = rng.choice([*self.SETTINGS, "backbone", "budget", "augment", "device"])
        self._bring_to_front(panel)
        if not self._usable(panel):
            return False
        if key in self.SETTINGS:
            value = rng.choice(self.SETTINGS[key])
            self.trail[-1] += f" {key}={value}"
            getattr(panel, key).setValue(value)
        elif key == "backbone":
            panel.backbone_combo.setCurrentIndex(rng.randrange(panel.backbone_combo.count()))
        elif key == "device":
            panel.device_combo.setCurrentIndex(rng.randrange(panel.device_combo.count()))
        else:
            box = panel.budget_check if key == "budget" else panel.augment_check
            box.setChecked(not box.isChecked())
            self.trail[-1] += f" {key}={box.isChecked()}"
        return True

    def typed_setting(self) -> bool:
        """Type into a spin box as a person would: digits, garbage, huge numbers, then Enter or Tab."""
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        panel = self.window.algorithm_panel
        key = self.rng.choice(list(self.SETTINGS))
        text = self.rng.choice(("3", "abc", "-5", "99999999999", "", "1e9", "0.5", "٣"))
        self.trail[-1] += f" {key}<-{text!r}"
        box = getattr(panel, key)
        self._bring_to_front(box)
        if not self._usable(box):
            return False
        box.selectAll()
        box.lineEdit().insert(text)
        QTest.keyClick(box, self.rng.choice((Qt.Key.Key_Return, Qt.Key.Key_Tab)))
        box.interpretText()
        return True

    def recipe(self) -> bool:
        combo = self.window.algorithm_panel.recipe_combo
        self._bring_to_front(combo)
        if not self._usable(combo) or combo.count() == 0:
            return False
        index = self.rng.randrange(combo.count())
        self.trail[-1] += f" {combo.itemText(index)}"
        combo.setCurrentIndex(index)
        combo.activated.emit(index)
        panel = self.window.algorithm_panel
        panel.iterations.setValue(min(panel.iterations.value(), 20))  # keep the walk's runs short
        return True

    def resample(self) -> bool:
        return self._click(self.window.data_panel.resample_button)

    def browse_data(self) -> bool:
        return self._trigger(self.window.browse_action)

    def close_browser(self) -> bool:
        browser = self.window.data_browser
        if browser is None or not browser.isVisible():
            return False
        if self.rng.random() < 0.5 and browser.class_list.count():
            browser.class_list.setCurrentRow(self.rng.randrange(browser.class_list.count()))
            return True
        browser.close()
        return True

    def tab(self) -> bool:
        tabs = self.window.tabs
        index = self.rng.randrange(tabs.count())
        self.trail[-1] += f" {tabs.tabText(index)}"
        if self.rng.random() < 0.5:
            from PySide6.QtCore import Qt
            from PySide6.QtTest import QTest

            QTest.keyClick(self.window, Qt.Key(Qt.Key.Key_1 + index), Qt.KeyboardModifier.ControlModifier)
        else:
            tabs.setCurrentIndex(index)
        return True

    def _points(self) -> list[tuple[float, float]]:
        rng = self.rng
        x, y = rng.uniform(40, 240), rng.uniform(40, 240)
        points = [(x, y)]
        for _ in range(rng.randint(0, 12)):
            x, y = min(279, max(0, x + rng.uniform(-40, 40))), min(279, max(0, y + rng.uniform(-40, 40)))
            points.append((x, y))
        return points

    def stroke(self) -> bool:
        canvas = self.window.workspace.canvas
        canvas.eraser = self.rng.random() < 0.1
        canvas.draw_stroke(self._points(), [self.rng.uniform(0, 1) for _ in range(13)])
        return True

    def mouse_stroke(self) -> bool:
        """A stroke as real mouse events (press, moves with the button held, release)."""
        from PySide6.QtCore import QEvent, QPointF, Qt
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        canvas = self.window.workspace.canvas
        points = self._points()
        left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

        def send(kind, p, button, buttons):
            pos = QPointF(*p)
            QApplication.sendEvent(canvas, QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons,
                                                       Qt.KeyboardModifier.NoModifier))

        send(QEvent.Type.MouseButtonPress, points[0], left, left)
        for p in points[1:]:
            send(QEvent.Type.MouseMove, p, none, left)
        send(QEvent.Type.MouseButtonRelease, points[-1], left, none)
        return True

    def clear_canvas(self) -> bool:
        canvas = self.window.workspace.canvas
        (canvas.undo if self.rng.random() < 0.5 else canvas.clear)()
        return True

    def add_to_class(self) -> bool:
        return self._click(self.window.workspace.add_button)

    def _cards(self):
        return self.window.workspace.cards.cards

    def remove_example(self) -> bool:
        cards = [c for c in self._cards() if c.thumbs]
        if not cards:
            return False
        card = self.rng.choice(cards)
        card.thumbs[self.rng.randrange(len(card.thumbs))].click()
        return True

    def remove_class(self) -> bool:
        cards = self._cards()
        return bool(cards) and self._click(self.rng.choice(cards).remove_button)

    def class_count(self) -> bool:
        box = self.window.workspace.class_count
        box.setValue(self.rng.choice((box.minimum(), 2, 3, 5, 8, box.maximum(), 0, 99)))
        return True

    def rename_class(self) -> bool:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        cards = self._cards()
        if not cards:
            return False
        card = self.rng.choice(cards)
        name = self.rng.choice(("cat", "", "   ", "ñ 名 ✓", "a/b\\c", "x" * 300, "../../etc", "same", "same"))
        self.trail[-1] += f" {card.index} {name[:20]!r}"
        card.name_edit.selectAll()
        card.name_edit.insert(name)
        QTest.keyClick(card.name_edit, Qt.Key.Key_Return)
        return True

    def select_class(self) -> bool:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        cards = self._cards()
        if not cards:
            return False
        QTest.mouseClick(self.rng.choice(cards), Qt.MouseButton.LeftButton)
        return True

    def adapt(self) -> bool:
        return self._click(self.window.workspace.adapt_button)

    def adapt_settings(self) -> bool:
        ws = self.window.workspace
        ws.steps.setValue(self.rng.choice((0, 1, 3, 10, 200)))
        ws.inner_lr.setValue(self.rng.choice((0.0, 0.01, 0.4, 5.0)))
        return True

    def undo(self) -> bool:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        ws = self.window.workspace
        if self.rng.random() < 0.5:
            return self._click(self._workspace_button("Undo"))
        QTest.keyClick(ws.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        return True

    def compare(self) -> bool:
        view = self.window.compare_view
        self._bring_to_front(view.start_button)
        if not self._usable(view.start_button):
            return False
        names = [view.algo_list.item(i).text() for i in range(view.algo_list.count())]
        fast = [n for n in names if n in ("protonet", "simpleshot", "fomaml", "anil", "maml", "reptile")] or names
        view.set_checked(self.rng.sample(fast, min(len(fast), self.rng.choice((1, 2, 2, 3)))))
        view.test_episodes.setValue(self.rng.choice((1, 2, 5)))
        self.window.algorithm_panel.iterations.setValue(min(self.window.algorithm_panel.iterations.value(), 5))
        view.start_button.click()
        return True

    def stop_compare(self) -> bool:
        return self._click(self.window.compare_view.stop_button)

    def quick_train(self) -> bool:
        """The New classes tab's Quick train (a minute's run: the walk stops it soon after)."""
        return self._click(self.window.workspace.quick_train_button)

    def open_model(self) -> bool:
        return self._trigger(self.window.files.open_action)

    def save_model(self) -> bool:
        return self._trigger(self.window.files.save_action)

    def export(self) -> bool:
        files = self.window.files
        if self.rng.random() < 0.3:
            return self._click(self.window.compare_view.export_button)
        return self._trigger(self.rng.choice((files.csv_action, files.png_action)))

    def load_images(self) -> bool:
        return self._click(self._workspace_button("Load images"))

    def _workspace_button(self, prefix: str):
        from PySide6.QtWidgets import QPushButton

        buttons = self.window.workspace.findChildren(QPushButton)
        return next((b for b in buttons if b.text() == prefix), None) or next(
            (b for b in buttons if b.text().startswith(prefix)), None)

    def load_folder(self) -> bool:
        return self._click(self._workspace_button("Load folder"))

    def save_set(self) -> bool:
        return self._click(self._workspace_button("Save set"))

    def load_query(self) -> bool:
        return self._click(self._workspace_button("Load query"))

    def pick_model(self) -> bool:
        combo = self.window.workspace.model_choice
        self._bring_to_front(combo)
        if not self._usable(combo) or combo.count() == 0:
            return False
        index = self.rng.randrange(combo.count())
        combo.setCurrentIndex(index)
        combo.activated.emit(index)
        return True

    def reopen(self) -> None:
        """Close the window (during a run, a load or an Adapt alike) and open a new one on the same preferences."""
        self.close_window()
        if self.rng.random() < 0.2:  # now and then the preferences file was damaged meanwhile
            settings = self.workdir / "settings.ini"
            garbage = self.rng.choice((b"\x00\xff garbage \xfe", b"[run]\nhyperparameters={not json\n",
                                       b"[window]\ngeometry=@ByteArray(\\x1\\x2)\nmain_splitter=[-5, \"a\"]\n", b""))
            settings.write_bytes(garbage)
            self.trail[-1] += f" (settings replaced by {garbage[:20]!r})"
        self.open_window()
