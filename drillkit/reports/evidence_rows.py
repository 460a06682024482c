"""The evidence report's rows: each run and incident under the home, read from its summary and
journal, with what the ledger recorded winning over the summary (an edited summary cannot change
the table; the integrity section reports the edit).

A run's `purpose` (DESIGN §9.4) decides where it counts: a run written before purposes existed (no
`purpose` key) and a run killed before its summary (whose run.started names none) are rehearsals;
a control carries what it proved (`RunRow.proved`); an exploratory run proves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drillkit.errors import InputError
from drillkit.gameday.summary import outcome_of
from drillkit.journal.events import Event, EvidenceHold, RollbackFinished, RunStarted, parse
from drillkit.journal.ledger import LedgerEntry, home_relative, latest_by_id, read_ledger
from drillkit.journal.verify import digest_journal
from drillkit.reports.evidence_model import IncidentRow, RollbackRow, RunRow, parse_time, path_label
from drillkit.reports.summaries import IncidentRecord, RunRecord, lenient, read_json_object

PURPOSES = ("rehearsal", "control", "exploratory")


def recorded_entries(home: Path) -> dict[str, LedgerEntry]:
    """The ledger's latest entry per record id; none from an unreadable ledger (the evidence
    report's integrity section says why)."""
    try:
        return latest_by_id(read_ledger(home, skip_invalid=True))
    except InputError:
        return {}


def read_runs(home: Path, recorded: dict[str, LedgerEntry]) -> list[RunRow]:
    """Every run under `<home>/runs` (a folder with a journal), by start time."""
    folders = sorted(p for p in (home / "runs").glob("*") if (p / "journal.jsonl").exists())
    return sorted((_run_row(home, folder, recorded.get(folder.name)) for folder in folders),
                  key=lambda r: r.started_at or "")  # fmt: skip


def _run_row(home: Path, folder: Path, entry: LedgerEntry | None) -> RunRow:
    """A run's row: its summary (what a run killed before writing one still tells: its run.started
    entry), with what the ledger recorded winning over it."""
    summary = read_json_object(folder / "summary.json")
    run = lenient(RunRecord, {**(summary or _run_started(folder / "journal.jsonl")), **(entry.facts if entry else {})})
    start = parse_time(run.started_at)
    ttr, rto = run.ttr_s, run.rto_target_s
    verdict = (run.verdict or "incomplete") if summary or entry else "incomplete"
    purpose = run.purpose if run.purpose in PURPOSES else "rehearsal"
    path = run.rollback_path or run.layer or ""  # runs written before rollback paths existed: their layer
    row = RunRow(
        id=folder.name,
        started_at=start.isoformat(timespec="seconds") if start else None,
        date=start.date().isoformat() if start else "",
        scenario=run.scenario or "",
        title=run.title or "",
        path=path,
        path_label=path_label(path),
        severity=run.severity or "",
        system=run.system or "",
        operator=run.operator or "",
        recorded_by=entry.operator if entry else None,
        mode=run.rollback_mode or "",
        ttd_s=run.ttd_s,
        rollback_s=run.rollback_s,
        ttr_s=ttr,
        rto_target_s=rto,
        within_rto=(ttr <= rto) if ttr is not None and rto is not None else None,
        verdict=verdict,
        purpose=purpose,
        outcome=outcome_of(purpose, verdict) if verdict in ("pass", "fail", "aborted") else None,
        reasons=(run.reasons or [])[:5],
        journal=home_relative(home, folder / "journal.jsonl"),
        journal_digest=entry.merkle_root if entry else _digest(folder / "journal.jsonl"),
        recorded=entry is not None,
    )
    row.proved = proved(row)
    return row


def proved(run: RunRow) -> str:
    """What a run proves about its rollback path, in one sentence (controls and exploratory runs)."""
    if run.purpose == "exploratory":
        return "nothing: an exploratory run counts for nothing"
    if run.purpose != "control":
        return ""
    if run.verdict == "fail":
        why = f" ({run.reasons[0]})" if run.reasons else ""
        return f"the rehearsal can fail: built to fail, it failed{why}"
    if run.verdict == "pass":
        return "nothing: the control passed, so this rehearsal cannot tell a broken rollback from a working one"
    return f"nothing: the control was {'aborted' if run.verdict == 'aborted' else 'not finished'}"


def _run_started(journal: Path) -> dict[str, Any]:
    """What a run killed before its summary still tells, in the summary's keys: its first entry,
    run.started (the rollback mode among them, and its time as the run's start)."""
    match _first_event(journal):
        case (ts, RunStarted(mode=mode) as started):
            return {**started.data(), "rollback_mode": mode, "started_at": ts}
    return {}


def read_incidents(home: Path, recorded: dict[str, LedgerEntry]) -> list[IncidentRow]:
    """Every incident under `<home>/incidents` (a folder with a journal), by start time."""
    folders = sorted(p for p in (home / "incidents").glob("*") if (p / "journal.jsonl").exists())
    return sorted((_incident_row(home, folder, recorded.get(folder.name)) for folder in folders),
                  key=lambda r: r.started_at or "")  # fmt: skip


def _incident_row(home: Path, folder: Path, entry: LedgerEntry | None) -> IncidentRow:
    summary = read_json_object(folder / "summary.json") or {}
    incident = lenient(IncidentRecord, {**summary, **(entry.facts if entry else {})})
    rollbacks, held = _incident_journal(folder / "journal.jsonl")
    start = parse_time(incident.started_at)
    return IncidentRow(
        id=folder.name,
        started_at=start.isoformat(timespec="seconds") if start else None,
        date=start.date().isoformat() if start else "",
        runbook=incident.runbook or "",
        title=incident.title or "",
        system=incident.system or "",
        operator=incident.operator or "",
        recorded_by=entry.operator if entry else None,
        outcome=incident.outcome or "open",
        envelope=incident.envelope,
        changed=incident.changed or [],
        revert_order=incident.revert_order or [],
        rollbacks=rollbacks,
        evidence_held=held,
        journal=home_relative(home, folder / "journal.jsonl"),
        journal_digest=entry.merkle_root if entry else _digest(folder / "journal.jsonl"),
        recorded=entry is not None,
    )


def _incident_journal(journal: Path) -> tuple[list[RollbackRow], bool]:
    """The rollbacks an incident actually ran, and whether evidence was held before them."""
    rollbacks, held = [], False
    for _ts, event in _events(journal):
        match event:
            case EvidenceHold():
                held = True
            case RollbackFinished(component=component, ok=ok, duration_s=duration_s, expected_s=expected_s):
                rollbacks.append(
                    RollbackRow(component=component or "?", ok=ok, duration_s=duration_s, expected_s=expected_s)
                )
    return rollbacks, held


def _events(journal: Path) -> Iterator[tuple[str, Event]]:
    """Each entry's time and typed event; a line that is not an entry is skipped (the integrity
    section reports it)."""
    try:
        lines = journal.read_bytes().splitlines()
    except OSError:
        return
    for raw in lines:
        parsed = _event(raw)
        if parsed is not None:
            yield parsed


def _first_event(journal: Path) -> tuple[str, Event] | None:
    try:
        with journal.open("rb") as f:
            return _event(f.readline())
    except OSError:
        return None


def _event(raw: bytes) -> tuple[str, Event] | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        return None
    data = entry.get("data")
    return str(entry.get("ts") or ""), parse(entry["kind"], data if isinstance(data, dict) else {})


def _digest(journal: Path) -> str | None:
    try:
        return digest_journal(journal).merkle_root
    except InputError:
        return None


__all__ = ["PURPOSES", "proved", "read_incidents", "read_runs"]
