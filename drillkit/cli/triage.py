"""`drillkit triage`: walk a live incident through an executable runbook, and record it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from drillkit.cli.options import Env, pass_env
from drillkit.config.system import load_system
from drillkit.errors import Aborted, CheckFailed, InputError
from drillkit.runbooks import (
    DEFAULT_RUNBOOK,
    AutoResponder,
    IncidentSummary,
    Responder,
    Session,
    TerminalResponder,
    find_runbook,
    resume_incident,
    start_incident,
)


@click.command()
@click.option(
    "--runbook",
    "runbook_ref",
    metavar="ID|FILE",
    help=f"Runbook to follow: a shipped id (drillkit runbook list) or a file [default: {DEFAULT_RUNBOOK}].",
)
@click.option("--auto", is_flag=True, help="Run every automated check with no prompts; never changes the system.")
@click.option("--resume", "resume_id", metavar="INCIDENT", help="Continue an interrupted incident from its journal.")
@click.option("--title", metavar="TEXT", help="The incident's name in its record [default: the runbook's title].")
@pass_env(system=True, json=True)
def triage(env: Env, runbook_ref: str | None, auto: bool, resume_id: str | None, title: str | None) -> None:
    """Triage a live AI incident in the layered order, as an executable runbook.

    The default runbook asks, in order: are outputs still inside the envelope the evaluation
    suite accepts? which of model, prompt, retrieval corpus, tools and inputs changed against
    the last known good snapshot (`drillkit snapshot` while healthy)? what to revert first,
    given what each revert costs users? It holds the evidence before anything is changed, and
    rolls back with your confirmation, timed.

    No baseline is no reason to wait: triage then judges each component from what needs none —
    the served model against the pinned one (canaries), the tools' contract tests, the git
    history or file dates of prompts and corpus, the inputs against the eval suite's, the last
    game-day's preflight fingerprints — and says how sure it is (evidence.<component>.confidence:
    high, medium, low). With the evals passing, a change leads to "re-baseline?", not to a
    revert (a tool breaking its contract aside); against a baseline recorded with
    `snapshot --force` while the evals failed, triage says so.

    In a terminal each step shows its guidance; answer `run`, `skip`, `back`, `note` (a
    timestamped note in the record) or `quit` (resume later with --resume). `--auto` runs
    every automated check without asking and never rolls back: the diagnosis for scripts and
    pages. Every session is an incident record under <home>/incidents/<id>/ (journal.jsonl,
    summary.json, evidence/) that `drillkit review draft` reads.

    Exit 0 when the incident ends resolved (the last check passed), 1 when it is left open,
    2 for bad input, 3 when it was quit or interrupted (it stays resumable).

    \b
    Examples:
      drillkit triage                                   # interactive, ai-output-incident
      drillkit triage --auto --json | jq .revert_order  # diagnosis only, machine-readable
      drillkit triage --runbook provider-outage
      drillkit triage --resume 20261128T101500Z-ai-output-incident-3f2a
    """
    console = env.err if env.json else env.out
    responder = _responder(console, auto=auto, quiet=env.json)
    session = _open_session(env, responder, runbook_ref=runbook_ref, resume_id=resume_id, title=title)
    verb = "resuming" if resume_id else "incident"
    console.print(
        f"[bold]{verb} {escape(session.incident_id)}[/]  runbook {escape(session.runbook.id)} · "
        f"system {escape(session.system.name)} · {session.mode}"
    )
    try:
        summary = asyncio.run(session.run())
    except KeyboardInterrupt:
        raise Aborted(f"interrupted; the incident stays open: drillkit triage --resume {session.incident_id}") from None
    _print_outcome(env, console, session, summary)
    _exit_for(summary, session.dir)


def _responder(console: Console, *, auto: bool, quiet: bool) -> Responder:
    """Nobody under --auto; otherwise the person at the terminal (InputError when stdin is none)."""
    if auto:
        return AutoResponder(console, quiet=quiet)
    if not sys.stdin.isatty():
        raise InputError("interactive triage needs a terminal on stdin; use --auto to run the checks unattended")
    return TerminalResponder(console)


def _open_session(
    env: Env, responder: Responder, *, runbook_ref: str | None, resume_id: str | None, title: str | None
) -> Session:
    """The incident `--resume` names, reopened, or a new one on the system's manifest and the runbook."""
    if resume_id is not None:
        if runbook_ref is not None or title is not None:
            raise InputError("--resume continues the incident's own runbook and title; drop --runbook/--title")
        return resume_incident(
            env.home,
            resume_id,
            responder=responder,
            load_runbook=find_runbook,
            load_system=load_system,
            system_path=env.system_path() if env.system_arg else None,
        )
    system_path = env.system_path()
    system = load_system(system_path)
    runbook_path, runbook = find_runbook(runbook_ref or DEFAULT_RUNBOOK)
    return start_incident(
        home=env.home,
        system=system,
        system_path=system_path,
        runbook=runbook,
        runbook_path=runbook_path,
        responder=responder,
        title=title,
    )


