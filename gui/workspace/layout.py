"""The workspace's widgets and how they are laid out, kept apart from its behaviour (``workspace.py``).

Left: the class cards with the class count and file buttons. Middle: the
drawing canvas, its tools and the 28x28 view of what the model sees. Right:
Adapt (steps, inner learning rate, "Compare with…", the live loss and accuracy
charts, the step slider) above the embedding view and the class probabilities.

:func:`build_ui` creates the widgets, lays them out on the workspace and
returns them in a :class:`WorkspaceUi`; the workspace keeps the ones it uses
and connects their signals itself (only the purely visual wiring, such as the
brush slider, is done here).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..gate_chart import GateChart
from .board import MAX_CLASSES, MIN_CLASSES, ClassBoard
from .canvas import DrawingCanvas
from .cards import CardsPanel
from .charts import AdaptationChart, EmbeddingView, ProbabilityBars


@dataclass(frozen=True)
class WorkspaceUi:
    """The widgets the workspace talks to (the rest only sits in the layout)."""

    banner: QLabel
    model_choice: QComboBox
    quick_train_button: QPushButton
    class_count: QSpinBox
    load_images_button: QPushButton
    load_folder_button: QPushButton
    save_set_button: QPushButton
    undo_button: QPushButton
    cards: CardsPanel
    canvas: DrawingCanvas
    preview: QLabel
    add_button: QPushButton
    load_query_button: QPushButton
    steps: QSpinBox
    inner_lr: QDoubleSpinBox
    adapt_button: QPushButton
    status: QLabel
    chart: AdaptationChart
    bars: ProbabilityBars
    embedding: EmbeddingView
    gate: GateChart
    step_slider: QSlider  # which adaptation step the chart cursor, embedding and probabilities show
    step_label: QLabel
    replay_button: QPushButton
    compare_button: QPushButton  # "Compare with…": a second model adapted to the same classes
    compare_label: QLabel
    compare_clear_button: QPushButton


def build_ui(parent: QWidget, board: ClassBoard) -> WorkspaceUi:
    """Create the workspace's widgets, lay them out on ``parent`` and return the ones it uses."""
    banner = QLabel()
    banner.setWordWrap(True)
    quick_train_button = QPushButton("Quick meta-train on built-in glyphs (~1 min)")
    model_choice = QComboBox()
    model_choice.setToolTip(
        "Which meta-trained model adapts to your classes: every run of this window keeps its model "
        "(finished or stopped), and so does every model you opened"
    )
    model_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    model_choice.setVisible(False)
    banner_row = QHBoxLayout()
    banner_row.addWidget(model_choice)
    banner_row.addWidget(banner, 1)
    banner_row.addWidget(quick_train_button)

    class_count = QSpinBox(minimum=MIN_CLASSES, maximum=MAX_CLASSES, value=board.count)
    class_count.setPrefix("classes: ")
    file_buttons = [QPushButton(text) for text in ("Load images…", "Load folder / set…", "Save set…", "Undo")]
    top = QGridLayout()  # two rows: the panel stays narrow enough to leave the adaptation charts room
    top.addWidget(class_count, 0, 0)
    top.addWidget(file_buttons[3], 0, 2)
    for column, b in enumerate(file_buttons[:3]):
        top.addWidget(b, 1, column)
    cards = CardsPanel(board)
    left = QWidget()
    lv = QVBoxLayout(left)
    lv.setContentsMargins(0, 0, 0, 0)
    lv.addLayout(top)
    lv.addWidget(cards, 1)

    canvas = DrawingCanvas()
    brush = QSlider(Qt.Orientation.Horizontal, minimum=4, maximum=40, value=int(canvas.brush))
    brush.setToolTip("brush size (the model's view keeps an even line width)")
    brush.valueChanged.connect(lambda v: setattr(canvas, "brush", float(v)))
    eraser = QCheckBox("eraser")
    eraser.toggled.connect(lambda on: setattr(canvas, "eraser", on))
    clear, undo_stroke = QPushButton("Clear"), QPushButton("Undo stroke")
    clear.clicked.connect(canvas.clear)
    undo_stroke.clicked.connect(canvas.undo)
    tools = QGridLayout()
    tools.addWidget(QLabel("brush"), 0, 0)
    tools.addWidget(brush, 0, 1, 1, 2)
    tools.addWidget(eraser, 1, 0)
    tools.addWidget(clear, 1, 1)
    tools.addWidget(undo_stroke, 1, 2)
    preview = QLabel()
    preview.setFixedSize(112, 112)
    preview.setStyleSheet("background: black; border: 1px solid gray;")
    add_button = QPushButton("Add to class")
    load_query = QPushButton("Load query…")
    preview_box = QHBoxLayout()
    caption = QLabel("what the model sees\n(28×28)")
    caption.setStyleSheet("color: gray;")
    side = QVBoxLayout()
    side.addWidget(caption)
    side.addWidget(add_button)
    side.addWidget(load_query)
    side.addStretch(1)
    preview_box.addWidget(preview)
    preview_box.addLayout(side)
    middle = QWidget()
    mv = QVBoxLayout(middle)
    mv.setContentsMargins(0, 0, 0, 0)
    mv.addWidget(QLabel("Draw an example, or a query to test:"))
    mv.addWidget(canvas, 0, Qt.AlignmentFlag.AlignHCenter)
    mv.addLayout(tools)
    mv.addLayout(preview_box)
    mv.addStretch(1)

    steps = QSpinBox(minimum=0, maximum=200, value=10)
    steps.setPrefix("steps: ")
    inner_lr = QDoubleSpinBox(minimum=0.0001, maximum=5.0, value=0.4, decimals=4)
    inner_lr.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)  # 0.0005 and 0.4 both step sensibly
    inner_lr.setPrefix("inner lr: ")
    adapt_button = QPushButton("Adapt")
    adapt_button.setDefault(True)
    adapt_button.setToolTip("Adapt the model to these classes (pressing it again restarts)")
    compare_button = QPushButton("Compare with…")
    compare_button.setToolTip("Open a second model (a checkpoint) to adapt to the same classes, with its own curves")
    controls = QHBoxLayout()
    for w in (steps, inner_lr, adapt_button):
        controls.addWidget(w)
    controls.addStretch(1)
    controls.addWidget(compare_button)
    compare_label, compare_clear_button = QLabel(), QPushButton("✕")
    compare_label.setWordWrap(True)
    compare_clear_button.setToolTip("Stop comparing with the second model")
    compare_clear_button.setFixedWidth(28)
    compare_row = QHBoxLayout()
    compare_row.addWidget(compare_label, 1)
    compare_row.addWidget(compare_clear_button)
    compare_clear_button.setVisible(False)
    compare_label.setVisible(False)
    status = QLabel()
    status.setWordWrap(True)
    chart = AdaptationChart()
    replay_button = QPushButton("▶")
    replay_button.setToolTip("Play the adaptation again, step by step")
    replay_button.setFixedWidth(34)
    step_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=0)
    step_slider.setToolTip("Scrub through the adaptation steps (Left/Right): the chart cursor, the embedding "
                           "and the query's probabilities show that step's model")
    step_slider.setPageStep(1)
    step_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
    step_label = QLabel("step –")
    step_label.setMinimumWidth(90)
    step_row = QHBoxLayout()
    step_row.addWidget(replay_button)
    step_row.addWidget(step_slider, 1)
    step_row.addWidget(step_label)
    bars = ProbabilityBars()
    embedding = EmbeddingView()
    adapt_box = QGroupBox("Adapt to these classes")
    av = QVBoxLayout(adapt_box)
    av.addLayout(controls)
    av.addLayout(compare_row)
    av.addWidget(status)
    av.addWidget(chart, 1)
    av.addLayout(step_row)
    gate = GateChart()  # the mixture of experts' gate for these classes; hidden for other algorithms
    gate.setVisible(False)
    gate.setMaximumHeight(170)
    av.addWidget(gate)
    views = QSplitter(Qt.Orientation.Horizontal)  # the embedding (the show) beside the probabilities
    views.addWidget(embedding)
    views.addWidget(bars)
    views.setSizes([370, 260])
    right = QSplitter(Qt.Orientation.Vertical)
    for w in (adapt_box, views):
        right.addWidget(w)
    right.setSizes([420, 300])

    splitter = QSplitter(Qt.Orientation.Horizontal)
    for w in (left, middle, right):
        splitter.addWidget(w)
    splitter.setSizes([320, 300, 640])
    layout = QVBoxLayout(parent)
    layout.addLayout(banner_row)
    layout.addWidget(splitter, 1)
    return WorkspaceUi(
        banner,
        model_choice,
        quick_train_button,
        class_count,
        *file_buttons,
        cards,
        canvas,
        preview,
        add_button,
        load_query,
        steps,
        inner_lr,
        adapt_button,
        status,
        chart,
        bars,
        embedding,
        gate,
        step_slider,
        step_label,
        replay_button,
        compare_button,
        compare_label,
        compare_clear_button,
    )
