"""The workspace's widgets and their wiring, kept apart from its behaviour (``workspace.py``).

Left: the class cards with the class count and file buttons. Middle: the
drawing canvas, its tools and the 28x28 view of what the model sees. Right:
Adapt (steps, inner learning rate, live chart), class probabilities and the
embedding view, in a vertical splitter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider,
    QSpinBox, QSplitter, QVBoxLayout, QWidget,
)

from ..gate_chart import GateChart
from .board import MAX_CLASSES, MIN_CLASSES
from .canvas import DrawingCanvas
from .cards import CardsPanel
from .charts import AdaptationChart, EmbeddingView, ProbabilityBars

if TYPE_CHECKING:
    from .workspace import NewClassesWorkspace


def setup_ui(ws: "NewClassesWorkspace") -> None:
    """Create the widgets as attributes of ``ws`` and wire them to its slots (like Designer's setupUi)."""
    ws.banner = QLabel()
    ws.banner.setWordWrap(True)
    ws.quick_train_button = QPushButton("Quick meta-train on built-in glyphs (~1 min)")
    ws.quick_train_button.clicked.connect(ws.quickTrainRequested)
    banner_row = QHBoxLayout()
    banner_row.addWidget(ws.banner, 1)
    banner_row.addWidget(ws.quick_train_button)

    ws.class_count = QSpinBox(minimum=MIN_CLASSES, maximum=MAX_CLASSES, value=ws.board.count)
    ws.class_count.setPrefix("classes: ")
    ws.class_count.valueChanged.connect(ws.board.set_count)
    buttons = {
        "Load images…": ws._on_load_images, "Load folder / set…": ws._on_load_folder,
        "Save set…": ws._on_save_set, "Undo": ws.board.undo,
    }
    top = QHBoxLayout()
    top.addWidget(ws.class_count)
    for text, slot in buttons.items():
        b = QPushButton(text)
        b.clicked.connect(slot)
        top.addWidget(b)
    top.addStretch(1)
    ws.cards = CardsPanel(ws.board)
    ws.cards.filesDropped.connect(ws._load_files_into)
    left = QWidget()
    lv = QVBoxLayout(left)
    lv.setContentsMargins(0, 0, 0, 0)
    lv.addLayout(top)
    lv.addWidget(ws.cards, 1)
    from ..class_insight import install

    install(ws)  # per-class check + Export classifier, under the cards (gui/class_insight.py)

    ws.canvas = DrawingCanvas()
    ws.canvas.strokeFinished.connect(ws._on_drawing_changed)
    ws.canvas.cleared.connect(ws._on_drawing_cleared)
    ws.brush = QSlider(Qt.Orientation.Horizontal, minimum=4, maximum=40, value=int(ws.canvas.brush))
    ws.brush.setToolTip("brush size (the model's view keeps an even line width)")
    ws.brush.valueChanged.connect(lambda v: setattr(ws.canvas, "brush", float(v)))
    ws.eraser = QCheckBox("eraser")
    ws.eraser.toggled.connect(lambda on: setattr(ws.canvas, "eraser", on))
    clear, undo_stroke = QPushButton("Clear"), QPushButton("Undo stroke")
    clear.clicked.connect(ws.canvas.clear)
    undo_stroke.clicked.connect(ws.canvas.undo)
    tools = QGridLayout()
    tools.addWidget(QLabel("brush"), 0, 0)
    tools.addWidget(ws.brush, 0, 1, 1, 2)
    tools.addWidget(ws.eraser, 1, 0)
    tools.addWidget(clear, 1, 1)
    tools.addWidget(undo_stroke, 1, 2)
    ws.preview = QLabel()
    ws.preview.setFixedSize(112, 112)
    ws.preview.setStyleSheet("background: black; border: 1px solid gray;")
    ws.add_button = QPushButton("Add to class")
    ws.add_button.clicked.connect(ws.add_drawing)
    load_query = QPushButton("Load query…")
    load_query.clicked.connect(ws._on_load_query)
    preview_box = QHBoxLayout()
    caption = QLabel("what the model sees\n(28×28)")
    caption.setStyleSheet("color: gray;")
    side = QVBoxLayout()
    side.addWidget(caption)
    side.addWidget(ws.add_button)
    side.addWidget(load_query)
    side.addStretch(1)
    preview_box.addWidget(ws.preview)
    preview_box.addLayout(side)
    middle = QWidget()
    mv = QVBoxLayout(middle)
    mv.setContentsMargins(0, 0, 0, 0)
    mv.addWidget(QLabel("Draw an example, or a query to test:"))
    mv.addWidget(ws.canvas, 0, Qt.AlignmentFlag.AlignHCenter)
    mv.addLayout(tools)
    mv.addLayout(preview_box)
    mv.addStretch(1)

    ws.steps = QSpinBox(minimum=0, maximum=200, value=10)
    ws.steps.setPrefix("steps: ")
    ws.inner_lr = QDoubleSpinBox(minimum=0.001, maximum=5.0, value=0.4, singleStep=0.05, decimals=3)
    ws.inner_lr.setPrefix("inner lr: ")
    ws.adapt_button = QPushButton("Adapt")
    ws.adapt_button.setDefault(True)
    ws.adapt_button.clicked.connect(ws.adapt)
    controls = QHBoxLayout()
    for w in (ws.steps, ws.inner_lr, ws.adapt_button):
        controls.addWidget(w)
    ws.status = QLabel()
    ws.status.setWordWrap(True)
    ws.chart = AdaptationChart()
    ws.bars = ProbabilityBars()
    ws.embedding = EmbeddingView()
    right = QSplitter(Qt.Orientation.Vertical)
    adapt_box = QGroupBox("Adapt to these classes")
    av = QVBoxLayout(adapt_box)
    av.addLayout(controls)
    av.addWidget(ws.status)
    av.addWidget(ws.chart, 1)
    ws.gate = GateChart()  # the mixture of experts' gate for these classes; hidden for other algorithms
    ws.gate.setVisible(False)
    ws.gate.setMaximumHeight(170)
    av.addWidget(ws.gate)
    for w in (adapt_box, ws.bars, ws.embedding):
        right.addWidget(w)
    right.setSizes([360, 150, 210])

    splitter = QSplitter(Qt.Orientation.Horizontal)
    for w in (left, middle, right):
        splitter.addWidget(w)
    splitter.setSizes([380, 300, 480])
    layout = QVBoxLayout(ws)
    layout.addLayout(banner_row)
    layout.addWidget(splitter, 1)