def _print_outcome(env: Env, console: Console, session: Session, summary: IncidentSummary) -> None:
    """summary.json as written (--json) or the short report; a warning when the ledger refused it."""
    written = json.loads((session.dir / "summary.json").read_text(encoding="utf-8"))
    if env.json:
        env.emit_json(written)
    else:
        _report(console, summary, session.dir)
    if session.ledger_error is not None:
        env.err.print(
            f"[yellow]warning:[/] incident {escape(summary.incident_id)} is not in the evidence ledger: "
            f"{escape(session.ledger_error)}; once fixed: drillkit evidence record {escape(str(session.dir))}"
        )


def _exit_for(summary: IncidentSummary, directory: Path) -> None:
    """Exit 0 (resolved) by returning; 3 (paused, closed unresolved) or 1 (left open) by raising."""
    if summary.finished_at is None:
        raise Aborted(f"paused; resume with: drillkit triage --resume {summary.incident_id}")
    if summary.outcome == "aborted":
        raise Aborted(f"incident {summary.incident_id} closed without a resolution")
    if summary.outcome == "open":
        state = f"envelope {_envelope(summary)}, changed: {_changed(summary)}"
        raise CheckFailed(f"incident left open ({state}); record in {directory}")


def _report(console: Console, summary: IncidentSummary, directory: Path) -> None:
    colour = {"pass": "green", "fail": "red"}.get(summary.envelope or "", "yellow")
    console.print()
    console.print(f"envelope [bold {colour}]{_envelope(summary)}[/]   changed [bold]{escape(_changed(summary))}[/]")
    against = summary.baseline or {}
    if against.get("reference") == "no-baseline":
        console.print(f"[yellow]no baseline[/] ({escape(str(against.get('note') or 'none usable'))}): "
                      "judged from what needs none")  # fmt: skip
    elif against.get("healthy") is False:
        console.print("[yellow]against an unhealthy baseline[/] (recorded with --force while the evals failed)")
    if summary.revert_plan:
        console.print("revert order:" if not summary.rebaseline else "plan (the evals hold):")
        for line in summary.revert_plan:
            console.print(f"  {escape(line)}")
    for done in summary.rolled_back:
        state = "ok" if done.get("ok") else "FAILED"
        console.print(f"rolled back {escape(str(done.get('component')))}: {state} in {done.get('duration_s', 0):.1f}s")
    console.print(f"outcome [bold]{summary.outcome}[/]   record {escape(str(directory))}")


def _envelope(summary: IncidentSummary) -> str:
    if summary.envelope is not None:
        return summary.envelope
    if any(s.type == "eval" and s.outcome == "error" for s in summary.steps):
        return "unknown (the eval could not run)"
    return "not checked"


def _changed(summary: IncidentSummary) -> str:
    """What the diff found, never "nothing" while a component could not be compared."""
    diffed = bool(summary.evidence) or any(s.type == "diff" and s.outcome in ("pass", "fail") for s in summary.steps)
    if not diffed:
        return "not checked"
    sure = (summary.baseline or {}).get("reference") == "no-baseline"
    named = [f"{c} ({summary.evidence.get(c, {}).get('confidence')})" if sure else c for c in summary.changed]
    seen = ", ".join(named) or ("nothing seen" if summary.unknown else "nothing")
    return seen + (f"; unknown: {', '.join(summary.unknown)}" if summary.unknown else "")
