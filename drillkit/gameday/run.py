"""One game-day run: set up, run the phases, always clean up, report.

The phases are in `drillkit.gameday.phases` (inject in `faulting`, traffic and detection in
`observe`); they share one `RunContext` and return what they judge (`drillkit.gameday.results`),
which this module collects in an `Outcome` for the summary. This module owns what surrounds them:
the signals (SIGINT, SIGTERM, SIGHUP stop the run cleanly, from the first instruction to the
summary, through the run's `RunControl`), the one-run-per-home lock, the system (the demo through
`Options.start_demo`), and the verdict (`drillkit.gameday.summary`).

The verdict is `pass` only when every phase ran to its end with no reason to fail; `aborted` when
the run was stopped (signal, guardrail, max_duration, bad input found mid-run, an internal
error); `fail` otherwise.

Redaction: one `Redactor` per run (the system's policy, `drillkit.journal.redact`) redacts every
journal entry before it is written (the live view gets the entries as written), `summary.json`
(so the returned summary, `--json` and JUnit output are redacted too) and the live view's
`LedgerFailed`; its policy is recorded in `run.started`. When the journal is closed and the
summary written, the run is recorded in the evidence ledger; a ledger failure is reported to the
live view (`LedgerFailed`, never journaled: the journal is closed) and never changes the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from drillkit import __version__, signals
from drillkit.config.scenario import Scenario
from drillkit.config.system import System, load_system
from drillkit.errors import Aborted, DrillkitError, InputError, LockBusy
from drillkit.faults.targets import check_target, open_backends
from drillkit.gameday import phases
from drillkit.gameday.context import Options, RunContext, RunControl, StopDemo
from drillkit.gameday.dryrun import placement, touched_servers
from drillkit.gameday.faulting import heartbeat, inject
from drillkit.gameday.lease import leased
from drillkit.gameday.observe import monitor, probe, start_traffic
from drillkit.gameday.profile import apply_profile
from drillkit.gameday.results import ImpactResult, Outcome
from drillkit.gameday.summary import Summary, summarize
from drillkit.journal.events import LedgerFailed, RollbackImpact, RunFinished, RunStarted
from drillkit.journal.ledger_operator import operator_name
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


#: `system:` values that name the embedded demo: its JSON face, and its OpenAI-shaped one (the
#: manifest `drillkit demo up` writes beside the first).
DEMO_FACES = {"demo": "drillkit.yaml", "demo:chat": "drillkit-chat.yaml"}


def resolve_system(scenario: Scenario, scenario_path: Path, options: Options) -> tuple[System, StopDemo | None]:
    """The system the run acts on, and how to stop the demo when this run started it.

    Precedence (DESIGN §9.3): `--system` (`options.system_path`) > the scenario's `system:` (a
    path relative to the scenario, or `demo`) > `DRILLKIT_SYSTEM` > the embedded demo. The demo
    is started by the caller (the CLI passes `options.start_demo`); this layer does not know how.
    """
    named = "system" in scenario.model_fields_set
    if options.system_path is not None:
        return load_system(options.system_path), None
    if named and scenario.system not in DEMO_FACES:
        path = Path(scenario.system)
        return load_system(path if path.is_absolute() else scenario_path.parent / path), None
    if not named and os.environ.get("DRILLKIT_SYSTEM"):
        return load_system(Path(os.environ["DRILLKIT_SYSTEM"]).expanduser()), None
    if options.start_demo is None:
        raise InputError("this scenario's system is the embedded demo: start it with 'drillkit demo up' first")
    manifest, stop = options.start_demo()
    face = DEMO_FACES.get(scenario.system if named else "demo", "drillkit.yaml")
    return load_system(manifest.parent / face), stop


async def run_gameday(scenario: Scenario, scenario_path: Path, options: Options) -> Summary:
    """Rehearse `scenario`; always clean up; return the summary (also written to the run folder).

    Raises InputError (before anything is journaled) for bad input found while setting up.
    """
    loop = asyncio.get_running_loop()
    control = RunControl()  # a stop signal during set-up is kept for the run

    def on_signal(sig: signal.Signals) -> None:
        control.stop(f"{sig.name} received")

    with signals.routed(loop, on_signal), run_lock(options.home):
        system, started_demo = await asyncio.to_thread(resolve_system, scenario, scenario_path, options)
        try:
            for fault in scenario.faults:
                if fault.target is not None:
                    check_target(fault.target, system, fault.type)  # bad input: exit 2 before anything starts
            with leased(touched_servers(system, scenario), scenario.id, options.home):
                return await _run(scenario, scenario_path, options, system, started_demo, control)
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
    control: RunControl,
) -> Summary:
    run_id = new_run_id(scenario)
    run_dir = options.home / "runs" / run_id
    run_dir.mkdir(parents=True)
    redactor = Redactor.for_system(system)
    journal = Journal(run_dir / "journal.jsonl", redact=redactor)
    ctx = RunContext(scenario, system, options, run_id, run_dir, journal, control=control, started_demo=started_demo)
    outcome = Outcome()
    started_at = datetime.now(UTC)
    operator = operator_name()
    ctx.emit(RunStarted(
        run_id=run_id, scenario=scenario.id, title=scenario.title, severity=scenario.severity,
        system=system.name, operator=operator, mode=options.mode or scenario.rollback.mode,
        drillkit=__version__, scenario_file=str(scenario_path.absolute()), system_file=str(system.path or "") or None,
        slos=configured(effective_slos(system.slos, scenario.slos)), redaction=redactor.policy,
        purpose=options.purpose or scenario.purpose, layer=scenario.layer, rollback_path=scenario.rollback_path,
        placements=[{"fault": f.name or f.type, "target": f.target, **placement(system, f.target, f.type)}
                    for f in scenario.faults if f.target is not None],
    ))  # fmt: skip
    try:
        async with open_backends(system) as backends:
            ctx.backends = backends
            try:
                await _phases(ctx, outcome)
            except Aborted as exc:
                control.stop(str(exc))
            except DrillkitError as exc:
                outcome.exit_code = exc.exit_code if isinstance(exc, InputError) else None
                control.stop(str(exc))
            except BaseException as exc:
                control.stop(f"internal error: {type(exc).__name__}: {exc}")
                raise
            finally:
                outcome.cleanup = await phases.cleanup(ctx)
    finally:
        summary = summarize(ctx, outcome, started_at, operator)
        ctx.emit(RunFinished(verdict=summary.verdict, reasons=summary.reasons))
        journal.close()
        summary.journal_head = journal.head
        summary.exit_code = outcome.exit_code
        summary = Summary.model_validate(redactor(summary.model_dump(mode="json")))
        summary.write(run_dir / "summary.json")
        _record_in_ledger(options, run_dir, summary, redactor)
    return summary


def _record_in_ledger(options: Options, run_dir: Path, summary: Summary, redactor: Redactor) -> None:
    """Append the finished run to the evidence ledger; a failure is reported, never raised."""
    from drillkit.journal.ledger import record

    try:
        record(options.home, "run", summary.run_id, run_dir / "journal.jsonl", summary.model_dump(mode="json"))
    except (DrillkitError, OSError, ValueError) as exc:
        if options.on_event is not None:
            failed = LedgerFailed(error=f"{type(exc).__name__}: {exc}")
            options.on_event(LedgerFailed.model_validate(redactor(failed.data())))
        else:
            print(f"drillkit: the run was not recorded in the ledger: {exc}", file=sys.stderr)


async def _phases(ctx: RunContext, outcome: Outcome) -> None:
    ctx.control.check()
    await phases.preflight(ctx)
    start_traffic(ctx)
    if ctx.load is not None:
        await ctx.load.start()
    ctx.background(monitor(ctx), "window monitor")
    if ctx.scenario.traffic.eval_probe is not None:
        ctx.background(probe(ctx), "eval probe")
    ctx.background(heartbeat(ctx), "heartbeat")
    ctx.background(apply_profile(ctx), "traffic profile")
    await phases.warmup(ctx)
    await inject(ctx)
    outcome.detect = await phases.detect(ctx)
    outcome.rollback = await phases.rollback(ctx, outcome.detect)
    outcome.recover = await phases.recover(ctx, outcome.detect)
    outcome.verify = await phases.verify(ctx)
    if ctx.rollback_started_at is not None:
        outcome.impact = judge_impact(ctx)
    outcome.completed = True


def judge_impact(ctx: RunContext) -> ImpactResult:
    """Judge what the rollback cost users against `expect.rollback_impact`, and journal it."""
    bounds = ctx.scenario.expect.rollback_impact or {}
    data = ctx.impact.data() or {"windows": 0}
    ctx.emit(RollbackImpact(**data, bounds=bounds, exceeded=ctx.impact.over(bounds)))
    return ctx.impact.judge(bounds)


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
