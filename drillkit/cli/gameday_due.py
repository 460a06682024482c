"""`drillkit gameday due`: which rollback paths are due a rehearsal (exit 1 when one is overdue)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click
from rich.markup import escape
from rich.table import Table

from drillkit.cli.options import Env, pass_env
from drillkit.errors import CheckFailed
from drillkit.reports.due import DuePath, due_paths


@click.command("due")
@pass_env(system=True, json=True)
def due(env: Env) -> None:
    """List every rollback path with its last passing rehearsal, owner and due date.

    A path is proven by a passing rehearsal (not a control or exploratory run) of a scenario whose
    layer is that path, against this system; it is due `rollbacks.<path>.rehearse_every` (default
    90d) later. Exit 1 when any path is overdue (for a CI cron); the manifest's `notify` webhooks
    get an `overdue` event then.

    \b
    Example:
      drillkit gameday due --system drillkit.yaml --json
    """
    system = env.load_system()
    paths = due_paths(env.home, system)
    overdue = [p for p in paths if p.overdue]
    if overdue and system.notify:
        asyncio.run(_notify(system.notify, system.name, overdue, env))
    if env.json:
        env.emit_json({"system": system.name, "paths": [p.data() for p in paths], "overdue": [p.path for p in overdue]})
    else:
        _table(env, paths)
    if overdue:
        raise CheckFailed(f"{len(overdue)} rollback path(s) overdue: {', '.join(p.path for p in overdue)}")


def _table(env: Env, paths: list[DuePath]) -> None:
    table = Table("path", "owner", "every", "last passing rehearsal", "due", "state")
    for p in paths:
        state = "[red]OVERDUE[/]" if p.overdue else f"in {p.days_left:g} d"
        last = escape(f"{p.last_pass[:10]} ({p.last_run_id})") if p.last_pass else "[red]never[/]"
        table.add_row(escape(p.path), escape(p.owner or "—"), f"{p.rehearse_every_days:g} d", last,
                      (p.due_at or "now")[:10], state)  # fmt: skip
    env.out.print(table)


async def _notify(targets: list, system: str, overdue: list[DuePath], env: Env) -> None:
    from drillkit.gameday.notify import Notifier
    from drillkit.journal.writer import Journal

    folder = env.home / "notifications"
    folder.mkdir(parents=True, exist_ok=True)
    journal = Journal(folder / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-due.jsonl")
    notifier = Notifier(targets, journal.record)
    names = ", ".join(f"{p.path} ({p.owner or 'no owner'})" for p in overdue)
    notifier.send("overdue", f"{system}: rollback paths overdue a rehearsal: {names}",
                  {"system": system, "overdue": [p.data() for p in overdue]})  # fmt: skip
    await notifier.drain()
    journal.close()
