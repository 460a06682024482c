"""Every journal entry kind drillkit writes, each with its pydantic model: the one registry.

Writers build an event and journal it (`Journal.record(event)`, `RunContext.emit`); readers (the
live view, review timelines and facts, evidence reports, incident replay) get it back typed from
`JournalEntry.event` and match on the class. A kind string is spelled in this package only:

    match entry.event:
        case Detected(ttd_s=ttd, slos=slos): ...

The models describe what is on disk (DESIGN §6, `runbooks/record.py` for incidents): fields are
optional, unknown keys are kept (`extra="allow"`), and `data()` gives back exactly the keys the
writer set, so a model never changes a journal's bytes. An entry of a kind this version does not
know (a newer drillkit's, a hand-written one) reads as a plain `Event` with its data as extras.

Each model also says, in one line, what happened (`describe()`): the sentence a review timeline
and the live view show for it.
"""

from __future__ import annotations

from drillkit.journal.events.base import (
    REGISTRY,
    Event,
    Number,
    format_seconds,
    kind,
    parse,
)
from drillkit.journal.events.incident import (
    EvalResult,
    EvidenceHold,
    IncidentFinished,
    IncidentResumed,
    IncidentStarted,
    Note,
    RevertPlan,
    StepBack,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from drillkit.journal.events.plan import NotifySent, PlanFinished, PlanRun, PlanSkipped, PlanStarted
from drillkit.journal.events.run import (
    Absorbed,
    Detected,
    DetectedLate,
    Diff,
    FaultInjected,
    FaultLost,
    FaultRemoved,
    Fingerprint,
    GuardrailTripped,
    InjectClock,
    JournalRepaired,
    LedgerFailed,
    LeftoversRemoved,
    LeftoversRestored,
    Phase,
    PreflightLayer,
    PreflightWarning,
    Recovered,
    RecoveredLate,
    RestoreStep,
    RollbackFinished,
    RollbackImpact,
    RollbackSkipped,
    RollbackStarted,
    RollbackStep,
    RunFinished,
    RunStarted,
    SloBreach,
    StepDone,
    TrafficStopped,
    Verify,
    Window,
)
from drillkit.journal.events.watch import BaselineMoved, EnvelopeChanged, InputChanged, WatchStarted, WatchStopped

#: Every known kind, in registration order.
KINDS: tuple[str, ...] = tuple(REGISTRY)

__all__ = [
    "KINDS",
    "REGISTRY",
    "Absorbed",
    "BaselineMoved",
    "Detected",
    "DetectedLate",
    "Diff",
    "EnvelopeChanged",
    "EvalResult",
    "Event",
    "EvidenceHold",
    "FaultInjected",
    "FaultLost",
    "FaultRemoved",
    "Fingerprint",
    "GuardrailTripped",
    "IncidentFinished",
    "IncidentResumed",
    "IncidentStarted",
    "InjectClock",
    "InputChanged",
    "JournalRepaired",
    "LedgerFailed",
    "LeftoversRemoved",
    "LeftoversRestored",
    "Note",
    "NotifySent",
    "Number",
    "Phase",
    "PlanFinished",
    "PlanRun",
    "PlanSkipped",
    "PlanStarted",
    "PreflightLayer",
    "PreflightWarning",
    "Recovered",
    "RecoveredLate",
    "RestoreStep",
    "RevertPlan",
    "RollbackFinished",
    "RollbackImpact",
    "RollbackSkipped",
    "RollbackStarted",
    "RollbackStep",
    "RunFinished",
    "RunStarted",
    "SloBreach",
    "StepBack",
    "StepDone",
    "StepFinished",
    "StepSkipped",
    "StepStarted",
    "TrafficStopped",
    "Verify",
    "WatchStarted",
    "WatchStopped",
    "Window",
    "format_seconds",
    "kind",
    "parse",
]
