"""Open the app on the Regression tab, meta-train there (MAML, then the baseline), place points, Adapt.

Run it under the screenshot tool (Xvfb), which captures the window after ``--wait``
seconds; the script prints ``ready for the screenshot`` once the curves are drawn::

    ../shared/tools/screenshot resources/screenshots/regression.png --wait 100 -- \\
        .venv/bin/python bench/sine_screenshot.py --seconds 30

Preferences go to a temporary INI file, so the user's own settings are neither read nor changed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the points a person might place: six points on a wave of amplitude 3, phase 0.8, one a little off
POINTS_X = (-4.2, -2.6, -1.0, 0.6, 2.1, 3.6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="meta-training seconds of MAML, and of the baseline"
    )
    parser.add_argument("--shots", type=int, default=10)
    args = parser.parse_args()

    import numpy as np
    from PySide6.QtCore import QTimer

    from gui.app import application
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    app = application()
    settings = open_settings(Path(tempfile.mkdtemp(prefix="meta-playground-shot-")) / "settings.ini")
    window = MainWindow(settings=settings)
    window.resize(1280, 800)
    window.show()
    window.start_loading()
    window.show_tab("Regression")
    tab = window.regression()
    tab.seconds.setValue(args.seconds)
    tab.shots.setValue(args.shots)
    tab.baseline.setChecked(True)

    def place_points() -> None:
        if set(tab.models) != {"maml", "baseline"}:
            return
        tab.modelsChanged.disconnect(place_points)
        for x in POINTS_X:
            tab.points_plot.add_point(x, 3.0 * np.sin(x - 0.8) + (0.4 if x > 3 else 0.0))
        tab.steps.setValue(10)
        QTimer.singleShot(500, lambda: tab.adapt_button.click())
        QTimer.singleShot(3000, lambda: print("ready for the screenshot", flush=True))

    tab.modelsChanged.connect(place_points)
    QTimer.singleShot(500, tab.run_controls.start_button.click)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
