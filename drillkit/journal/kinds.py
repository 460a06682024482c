"""The journal entry kinds drillkit writes (DESIGN §6). Kinds are free strings; these are the known ones.

Readers (reviews, evidence reports) match on these names, so spell them from here, never inline.
"""

from __future__ import annotations

RUN_STARTED = "run.started"
PHASE = "phase"
FAULT_INJECTED = "fault.injected"
FAULT_REMOVED = "fault.removed"
WINDOW = "window"
SLO_BREACH = "slo.breach"
DETECTED = "detected"
ROLLBACK_STARTED = "rollback.started"
ROLLBACK_STEP = "rollback.step"
ROLLBACK_FINISHED = "rollback.finished"
RECOVERED = "recovered"
VERIFY = "verify"
GUARDRAIL_TRIPPED = "guardrail.tripped"
RUN_FINISHED = "run.finished"
#: The five inputs' fingerprints (compact: per component ok, gaps, digest, one line) and a diff
#: (DiffReport JSON plus `against`: "baseline" — the home's last known good — or "preflight").
FINGERPRINT = "fingerprint"
DIFF = "diff"
#: Written by the journal itself when reopening cut off a partial last line a crash left behind.
JOURNAL_REPAIRED = "journal.repaired"

KINDS = (
    RUN_STARTED,
    PHASE,
    FAULT_INJECTED,
    FAULT_REMOVED,
    WINDOW,
    SLO_BREACH,
    DETECTED,
    ROLLBACK_STARTED,
    ROLLBACK_STEP,
    ROLLBACK_FINISHED,
    RECOVERED,
    VERIFY,
    GUARDRAIL_TRIPPED,
    RUN_FINISHED,
    JOURNAL_REPAIRED,
    FINGERPRINT,
    DIFF,
)
