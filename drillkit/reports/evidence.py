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
- the rollback path of a run is its scenario's `rollback.path`, else its `layer`; "provider
  fallback" is path `provider`; a degradation drill (`rollback.path: degradation`) proves the
  degradation lever, not the fallback, though the provider layer is what fails;
- a path is overdue when its last passing rehearsal is older than the path's cadence at `until`
  (the manifest's `rollbacks.<path>.rehearse_every`, else `OVERDUE_DAYS`): the rule and numbers of
  `gameday due`;
- only rehearsals count (DESIGN §9.4: the run's `purpose`; a run written before purposes is one):
  controls are shown as proof that the rehearsal can fail (per run and per path) and never count
  against a path; exploratory runs are listed and count for nothing;
- with a manifest, a path it designs no rollback for reads "no designed rollback", never current.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.config.system import System
from drillkit.journal.signing import short_fingerprint
from drillkit.reports.controls import assess_controls
from drillkit.reports.evidence_chart import build_chart
from drillkit.reports.evidence_gaps import find_gaps
from drillkit.reports.evidence_model import (
    OVERDUE_DAYS,
    PATHS,
    ControlRow,
    EvidenceReport,
    Gap,
    IncidentRow,
    Integrity,
    PathCadence,
    Period,
    RunRow,
    Totals,
    parse_time,
    path_label,
)
from drillkit.reports.evidence_rows import read_incidents, read_runs, recorded_entries
from drillkit.reports.evidence_verify import Verification, verify_command, verify_home
from drillkit.reports.summaries import read_json_object


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
    recorded = recorded_entries(home)
    upto = [r for r in read_runs(home, recorded) if _at(r.started_at) is None or _at(r.started_at) <= until]
    in_period = [r for r in upto if _in(r.started_at, since, until)]
    runs = [r for r in in_period if r.purpose == "rehearsal"]
    incidents = [i for i in read_incidents(home, recorded) if _in(i.started_at, since, until)]
    cadence = _cadence(upto, runs, until, system)
    integrity = _integrity(home, verification)
    systems = sorted({r.system for r in in_period if r.system} | {i.system for i in incidents if i.system})
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
        totals=_totals(in_period, incidents, cadence),
        cadence=cadence,
        runs=runs,
        control_runs=[r for r in in_period if r.purpose == "control"],
        exploratory_runs=[r for r in in_period if r.purpose == "exploratory"],
        incidents=incidents,
        gaps=[],
        controls=[],
        integrity=integrity,
    )
    report.gaps = find_gaps(report, verification)
    report.controls = assess_controls(report, home)
    report.chart = build_chart(runs).model_dump()
    return report


# -- derived tables ----------------------------------------------------------------------------


def _cadence(upto: list[RunRow], runs: list[RunRow], until: datetime, system: System | None) -> list[PathCadence]:
    """Per rollback path: its rehearsals (every one up to `until`; `runs`: those in the period), its
    last control, and its status. Controls and exploratory runs never count towards a path."""
    paths = dict(PATHS)  # the five always; then the manifest's other paths, then any a run was filed under
    for key in [*(system.rollbacks if system is not None else ()), *(r.path for r in upto if r.path)]:
        paths.setdefault(key, path_label(key))
    rows = []
    for key, label in paths.items():
        history = [r for r in upto if r.purpose == "rehearsal" and r.path == key and r.started_at]
        in_period = [r for r in runs if r.path == key]
        row = PathCadence(path=key, label=label, in_period=len(in_period))
        row.passed_in_period = sum(r.verdict == "pass" for r in in_period)
        if system is not None and key in system.rollbacks:
            rb = system.rollbacks[key]
            row.designed = rb.description or (" ".join(rb.run) if rb.run else f"{rb.http.method} {rb.http.url}")
            row.expected_s = rb.expected_s
            row.owner, row.rehearse_every_days = rb.owner, rb.rehearse_every / 86400
        if history:
            _last_rehearsal(row, history, until)
        if system is not None and row.designed is None:
            row.status = "undesigned"  # rehearsed or not, there is no designed way back to call current
        controls = [r for r in upto if r.purpose == "control" and r.path == key and r.verdict in ("pass", "fail")]
        if controls:
            row.control_last, row.control_proved = controls[-1].date, controls[-1].verdict == "fail"
        rows.append(row)
    return rows


def _last_rehearsal(row: PathCadence, history: list[RunRow], until: datetime) -> None:
    last = history[-1]
    row.last_rehearsal, row.last_verdict, row.last_rollback_s = last.date, last.verdict, last.rollback_s
    passes = [r for r in history if r.verdict == "pass"]
    row.last_pass = passes[-1].date if passes else None
    row.days_since = (until - _at(last.started_at)).days
    due = _at(passes[-1].started_at) + timedelta(days=row.rehearse_every_days) if passes else None
    row.due = due.isoformat(timespec="seconds") if due is not None else None
    if due is not None and until > due:
        row.status = "overdue"
    elif last.verdict != "pass":
        row.status = "failing"
    else:
        row.status = "ok"


def _totals(in_period: list[RunRow], incidents: list[IncidentRow], cadence: list[PathCadence]) -> Totals:
    """The period's counts: of rehearsals only, the controls and exploratory runs apart."""
    runs = [r for r in in_period if r.purpose == "rehearsal"]
    controls = [r for r in in_period if r.purpose == "control"]
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
        controls=len(controls),
        controls_as_expected=sum(r.outcome == "as_expected" for r in controls),
        exploratory=sum(r.purpose == "exploratory" for r in in_period),
        all_runs=len(in_period),
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
