"""`drillkit gameday …`: rehearse a failure of an AI service under load (scenario files)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from drillkit.cli.options import Env, pass_env
from drillkit.cli.validate import validate_files
from drillkit.config.loader import load_model
from drillkit.config.scenario import Scenario
from drillkit.data import shipped_files
from drillkit.errors import InputError


def load_scenario(path: Path) -> Scenario:
    return load_model(path, Scenario)


@click.group()
def gameday() -> None:
    """Game-days: inject a fault into an AI service under load and time the rollback."""


@gameday.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@pass_env(json=True)
def validate(env: Env, files: tuple[str, ...]) -> None:
    """Check scenario files against the contract.

    Each problem is reported as FILE:LINE:COLUMN: FIELD: what was expected. Exit 0 when every
    file is valid, 2 otherwise.

    \b
    Example:
      drillkit gameday validate scenarios/*.yaml
    """

    def describe(s: Scenario) -> str:
        faults = ", ".join(f.type for f in s.faults)
        return f"scenario {s.id!r} ({s.layer}, {s.severity}): {faults}; rollback {s.rollback.mode}"

    validate_files(env, files, load_scenario, describe)


@gameday.command("list")
@pass_env(json=True)
def list_(env: Env) -> None:
    """List the scenarios shipped with drillkit."""
    rows = []
    for path in shipped_files("scenarios"):
        try:
            s = load_scenario(path)
        except InputError as exc:
            raise InputError(f"shipped scenario is invalid: {exc}") from None
        rows.append({"id": s.id, "layer": s.layer, "severity": s.severity, "title": s.title, "file": str(path)})
    if env.json:
        env.emit_json(rows)
        return
    table = Table("id", "layer", "severity", "title")
    for r in rows:
        table.add_row(escape(r["id"]), r["layer"], r["severity"], escape(r["title"]))
    env.out.print(table)


COMMANDS = [gameday]
