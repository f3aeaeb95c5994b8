"""Loads the data and samples episodes for the viewer, off the GUI thread.

Every engine call goes through :mod:`engine.api` on a worker
(:func:`gui.background.run_in_background`). Replies to an older request (the
user changed the source again meanwhile) are dropped by a request counter.
"""

from __future__ import annotations

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

    def __init__(self, injected_pool: object = None, parent: QObject | None = None) -> None:
        """``injected_pool`` (an api.Pool or an engine ClassPool) replaces the built-in glyphs (tests: small ones)."""
        super().__init__(parent)
        self.injected_pool = api.as_pool(injected_pool) if injected_pool is not None else None
        self._pool: api.Pool | None = None
        self.key: tuple | None = None
        self._load_request = 0
        self._episode_request = 0

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
            on_done=lambda pool: self._on_loaded(request, pool),
            on_error=lambda message, _details: self._on_load_failed(request, message),
            owner=self,
        )

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
