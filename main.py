"""Meta Playground. No arguments: the desktop app. A subcommand: the headless CLI.

    python main.py                      # the GUI
    python main.py train --help         # headless meta-training
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] not in ("--gui",):
        from engine.cli import main as cli_main

        return cli_main(argv)
    from gui.app import run_app

    return run_app()


if __name__ == "__main__":
    sys.exit(main())
