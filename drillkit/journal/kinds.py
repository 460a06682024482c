"""The kind names of `drillkit.journal.events`, as constants (kept for code written against them).

The registry and the models are in `drillkit.journal.events`; spell a kind from there.
"""

from __future__ import annotations

from drillkit.journal import events

RUN_STARTED = events.RunStarted.KIND
PHASE = events.Phase.KIND
FAULT_INJECTED = events.FaultInjected.KIND
FAULT_REMOVED = events.FaultRemoved.KIND
WINDOW = events.Window.KIND
SLO_BREACH = events.SloBreach.KIND
DETECTED = events.Detected.KIND
ROLLBACK_STARTED = events.RollbackStarted.KIND
ROLLBACK_STEP = events.RollbackStep.KIND
ROLLBACK_FINISHED = events.RollbackFinished.KIND
RECOVERED = events.Recovered.KIND
VERIFY = events.Verify.KIND
GUARDRAIL_TRIPPED = events.GuardrailTripped.KIND
RUN_FINISHED = events.RunFinished.KIND
FINGERPRINT = events.Fingerprint.KIND
DIFF = events.Diff.KIND
JOURNAL_REPAIRED = events.JournalRepaired.KIND

KINDS = events.KINDS
