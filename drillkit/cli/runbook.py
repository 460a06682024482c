"""`drillkit runbook …`: executable runbooks for AI incidents (list, show, validate)."""

from __future__ import annotations

import click
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from drillkit.cli.options import Env, pass_env
from drillkit.cli.validate import validate_files
from drillkit.config.runbook import (
    AskCheck,
    CommandCheck,
    HttpCheck,
    PromqlCheck,
    RollbackAction,
    Runbook,
    RunbookStep,
    SloCheck,
)
from drillkit.runbooks.library import find_runbook, load_runbook, shipped_runbooks


@click.group()
def runbook() -> None:
    """Executable runbooks: the layered diagnosis order for AI incidents, as checks and actions.

    A runbook (runbooks/*.yaml) is a list of steps. A step runs a check (eval, diff, slo, http,
    command, promql, ask) and/or an action (revert_plan, rollback, evidence_hold, note), then
    follows `next` on the outcome (pass, fail, error, skipped, an ask choice, or default).
    `drillkit triage` runs them.

    \b
    Examples:
      drillkit runbook list
      drillkit runbook show ai-output-incident
      drillkit runbook validate my-runbook.yaml
    """


@runbook.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@pass_env(json=True)
def validate(env: Env, files: tuple[str, ...]) -> None:
    """Check runbook files against the contract without running them.

    Reports unknown check or action types, `next` targets that name no step, outcomes a step
    cannot produce, duplicate step ids and ask choices that clash with the responder's commands,
    each as FILE:LINE:COLUMN: FIELD: what was expected. Exit 0 when every file is valid, 2 otherwise.

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
    """List the runbooks shipped with drillkit (run one with `drillkit triage --runbook ID`)."""
    books = shipped_runbooks()
    if env.json:
        env.emit_json(
            [
                {"id": i, "title": rb.title, "steps": len(rb.steps), "applies_to": rb.applies_to, "file": str(p)}
                for i, (p, rb) in sorted(books.items())
            ]
        )
        return
    table = Table("id", "steps", "applies to", "title")
    for i, (_, rb) in sorted(books.items()):
        table.add_row(escape(i), str(len(rb.steps)), escape(", ".join(rb.applies_to)), escape(rb.title))
    env.out.print(table)


def _what(step: RunbookStep) -> str:
    """The step's check and action with their settings, e.g. `slo 5s at 10/s`, `rollback provider`."""
    parts = []
    c = step.check
    if isinstance(c, SloCheck):
        parts.append(f"slo {c.duration:g}s at {c.rate:g}/s")
    elif isinstance(c, CommandCheck):
        parts.append("command " + " ".join(c.run))
    elif isinstance(c, HttpCheck):
        parts.append(f"http {c.method} {c.url}")
    elif isinstance(c, PromqlCheck):
        parts.append(f"promql {c.query} {c.op} {c.value:g}")
    elif isinstance(c, AskCheck):
        parts.append("ask " + "/".join(c.choices))
    elif c is not None:
        parts.append(c.type)
    a = step.action
    if isinstance(a, RollbackAction):
        parts.append(f"rollback {a.component or '(next in the plan)'}")
    elif a is not None:
        parts.append(a.type)
    return " + ".join(parts) or "guidance"


@runbook.command("show")
@click.argument("ref")
@pass_env(json=True)
def show(env: Env, ref: str) -> None:
    """Show a runbook's steps, branches and guidance (REF: a shipped id or a file path)."""
    path, rb = find_runbook(ref)
    if env.json:
        env.emit_json(rb.model_dump(mode="json", exclude_none=True))
        return
    env.out.print(f"[bold]{escape(rb.title)}[/]  ({escape(rb.id)}, {escape(str(path))})")
    if rb.description:
        env.out.print(Markdown(rb.description))
    for n, step in enumerate(rb.steps, 1):
        meta = " · ".join([step.id, _what(step), *(f"{k} → {v}" for k, v in step.next.items())])
        env.out.print(f"\n[bold]{n}. {escape(step.title)}[/]  [dim]{escape(meta)}[/]")
        if step.guidance:
            env.out.print(Markdown(step.guidance))
