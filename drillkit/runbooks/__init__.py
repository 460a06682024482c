"""Executable runbooks: the layered diagnosis of an AI incident, as checks, branches and actions.

    session = start_incident(home=home, system=system, system_path=path, runbook=runbook,
                             runbook_path=rb_path, responder=AutoResponder(console))
    summary = await session.run()            # IncidentSummary; <home>/incidents/<id>/summary.json
    summary.envelope, summary.changed, summary.revert_order

Modules, one concern each:

- `session`: the interpreter (step order, `next` branches, skip/back/note/quit, the incident's
  outcome); `incident`: opening an incident record, and reopening one to resume it, with the
  checks and actions the session runs (`RUNNERS`: the interpreter does not import them);
- `checks`: `eval`, `diff`, `slo`, `ask`; `probes`: `http`, `command`, `promql`;
- `actions`: `revert_plan`, `rollback`, `note`; `evidence`: `evidence_hold`;
- `outcome`: `StepResult`, what every check and action returns;
- `plan`: ranking the changed components into a revert order, one line of reasons each;
- `record`: the incident record's format (summary.json, and which `drillkit.journal.events`
  model each journal entry is) and replaying it;
- `responder`: the person at the terminal, or nobody (`--auto`);
- `library`: shipped runbooks and runbook files; `redaction`: the session's redaction step.
"""

from drillkit.runbooks.incident import resume_incident, start_incident
from drillkit.runbooks.library import DEFAULT_RUNBOOK, find_runbook, load_runbook, shipped_runbooks
from drillkit.runbooks.outcome import StepResult
from drillkit.runbooks.plan import PlanEntry, RevertPlan, plan_reverts
from drillkit.runbooks.record import IncidentSummary, StepRecord, new_incident_id, replay
from drillkit.runbooks.responder import AutoResponder, Responder, TerminalResponder
from drillkit.runbooks.session import MAX_STEPS, Paused, Session

__all__ = [
    "DEFAULT_RUNBOOK",
    "MAX_STEPS",
    "AutoResponder",
    "IncidentSummary",
    "Paused",
    "PlanEntry",
    "Responder",
    "RevertPlan",
    "Session",
    "StepRecord",
    "StepResult",
    "TerminalResponder",
    "find_runbook",
    "load_runbook",
    "new_incident_id",
    "plan_reverts",
    "replay",
    "resume_incident",
    "shipped_runbooks",
    "start_incident",
]
