"""A game-day plan run (DESIGN §9.5): scenarios in order against one system, one record of the day.

Each scenario runs as `drillkit gameday run` would run it alone (its own journal and summary under
`runs/`); the plan keeps its own journal and `summary.json` under `plans/<plan run id>/`: which
runs it made, their verdict, purpose and outcome, what it skipped and why, and the day's verdict.
The stop policy (`on_fail: stop`) is keyed on each run's outcome, never its raw verdict, so a
control that failed as designed never stops the day. A stop signal during a run ends that run
cleanly (the run removes its faults) and skips the rest. The day passes only when every run went
as its purpose wants and nothing was skipped.
"""

from __future__ import annotations

import dataclasses
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from drillkit import __version__, signals
from drillkit.config.plan import GamePlan
from drillkit.config.scenario import Scenario
from drillkit.errors import DrillkitError
from drillkit.gameday.context import Options
from drillkit.gameday.notify import Notifier
from drillkit.gameday.run import DEMO_FACES, run_gameday
from drillkit.gameday.summary import Summary
from drillkit.journal.events import Event, NotifySent, PlanFinished, PlanRun, PlanSkipped, PlanStarted
from drillkit.journal.ledger_operator import operator_name
from drillkit.journal.redact import Redactor
from drillkit.journal.writer import Journal

#: Finds and loads a plan entry's scenario: (the scenario, its file).
ScenarioLoader = Callable[[str, Path], tuple[Scenario, Path]]


class PlanSummary(BaseModel):
    plan_run_id: str
    plan: str
    title: str
    system: str | None = None
    owner: str | None = None
    operator: str = ""
    verdict: Literal["pass", "fail", "aborted"]
    outcome: Literal["as_expected", "unexpected"]
    on_fail: str = "continue"
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    journal: str = ""
    journal_head: str = ""
    drillkit_version: str = __version__


@dataclasses.dataclass
class _Day:
    plan: GamePlan
    journal: Journal
    notifier: Notifier
    on_event: Callable[[Event], None] | None = None
    runs: list[Summary] = dataclasses.field(default_factory=list)
    skipped: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stop_why: str | None = None

    def record(self, event: Event) -> None:
        """Journal a plan event and show it (the live view prints it between the runs)."""
        self.journal.record(event)
        if self.on_event is not None:
            self.on_event(event)


async def run_plan(plan: GamePlan, plan_path: Path, options: Options, load: ScenarioLoader) -> PlanSummary:
    """Run every scenario of `plan` in order; return the day's summary (also written to disk)."""
    started = datetime.now(UTC)
    plan_run_id = f"{started:%Y%m%dT%H%M%SZ}-plan-{plan.id}-{secrets.token_hex(2)}"
    folder = options.home / "plans" / plan_run_id
    folder.mkdir(parents=True)
    journal = Journal(folder / "journal.jsonl", redact=Redactor())
    day = _Day(plan, journal, Notifier(plan.notify, journal.record), options.on_event)
    operator = operator_name()
    day.record(PlanStarted(
        plan_run_id=plan_run_id, plan=plan.id, title=plan.title, system=plan.system, owner=plan.owner,
        operator=operator, scenarios=[e.scenario for e in plan.scenarios], on_fail=plan.on_fail,
        plan_file=str(plan_path.absolute()), drillkit=__version__,
    ))  # fmt: skip
    day.notifier.send("started", f"Game-day {plan.title} ({plan.id}) started: {len(plan.scenarios)} scenarios",
                      {"plan": plan.id, "plan_run_id": plan_run_id})  # fmt: skip
    try:
        for index, entry in enumerate(plan.scenarios):
            if day.stop_why is not None:
                _skip(day, index, entry.scenario, day.stop_why)
                continue
            await _one(day, index, entry.scenario, entry.purpose, plan_path, options, load)
    finally:
        summary = _finish(day, plan_run_id, started, operator, folder)
        await day.notifier.drain()
        journal.close()
        summary.journal_head = journal.head
        (folder / "summary.json").write_text(summary.model_dump_json(indent=2) + "\n")
        _record_in_ledger(options.home, folder, summary)
    return summary


