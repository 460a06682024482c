"""The rollback-evidence report's data model: what `drillkit evidence report --json` prints and the
templates receive as `r`. Times are ISO 8601 UTC strings, durations seconds (None: not measured).

Only rehearsals count (DESIGN §9.4): `runs`, the totals, the cadence, the chart and the control
mapping read rehearsals alone; `control_runs` show whether the rehearsals can fail (each row says
what it proved) and never count against a rollback path; `exploratory_runs` are listed and count
for nothing. A run written before purposes existed is a rehearsal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from drillkit.config.system import DEFAULT_REHEARSE_EVERY_S

OVERDUE_DAYS = DEFAULT_REHEARSE_EVERY_S // 86400  # a path's cadence when no manifest names one
#: The rollback paths the cadence table always shows (scenario layer → label), in this order.
PATHS = {
    "model": "Model version",
    "prompt": "Prompt version",
    "retrieval": "Retrieval corpus",
    "provider": "Provider fallback",
    "tools": "Tools",
}
EXTRA_PATHS = {"inputs": "Inputs", "degradation": "Graceful degradation"}


def path_label(path: str) -> str:
    """`provider` → `Provider fallback`; a path of the team's own naming is shown as it is named."""
    return {**PATHS, **EXTRA_PATHS}.get(path, path or "unknown")


class RunRow(BaseModel):
    id: str
    started_at: str | None = None
    date: str = ""
    scenario: str = ""
    title: str = ""
    path: str = ""
    path_label: str = ""
    severity: str = ""
    system: str = ""
    operator: str = ""
    recorded_by: str | None = None  # who entered it in the ledger (the entry's signed `operator`)
    mode: str = ""
    ttd_s: float | None = None
    rollback_s: float | None = None
    ttr_s: float | None = None
    rto_target_s: float | None = None
    within_rto: bool | None = None
    verdict: str = "incomplete"  # pass | fail | aborted | incomplete (no summary: killed mid-run)
    purpose: str = "rehearsal"  # rehearsal | control | exploratory
    outcome: str | None = None  # as_expected | unexpected (what its purpose wanted); None: no verdict
    proved: str = ""  # a control's or an exploratory run's: what it proved, in one sentence
    reasons: list[str] = []
    journal: str = ""
    journal_digest: str | None = None  # Merkle root of the journal (the ledger's, when recorded)
    recorded: bool = False


class RollbackRow(BaseModel):
    component: str
    ok: bool | None = None
    duration_s: float | None = None
    expected_s: float | None = None


class IncidentRow(BaseModel):
    id: str
    started_at: str | None = None
    date: str = ""
    runbook: str = ""
    title: str = ""
    system: str = ""
    operator: str = ""
    recorded_by: str | None = None
    outcome: str = "open"
    envelope: str | None = None
    changed: list[str] = []
    revert_order: list[str] = []
    rollbacks: list[RollbackRow] = []
    evidence_held: bool = False
    journal: str = ""
    journal_digest: str | None = None
    recorded: bool = False


def days_label(days: float) -> str:
    """A cadence in days as people write it: `90`, `7`, `0.5`."""
    return f"{days:g}"


class PathCadence(BaseModel):
    path: str
    label: str
    designed: str | None = None  # the manifest's rollback for this path, when a manifest is known
    expected_s: float | None = None
    last_rehearsal: str | None = None
    last_verdict: str | None = None
    last_rollback_s: float | None = None
    last_pass: str | None = None
    days_since: int | None = None
    #: the path's cadence (manifest `rollbacks.<path>.rehearse_every`, default 90 days) and when its
    #: next passing rehearsal is due: the last passing one + the cadence, as `gameday due` says
    rehearse_every_days: float = OVERDUE_DAYS
    due: str | None = None
    owner: str | None = None
    in_period: int = 0
    passed_in_period: int = 0
    #: ok | overdue | failing | never | undesigned (the manifest designs no rollback for this path:
    #: whatever its rehearsals did, it is never "current")
    status: str = "never"
    control_last: str | None = None  # the date of the last control of this path
    control_proved: bool | None = None  # it failed as designed (the rehearsal can fail); False: it passed


class Gap(BaseModel):
    severity: str  # high | medium | low
    area: str
    text: str


class ControlRow(BaseModel):
    framework: str
    clause: str
    asks: str
    evidence: str
    status: str  # supported | partial | gap


class Integrity(BaseModel):
    ok: bool
    verified_at: str
    ledger_entries: int
    errors: int
    warnings: int
    findings: list[str]
    checkpoint_size: int | None = None
    checkpoint_ts: str | None = None
    checkpoint_root: str | None = None
    signature_ok: bool | None = None
    trusted_by: str | None = None
    key_fingerprint: str | None = None
    key_short: str | None = None
    command: str


class Period(BaseModel):
    since: str | None
    until: str
    label: str


class Totals(BaseModel):
    runs: int = 0  # rehearsals (the other counts below, controls and exploratory aside, are of rehearsals)
    passed: int = 0
    failed: int = 0
    aborted: int = 0
    incomplete: int = 0
    incidents: int = 0
    within_rto: int = 0
    median_rollback_s: float | None = None
    max_rollback_s: float | None = None
    max_ttr_s: float | None = None
    paths_current: int = 0
    paths_total: int = len(PATHS)
    controls: int = 0
    controls_as_expected: int = 0  # failed as designed: each shows its rehearsal can fail
    exploratory: int = 0
    all_runs: int = 0  # every run's journal in the period, whatever its purpose


class EvidenceReport(BaseModel):
    title: str
    generated_at: str
    drillkit_version: str
    home: str
    systems: list[str]
    owner: str | None = None
    period: Period
    overdue_days: int = OVERDUE_DAYS
    totals: Totals
    cadence: list[PathCadence]
    runs: list[RunRow]  # rehearsals
    control_runs: list[RunRow] = []
    exploratory_runs: list[RunRow] = []
    incidents: list[IncidentRow]
    gaps: list[Gap]
    controls: list[ControlRow]
    integrity: Integrity
    chart: dict[str, Any] = {}


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time from a record (`Z` or an offset; naive means UTC), or None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = [
    "EXTRA_PATHS",
    "OVERDUE_DAYS",
    "PATHS",
    "ControlRow",
    "EvidenceReport",
    "Gap",
    "IncidentRow",
    "Integrity",
    "PathCadence",
    "Period",
    "RollbackRow",
    "RunRow",
    "Totals",
    "days_label",
    "parse_time",
    "path_label",
]
