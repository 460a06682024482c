"""A review's facts as data: what `review_facts.collect` builds, `drillkit review draft --json` prints
and the template `review.md.j2` receives as `r`.

Every review module imports these from here (and nothing from `review`), so the modules of the
package import each other without a cycle: `review` → `review_facts` → `review_run` /
`review_incident` → `review_sections` / `review_timeline` → `review_model`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Kind = Literal["run", "incident"]
#: The layers a review covers, in the order the diagnosis walks them.
LAYERS = (
    ("model", "Model and provider"),
    ("prompt", "Prompt"),
    ("retrieval", "Retrieval corpus"),
    ("tools", "Tools"),
    ("inputs", "Inputs"),
    ("operations", "Operational practice"),
)


class Statement(BaseModel):
    """One sentence of a review and where it was read: each cite is a journal entry,
    `<journal id>#<seq>` (the run or incident id, the entry's seq), or `<id>/summary.json` for a
    target the journal does not hold (the RTO, the scenario's expectations, the run's purpose).
    The review's sentences stay plain strings (`Review.summary`, `Layer.findings`, …: the JSON
    readers already parse); `Review.citations` pairs each with its cites."""

    text: str
    cites: list[str] = []


#: A section's figures and the entries each was read from (see `Statement`): field name → cites;
#: `slos.<slo>` for an SLO's row of the impact, `steps.<i>` for the i-th rollback step.
Cites = dict[str, list[str]]


class SloImpact(BaseModel):
    slo: str
    objective: float | None = None
    worst: float | None = None
    windows: int = 0
    seconds_outside: float = 0.0


class Impact(BaseModel):
    requests_total: int | None = None
    requests_affected: int | None = None
    errors_affected: int | None = None
    failed_answers_affected: int | None = None
    window_s: float | None = None
    slos: list[SloImpact] = []
    cost_total_usd: float | None = None
    baseline_cost_per_request_usd: float | None = None
    extra_cost_usd: float | None = None
    served_during_breach: dict[str, dict[str, int]] = {}  # {"by_provider": {...}, "by_model": {...}}
    #: The answers each count of `served_during_breach` is out of (answers that named one), per key.
    served_answers: dict[str, int] = {}
    #: What each SLO's worst window rests on: its eval answers (eval_pass_rate) or its requests.
    worst_samples: dict[str, int] = {}
    eval: dict[str, Any] | None = None  # an incident's envelope check: pass_rate, threshold, failed, total, by_tag
    envelope_s: float | None = None  # incident: first failed envelope check → the check that passed again
    traffic_minutes: float | None = None
    cites: Cites = {}


class Detection(BaseModel):
    how: str = ""
    slos: list[str] = []
    detected_at: str | None = None
    ttd_s: float | None = None
    detect_lag_s: float | None = None
    target_s: float | None = None
    diagnosed_s: float | None = None  # incident: start → the diff step's answer
    cites: Cites = {}


class TimelineRow(BaseModel):
    ts: str  # UTC, "2026-11-28 10:10:03.372"
    offset_s: float | None = None  # seconds after the fault (run) or the incident's start
    event: str
    seq: int  # the journal entry: the evidence for the row
    cite: str = ""  # `<journal id>#<seq>`


class Layer(BaseModel):
    key: str
    title: str
    changed: bool | None = None  # from a five-input diff, when there was one
    findings: list[str] = []


class RollbackStep(BaseModel):
    name: str
    ok: bool | None = None
    duration_s: float | None = None
    expected_s: float | None = None
    user_visible_cost: str | None = None
    output: str = ""


class Resolution(BaseModel):
    mode: str = ""
    steps: list[RollbackStep] = []
    rollback_s: float | None = None
    ttr_s: float | None = None
    rto_target_s: float | None = None
    within_rto: bool | None = None
    revert_order: list[str] = []
    #: What the rollback was, said once (manual and its time, skipped and why, never reached, the
    #: changes left unreverted): the template shows these whether or not there were steps.
    lines: list[str] = []
    verify: list[str] = []
    restore: list[str] = []
    cites: Cites = {}


class LedgerPosition(BaseModel):
    seq: int
    of: int
    ts: str
    merkle_root: str
    journal_head: str
    matches_journal: bool
    checkpoint_size: int | None = None
    key_fingerprint: str | None = None


class Evidence(BaseModel):
    journal: str
    entries: int
    head: str
    chain_ok: bool
    chain_problems: list[str] = []
    summary_file: str | None = None
    redaction: dict[str, Any] | None = None
    ledger: LedgerPosition | None = None
    holds: list[str] = []


class Review(BaseModel):
    """Everything the template gets (also `drillkit review draft --json`)."""

    kind: Kind
    id: str
    title: str
    status: str = "draft"
    outcome: str = ""  # a run's verdict, an incident's outcome
    purpose: str = ""  # a run's: rehearsal | control | exploratory (DESIGN §9.4)
    as_expected: bool | None = None  # a run's outcome: what its purpose wanted (a control that failed)
    owner: str = ""  # the manifest's `owner`
    path_owner: str = ""  # the manifest's `rollbacks.<path>.owner`, for the run's rollback path
    rollback_path: str = ""  # the path a run proves (`rollback.path`, else its layer)
    severity: str = ""
    system: str = ""
    operator: str = ""
    source: str = ""  # the scenario or the runbook
    layer: str = ""
    mode: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    summary: list[str] = []
    impact: Impact = Impact()
    detection: Detection = Detection()
    timeline: list[TimelineRow] = []
    layers: list[Layer] = []
    resolution: Resolution = Resolution()
    went_well: list[str] = []
    went_poorly: list[str] = []
    notes: list[str] = []
    #: Every sentence above (summary, findings, resolution, what went well or poorly, notes) with
    #: the entries it was read from, once per distinct text: `Statement`.
    citations: list[Statement] = []
    evidence: Evidence


__all__ = [
    "LAYERS",
    "Cites",
    "Detection",
    "Evidence",
    "Impact",
    "Kind",
    "Layer",
    "LedgerPosition",
    "Resolution",
    "Review",
    "RollbackStep",
    "SloImpact",
    "Statement",
    "TimelineRow",
]
