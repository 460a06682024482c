"""Collecting a review's facts from a record.

    review = collect(home, "run", home / "runs" / run_id)     # a redacted `Review`

The definitions of the numbers are in `review_run` (game-day runs) and `review_incident` (triage
incidents), built from the sections in `review_sections`. Whatever the kind: the journal's chain
is verified, its head and the ledger entry that recorded it are looked up, and the finished facts
pass the redaction policy again (the record's system manifest rules included, when the manifest
can still be found).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drillkit.config.loader import load_model
from drillkit.config.scenario import Scenario
from drillkit.config.system import System, load_system
from drillkit.errors import InputError
from drillkit.journal import ledger
from drillkit.journal.events import Event, EvidenceHold, IncidentStarted, RunStarted
from drillkit.journal.redact import Redactor
from drillkit.journal.verify import read_journal, verify_chain
from drillkit.reports.review_incident import incident_review
from drillkit.reports.review_model import Evidence, Kind, LedgerPosition, Review
from drillkit.reports.review_run import run_review
from drillkit.reports.review_sections import Record
from drillkit.reports.summaries import incident_summary, read_json_object, run_summary


def collect(home: Path, kind: Kind, folder: Path) -> Review:
    journal = folder / "journal.jsonl"
    entries = read_journal(journal)
    if not entries:
        raise InputError(f"{journal}: the journal is empty")
    record = Record(entries, folder.name)
    data = read_json_object(folder / "summary.json")
    review = run_review(record, run_summary(data)) if kind == "run" else incident_review(record, incident_summary(data))
    review.evidence = _evidence(home, folder, record, has_summary=bool(data))
    system = _system(home, record)
    _owners(review, system)
    redactor = Redactor.for_system(system)
    return Review.model_validate(redactor(review.model_dump(mode="json")))


def _owners(review: Review, system: System | None) -> None:
    """Who owns the system (the manifest's `owner`) and, for a run, its rollback path
    (`rollbacks.<path>.owner`), when the manifest can still be found."""
    if system is None:
        return
    review.owner = system.owner or ""
    path = system.rollbacks.get(review.rollback_path) if review.kind == "run" and review.rollback_path else None
    review.path_owner = (path.owner or "") if path is not None else ""


def _evidence(home: Path, folder: Path, record: Record, *, has_summary: bool) -> Evidence:
    journal, entries, start = folder / "journal.jsonl", record.entries, record.events[0]
    problems = verify_chain(journal)
    ev = Evidence(
        journal=_relative(home, journal),
        entries=len(entries),
        head=entries[-1].hash,
        chain_ok=not problems,
        chain_problems=[str(p) for p in problems],
        summary_file=_relative(home, folder / "summary.json") if has_summary else None,
        redaction=_redaction(start),
        holds=[str(hold.path) for hold in record.all(EvidenceHold)],
    )
    ev.ledger = _ledger_position(home, record)
    return ev


def _redaction(start: Event) -> Any:
    """The redaction policy the record was written under (its first entry names it)."""
    match start:
        case RunStarted(redaction=policy) | IncidentStarted(redaction=policy):
            return policy
    return None


def _ledger_position(home: Path, record: Record) -> LedgerPosition | None:
    """Where the record sits in `<home>/ledger.jsonl` (its latest entry), if it was recorded."""
    match record.events[0]:
        case RunStarted(run_id=str() as ident) | IncidentStarted(incident_id=str() as ident) if ident:
            pass
        case _:
            return None
    if not ledger.ledger_path(home).exists():
        return None
    try:
        recorded = ledger.read_ledger(home)
    except (InputError, ValueError, OSError):
        return None
    mine = [e for e in recorded if e.id == ident]
    if not mine:
        return None
    entry = mine[-1]
    position = LedgerPosition(
        seq=entry.seq,
        of=len(recorded),
        ts=entry.ts,
        merkle_root=entry.merkle_root,
        journal_head=entry.journal_head,
        matches_journal=entry.journal_head == record.entries[-1].hash,
    )
    try:
        checkpoint = ledger.read_checkpoint(ledger.checkpoint_path(home))
        position.checkpoint_size, position.key_fingerprint = checkpoint.size, checkpoint.key_fingerprint
    except (InputError, ValueError, OSError, AttributeError):
        pass
    return position


def _system(home: Path, record: Record) -> System | None:
    """The record's system manifest, when it can still be found (for its extra redaction rules)."""
    for candidate in _manifests(home, record.events[0]):
        if Path(candidate).is_file():
            try:
                return load_system(candidate)
            except InputError:
                continue
    return None


def _manifests(home: Path, start: Event) -> list[str]:
    """Where the manifest may be: an incident names its file, a run its scenario's (which names the system)."""
    match start:
        case IncidentStarted(system_file=str() as system_file) if system_file:
            return [system_file]
        case RunStarted(system_file=str() as system_file) if system_file:
            return [system_file]  # the manifest the run acted on, journalled since issue 13
        case RunStarted(scenario_file=str() as scenario_file) if scenario_file:
            try:
                path = Path(scenario_file)
                scenario = load_model(path, Scenario)
            except (InputError, OSError, ValueError):
                return []
            system = Path(scenario.system)
            if scenario.system in ("demo", "demo:chat"):
                face = "drillkit-chat.yaml" if scenario.system == "demo:chat" else "drillkit.yaml"
                return [str(home / "demo" / face)]
            return [str(system if system.is_absolute() else path.parent / system)]
    return []


def _relative(home: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path)
