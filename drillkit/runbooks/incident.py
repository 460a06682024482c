"""Opening an incident record (a new triage session) and reopening one to resume it.

    session = start_incident(home=..., system=..., system_path=..., runbook=..., runbook_path=...,
                             responder=AutoResponder(console))
    session = resume_incident(home, "20261128T101500Z-ai-output-incident-3f2a", responder=...,
                              load_runbook=find_runbook, load_system=load_system)

A new incident gets its folder `<home>/incidents/<id>/`, a journal passed through the system's
redaction policy, and an `incident.started` entry naming the runbook and manifest files, so that
resuming needs nothing but the incident id. Resuming rebuilds the session's state from the journal
(`record.replay`), refuses an incident that already finished, and journals `incident.resumed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.config.runbook import END, Runbook
from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.journal import Journal, read_journal
from drillkit.journal.events import IncidentResumed, IncidentStarted
from drillkit.journal.ledger_operator import operator_name
from drillkit.runbooks.actions import run_action
from drillkit.runbooks.checks import run_check
from drillkit.runbooks.plan import RevertPlan
from drillkit.runbooks.record import Replay, incidents_dir, new_incident_id, replay
from drillkit.runbooks.redaction import Redaction
from drillkit.runbooks.responder import Responder
from drillkit.runbooks.session import Runners, Session, now

#: What runs a step's check and its action: given to every session, so the interpreter (which
#: the checks and actions read) imports neither.
RUNNERS = Runners(check=run_check, action=run_action)


def start_incident(
    *,
    home: Path,
    system: System,
    system_path: Path,
    runbook: Runbook,
    runbook_path: Path,
    responder: Responder,
    title: str | None = None,
    incident_id: str | None = None,
) -> Session:
    """Open a new incident record and journal `incident.started`.

    Never refused for lack of a baseline: a live incident is when triage is needed most, and a
    `diff` step without one judges each component from what needs none (`drillkit.runbooks.checks`).
    """
    incident_id = incident_id or new_incident_id(runbook.id)
    directory = incidents_dir(home) / incident_id
    directory.mkdir(parents=True, exist_ok=False)
    session = _open_session(
        home,
        incident_id,
        system=system,
        system_path=system_path,
        runbook=runbook,
        runbook_path=runbook_path,
        responder=responder,
        title=title or runbook.title,
        operator=operator_name(),
        started_at=now(),
    )
    session.emit(
        IncidentStarted(
            incident_id=incident_id,
            runbook=runbook.id,
            title=session.title,
            system=system.name,
            operator=session.operator,
            mode=session.mode,
            drillkit=__version__,
            redaction=session.redaction.policy,
            runbook_file=str(session.runbook_path),
            system_file=str(session.system_path),
        )
    )
    return session


def resume_incident(
    home: Path,
    incident_id: str,
    *,
    responder: Responder,
    load_runbook: Any,
    load_system: Any,
    system_path: Path | None = None,
) -> Session:
    """Reopen an incident's journal and rebuild the session from it (InputError if finished).

    `load_runbook(path_or_id)` and `load_system(path)` load the files the journal names
    (`system_path` overrides the recorded manifest).
    """
    state = _unfinished(home, incident_id)
    started = state.started
    runbook_path, runbook = load_runbook(started.runbook_file or _recorded(started.runbook, "runbook", incident_id))
    _check_steps(incident_id, state, runbook_path, runbook)
    system_file = system_path or Path(_recorded(started.system_file, "system_file", incident_id))
    session = _open_session(
        home,
        incident_id,
        system=load_system(system_file),
        system_path=system_file,
        runbook=runbook,
        runbook_path=runbook_path,
        responder=responder,
        title=runbook.title if started.title is None else started.title,
        operator=started.operator or "",
        started_at=state.started_at,
    )
    _restore(session, state)
    session.emit(IncidentResumed(after_seq=state.last_seq, step=state.next_step or END))
    return session


def _open_session(
    home: Path,
    incident_id: str,
    *,
    system: System,
    system_path: Path,
    runbook: Runbook,
    runbook_path: Path,
    responder: Responder,
    title: str,
    operator: str,
    started_at: str,
) -> Session:
    """A session on the incident's journal (created or reopened), redacted by the system's policy."""
    redaction = Redaction.for_system(system)
    journal = Journal(incidents_dir(home) / incident_id / "journal.jsonl", redact=redaction.redact)
    return Session(
        home=home,
        incident_id=incident_id,
        system=system,
        system_path=Path(system_path).absolute(),
        runbook=runbook,
        runbook_path=Path(runbook_path).absolute(),
        responder=responder,
        runners=RUNNERS,
        journal=journal,
        redaction=redaction,
        title=title,
        operator=operator,
        mode="interactive" if responder.interactive else "auto",
        started_at=started_at,
    )


def _unfinished(home: Path, incident_id: str) -> Replay:
    """The replayed journal of an incident that has not finished (InputError otherwise)."""
    if not incident_id or incident_id != Path(incident_id).name or incident_id.startswith("."):
        # A path would reach (and a crash-repair would write to) a journal that is not an incident's.
        raise InputError(f"expected an incident id (a folder of {incidents_dir(home)}), got {incident_id!r}")
    directory = incidents_dir(home) / incident_id
    path = directory / "journal.jsonl"
    if not path.is_file():
        known = sorted(p.name for p in incidents_dir(home).glob("*") if (p / "journal.jsonl").is_file())
        hint = f"; incidents here: {', '.join(known[-5:])}" if known else ""
        raise InputError(f"no incident {incident_id!r} in {incidents_dir(home)}{hint}")
    # Reopen first: a partial last line a crash left is cut (and journaled) before reading.
    probe = Journal(path)
    try:
        state = replay(read_journal(path))
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    finally:
        probe.close()
    if state.finished:
        raise InputError(f"incident {incident_id} has already finished; nothing to resume (see {directory})")
    return state


def _recorded(value: str | None, field: str, incident_id: str) -> str:
    """A file the incident's first entry must name to be resumed."""
    if not value:
        raise InputError(f"incident {incident_id} cannot be resumed: its journal names no {field}")
    return value


def _check_steps(incident_id: str, state: Replay, runbook_path: Path, runbook: Runbook) -> None:
    """InputError when the runbook lost a step the incident was on or went through."""
    known = {step.id for step in runbook.steps}
    missing = [s for s in {state.next_step, *state.history} - {None, END} if s not in known]
    if missing:
        raise InputError(
            f"incident {incident_id} was on step(s) {', '.join(sorted(missing))} that {runbook_path} no longer has; "
            "put the runbook back as it was, or start a new incident"
        )


def _restore(session: Session, state: Replay) -> None:
    """What the journal says the incident found so far, back in the session."""
    session.envelope, session.diff = state.envelope, state.diff
    session.plan = RevertPlan.from_event(state.plan) if state.plan is not None else None
    session.attempted, session.rolled_back, session.notes = state.attempted, state.rolled_back, state.notes
    session.steps, session.history = state.steps, state.history
    session.next_step = state.next_step


__all__ = ["RUNNERS", "resume_incident", "start_incident"]
