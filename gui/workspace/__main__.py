"""Open the New classes workspace on its own: ``python -m gui.workspace [--checkpoint F] [--demo]``.

Without ``--checkpoint`` the "Quick meta-train" button trains the quick recipe (SimpleShot) on
the built-in glyphs in a worker. ``--demo`` loads the sample class set, presses
Adapt once a model is ready and draws a held-out sample query (for screenshots).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gui.workspace", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a meta-trained model (main.py train --checkpoint F)")
    parser.add_argument(
        "--classset", default=str(RESOURCES / "sample_classes"), help="class set to open [the sample set]"
    )
    parser.add_argument("--demo", action="store_true", help="adapt at once and draw a sample query")
    parser.add_argument("--steps", type=int, default=10, help="adaptation steps [10]")
    parser.add_argument(
        "--compare", action="store_true", help="with --demo: adapt again at half the inner lr (two curves)"
    )
    args = parser.parse_args(argv)

    from engine import api

    from ..app import application
    from .workspace import NewClassesWorkspace

    app = application()
    ws = NewClassesWorkspace(checkpoint=args.checkpoint)
    ws.steps.setValue(args.steps)
    ws.resize(1260, 780)

    def quick_train() -> None:
        ws.quick_train_button.setEnabled(False)
        ws.banner.setText("Meta-training SimpleShot on the built-in glyphs (about a minute)…")
        ws._run(api.quick_train, on_done=ws.set_model)

    ws.quickTrainRequested.connect(quick_train)
    if args.classset and Path(args.classset).is_dir():
        ws.load_folder(args.classset)
    if args.demo:

        def draw_query() -> None:
            query = RESOURCES / "sample_queries"
            files = sorted(query.glob("*.png")) if query.is_dir() else []
            if files:
                from PIL import Image

                ink = 255 - np.asarray(Image.open(files[0]).convert("L"))  # dark ink on paper -> bright ink
                ws.canvas.set_raster(ink)

        state = {"adapted": False}

        def on_ready() -> None:
            if ws.current_model() is not None and ws.board.count and not ws.board.missing() and not state["adapted"]:
                state["adapted"] = True
                ws.adapt()

        ws.board.changed.connect(on_ready)
        ws.modelReady.connect(on_ready)
        ws.adapted.connect(lambda _: draw_query() if ws._query is None else None)

        def again(_loo) -> None:
            if args.compare and len(ws.chart.runs) == 1:
                ws.inner_lr.setValue(ws.inner_lr.value() / 2)
                ws.adapt()

        ws.leaveOneOut.connect(again)
        if args.checkpoint is None:
            quick_train()
    ws.show()
    code = app.exec()
    ws.wait_for_workers()
    return code


if __name__ == "__main__":
    sys.exit(main())
