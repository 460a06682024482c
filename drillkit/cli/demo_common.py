"""What the `drillkit demo` commands share: `--workdir`, how to name this demo in a suggested
command (`Where`), hints on control errors, and the lever state for people."""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.markup import escape
from rich.table import Table

from drillkit.cli.options import Env
from drillkit.demo import control
from drillkit.demo.admin import describe_state
from drillkit.home import demo_workdir

workdir_option = click.option(
    "--workdir",
    metavar="DIR",
    help="The demo's folder (manifest, prompts, corpus, evals, run/) [default: <home>/demo].",
)


@dataclass(frozen=True)
class Where:
    """How to name this demo in a suggested command: `--workdir`/`--home` for demo commands,
    `--system` for the others; empty when the defaults already lead there."""

    demo: str
    system: str

    def command(self, sub: str) -> str:
        return f"drillkit {sub}{self.demo if sub.startswith('demo') else self.system}"

    @classmethod
    def of(cls, env: Env, wd: Path) -> Where:
        manifest = f" --system {shlex.quote(str(wd / 'drillkit.yaml'))}"
        if wd != demo_workdir(env.home):
            return cls(f" --workdir {shlex.quote(str(wd))}", manifest)
        ctx = click.get_current_context(silent=True)
        if ctx is not None and ctx.get_parameter_source("home") is ParameterSource.COMMANDLINE:
            return cls(f" --home {shlex.quote(str(env.home))}", manifest)
        # DRILLKIT_HOME carries over to the next command; a local or DRILLKIT_SYSTEM manifest
        # would take precedence over the demo's for `eval run`.
        other = os.environ.get("DRILLKIT_SYSTEM") or Path("drillkit.yaml").is_file()
        return cls("", manifest if other else "")


@contextlib.contextmanager
def hinted(where: Where) -> Iterator[None]:
    """Append the fixing command (`hint: drillkit demo down …`) to control errors that have one."""
    try:
        yield
    except (control.NotRunning, control.StillStarting, control.Unhealthy, control.RunningNow) as exc:
        commands = " && ".join(where.command(c) for c in exc.commands)
        raise type(exc)(f"{exc}; {exc.hint}: {commands}") from None


def print_state(env: Env, state: Any) -> None:
    """The levers (or the corpus versions) in a few readable lines."""
    if isinstance(state, dict) and isinstance(state.get("versions"), list):  # GET /admin/corpus
        table = Table("corpus version", "documents", "created", "", box=None, pad_edge=False)
        for v in state["versions"]:
            mark = "[green]active[/]" if v.get("active") else ""
            table.add_row(str(v.get("version")), str(len(v.get("documents", []))), str(v.get("created_at", "")), mark)
        env.out.print(table)
        return
    for key, line in describe_state(state).items():
        env.out.print(f"{escape(key):<9} {escape(line)}")


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


__all__ = ["Where", "duration", "hinted", "print_state", "workdir_option"]
