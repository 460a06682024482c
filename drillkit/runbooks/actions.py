"""The runbook's actions: `revert_plan`, `rollback`, `evidence_hold`, `note`.

| action | pass | fail | error | skipped |
| --- | --- | --- | --- | --- |
| `revert_plan` | a plan of ≥ 1 component | nothing to revert (or only changes to re-baseline) | no diff yet | |
| `rollback` | ran and succeeded | ran and failed | no plan, none left, no designed rollback | `--auto`; declined |
| `evidence_hold` | state and traffic held | | | |
| `note` | note written | | | `--auto` |

With the evals holding, changes lead to "re-baseline?" (`drillkit.runbooks.plan`): a responder
asked whether they were meant either re-baselines (the live state becomes `baseline.json`, if the
evals still pass) or reverts them after all; `--auto` only says so.

Only `rollback` changes the system, and only with a person there: `--auto` never runs one
(it says what it would run), and `confirm: true` asks first, showing the command, its
user-visible cost and its expected duration. The rollback is timed and journaled
(`rollback.started`, `rollback.finished`) whatever its result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape

from drillkit.components.snapshot import problems, replace_baseline, take_baseline
from drillkit.config.runbook import EvidenceHoldAction, NoteAction, RevertPlanAction, RollbackAction, RunbookStep
from drillkit.config.system import Rollback
from drillkit.journal.events import Note, RollbackFinished, RollbackStarted
from drillkit.runbooks.evidence import hold_evidence
from drillkit.runbooks.outcome import StepResult
from drillkit.runbooks.plan import RevertPlan, plan_reverts
from drillkit.traffic.steps import StepResult as StepRun
from drillkit.traffic.steps import run_step

if TYPE_CHECKING:
    from drillkit.runbooks.session import Session

#: A rollback may take this many times its `expected_s` (at least `MIN_ROLLBACK_TIMEOUT_S`) before it is cut.
ROLLBACK_TIMEOUT_FACTOR = 4
MIN_ROLLBACK_TIMEOUT_S = 60.0


async def run_action(session: Session, step: RunbookStep) -> StepResult:
    action = step.action
    assert action is not None
    if isinstance(action, RevertPlanAction):
        return await revert_plan(session, action)
    if isinstance(action, RollbackAction):
        return await rollback(session, action)
    if isinstance(action, EvidenceHoldAction):
        return await hold_evidence(session, action)
    if isinstance(action, NoteAction):
        return note(session, step, action)
    raise AssertionError(f"unhandled action type {action.type!r}")  # the runbook model rejects these


async def revert_plan(session: Session, action: RevertPlanAction) -> StepResult:
    if session.diff is None:
        return StepResult("error", "no diff in this incident yet: a diff step must run before the revert plan")
    plan = plan_reverts(session.diff, session.system.rollbacks, session.envelope)
    responder = session.responder
    if responder.interactive:  # --auto prints the plan once, in its final report
        for line in plan.lines:
            responder.say(escape(line))
        for component, why in plan.unknown.items():
            responder.say(f"[yellow]unknown:[/] {escape(component)}: {escape(why)}")
    rebaselined = None
    if plan.rebaseline and not plan.entries and responder.interactive:
        plan, rebaselined = await _meant_or_not(session, plan)
    if plan.entries and action.confirm and responder.interactive and plan.accepted == "auto":
        if responder.confirm("Follow this order?"):
            plan.accepted = "responder"
        else:
            plan = _reorder(session, plan)
    session.plan = plan
    session.emit(plan.to_event())
    if plan.entries:
        return StepResult("pass", "revert order: " + ", ".join(plan.order), {"order": plan.order})
    if plan.rebaseline:
        done = f"; re-baselined: {rebaselined}" if rebaselined else "; re-baseline with `drillkit snapshot` if meant"
        detail = f"nothing to revert: the evals hold with {', '.join(plan.to_rebaseline)} changed{done}"
        return StepResult("fail", detail, {**plan.to_journal(), "rebaselined": rebaselined})
    return StepResult("fail", "nothing changed that a revert could undo", plan.to_journal())


async def _meant_or_not(session: Session, plan: RevertPlan) -> tuple[RevertPlan, str | None]:
    """The evals hold: ask whether the changes were meant. Meant: record the live state as the new
    last known good (only if the evals still pass: `drillkit.components.snapshot.take_baseline`);
    not meant: revert them after all, in the plan's order."""
    responder = session.responder
    changed = ", ".join(plan.to_rebaseline)
    if responder.confirm(f"The evals hold. Were the changes to {changed} meant (re-baseline now)?"):
        return plan, await _rebaseline(session)
    if responder.confirm(f"Revert {changed} instead?"):
        return plan.reverting_all(), None
    return plan, None


