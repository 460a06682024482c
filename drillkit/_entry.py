"""The `drillkit` executable's first instructions: stop signals are ours from the start.

A command is interruptible at any moment, including the second or so spent importing click, rich,
pydantic and the engine: Python's defaults would print a `KeyboardInterrupt` traceback for Ctrl-C
in that window and die silently with -15 for SIGTERM. So before anything heavy is imported, the
process-wide policy of `drillkit.signals` is installed. This module and that one import only the
standard library, and must stay that way.
"""

from __future__ import annotations

import os
import sys

from drillkit import signals

EXIT_ABORTED = 3


def _exit(code: int) -> None:
    """Leave now with `code`, after a stop signal, once every `finally` has run.

    CPython notes a KeyboardInterrupt that once crossed an `exec` of source text (dataclasses and
    namedtuple build methods that way while modules import) and, at shutdown, turns the process's
    exit into death by SIGINT (-2) even though drillkit handled it. `os._exit` keeps our code.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _aborted() -> None:
    signals.ignore()
    sys.stderr.write("aborted\n")
    _exit(EXIT_ABORTED)


def main() -> None:
    signals.install()
    try:
        from drillkit.cli import main as cli_main
    except KeyboardInterrupt:
        _aborted()
    try:
        cli_main()
    except KeyboardInterrupt:  # outside the CLI's own handlers (e.g. while it prints): still one line
        _aborted()
    except SystemExit as exc:
        if signals.received is None:
            raise
        signals.ignore()
        _exit(exc.code if isinstance(exc.code, int) else EXIT_ABORTED)


__all__ = ["main"]
