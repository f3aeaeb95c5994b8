"""Loads the data and samples episodes for the viewer, off the GUI thread.

Every engine call goes through :mod:`engine.api` on a worker
(:func:`gui.background.run_in_background`). Replies to an older request (the
user changed the source again meanwhile) are dropped by a request counter.
A folder load reports its progress (``loadProgress``) and is abandoned as soon
as it is superseded or :meth:`cancel` is called (the window closing): a folder
of 10,000 images must not keep a worker, or the closing window, busy.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal

from engine import api

from .background import run_in_background


class DataController(QObject):
    """Keeps the current data pool; loads sources and samples episodes in the background."""

    poolReady = Signal(object)  # the api.Pool now in use
    poolChanged = Signal(object)  # the pool in use changed: an api.Pool, or None while loading / after a failure
    poolFailed = Signal(str)  # why the source could not be loaded, in words
    episodeReady = Signal(object, object, object)  # support uint8, queries uint8, class names
    episodeFailed = Signal(str)  # why no episode could be drawn
    loadProgress = Signal(int, int)  # images decoded so far, total (folder sources; a few times a second)

    _progress = Signal(int, int, int)  # request, done, total (from the worker; filtered on the GUI thread)

    PROGRESS_INTERVAL_S = 0.2

    def __init__(self, injected_pool: object = None, parent: QObject | None = None) -> None:
        """``injected_pool`` (an api.Pool or an engine ClassPool) replaces the built-in glyphs (tests: small ones)."""
        super().__init__(parent)
        self.injected_pool = api.as_pool(injected_pool) if injected_pool is not None else None
        self._pool: api.Pool | None = None
        self.key: tuple | None = None
        self._load_request = 0
        self._episode_request = 0
        self._cancelled = False  # set by cancel(): every load in flight gives up
        self._progress.connect(
            lambda request, done, total: request == self._load_request and self.loadProgress.emit(done, total))

    @property
    def pool(self) -> api.Pool | None:
        return self._pool

    @pool.setter
    def pool(self, pool: api.Pool | None) -> None:
        if pool is not self._pool:
            self._pool = pool
            self.poolChanged.emit(pool)

    def load(self, name: str, root: str, seed: int = 0) -> None:
        """Make ``name`` (read from ``root``) the current source; emits poolReady or poolFailed."""
        key = (name, root, seed if name == "folder" else 0)
        if key == self.key and self.pool is not None:
            self.poolReady.emit(self.pool)
            return
        self._load_request += 1
        request = self._load_request
        self.pool, self.key = None, key
        if name == "synthetic" and self.injected_pool is not None:
            self._on_loaded(request, self.injected_pool)
            return
        run_in_background(
            api.load_data,
            name,
            root,
            key[2],
            self._progress_reporter(request),
            on_done=lambda pool: self._on_loaded(request, pool),
            on_error=lambda message, _details: self._on_load_failed(request, message),
            owner=self,
        )

    def cancel(self) -> None:
        """Abandon any load in flight (it stops within one image) and start no more (the window is closing)."""
        self._cancelled = True
        self._load_request += 1

    def _progress_reporter(self, request: int):
        """The ``progress`` callback of load ``request``: runs on the worker; raises api.Cancelled once the
        request is superseded or cancelled, and reports progress a few times a second."""
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if self._cancelled or request != self._load_request:
                raise api.Cancelled("the load was cancelled")
            now = time.monotonic()
            if now - last[0] >= self.PROGRESS_INTERVAL_S:
                last[0] = now
                self._progress.emit(request, done, total)  # queued to the GUI thread

        return progress

    def sample(self, ways: int, shots: int, queries: int, seed: int, index: int) -> None:
        """Draw episode ``index`` of the current pool; emits episodeReady or episodeFailed."""
        if self.pool is None:
            return
        self._episode_request += 1
        request = self._episode_request
        run_in_background(
            api.sample_episode,
            self.pool,
            ways,
            shots,
            queries,
            seed,
            index,
            on_done=lambda e: (
                request == self._episode_request and self.episodeReady.emit(e.support, e.queries, e.names)
            ),
            on_error=lambda message, _details: request == self._episode_request and self.episodeFailed.emit(message),
            owner=self,
        )

    def _on_loaded(self, request: int, pool: api.Pool) -> None:
        if request == self._load_request:
            self.pool = pool
            self.poolReady.emit(pool)

    def _on_load_failed(self, request: int, message: str) -> None:
        if request == self._load_request:
            self.poolFailed.emit(message)