async def _rebaseline(session: Session) -> str | None:
    """Record the live state as `<home>/baseline.json` (journaled as a note); None when the evals no
    longer pass or a component cannot be fingerprinted (the responder is told why)."""
    snap, health = await take_baseline(session.system)
    failed = problems(snap)
    if failed or not health.healthy:
        why = health.describe() if not health.healthy else "cannot fingerprint " + ", ".join(failed)
        session.responder.say(f"[yellow]not re-baselined:[/] {escape(why)}")
        return None
    path = replace_baseline(session.home, snap)
    text = f"re-baselined: {path} (taken {snap.taken_at}; {health.describe()})"
    step = session.next_step or "revert-plan"  # the step being run
    session.emit(Note(step=step, text=text))
    session.notes.append({"step": step, "text": text})
    return str(path)


def _reorder(session: Session, plan: RevertPlan) -> RevertPlan:
    for _ in range(3):
        answer = session.responder.text("Order to follow (comma-separated)", default=", ".join(plan.order))
        wanted = [part.strip() for part in answer.split(",") if part.strip()]
        try:
            return plan.reordered(wanted)
        except ValueError as exc:
            session.responder.say(f"[red]{escape(str(exc))}[/]")
    session.responder.say("keeping the proposed order")
    return plan


def _next_component(session: Session) -> str | None:
    if session.plan is None:
        return None
    return next((c for c in session.plan.order if c not in session.attempted), None)


def _how(rb: Rollback) -> str:
    if rb.run is not None:
        return " ".join(rb.run)
    assert rb.http is not None
    return f"{rb.http.method} {rb.http.url}"


async def rollback(session: Session, action: RollbackAction) -> StepResult:
    component = action.component or _next_component(session)
    if component is None:
        if session.plan is None:
            return StepResult("error", "no revert plan yet and the step names no component")
        tried = ", ".join(session.attempted) or "none"
        return StepResult("error", f"nothing left to roll back in the plan (tried: {tried})")
    rb = session.system.rollbacks.get(component)
    if rb is None:
        session.attempted.append(component)  # so a later rollback step moves on to the next one
        designed = ", ".join(sorted(session.system.rollbacks)) or "none"
        return StepResult(
            "error",
            f"no designed rollback for {component} (manifest rollbacks: {designed}); mitigate it by hand",
            {"component": component},
        )
    how = _how(rb)
    cost = f"user-visible cost {rb.user_visible_cost}, expected ~{rb.expected_s:g} s"
    responder = session.responder
    if not responder.interactive:
        return StepResult(
            "skipped",
            f"--auto changes nothing; to roll back {component}: {how} ({cost})",
            {"component": component, "would_run": how},
        )
    if session.envelope == "fail" and not _held(session):
        responder.say(
            "[yellow]no evidence hold in this incident: once rolled back, the state that caused it is gone[/]"
        )
    if action.confirm and not responder.confirm(f"Roll back [bold]{escape(component)}[/] now: {escape(how)} ({cost})?"):
        return StepResult("skipped", f"rollback of {component} declined", {"component": component})
    done, finished = await _roll_back(session, component, rb)
    pace = "within" if done.duration_s <= rb.expected_s else "over"
    state = "ok" if done.ok else "FAILED"
    detail = f"{component}: {how} → {state} in {done.duration_s:.1f}s ({pace} the expected {rb.expected_s:g}s)"
    if not done.ok:
        detail += f": {done.detail.strip().splitlines()[-1][:200] if done.detail.strip() else ''}"
    return StepResult("pass" if done.ok else "fail", detail, finished)


async def _roll_back(session: Session, component: str, rb: Rollback) -> tuple[StepRun, dict[str, Any]]:
    """Run the designed rollback, timed and journaled as it starts and as it ends (the entry's data)."""
    session.attempted.append(component)
    command: dict[str, Any] = {"run": list(rb.run)} if rb.run else {}
    if rb.http is not None:
        command["http"] = {"method": rb.http.method, "url": str(rb.http.url)}
    session.emit(RollbackStarted(component=component, **command))
    timeout = max(MIN_ROLLBACK_TIMEOUT_S, rb.expected_s * ROLLBACK_TIMEOUT_FACTOR)
    done = await run_step(
        f"rollback {component}", run=rb.run, http=rb.http, timeout=timeout, cwd=session.system.base_dir
    )
    finished = RollbackFinished(
        component=component,
        ok=done.ok,
        duration_s=done.duration_s,
        expected_s=rb.expected_s,
        user_visible_cost=rb.user_visible_cost,
        output=done.detail,
    )
    session.emit(finished)
    session.rolled_back.append(finished.data())
    session.snapshot = None  # the system changed: the held snapshot no longer describes it
    return done, session.rolled_back[-1]


def _held(session: Session) -> bool:
    return any(s.type == "evidence_hold" and s.outcome == "pass" for s in session.steps)


def note(session: Session, step: RunbookStep, action: NoteAction) -> StepResult:
    prompt = action.text or "note"
    if not session.responder.interactive:
        return StepResult("skipped", f"no one to write a note under --auto ({prompt})")
    text = session.responder.text(prompt).strip()
    if not text:
        return StepResult("skipped", "no note written")
    session.emit(Note(step=step.id, text=text))
    session.notes.append({"step": step.id, "text": text})
    return StepResult("pass", text)


__all__ = ["note", "revert_plan", "rollback", "run_action"]
