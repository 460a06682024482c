"""`drillkit review draft`: a post-incident review draft from a game-day run or a triage incident."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from drillkit.cli.options import Env, pass_env
from drillkit.errors import InputError


@click.group()
def review() -> None:
    """Post-incident reviews: drafts with the facts filled in from the record.

    \b
    Examples:
      drillkit review draft 20261128T101003Z-silent-model-swap-717c
      drillkit review draft .drillkit/incidents/20261128T101500Z-ai-output-incident-3f2a --out review.md
    """


@review.command("draft")
@click.argument("record", metavar="RUN|INCIDENT|PLAN_RUN")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the draft to FILE, not stdout.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists (it may hold an author's edits).")
@click.option(
    "--templates",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Look for review.md.j2 here first (then <home>/templates/, then the shipped one).",
)
@pass_env(json=True)
def draft(env: Env, record: str, out: Path | None, force: bool, templates: Path | None) -> None:
    """Draft the review of RUN|INCIDENT: an id under <home>/runs or <home>/incidents (a unique
    prefix will do), or the folder of one. A PLAN_RUN (under <home>/plans) gets one review of
    the whole game-day, each statement citing the plan's journal entry.

    The draft spans every layer an AI incident has — model and provider, prompt, retrieval,
    tools, inputs, operational practice — with what the faults, fingerprints and evals showed for
    each. Facts (impact, detection and TTD, the UTC timeline, rollback timings against the RTO,
    the journal digest and ledger position) are filled in from the journal, summary.json and the
    ledger; judgement is left as prompts marked "> _Author: …_". Everything passes the redaction
    policy again, and every value is escaped for Markdown and HTML.

    A team changes the layout by copying templates/review.md.j2 to <home>/templates/ (or a
    --templates DIR). --json prints the facts instead of the Markdown.

    \b
    Examples:
      drillkit review draft 20261128T101003Z-silent-model-swap-717c
      drillkit review draft 20261128T1015 --out reviews/model-swap.md
      drillkit review draft .drillkit/incidents/20261128T101500Z-ai-output-incident-3f2a --json
    """
    from drillkit.reports.review import draft as draft_review
    from drillkit.reports.review import render
    from drillkit.reports.review_plan import find_plan, plan_facts, render_plan

    plan = find_plan(env.home, record)
    if plan is not None:  # a whole game-day: one review of the day
        day = plan_facts(env.home, plan)
        if env.json:
            env.emit_json(day)
            return
        _write(env, render_plan(day), out, force, f"plan run {day['id']}")
        return
    facts = draft_review(env.home, record)
    if env.json:
        env.emit_json(facts.model_dump(mode="json"))
        return
    _write(env, render(facts, home=env.home, templates=templates), out, force, f"{facts.kind} {facts.id}")


def _write(env: Env, text: str, out: Path | None, force: bool, what: str) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    if out.exists() and not force:
        raise InputError(f"{out} exists (it may hold an author's edits); pass --force to overwrite it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{out}: cannot write the review ({exc.strerror})") from None
    env.err.print(escape(f"review draft of {what} written to {out}"))
