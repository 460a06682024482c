"""One game-day run: set up, run the phases, always clean up, report.

The phases are in `drillkit.gameday.phases` (inject in `faulting`, traffic and detection in
`observe`); they share one `RunContext`. This module owns what surrounds them: the signals
(SIGINT, SIGTERM, SIGHUP stop the run cleanly, from the first instruction to the summary), the
one-run-per-home lock, the system (the demo through `Options.start_demo`), and the verdict.

The verdict is `pass` only when every phase ran to its end with no reason to fail; `aborted` when
the run was stopped (signal, guardrail, max_duration, bad input found mid-run, an internal
error); `fail` otherwise.

Redaction: one `Redactor` per run (the system's policy, `drillkit.journal.redact`) redacts every
journal entry before it is written, the live view's events and `summary.json` (so the returned
summary, `--json` and JUnit output are redacted too); its policy is recorded in `run.started`.
When the journal is closed and the summary written, the run is recorded in the evidence ledger;
a ledger failure is reported as a `ledger.failed` event and never changes the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import getpass
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit import __version__, signals
from drillkit.config.scenario import Scenario
from drillkit.config.system import System, load_system
from drillkit.errors import Aborted, DrillkitError, InputError, LockBusy
from drillkit.faults.targets import open_backends, parse_target
from drillkit.gameday import phases
from drillkit.gameday.context import Options, RunContext, StopDemo
from drillkit.gameday.faulting import heartbeat, inject
from drillkit.gameday.observe import monitor, start_traffic, ttr_s
from drillkit.gameday.summary import Summary
from drillkit.journal import kinds
from drillkit.journal.redact import Redactor
from drillkit.journal.writer import Journal
from drillkit.net.filelock import FileLock
from drillkit.traffic.slo import configured, effective_slos

__all__ = ["Options", "run_gameday", "stdin_confirm"]


def new_run_id(scenario: Scenario) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{scenario.id}-{secrets.token_hex(2)}"


@contextlib.contextmanager
def run_lock(home: Path) -> Iterator[None]:
    """One game-day at a time per home: another run's faults and restores are not ours to touch."""
    path = home / "chaos" / "gameday.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(path, note=f"pid {os.getpid()}").acquire()
    except LockBusy as busy:
        message = f"another game-day is running with this home ({busy.holder}); wait for it"
        raise LockBusy(message, busy.holder) from None
    with lock:
        yield


def resolve_system(scenario: Scenario, scenario_path: Path, options: Options) -> tuple[System, StopDemo | None]:
    """The scenario's system, and how to stop the demo when this run started it.

    `system: demo` is the embedded demo, which this layer does not know how to start: the caller
    (the CLI) passes `options.start_demo`.
    """
    if scenario.system != "demo":
        path = Path(scenario.system)
        if not path.is_absolute():
            path = scenario_path.parent / path
        return load_system(path), None
    if options.start_demo is None:
        raise InputError("this scenario's system is the embedded demo: start it with 'drillkit demo up' first")
    manifest, stop = options.start_demo()
    return load_system(manifest), stop


async def run_gameday(scenario: Scenario, scenario_path: Path, options: Options) -> Summary:
    """Rehearse `scenario`; always clean up; return the summary (also written to the run folder).

    Raises InputError (before anything is journaled) for bad input found while setting up.
    """
    loop = asyncio.get_running_loop()
    stopping: list[str] = []
    holder: dict[str, RunContext] = {}

    def on_signal(sig: signal.Signals) -> None:
        reason = f"{sig.name} received"
        stopping.append(reason)
        if "ctx" in holder:
            holder["ctx"].stop(reason)

    with signals.routed(loop, on_signal), run_lock(options.home):
        system, started_demo = await asyncio.to_thread(resolve_system, scenario, scenario_path, options)
        try:
            for fault in scenario.faults:
                if fault.target is not None:
                    parse_target(fault.target, system)  # bad input: exit 2 before anything starts
            return await _run(scenario, scenario_path, options, system, started_demo, holder, stopping)
        finally:
            if started_demo is not None:
                with contextlib.suppress(DrillkitError):
                    await asyncio.to_thread(started_demo)


