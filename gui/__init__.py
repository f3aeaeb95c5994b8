"""Meta Playground's desktop app (PySide6 + pyqtgraph).

The GUI reaches the engine only on background threads (see
:mod:`gui.background` and :mod:`gui.training_controller`); nothing here does
tensor maths beyond turning images into pixels.
"""
