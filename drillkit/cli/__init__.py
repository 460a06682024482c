"""The `drillkit` command line: one root group, one module per command group.

Exit codes: 0 ok; 1 a check failed; 2 bad input or usage; 3 aborted (Ctrl-C, SIGTERM, guardrail).
Errors print as one readable message on stderr; `--debug` (or DRILLKIT_DEBUG=1) adds the traceback.
This package is the only place that calls `asyncio.run`.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from drillkit import __version__, signals
from drillkit.cli.lazy import LazyGroup
from drillkit.errors import DrillkitError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3


class DrillkitGroup(LazyGroup):
    """Root group that turns every error into one message and a documented exit code."""

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        extra.pop("standalone_mode", None)
        debug = os.environ.get("DRILLKIT_DEBUG") == "1" or "--debug" in (args if args is not None else sys.argv[1:])
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        try:
            rv = super().main(args=args, prog_name=prog_name or "drillkit", standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:  # usage errors: exit 2
            exc.show()
            sys.exit(exc.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            if signals.serving and signals.received == signal.SIGTERM:
                err.print("stopped (SIGTERM)")  # a service manager's stop is a clean exit
                sys.exit(EXIT_OK)
            signals.ignore()
            err.print("[bold red]aborted[/]")
            sys.exit(EXIT_ABORTED)
        except DrillkitError as exc:
            if debug:
                traceback.print_exc()
            label = "error" if exc.exit_code != EXIT_FAILED else "failed"
            err.print(f"[bold red]{label}:[/] {escape(str(exc))}")
            sys.exit(exc.exit_code)
        except Exception as exc:  # a bug in drillkit: still one message unless --debug
            if debug:
                traceback.print_exc()
            else:
                err.print(
                    f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}\n"
                    "run again with --debug for the traceback, and please report it"
                )
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


# Command name -> (module under drillkit.cli, attribute): imported only when that command runs or
# `--help` lists it (`drillkit.cli.lazy`).
COMMANDS: dict[str, tuple[str, str]] = {
    "system": ("system", "system"),
    "demo": ("demo", "demo"),
    "eval": ("evals", "eval_group"),
    "chaos": ("chaos", "chaos"),
    "gameday": ("gameday", "gameday"),
    "runbook": ("runbook", "runbook"),
    "triage": ("triage", "triage"),
    "snapshot": ("fingerprint", "snapshot"),
    "diff": ("fingerprint", "diff"),
    "watch": ("watch", "watch"),
    "review": ("review", "review"),
    "evidence": ("evidence", "evidence"),
    "bench": ("bench", "bench"),
    "schema": ("schema", "schema"),
}


@click.group(
    cls=DrillkitGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "--version", prog_name="drillkit", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Game-days, live triage and rollback evidence for AI services run as infrastructure.

    \b
    A game-day against the embedded demo (no API keys; starts and stops it):
      drillkit gameday run silent-model-swap
    \b
    Live incident work, on the demo or your own system (--system drillkit.yaml):
      drillkit demo up          start the demo AI service on loopback
      drillkit snapshot         record the five inputs as last known good
      drillkit diff             which of model, prompt, corpus, tools, inputs changed?
      drillkit triage           the layered diagnosis, as a runbook
      drillkit demo down        stop it
    \b
    Afterwards:
      drillkit review draft RUN|INCIDENT     a post-incident review draft
      drillkit evidence report               rollback evidence for risk and compliance
      drillkit evidence verify               has any record been edited?

    Exit codes: 0 ok, 1 a check failed, 2 bad input, 3 aborted.
    """


def main() -> None:
    cli.main()
