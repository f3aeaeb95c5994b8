"""The "New classes" workspace: draw or load examples of new classes, adapt live, predict as you draw.

The main window adds it as a tab (``add_workspace_tab(NewClassesWorkspace(), "New classes")``)
and connects ``quickTrainRequested``; ``python -m gui.workspace`` opens it alone.
"""

from .workspace import NewClassesWorkspace

__all__ = ["NewClassesWorkspace"]
