"""`drillkit runbook …`: executable runbooks for AI incidents."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from drillkit.cli.options import Env, pass_env
from drillkit.cli.validate import validate_files
from drillkit.config.loader import load_model
from drillkit.config.runbook import Runbook
from drillkit.data import shipped_files
from drillkit.errors import InputError


def load_runbook(path: Path) -> Runbook:
    return load_model(path, Runbook)


def shipped_runbooks() -> dict[str, tuple[Path, Runbook]]:
    found = {}
    for path in shipped_files("runbooks"):
        rb = load_runbook(path)
        found[rb.id] = (path, rb)
    return found


def find_runbook(ref: str) -> tuple[Path, Runbook]:
    """A runbook by shipped id or by file path."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path, load_runbook(path)
    books = shipped_runbooks()
    if ref not in books:
        raise InputError(f"no runbook {ref!r}; shipped: {', '.join(sorted(books)) or 'none'} (or give a file path)")
    return books[ref]


@click.group()
def runbook() -> None:
    """Executable runbooks: the layered diagnosis order for AI incidents, as checks and actions."""


@runbook.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@pass_env(json=True)
def validate(env: Env, files: tuple[str, ...]) -> None:
    """Check runbook files against the contract (step types, `next` targets, unique ids).

    \b
    Example:
      drillkit runbook validate runbooks/*.yaml
    """

    def describe(rb: Runbook) -> str:
        return f"runbook {rb.id!r}: {len(rb.steps)} step(s)"

    validate_files(env, files, load_runbook, describe)


@runbook.command("list")
@pass_env(json=True)
def list_(env: Env) -> None:
    """List the runbooks shipped with drillkit."""
    books = shipped_runbooks()
    if env.json:
        env.emit_json(
            [{"id": i, "title": rb.title, "steps": len(rb.steps), "file": str(p)} for i, (p, rb) in books.items()]
        )
        return
    table = Table("id", "steps", "title")
    for i, (_, rb) in sorted(books.items()):
        table.add_row(escape(i), str(len(rb.steps)), escape(rb.title))
    env.out.print(table)


@runbook.command("show")
@click.argument("ref")
@pass_env(json=True)
def show(env: Env, ref: str) -> None:
    """Show a runbook's steps and guidance (REF: a shipped id or a file path)."""
    path, rb = find_runbook(ref)
    if env.json:
        env.emit_json(rb.model_dump(mode="json", exclude_none=True))
        return
    env.out.print(f"[bold]{escape(rb.title)}[/]  ({escape(rb.id)}, {escape(str(path))})")
    for n, step in enumerate(rb.steps, 1):
        kind = step.check.type if step.check else step.action.type if step.action else "guidance"
        meta = " · ".join([step.id, kind, *(f"{k} → {v}" for k, v in step.next.items())])
        env.out.print(f"\n[bold]{n}. {escape(step.title)}[/]  [dim]{escape(meta)}[/]")
        if step.guidance:
            env.out.print(Markdown(step.guidance))


COMMANDS = [runbook]
