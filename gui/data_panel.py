"""The Data panel: which classes to meta-learn from, and a look at one episode.

A view only: it emits what the user asked for (``sourceChanged``,
``resampleRequested``) and shows what it is told (``show_message``,
``episode_view``). Loading and sampling happen on worker threads in the
main window's data controller.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.config import SOURCE_LABELS

from . import dialogs
from .episode_view import EpisodeView

MESSAGE_LINES = 8  # the data message grows to this many lines before it scrolls
SOURCE_HELP = {
    "synthetic": "Procedural pen-stroke glyphs made on this computer: no files needed, unlimited classes.",
    "omniglot": "Handwritten characters of 50 alphabets. Choose the folder that holds images_background.zip "
    "(and/or images_evaluation.zip, or the extracted folders).",
    "folder": "Your own images: choose a folder with one subfolder per class (e.g. cats/*.png, dogs/*.png).",
    "classset": "A class set saved from the New classes tab (Save set…): choose its folder. Every class is in "
    "every split, so use it to evaluate or to look at, not to meta-train on.",
}


class DataPanel(QGroupBox):
    """Source picker, folder chooser, inline message and the episode viewer."""

    sourceChanged = Signal(str, str)  # source name, folder ("" when none)
    resampleRequested = Signal()  # show another episode
    browseDataRequested = Signal()  # open the data browser

    def __init__(self, sources: list[tuple[str, bool]], parent: QWidget | None = None) -> None:
        """``sources``: (engine name, available now) in display order; each is shown by its label
        (``engine.config.SOURCE_LABELS``, which also names the CLI's ``--dataset`` word)."""
        super().__init__("Data", parent)
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("Where the meta-training classes come from")
        for name, available in sources:
            label = SOURCE_LABELS.get(name, name)
            self.source_combo.addItem(label if available else f"{label} (not yet available)", name)
            index = self.source_combo.count() - 1
            self.source_combo.setItemData(index, SOURCE_HELP.get(name, label), Qt.ItemDataRole.ToolTipRole)
            if not available:
                self.source_combo.model().item(index).setEnabled(False)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("choose the folder that holds the data…")
        self.folder_edit.setToolTip("The folder (or .zip) the selected data set is read from")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Pick the data folder")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.episode_view = EpisodeView()
        self.episode_view.setToolTip("One meta-training task: each row is a class; the model sees the support "
                                     "examples and must label the queries")
        self.episode_caption = QLabel("")
        self.episode_caption.setWordWrap(True)
        self.resample_button = QPushButton("Resample")
        self.resample_button.setToolTip("Draw another random task with the current ways, shots and queries")
        self.resample_button.setEnabled(False)
        self.browse_data_button = QPushButton("Browse data…")
        self.browse_data_button.setToolTip(
            "See every class and example of this source, per split, as the model sees them (Ctrl+D)"
        )

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        self.folder_row = QWidget()
        self.folder_row.setLayout(folder_row)
        folder_row.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.addRow("Source", self.source_combo)
        form.addRow("Folder", self.folder_row)
        episode_bar = QHBoxLayout()
        episode_bar.addWidget(self.episode_caption, 1)
        episode_bar.addWidget(self.resample_button)
        episode_bar.addWidget(self.browse_data_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        # a long message (which files a data set needs, and where) is never cut off: the panel makes room
        # for up to MESSAGE_LINES lines and scrolls beyond that
        self.message_area = QScrollArea()
        self.message_area.setWidget(self.message)
        self.message_area.setWidgetResizable(True)
        self.message_area.setFrameShape(QFrame.Shape.NoFrame)
        self.message_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.message_area)
        layout.addLayout(episode_bar)
        layout.addWidget(self.episode_view, 1)

        self.source_combo.currentIndexChanged.connect(self._on_source_changed)
        self.folder_edit.editingFinished.connect(self._on_folder_edited)
        self.folder_edit.returnPressed.connect(self.reload)  # Enter loads the folder again, fixed or not
        self.browse_button.clicked.connect(self._on_browse)
        self.resample_button.clicked.connect(self.resampleRequested)
        self.browse_data_button.clicked.connect(self.browseDataRequested)
        self._last_emitted: tuple[str, str] | None = None
        self._update_folder_row()
        from .omniglot_download import install

        install(self)  # "Download…" beside the folder while Omniglot is chosen (gui/omniglot_download.py)

    # -- queries / setters -----------------------------------------------------
    def source(self) -> str:
        return self.source_combo.currentData()

    def folder(self) -> str:
        return self.folder_edit.text().strip()

    def set_source(self, name: str, folder: str = "") -> None:
        """Select ``name`` (if it is available) and ``folder``, then emit ``sourceChanged`` once."""
        self.folder_edit.setText(folder or "")
        index = self.source_combo.findData(name)
        if index >= 0 and self.source_combo.model().item(index).isEnabled():
            self.source_combo.blockSignals(True)
            self.source_combo.setCurrentIndex(index)
            self.source_combo.blockSignals(False)
        self._update_folder_row()
        self._emit()

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "color: palette(mid);" if not text else "")
        self.message.setText(text)
        self._fit_message()

    def _fit_message(self) -> None:
        """Give the message the height its text needs at the current width (up to MESSAGE_LINES lines)."""
        width = max(self.message_area.viewport().width(), 200)
        needed = self.message.heightForWidth(width) if self.message.text() else 0
        most = self.message.fontMetrics().lineSpacing() * MESSAGE_LINES
        self.message_area.setFixedHeight(min(max(needed, 0), most) + 2 if needed > 0 else 0)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_message()

    # -- handlers --------------------------------------------------------------
    def _update_folder_row(self) -> None:
        needs_files = self.source() != "synthetic"
        self.folder_row.setEnabled(needs_files)
        self.folder_edit.setPlaceholderText(
            "choose the folder that holds the data…" if needs_files else "not needed: made on this computer"
        )

    def _emit(self) -> None:
        key = (self.source(), self.folder())
        if key != self._last_emitted:
            self._last_emitted = key
            self.sourceChanged.emit(*key)

    def _on_source_changed(self, _index: int) -> None:
        self._update_folder_row()
        self._emit()

    def _on_folder_edited(self) -> None:
        self._emit()

    def _on_browse(self) -> None:
        folder = dialogs.existing_folder(self, "Choose the data folder", self.folder())
        if folder:
            self.folder_edit.setText(folder)
            self._emit()

    def reload(self) -> None:
        """Emit ``sourceChanged`` again even if nothing changed (e.g. files were added)."""
        self._last_emitted = None
        self._emit()
