"""The data browser: what the current source holds, and exactly what the model will see.

Opened from the Data panel ("Browse data…") or the Data menu. It shows the
classes and examples per split (``ClassPool.summary()``), the classes of a
split in a list (with an overview of the first example of each class), all
examples of the chosen class in a scrollable grid, and one example enlarged
as the network's input: the pool's 28x28 uint8 pixels, scaled up by whole
pixels (nearest neighbour) so nothing is smoothed away.

The pool arrives already decoded (the data controller loads it on a worker);
the browser reads it as numpy arrays (:func:`engine.api.pool_arrays` shares
the memory, nothing is copied or computed). It follows the window's
:class:`gui.app_state.AppState`: a newly loaded source replaces what it shows.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import api

from .app_state import AppState

SPLIT_LABELS = {"train": "Meta-train", "val": "Validation", "test": "Test"}
OVERVIEW = -1  # the list entry that shows the first example of every class
TILE_SCALE = 3  # grid tiles: 28 px -> 84 px
PREVIEW_SCALE = 8  # the enlarged model input: 28 px -> 224 px
GAP = 4
BACKGROUND = 96  # mid grey, so dark images stand out
MAX_OVERVIEW = 400  # classes shown in the overview grid
PREPROCESSING = (
    "Every image enters the network as 28×28 pixels, one grey channel, bright strokes on a dark "
    "background, pixel values 0–255 divided by 255. The tiles show exactly those pixels, enlarged "
    "by whole pixels (no smoothing)."
)


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of a uint8 [H, W] image by an integer factor."""
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def tile_mosaic(images: np.ndarray, columns: int, scale: int = TILE_SCALE, gap: int = GAP) -> np.ndarray:
    """Lay ``images`` [n, H, W] uint8 out in rows of ``columns`` tiles, each enlarged ``scale`` times."""
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    th, tw = h * scale, w * scale
    canvas = np.full((rows * (th + gap) + gap, columns * (tw + gap) + gap), BACKGROUND, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        canvas[y : y + th, x : x + tw] = enlarge(images[i], scale)
    return canvas


def to_pixmap(image: np.ndarray) -> QPixmap:
    image = np.ascontiguousarray(image)
    h, w = image.shape
    return QPixmap.fromImage(QImage(image.data, w, h, w, QImage.Format.Format_Grayscale8).copy())


class MosaicLabel(QLabel):
    """A grid of tiles as one pixmap; a click reports the tile's index."""

    tileClicked = Signal(int)  # index of the clicked tile

    def __init__(self) -> None:
        super().__init__()
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._grid: tuple[int, int, int] | None = None  # columns, tile pitch, count
        self.image: np.ndarray | None = None  # what is shown (for tests and tools)

    def show_tiles(self, images: np.ndarray, columns: int, scale: int = TILE_SCALE) -> None:
        self.image = tile_mosaic(images, columns, scale) if len(images) else None
        self._grid = (max(1, min(columns, len(images))), 28 * scale + GAP, len(images))
        self.setPixmap(to_pixmap(self.image) if self.image is not None else QPixmap())

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._grid is not None:
            columns, pitch, count = self._grid
            col, row = int(event.position().x() - GAP) // pitch, int(event.position().y() - GAP) // pitch
            index = row * columns + col
            if 0 <= col < columns and 0 <= index < count:
                self.tileClicked.emit(index)
        super().mousePressEvent(event)


class DataBrowser(QDialog):
    """Counts per split, a class list, the chosen class's examples and the enlarged model input."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Data browser")
        self.resize(1000, 700)
        self.view: api.PoolArrays | None = None
        self._shown: list[int] = []  # class indices (overview) or image indices (one class) of the tiles

        self.title = QLabel("No data is loaded yet.")
        self.title.setWordWrap(True)
        self.counts = QTableWidget(0, 4)
        self.counts.setHorizontalHeaderLabels(["Split", "Classes", "Examples", "Examples per class"])
        self.counts.verticalHeader().setVisible(False)
        self.counts.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.counts.horizontalHeader().setStretchLastSection(True)
        note = QLabel(PREPROCESSING)
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(dark);")

        self.split_combo = QComboBox()
        self.split_combo.setToolTip("Which classes to list: meta-training, validation or test classes")
        self.class_list = QListWidget()
        self.class_list.setToolTip("Pick a class to see all its examples")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.split_combo)
        left_layout.addWidget(self.class_list, 1)

        self.grid_caption = QLabel("")
        self.grid_caption.setWordWrap(True)
        self.grid = MosaicLabel()
        self.grid.setToolTip("Click an example to see it enlarged as the model's input")
        self.scroll = scroll = QScrollArea()
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setFixedSize(28 * PREVIEW_SCALE + 8, 28 * PREVIEW_SCALE + 8)
        self.preview_caption = QLabel("")
        self.preview_caption.setWordWrap(True)
        self.preview_caption.setFixedWidth(28 * PREVIEW_SCALE + 8)
        preview_box = QVBoxLayout()
        preview_box.addWidget(QLabel("<b>The model's input</b>"))
        preview_box.addWidget(self.preview)
        preview_box.addWidget(self.preview_caption)
        preview_box.addStretch(1)
        right = QWidget()
        right_layout = QHBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        grid_box = QVBoxLayout()
        grid_box.addWidget(self.grid_caption)
        grid_box.addWidget(scroll, 1)
        right_layout.addLayout(grid_box, 1)
        right_layout.addLayout(preview_box)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([260, 740])
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.counts)
        layout.addWidget(note)
        layout.addWidget(splitter, 1)

        self.split_combo.currentIndexChanged.connect(self._on_split_changed)
        self.class_list.currentItemChanged.connect(self._on_class_changed)
        self.grid.tileClicked.connect(self._on_tile_clicked)

    # -- data in ---------------------------------------------------------------
    def set_pool(self, pool: api.Pool | None, label: str = "") -> None:
        """Show ``pool`` (None shows that nothing is loaded)."""
        self.view = api.pool_arrays(pool) if pool is not None else None
        self.counts.setRowCount(0)
        self.split_combo.blockSignals(True)
        self.split_combo.clear()
        self.split_combo.blockSignals(False)
        self.class_list.clear()
        if self.view is None:
            self.title.setText("No data is loaded yet: choose a source in the Data panel.")
            self.grid.show_tiles(np.zeros((0, 28, 28), np.uint8), 1)
            return
        v = self.view
        total = sum(s["examples"] for s in v.summary.values())
        rotations = " Names ending in /rot90, /rot180, /rot270 are rotated copies, used as extra classes." if any(
            n.endswith(("/rot90", "/rot180", "/rot270")) for n in v.class_names) else ""
        self.title.setText(f"<b>{label or v.name}</b>: {len(v.class_names):,} classes, {total:,} examples, "
                           f"split by class: the test classes are never seen in meta-training.{rotations}")
        order = sorted(v.summary, key=lambda s: list(SPLIT_LABELS).index(s) if s in SPLIT_LABELS else len(SPLIT_LABELS))
        for split in order:
            counts = v.summary[split]
            per_class = [len(v.members[c]) for c in v.splits[split]]
            if per_class and min(per_class) != max(per_class):
                spread = f"{min(per_class)}–{max(per_class)}"
            else:
                spread = str(per_class[0] if per_class else 0)
            row = self.counts.rowCount()
            self.counts.insertRow(row)
            for col, text in enumerate(
                (SPLIT_LABELS.get(split, split), f"{counts['classes']:,}", f"{counts['examples']:,}", spread)
            ):
                self.counts.setItem(row, col, QTableWidgetItem(text))
            self.split_combo.addItem(f"{SPLIT_LABELS.get(split, split)} classes ({counts['classes']:,})", split)
        self.counts.resizeColumnsToContents()
        self.counts.setFixedHeight(
            self.counts.horizontalHeader().height()
            + sum(self.counts.rowHeight(r) for r in range(self.counts.rowCount()))
            + 2 * self.counts.frameWidth()
        )

    def select_class(self, cls: int) -> None:
        """Show the examples of class ``cls`` (switching to its split if needed)."""
        split = next((s for s, c in self.view.splits.items() if cls in c), None)
        index = self.split_combo.findData(split)
        if index >= 0 and index != self.split_combo.currentIndex():
            self.split_combo.setCurrentIndex(index)
        for row in range(self.class_list.count()):
            if self.class_list.item(row).data(Qt.ItemDataRole.UserRole) == cls:
                self.class_list.setCurrentRow(row)
                return

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Re-flow the tiles to the new width."""
        super().resizeEvent(event)
        columns = max(1, (self.scroll.viewport().width() - GAP) // (28 * TILE_SCALE + GAP))
        if self.grid._grid is not None and self.grid._grid[0] != columns and self.grid._grid[2] > self.grid._grid[0]:
            self._on_class_changed(self.class_list.currentItem())

    # -- handlers --------------------------------------------------------------
    def _on_split_changed(self, _index: int) -> None:
        self.class_list.clear()
        split = self.split_combo.currentData()
        if self.view is None or split is None:
            return
        v = self.view
        overview = QListWidgetItem(f"Overview: first example of each class ({len(v.splits[split]):,})")
        overview.setData(Qt.ItemDataRole.UserRole, OVERVIEW)
        self.class_list.addItem(overview)
        for c in v.splits[split]:
            group = v.class_groups[c] if c < len(v.class_groups) else ""
            name = v.class_names[c]
            text = (
                f"{name}  ({len(v.members[c])})"
                if not group or name.startswith(group)
                else f"{name}  [{group}] ({len(v.members[c])})"
            )
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, c)
            self.class_list.addItem(item)
        self.class_list.setCurrentRow(0)

    def _on_class_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        if item is None or self.view is None:
            return
        v, cls = self.view, item.data(Qt.ItemDataRole.UserRole)
        columns = max(1, (self.scroll.viewport().width() - GAP) // (28 * TILE_SCALE + GAP))
        if cls == OVERVIEW:
            classes = v.splits[self.split_combo.currentData()][:MAX_OVERVIEW]
            self._shown, self._overview = list(classes), True
            self.grid.show_tiles(v.first_examples(classes), columns)
            more = (
                f" (the first {MAX_OVERVIEW})" if len(v.splits[self.split_combo.currentData()]) > MAX_OVERVIEW else ""
            )
            self.grid_caption.setText(f"The first example of each class{more}. Click one to open its class.")
            if classes:
                self._preview(v.members[classes[0]][0], v.class_names[classes[0]])
            return
        images = v.examples(cls)
        self._shown, self._overview = list(v.members[cls]), False
        self.grid.show_tiles(images, columns)
        self.grid_caption.setText(
            f"All {len(images)} examples of class “{v.class_names[cls]}”. Click one to enlarge it."
        )
        if len(images):
            self._preview(int(v.members[cls][0]), v.class_names[cls])

    def _on_tile_clicked(self, index: int) -> None:
        if getattr(self, "_overview", False):
            self.select_class(self._shown[index])
        else:
            item = self.class_list.currentItem()
            self._preview(self._shown[index], self.view.class_names[item.data(Qt.ItemDataRole.UserRole)])

    def _preview(self, image_index: int, name: str) -> None:
        image = self.view.images[int(image_index)]
        self.preview.setPixmap(to_pixmap(enlarge(image, PREVIEW_SCALE)))
        h, w = image.shape
        self.preview_caption.setText(
            f"{name}, image #{int(image_index)}: {w}×{h} pixels, values {image.min()}–{image.max()} "
            f"(model input {image.min() / 255:.2f}–{image.max() / 255:.2f}), "
            f"{100 * (image > 127).mean():.0f}% stroke pixels"
        )


def open_data_browser(window: QWidget, app: AppState) -> DataBrowser:
    """Show ``window``'s data browser (one per window) on the current pool."""
    browser = window.findChild(DataBrowser)
    if browser is None:
        browser = DataBrowser(window)
    browser.set_pool(app.pool, app.source_label)
    browser.show()
    browser.raise_()
    return browser


def install_data_browser(window: QMainWindow, app: AppState) -> QAction:
    """Add Data > Browse data… (Ctrl+D) to ``window``; the browser, once open, follows ``app``'s pool."""
    action = QAction("&Browse data…", window, triggered=lambda: open_data_browser(window, app))
    action.setShortcut("Ctrl+D")
    action.setStatusTip("Classes and examples per split, samples of each class, and what the model sees")
    window.menuBar().addMenu("&Data").addAction(action)
    app.poolChanged.connect(lambda pool: _follow(window, app, pool))
    return action


def _follow(window: QWidget, app: AppState, pool: api.Pool | None) -> None:
    browser = window.findChild(DataBrowser)
    if browser is not None and browser.isVisible() and pool is not None:
        browser.set_pool(pool, app.source_label)
