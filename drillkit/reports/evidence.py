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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.config.system import System
from drillkit.journal.ledger import LedgerEntry, home_relative, latest_by_id, read_ledger
from drillkit.journal.signing import short_fingerprint
from drillkit.journal.verify import digest_journal
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


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it is missing or not an object."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def build_report(
    home: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    system: System | None = None,
    verification: Verification | None = None,
) -> EvidenceReport:
    """Collect everything the report shows (see the module doc for the rules)."""
    from drillkit.reports.controls import assess_controls
    from drillkit.reports.evidence_chart import build_chart
    from drillkit.reports.evidence_gaps import find_gaps

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
    rows = []
    for folder in sorted(p for p in (home / "runs").glob("*") if (p / "journal.jsonl").exists()):
        summary = read_json_object(folder / "summary.json")
        entry = recorded.get(folder.name)
        data = {**(summary or _run_started(folder / "journal.jsonl")), **(entry.facts if entry else {})}
        layer = str(data.get("layer") or "")
        start = _at(data.get("started_at"))
        ttr, rto = _num(data.get("ttr_s")), _num(data.get("rto_target_s"))
        rows.append(
            RunRow(
                id=folder.name,
                started_at=start.isoformat(timespec="seconds") if start else None,
                date=start.date().isoformat() if start else "",
                scenario=str(data.get("scenario") or ""),
                title=str(data.get("title") or ""),
                path=layer,
                path_label={**PATHS, **EXTRA_PATHS}.get(layer, layer or "unknown"),
                severity=str(data.get("severity") or ""),
                system=str(data.get("system") or ""),
                operator=str(data.get("operator") or ""),
                mode=str(data.get("rollback_mode") or data.get("mode") or ""),
                ttd_s=_num(data.get("ttd_s")),
                rollback_s=_num(data.get("rollback_s")),
                ttr_s=ttr,
                rto_target_s=rto,
                within_rto=(ttr <= rto) if ttr is not None and rto is not None else None,
                verdict=str(data.get("verdict") or "incomplete") if summary or entry else "incomplete",
                reasons=[str(r) for r in (summary or {}).get("reasons", [])][:5],
                journal=home_relative(home, folder / "journal.jsonl"),
                journal_digest=entry.merkle_root if entry else _digest(folder / "journal.jsonl"),
                recorded=entry is not None,
            )
        )
    return sorted(rows, key=lambda r: r.started_at or "")


def _run_started(journal: Path) -> dict[str, Any]:
    """What a run without a summary (killed mid-run) still tells: its run.started entry."""
    try:
        with journal.open("rb") as f:
            first = json.loads(f.readline())
        return {**first["data"], "started_at": first["ts"]} if first.get("kind") == "run.started" else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _incidents(home: Path, recorded: dict[str, LedgerEntry]) -> list[IncidentRow]:
    rows = []
    for folder in sorted(p for p in (home / "incidents").glob("*") if (p / "journal.jsonl").exists()):
        summary = read_json_object(folder / "summary.json") or {}
        entry = recorded.get(folder.name)
        data = {**summary, **(entry.facts if entry else {})}
        rollbacks, held = _incident_journal(folder / "journal.jsonl")
        start = _at(data.get("started_at"))
        rows.append(
            IncidentRow(
                id=folder.name,
                started_at=start.isoformat(timespec="seconds") if start else None,
                date=start.date().isoformat() if start else "",
                runbook=str(data.get("runbook") or ""),
                title=str(data.get("title") or ""),
                system=str(data.get("system") or ""),
                operator=str(data.get("operator") or ""),
                outcome=str(data.get("outcome") or "open"),
                envelope=data.get("envelope") if isinstance(data.get("envelope"), str) else None,
                changed=[str(c) for c in data.get("changed") or []],
                revert_order=[str(c) for c in data.get("revert_order") or []],
                rollbacks=rollbacks,
                evidence_held=held,
                journal=home_relative(home, folder / "journal.jsonl"),
                journal_digest=entry.merkle_root if entry else _digest(folder / "journal.jsonl"),
                recorded=entry is not None,
            )
        )
    return sorted(rows, key=lambda r: r.started_at or "")


def _incident_journal(journal: Path) -> tuple[list[RollbackRow], bool]:
    """The rollbacks an incident actually ran, and whether evidence was held before them."""
    rollbacks, held = [], False
    try:
        lines = journal.read_bytes().splitlines()
    except OSError:
        return [], False
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        if entry.get("kind") == "evidence.hold":
            held = True
        elif entry.get("kind") == "rollback.finished":
            rollbacks.append(
                RollbackRow(
                    component=str(data.get("component") or "?"),
                    ok=data.get("ok") if isinstance(data.get("ok"), bool) else None,
                    duration_s=_num(data.get("duration_s")),
                    expected_s=_num(data.get("expected_s")),
                )
            )
    return rollbacks, held


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
    from drillkit.errors import InputError

    try:
        return read_ledger(home, skip_invalid=True)
    except InputError:
        return []  # an unreadable ledger is reported by the integrity section


def _digest(journal: Path) -> str | None:
    from drillkit.errors import InputError

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


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


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