async def _one(day: _Day, index: int, ref: str, purpose: str | None, plan_path: Path, options: Options,
               load: ScenarioLoader) -> None:  # fmt: skip
    try:
        scenario, path = load(ref, plan_path.parent)
    except DrillkitError as exc:
        _skip(day, index, ref, f"cannot load: {exc}")
        day.stop_why = day.stop_why if day.plan.on_fail == "continue" else f"{ref} could not be loaded"
        return
    run_options = dataclasses.replace(options, purpose=purpose or options.purpose)
    if options.system_path is None and day.plan.system is not None:
        if day.plan.system in DEMO_FACES:
            scenario = scenario.model_copy(update={"system": day.plan.system})
        else:
            run_options.system_path = (plan_path.parent / day.plan.system).resolve()
    summary = await run_gameday(scenario, path, run_options)
    day.runs.append(summary)
    day.record(PlanRun(
        index=index, scenario=summary.scenario, run_id=summary.run_id, purpose=summary.purpose,
        verdict=summary.verdict, outcome=summary.outcome, ttd_s=summary.ttd_s, rollback_s=summary.rollback_s,
        ttr_s=summary.ttr_s, reasons=summary.reasons,
    ))  # fmt: skip
    day.notifier.send("verdict", _verdict_text(day.plan, summary), _run_facts(summary))
    if signals.received is not None:
        day.stop_why = f"interrupted ({signals.received.name}) during {summary.scenario}"
    elif summary.outcome == "unexpected" and day.plan.on_fail == "stop":
        day.stop_why = f"on_fail: stop after {summary.scenario} ({summary.purpose} {summary.verdict})"


def _skip(day: _Day, index: int, ref: str, why: str) -> None:
    day.skipped.append({"index": index, "scenario": ref, "why": why})
    day.record(PlanSkipped(index=index, scenario=ref, why=why))


def _finish(day: _Day, plan_run_id: str, started: datetime, operator: str, folder: Path) -> PlanSummary:
    unexpected = [s.scenario for s in day.runs if s.outcome == "unexpected"]
    interrupted = signals.received is not None
    verdict = "aborted" if interrupted else "fail" if unexpected or day.skipped else "pass"
    finished = datetime.now(UTC)
    day.record(PlanFinished(verdict=verdict, outcome="as_expected" if verdict == "pass" else "unexpected",
                                    ran=len(day.runs), skipped=len(day.skipped), unexpected=unexpected))  # fmt: skip
    plan = day.plan
    text = f"Game-day {plan.title} finished: {verdict.upper()}, {len(day.runs)} ran, {len(day.skipped)} skipped"
    if unexpected:
        text += f"; unexpected: {', '.join(unexpected)}"
    day.notifier.send("finished", text, {"plan": plan.id, "plan_run_id": plan_run_id, "verdict": verdict})
    return PlanSummary(
        plan_run_id=plan_run_id, plan=plan.id, title=plan.title, system=plan.system, owner=plan.owner,
        operator=operator, verdict=verdict, outcome="as_expected" if verdict == "pass" else "unexpected",
        on_fail=plan.on_fail, runs=[_run_facts(s) for s in day.runs], skipped=day.skipped,
        started_at=started.isoformat(timespec="seconds"), finished_at=finished.isoformat(timespec="seconds"),
        duration_s=round((finished - started).total_seconds(), 3), journal=str(folder / "journal.jsonl"),
    )  # fmt: skip


def _run_facts(s: Summary) -> dict[str, Any]:
    keys = ("scenario", "run_id", "purpose", "verdict", "outcome", "ttd_s", "rollback_s", "ttr_s", "breached")
    return {k: getattr(s, k) for k in keys} | {"reasons": s.reasons, "journal": s.journal}


def _verdict_text(plan: GamePlan, s: Summary) -> str:
    timings = f"TTD {s.ttd_s if s.ttd_s is not None else '—'} s, TTR {s.ttr_s if s.ttr_s is not None else '—'} s"
    expected = "as expected" if s.outcome == "as_expected" else "UNEXPECTED"
    return f"[{plan.id}] {s.scenario} ({s.purpose}): {s.verdict.upper()}, {expected}; {timings}"


def _record_in_ledger(home: Path, folder: Path, summary: PlanSummary) -> None:
    from drillkit.journal.ledger import record

    try:
        record(home, "plan", summary.plan_run_id, folder / "journal.jsonl", summary.model_dump(mode="json"))
    except (DrillkitError, OSError, ValueError) as exc:
        print(f"drillkit: the plan run was not recorded in the ledger: {exc}", file=sys.stderr)


__all__ = ["NotifySent", "PlanSummary", "run_plan"]
