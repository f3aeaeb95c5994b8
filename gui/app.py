"""Start the desktop app: check the display, show the window, then load the engine.

The window is painted first, as a shell that says it is loading (its menus,
the run buttons, disabled); only then are its tabs built (pyqtgraph's import
alone takes most of a second) and torch imported on a worker thread, so
something appears as soon as Qt itself is up.

Environment variables (used by the tests and benchmarks):

``META_PLAYGROUND_QUIT_AFTER_MS``
    close the window by itself this many milliseconds after its tabs are built (smoke tests).
``META_PLAYGROUND_ANNOUNCE_SHOWN``
    print ``window shown`` on stdout once the window has first been painted, and
    ``window loaded`` once it has been painted with its tabs built.
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


def _on_next_paint(widget, callback, defer: bool = False, fallback_ms: int | None = None) -> None:
    """Call ``callback`` once, at ``widget``'s next paint (``defer``: right after it, from the event loop), or
    after ``fallback_ms`` if it never paints (e.g. when the window starts minimised)."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    done = []

    def fire() -> None:
        if not done:
            done.append(True)
            widget.removeEventFilter(watcher)
            callback()

    class NextPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint and not done:
                QTimer.singleShot(0, fire) if defer else fire()
            return False

    watcher = NextPaint(widget)
    widget.installEventFilter(watcher)
    if fallback_ms is not None:
        QTimer.singleShot(fallback_ms, fire)


def _start_after_first_paint(window, announce: bool, quit_after_ms: int | None) -> None:
    """Build the tabs and load the engine once the window's shell is on screen."""
    from PySide6.QtCore import QTimer

    def load() -> None:
        window.start_loading()
        if announce:
            central = window.centralWidget()
            _on_next_paint(central, lambda: print("window loaded", flush=True))
            central.update()  # its children repaint on their own; this makes the central widget say when
        if quit_after_ms is not None:
            QTimer.singleShot(quit_after_ms, window.close)

    if announce:
        _on_next_paint(window.centralWidget(), lambda: print("window shown", flush=True))
    _on_next_paint(window.centralWidget(), load, defer=True, fallback_ms=500)


def close_on_signals(window, signals: tuple[int, ...] | None = None) -> None:
    """Close ``window`` as its Quit does (any run stopped, the preferences kept, the workers joined) on Ctrl+C in the
    terminal that started it (SIGINT) or a polite kill (SIGTERM, as a session's logout sends), rather than dying
    mid-write or ignoring Ctrl+C until the next Python callback. Python runs a signal handler only between its own
    bytecodes, so a timer wakes the interpreter every 200 ms while Qt's loop waits. Main thread only."""
    import signal

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialog

    def close(tries: int = 10) -> None:
        modal = QApplication.activeModalWidget()  # a dialog stays open (its own loop running) when the window closes
        if modal is not None and modal is not window and tries:
            # cancelled, as Escape would (a message box without an Escape button ignores close())
            modal.reject() if isinstance(modal, QDialog) else modal.close()
            QTimer.singleShot(0, lambda: close(tries - 1))
        else:
            window.close()

    def handler(_signum, _frame) -> None:
        QTimer.singleShot(0, close)

    for number in (signal.SIGINT, signal.SIGTERM) if signals is None else signals:
        signal.signal(number, handler)
    waker = QTimer(window)
    waker.timeout.connect(lambda: None)
    waker.start(200)


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

    from .main_window import MainWindow

    app = application()
    window = MainWindow()
    quit_after = os.environ.get("META_PLAYGROUND_QUIT_AFTER_MS")
    _start_after_first_paint(window, bool(os.environ.get("META_PLAYGROUND_ANNOUNCE_SHOWN")),
                             int(quit_after) if quit_after else None)
    window.show()
    window.raise_()
    window.activateWindow()  # without a window manager (Xvfb) nothing else gives it the keyboard focus
    app.aboutToQuit.connect(window.shutdown)
    close_on_signals(window)
    return app.exec()
