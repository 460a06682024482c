"""The rollback-evidence report's data: what was rehearsed, how fast, how often, and whether the record holds.

    report = build_report(home, since=..., until=..., system=None)   # EvidenceReport (also the JSON format)
    render(report, "html")                                             # see evidence_render

Sources, all under the drillkit home: `runs/*/summary.json` and journals (game-day rehearsals),
`incidents/*/summary.json` and journals (triage sessions), `ledger.jsonl`, and a fresh
`verify_home`. For a run in the ledger, the facts the ledger recorded win over its summary.json, so
an edited summary cannot change the table (the integrity section reports the edit).

Rules the reader is told in the report itself:

- the period (`since`..`until`, by run start) selects the runs and incidents listed; the cadence
  looks at every rehearsal up to `until`, because "when was this path last rehearsed" does not
  stop at the start of a quarter;
- the rollback path of a run is its scenario's `layer`; "provider fallback" is layer `provider`;
- a path is overdue when its last rehearsal is more than `OVERDUE_DAYS` before `until`.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.journal.events import Event, EvidenceHold, RollbackFinished, RunStarted, parse
from drillkit.journal.ledger import LedgerEntry, home_relative, latest_by_id, read_ledger
from drillkit.journal.signing import short_fingerprint
from drillkit.journal.verify import digest_journal
from drillkit.reports.controls import assess_controls
from drillkit.reports.evidence_chart import build_chart
from drillkit.reports.evidence_gaps import find_gaps
from drillkit.reports.evidence_model import (
    EXTRA_PATHS,
    OVERDUE_DAYS,
    PATHS,
    ControlRow,
    EvidenceReport,
    Gap,
    IncidentRow,
    Integrity,
    PathCadence,
    Period,
    RollbackRow,
    RunRow,
    Totals,
    parse_time,
)
from drillkit.reports.evidence_verify import Verification, verify_command, verify_home
from drillkit.reports.summaries import IncidentRecord, RunRecord, lenient, read_json_object


def build_report(
    home: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    system: System | None = None,
    verification: Verification | None = None,
) -> EvidenceReport:
    """Collect everything the report shows (see the module doc for the rules)."""
    home = Path(home).absolute()
    now = datetime.now(UTC)
    until = until or now
    verification = verification or verify_home(home)
    recorded = latest_by_id(_ledger_or_empty(home))
    all_runs = [r for r in _runs(home, recorded) if _at(r.started_at) is None or _at(r.started_at) <= until]
    runs = [r for r in all_runs if _in(r.started_at, since, until)]
    incidents = [i for i in _incidents(home, recorded) if _in(i.started_at, since, until)]
    cadence = _cadence(all_runs, runs, until, system)
    integrity = _integrity(home, verification)
    systems = sorted({r.system for r in runs if r.system} | {i.system for i in incidents if i.system})
    if system is not None and system.name not in systems:
        systems.insert(0, system.name)
    report = EvidenceReport(
        title="Rollback evidence" + (f": {', '.join(systems)}" if systems else ""),
        generated_at=now.isoformat(timespec="seconds"),
        drillkit_version=__version__,
        home=str(home),
        systems=systems,
        owner=system.owner if system is not None else None,
        period=_period(since, until),
        totals=_totals(runs, incidents, cadence),
        cadence=cadence,
        runs=runs,
        incidents=incidents,
        gaps=[],
        controls=[],
        integrity=integrity,
    )
    report.gaps = find_gaps(report, verification)
    report.controls = assess_controls(report, home)
    report.chart = build_chart(runs).model_dump()
    return report


# -- reading runs and incidents -----------------------------------------------------------------


def _runs(home: Path, recorded: dict[str, LedgerEntry]) -> list[RunRow]:
    folders = sorted(p for p in (home / "runs").glob("*") if (p / "journal.jsonl").exists())
    return sorted((_run_row(home, folder, recorded.get(folder.name)) for folder in folders),
                  key=lambda r: r.started_at or "")  # fmt: skip


def _run_row(home: Path, folder: Path, entry: LedgerEntry | None) -> RunRow:
    """A run's row: its summary (what a run killed before writing one still tells: its run.started
    entry), with what the ledger recorded winning over it."""
    summary = read_json_object(folder / "summary.json")
    run = lenient(RunRecord, {**(summary or _run_started(folder / "journal.jsonl")), **(entry.facts if entry else {})})
    start = _at(run.started_at)
    ttr, rto = run.ttr_s, run.rto_target_s
    return RunRow(
        id=folder.name,
        started_at=start.isoformat(timespec="seconds") if start else None,
        date=start.date().isoformat() if start else "",
        scenario=run.scenario or "",
        title=run.title or "",
        path=run.layer or "",
        path_label={**PATHS, **EXTRA_PATHS}.get(run.layer or "", run.layer or "unknown"),
        severity=run.severity or "",
        system=run.system or "",
        operator=run.operator or "",
        mode=run.rollback_mode or "",
        ttd_s=run.ttd_s,
        rollback_s=run.rollback_s,
        ttr_s=ttr,
        rto_target_s=rto,
        within_rto=(ttr <= rto) if ttr is not None and rto is not None else None,
        verdict=(run.verdict or "incomplete") if summary or entry else "incomplete",
        reasons=(run.reasons or [])[:5],
        journal=home_relative(home, folder / "journal.jsonl"),
        journal_digest=entry.merkle_root if entry else _digest(folder / "journal.jsonl"),
        recorded=entry is not None,
    )


def _run_started(journal: Path) -> dict[str, Any]:
    """What a run killed before its summary still tells, in the summary's keys: its first entry,
    run.started (the rollback mode among them, and its time as the run's start)."""
    match _first_event(journal):
        case (ts, RunStarted(mode=mode) as started):
            return {**started.data(), "rollback_mode": mode, "started_at": ts}
    return {}


def _incidents(home: Path, recorded: dict[str, LedgerEntry]) -> list[IncidentRow]:
    folders = sorted(p for p in (home / "incidents").glob("*") if (p / "journal.jsonl").exists())
    return sorted((_incident_row(home, folder, recorded.get(folder.name)) for folder in folders),
                  key=lambda r: r.started_at or "")  # fmt: skip


def _incident_row(home: Path, folder: Path, entry: LedgerEntry | None) -> IncidentRow:
    summary = read_json_object(folder / "summary.json") or {}
    incident = lenient(IncidentRecord, {**summary, **(entry.facts if entry else {})})
    rollbacks, held = _incident_journal(folder / "journal.jsonl")
    start = _at(incident.started_at)
    return IncidentRow(
        id=folder.name,
        started_at=start.isoformat(timespec="seconds") if start else None,
        date=start.date().isoformat() if start else "",
        runbook=incident.runbook or "",
        title=incident.title or "",
        system=incident.system or "",
        operator=incident.operator or "",
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


# -- derived tables ----------------------------------------------------------------------------


def _cadence(all_runs: list[RunRow], runs: list[RunRow], until: datetime, system: System | None) -> list[PathCadence]:
    paths = dict(PATHS)
    for run in all_runs:
        if run.path in EXTRA_PATHS:
            paths[run.path] = EXTRA_PATHS[run.path]
    rows = []
    for key, label in paths.items():
        history = [r for r in all_runs if r.path == key and r.started_at]
        in_period = [r for r in runs if r.path == key]
        row = PathCadence(path=key, label=label, in_period=len(in_period))
        row.passed_in_period = sum(r.verdict == "pass" for r in in_period)
        if system is not None and key in system.rollbacks:
            rb = system.rollbacks[key]
            row.designed = rb.description or (" ".join(rb.run) if rb.run else f"{rb.http.method} {rb.http.url}")
            row.expected_s = rb.expected_s
        if history:
            last = history[-1]
            row.last_rehearsal, row.last_verdict, row.last_rollback_s = last.date, last.verdict, last.rollback_s
            passes = [r for r in history if r.verdict == "pass"]
            row.last_pass = passes[-1].date if passes else None
            row.days_since = (until - _at(last.started_at)).days
            if row.days_since > OVERDUE_DAYS:
                row.status = "overdue"
            elif last.verdict != "pass":
                row.status = "failing"
            else:
                row.status = "ok"
        rows.append(row)
    return rows


def _totals(runs: list[RunRow], incidents: list[IncidentRow], cadence: list[PathCadence]) -> Totals:
    rollbacks = [r.rollback_s for r in runs if r.rollback_s is not None]
    ttrs = [r.ttr_s for r in runs if r.ttr_s is not None]
    return Totals(
        runs=len(runs),
        passed=sum(r.verdict == "pass" for r in runs),
        failed=sum(r.verdict == "fail" for r in runs),
        aborted=sum(r.verdict == "aborted" for r in runs),
        incomplete=sum(r.verdict == "incomplete" for r in runs),
        incidents=len(incidents),
        within_rto=sum(r.within_rto is True for r in runs),
        median_rollback_s=round(statistics.median(rollbacks), 3) if rollbacks else None,
        max_rollback_s=max(rollbacks) if rollbacks else None,
        max_ttr_s=max(ttrs) if ttrs else None,
        paths_current=sum(c.status == "ok" for c in cadence if c.path in PATHS),
    )


def _integrity(home: Path, v: Verification) -> Integrity:
    cp = v.checkpoint
    return Integrity(
        ok=v.ok,
        verified_at=v.verified_at,
        ledger_entries=v.ledger_entries,
        errors=len(v.errors),
        warnings=len(v.warnings),
        findings=[f"{f.severity}: {f}" for f in v.findings][:25],
        checkpoint_size=cp.size if cp else None,
        checkpoint_ts=cp.ts if cp else None,
        checkpoint_root=cp.root if cp else None,
        signature_ok=cp.signature_ok if cp else None,
        trusted_by=cp.trusted_by if cp else None,
        key_fingerprint=cp.key_fingerprint if cp else None,
        key_short=short_fingerprint(cp.key_fingerprint) if cp else None,
        command=verify_command(home, cp.key_fingerprint if cp else None),
    )


def _period(since: datetime | None, until: datetime) -> Period:
    start = since.date().isoformat() if since else None
    end = until.date().isoformat()
    return Period(
        since=since.isoformat(timespec="seconds") if since else None,
        until=until.isoformat(timespec="seconds"),
        label=f"{start} to {end}" if start else f"everything recorded up to {end}",
    )


# -- helpers -----------------------------------------------------------------------------------


def _ledger_or_empty(home: Path) -> list[LedgerEntry]:
    try:
        return read_ledger(home, skip_invalid=True)
    except InputError:
        return []  # an unreadable ledger is reported by the integrity section


def _digest(journal: Path) -> str | None:
    try:
        return digest_journal(journal).merkle_root
    except InputError:
        return None


def _at(value: Any) -> datetime | None:
    return parse_time(value)


def _in(started_at: str | None, since: datetime | None, until: datetime) -> bool:
    moment = _at(started_at)
    if moment is None:
        return since is None  # undated (a run killed before it started): only in "everything"
    return (since is None or moment >= since) and moment <= until


__all__ = [
    "OVERDUE_DAYS",
    "PATHS",
    "ControlRow",
    "EvidenceReport",
    "Gap",
    "IncidentRow",
    "PathCadence",
    "RunRow",
    "build_report",
    "parse_time",
    "read_json_object",
]
