"""What the window's views share, in one small object, so that no view needs the main window.

The main window owns it and keeps it current; the Compare tab, the File menu
and the data browser read it and listen to its signals. It holds only what
they need: the engine's description, the data pool in use, the settings the
panels describe, whether a meta-training run is active and the current model.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from engine.api import EngineInfo, Pool
from engine.config import TrainConfig


class AppState(QObject):
    """The shared state of the window's views (GUI thread only)."""

    engineReady = Signal(object)  # EngineInfo: the engine is imported and the panels are built
    poolChanged = Signal(object)  # the Pool now in use (None while a source loads or failed)
    settingsChanged = Signal()  # the data source or the panels' settings changed (current_config() differs)
    trainingChanged = Signal(bool)  # a meta-training run became active (True) or ended (False)
    modelChanged = Signal(str)  # checkpoint of the current model (trained or opened)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine: EngineInfo | None = None
        self.pool: Pool | None = None
        self.source_label = ""  # the window's name of the current data source
        self.training_active = False
        self.checkpoint: str | None = None
        self._config: Callable[[], TrainConfig] | None = None

    @property
    def ready(self) -> bool:
        """True once the engine is loaded and the panels exist."""
        return self.engine is not None and self._config is not None

    def current_config(self) -> TrainConfig:
        """The TrainConfig the Meta-train tab's panels describe (not validated); only when ``ready``."""
        if self._config is None:
            raise RuntimeError("the engine is still loading")
        return self._config()

    # -- updates (the main window calls these) -------------------------------------------------------
    def set_engine(self, info: EngineInfo, config: Callable[[], TrainConfig]) -> None:
        self.engine, self._config = info, config
        self.engineReady.emit(info)

    def set_pool(self, pool: Pool | None, label: str = "") -> None:
        self.pool, self.source_label = pool, label or self.source_label
        self.poolChanged.emit(pool)

    def set_training_active(self, active: bool) -> None:
        if active != self.training_active:
            self.training_active = active
            self.trainingChanged.emit(active)

    def set_model(self, checkpoint: str) -> None:
        self.checkpoint = checkpoint
        self.modelChanged.emit(checkpoint)