async def _run(
    scenario: Scenario,
    scenario_path: Path,
    options: Options,
    system: System,
    started_demo: StopDemo | None,
    holder: dict[str, RunContext],
    stopping: list[str],
) -> Summary:
    run_id = new_run_id(scenario)
    run_dir = options.home / "runs" / run_id
    run_dir.mkdir(parents=True)
    redactor = Redactor.for_system(system)
    journal = Journal(run_dir / "journal.jsonl", redact=redactor)
    if options.on_event is not None:  # the live view (and CI logs) see what the journal keeps
        options = dataclasses.replace(options, on_event=_redacted(options.on_event, redactor))
    ctx = RunContext(scenario, system, options, run_id, run_dir, journal, started_demo=started_demo)
    holder["ctx"] = ctx
    if stopping:
        ctx.stop(stopping[0])
    started_at = datetime.now(UTC)
    operator = _operator()
    ctx.log(kinds.RUN_STARTED, {
        "run_id": run_id, "scenario": scenario.id, "title": scenario.title, "severity": scenario.severity,
        "system": system.name, "operator": operator, "mode": options.mode or scenario.rollback.mode,
        "drillkit": __version__, "scenario_file": str(scenario_path.absolute()),
        "slos": configured(effective_slos(system.slos, scenario.slos)), "redaction": redactor.policy,
    })  # fmt: skip
    try:
        async with open_backends(system) as backends:
            ctx.backends = backends
            try:
                await _phases(ctx)
            except Aborted as exc:
                ctx.stop(str(exc))
            except DrillkitError as exc:
                ctx.exit_code = exc.exit_code if isinstance(exc, InputError) else None
                ctx.stop(str(exc))
            except BaseException as exc:
                ctx.stop(f"internal error: {type(exc).__name__}: {exc}")
                raise
            finally:
                await phases.cleanup(ctx)
    finally:
        summary = report(ctx, started_at, operator)
        ctx.log(kinds.RUN_FINISHED, {"verdict": summary.verdict, "reasons": summary.reasons})
        journal.close()
        summary.journal_head = journal.head
        summary.exit_code = ctx.exit_code
        summary = Summary.model_validate(redactor(summary.model_dump(mode="json")))
        summary.write(run_dir / "summary.json")
        _record_in_ledger(options, run_dir, summary)
    return summary


def _redacted(
    on_event: Callable[[str, dict[str, Any]], None], redactor: Redactor
) -> Callable[[str, dict[str, Any]], None]:
    return lambda kind, data: on_event(kind, redactor(data))


def _record_in_ledger(options: Options, run_dir: Path, summary: Summary) -> None:
    """Append the finished run to the evidence ledger; a failure is reported, never raised."""
    from drillkit.journal.ledger import record

    try:
        record(options.home, "run", summary.run_id, run_dir / "journal.jsonl", summary.model_dump(mode="json"))
    except (DrillkitError, OSError, ValueError) as exc:
        if options.on_event is not None:
            options.on_event("ledger.failed", {"error": f"{type(exc).__name__}: {exc}"})
        else:
            print(f"drillkit: the run was not recorded in the ledger: {exc}", file=sys.stderr)


async def _phases(ctx: RunContext) -> None:
    if ctx.abort.is_set():
        raise Aborted(ctx.abort_reason or "aborted")
    await phases.preflight(ctx)
    start_traffic(ctx)
    assert ctx.load is not None
    await ctx.load.start()
    ctx.background(monitor(ctx), "window monitor")
    ctx.background(heartbeat(ctx), "heartbeat")
    await phases.warmup(ctx)
    await inject(ctx)
    await phases.detect(ctx)
    await phases.rollback(ctx)
    await phases.recover(ctx)
    await phases.verify(ctx)
    ctx.completed = True


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def report(ctx: RunContext, started_at: datetime, operator: str) -> Summary:
    if ctx.abort_reason:
        verdict = "aborted"
    elif ctx.reasons or not ctx.completed:
        verdict = "fail"
    else:
        verdict = "pass"
    reasons = ([ctx.abort_reason] if ctx.abort_reason else []) + ctx.reasons
    finished = datetime.now(UTC)
    return Summary(
        run_id=ctx.run_id,
        scenario=ctx.scenario.id,
        verdict=verdict,
        ttd_s=ctx.since_inject(ctx.detected_at) if ctx.detected_at is not None else None,
        detect_lag_s=(
            round(ctx.detected_at - ctx.breach.since - ctx.scenario.timeline.window, 3)
            if ctx.detected_at is not None and ctx.breach is not None
            else None
        ),
        rollback_s=ctx.rollback_s,
        ttr_s=ttr_s(ctx),
        rto_target_s=ctx.system.rto_target,
        faults=[
            {
                "type": i.fault.type,
                "target": i.fault.target,
                "name": i.active.name if i.active else i.fault.name,
                "layer": i.active.layer if i.active else i.fault.layer,
                "removed": i.removed or i.active is None,
            }
            for i in ctx.injected
        ],
        breached=ctx.breach.slos if ctx.breach is not None else [],
        verify=ctx.verify,
        title=ctx.scenario.title,
        layer=ctx.scenario.layer,
        severity=ctx.scenario.severity,
        system=ctx.system.name,
        operator=operator,
        rollback_mode=ctx.options.mode or ctx.scenario.rollback.mode,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
        duration_s=round((finished - started_at).total_seconds(), 3),
        reasons=reasons,
        expect=ctx.scenario.expect.model_dump(mode="json"),
        requests=ctx.load.stats.model_dump() if ctx.load is not None else {},
        journal=str(ctx.run_dir / "journal.jsonl"),
        drillkit_version=__version__,
    )


def stdin_confirm(prompt: Callable[[str], None]) -> Callable[[str], Awaitable[None]]:
    """A manual-rollback confirmation: show the instructions, wait for Enter on stdin.

    Reads through the event loop (not a thread), so a stop of the run cancels the wait at once.
    """

    async def confirm(instructions: str) -> None:
        prompt(instructions)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        fd = sys.stdin.fileno()

        def readable() -> None:
            line = sys.stdin.readline()
            if not done.done():
                if line:
                    done.set_result(None)
                else:
                    done.set_exception(Aborted("stdin closed before the rollback was confirmed"))

        loop.add_reader(fd, readable)
        try:
            await done
        finally:
            loop.remove_reader(fd)

    return confirm
