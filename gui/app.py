"""Start the desktop app: check the display, show the window, then load the engine.

The window is shown before torch is imported (the engine loads on a worker
thread afterwards), so it appears within a second or two of launch.

Environment variables (used by the tests and benchmarks):

``META_PLAYGROUND_QUIT_AFTER_MS``
    close the window by itself after this many milliseconds (smoke tests).
``META_PLAYGROUND_ANNOUNCE_SHOWN``
    print ``window shown`` on stdout once the window has first been painted.
``META_PLAYGROUND_SETTINGS``
    keep preferences in this INI file instead of the user's (see gui.settings).
"""

from __future__ import annotations

import ctypes.util
import os
import sys

XCB_PACKAGES = "libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0"


def display_problem(
    env: dict | None = None, platform: str | None = None, find_library=ctypes.util.find_library
) -> str | None:
    """Why Qt would abort opening a window here, in one line; None if it should work."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    qpa = env.get("QT_QPA_PLATFORM", "")
    if not platform.startswith("linux") or (qpa and not qpa.startswith("xcb")):
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return (
            "Meta Playground cannot open a window: no display was found (DISPLAY is not set). "
            "Run it on a desktop, or headless with QT_QPA_PLATFORM=offscreen."
        )
    if (qpa.startswith("xcb") or not env.get("WAYLAND_DISPLAY")) and find_library("xcb-cursor") is None:
        return (
            f"Meta Playground cannot open a window: Qt's xcb plugin needs system libraries. Install them "
            f"(Debian/Ubuntu: sudo apt-get install {XCB_PACKAGES}) or run headless with QT_QPA_PLATFORM=offscreen."
        )
    return None


def _announce_first_paint(window) -> None:
    from PySide6.QtCore import QEvent, QObject

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint:
                print("window shown", flush=True)
                obj.removeEventFilter(self)
            return False

    window._first_paint = FirstPaint(window)
    window.centralWidget().installEventFilter(window._first_paint)


def application():
    """The process's QApplication (created on first call) with the app's names, collecting garbage on its thread only.

    Every entry point that shows a window (the app, ``python -m gui.workspace``,
    the benchmarks) starts here, so no worker thread ever runs Python's cyclic
    collector over Qt objects (see :mod:`gui.gui_thread_gc`).
    """
    from PySide6.QtWidgets import QApplication

    from .gui_thread_gc import install_gui_thread_gc
    from .settings import APPLICATION, ORGANIZATION

    QApplication.setOrganizationName(ORGANIZATION)
    QApplication.setApplicationName(APPLICATION)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    install_gui_thread_gc(app)
    return app


def run_app() -> int:
    """Run the GUI; return the process exit status."""
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from PySide6.QtCore import QTimer

    from .main_window import MainWindow

    app = application()
    window = MainWindow()
    if os.environ.get("META_PLAYGROUND_ANNOUNCE_SHOWN"):
        _announce_first_paint(window)
    window.show()
    window.raise_()
    window.activateWindow()  # without a window manager (Xvfb) nothing else gives it the keyboard focus
    app.aboutToQuit.connect(window.shutdown)
    QTimer.singleShot(0, window.start_loading)
    quit_after = os.environ.get("META_PLAYGROUND_QUIT_AFTER_MS")
    if quit_after:
        QTimer.singleShot(int(quit_after), window.close)
    return app.exec()
