"""One game-day run: one context object, one small function per phase, cleanup in one `finally`.

    preflight → warmup → inject → detect → rollback → recover → verify → cleanup → report

Clocks: every time is seconds on `time.monotonic` (the load generator's clock); `t_inject` is
when the first fault went in. TTD = when the engine declared the breach − t_inject; rollback =
first step start → last step end (auto) or instructions shown → operator's confirmation
(manual); TTR = t_inject → the end of the first healthy window of the streak that declared
recovery (the first moment a full window was seen healthy again; a window that straddles the
rollback can still be judged healthy, so its start would flatter the rollback).

Safety: faults stay injected through rollback and verify (the rehearsal proves the rollback path
works while the failure persists) and are removed on every exit path — errors, Ctrl-C, SIGTERM,
guardrails, max_duration. L7 faults are injected dead-man (they vanish without the engine's
heartbeat); every fault is recorded in the leftovers file first, so a SIGKILLed run's toxics are
removed by the next preflight or `drillkit chaos reset`. The journal is written as events happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.config.scenario import Fault, Scenario, Step
from drillkit.config.system import System, load_system
from drillkit.engine import leftovers
from drillkit.engine.detect import Breach, Detector, Recovery
from drillkit.engine.inputs import InputCycle, assertions_by_question, load_inputs
from drillkit.engine.load import LoadGenerator
from drillkit.engine.slo import SloEvaluator, SloWindow, configured, effective_slos
from drillkit.engine.steps import StepResult, run_step
from drillkit.engine.summary import Summary
from drillkit.engine.windows import SloWindows
from drillkit.errors import Aborted, DrillkitError, InputError
from drillkit.faults.backends import ActiveFault, FaultBackend, FaultRequest, backend_for
from drillkit.faults.targets import open_backends, parse_target
from drillkit.journal import kinds
from drillkit.journal.writer import Journal

POLL_S = 0.1
HEARTBEAT_S = 1.0
DEAD_MAN_INTERVAL_S = 5.0
REMOVE_TIMEOUT_S = 2.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Options:
    home: Path
    mode: str | None = None  # "auto" | "manual" overrides the scenario
    confirm: Callable[[str], Awaitable[None]] | None = None  # manual rollback: waits for the operator
    on_event: Callable[[str, dict[str, Any]], None] | None = None  # live view
    demo_latency_scale: float | None = None


@dataclass
class Injected:
    fault: Fault
    active: ActiveFault | None = None  # None for `change` faults
    removed: bool = False
    backend: FaultBackend | None = None


@dataclass
class RunContext:
    scenario: Scenario
    system: System
    options: Options
    run_id: str
    run_dir: Path
    journal: Journal
    backends: dict[str, FaultBackend] = field(default_factory=dict)
    load: LoadGenerator | None = None
    windows: SloWindows | None = None
    detector: Detector | None = None
    started_demo: Any = None
    t_start: float = 0.0
    t_inject: float | None = None
    breach: Breach | None = None
    detected_at: float | None = None
    rollback_s: float | None = None
    rollback_ok: bool | None = None
    recovery: Recovery | None = None
    verify: dict[str, Any] = field(default_factory=dict)
    injected: list[Injected] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    abort_reason: str | None = None
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    breach_seen: asyncio.Event = field(default_factory=asyncio.Event)
    recovered_seen: asyncio.Event = field(default_factory=asyncio.Event)
    last_window: SloWindow | None = None
    window_count: int = 0

    def since_inject(self, t: float | None = None) -> float | None:
        if self.t_inject is None:
            return None
        return round((t if t is not None else time.monotonic()) - self.t_inject, 3)

    def log(self, kind: str, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self.journal.append(kind, data)
        if self.options.on_event is not None:
            self.options.on_event(kind, data)

    def stop(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
        self.abort.set()

    async def wait(self, event: asyncio.Event | None, timeout: float | None) -> bool:
        """Wait for `event` (or just `timeout`); raise Aborted if the run is stopped meanwhile."""
        waiters = [asyncio.ensure_future(self.abort.wait())]
        if event is not None:
            waiters.append(asyncio.ensure_future(event.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if self.abort.is_set():
            raise Aborted(self.abort_reason or "aborted")
        return event is not None and event.is_set()


# --- preflight ---------------------------------------------------------------------------------


def new_run_id(scenario: Scenario) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{scenario.id}-{secrets.token_hex(2)}"


def resolve_system(scenario: Scenario, scenario_path: Path, options: Options) -> tuple[System, Any]:
    """The scenario's system; for `demo`, the embedded demo (started here if it is not running)."""
    if scenario.system != "demo":
        path = Path(scenario.system)
        if not path.is_absolute():
            path = scenario_path.parent / path
        return load_system(path), None
    from drillkit.demo import control
    from drillkit.home import demo_workdir

    workdir = demo_workdir(options.home)
    started = control.start(workdir, latency_scale=options.demo_latency_scale)
    return load_system(workdir / "drillkit.yaml"), (None if started.already_running else (workdir, started))


async def preflight(ctx: RunContext) -> None:
    ctx.log(kinds.PHASE, {"phase": "preflight"})
    removed, problems = await leftovers.clean(ctx.options.home)
    if removed:
        ctx.log("leftovers.removed", {"faults": removed})
    if problems:
        raise InputError("faults left by an earlier run could not be removed: " + "; ".join(problems))
    for owed in leftovers.read_pending(ctx.options.home):
        # A killed run never put the system back: do it now, before measuring a steady state.
        for step in [Step.model_validate(s) for s in owed.get("steps", [])]:
            result = await run_step(step.name, run=step.run, http=step.http, timeout=step.timeout, env=_step_env(ctx))
            ctx.log("leftovers.restored", {"from_run": owed.get("run_id"), **result.to_dict()})
        leftovers.paid_restore(ctx.options.home, str(owed.get("run_id")))
    for fault in ctx.scenario.faults:
        if fault.target is not None:
            parse_target(fault.target, ctx.system)
    for key, backend in ctx.backends.items():
        if not any(f.type in backend.types for f in ctx.scenario.faults):
            continue
        active = await backend.list()
        if active:
            names = ", ".join(f"{f.name} on {f.target}" for f in active)
            raise InputError(f"faults are already active on {backend.url} ({names}); run 'drillkit chaos reset' first")
        ctx.log("preflight.layer", {"layer": key, "url": backend.url, "version": await backend.version()})


# --- traffic and windows -----------------------------------------------------------------------


def start_traffic(ctx: RunContext) -> None:
    s, system = ctx.scenario, ctx.system
    bodies = InputCycle(load_inputs(s.traffic.inputs, system, system.base_dir), seed=0)
    evals: dict[str, Any] = {}
    if system.evals:
        from drillkit.evals import load_suite

        evals = assertions_by_question(load_suite(system.resolve(system.evals)))
    evaluator = SloEvaluator.for_scenario(s, system)
    ctx.t_start = time.monotonic()
    ctx.windows = SloWindows(evaluator, origin=ctx.t_start, window_s=s.timeline.window, grace_s=2.0)
    ctx.detector = Detector(s.timeline.bad_windows, s.timeline.healthy_windows)
    ctx.load = LoadGenerator(
        str(system.service.url),
        bodies,
        rate=s.traffic.rate,
        concurrency=s.traffic.concurrency,
        timeout=min(system.service.timeout, 10.0),
        evals=evals,
        on_schedule=ctx.windows.scheduled,
        on_sample=ctx.windows.add,
    )


async def monitor(ctx: RunContext) -> None:
    """Close windows as they complete; feed the detector; enforce guardrails and max_duration."""
    assert ctx.windows is not None and ctx.detector is not None
    limit = ctx.t_start + ctx.scenario.timeline.max_duration
    while True:
        now = time.monotonic()
        for window in ctx.windows.poll(now):
            observe(ctx, window)
        if now > limit:
            ctx.stop(f"timeline.max_duration ({ctx.scenario.timeline.max_duration:g}s) reached")
        await asyncio.sleep(POLL_S)


def observe(ctx: RunContext, window: SloWindow) -> None:
    assert ctx.detector is not None
    ctx.last_window = window
    ctx.window_count += 1
    ctx.log(kinds.WINDOW, compact(window))
    if window.tripped:
        ctx.log(kinds.GUARDRAIL_TRIPPED, {"window": window.index, "guardrails": window.tripped})
        ctx.stop(f"guardrail tripped: {', '.join(window.tripped)}")
    if ctx.t_inject is None or window.end <= ctx.t_inject:
        return  # before injection: the warmup's steady-state check reads the windows itself
    event = ctx.detector.observe(window)
    if isinstance(event, Breach) and ctx.breach is None:
        ctx.breach, ctx.detected_at = event, time.monotonic()
        ctx.log(kinds.SLO_BREACH, {"slos": event.slos, "windows": event.windows})
        ctx.log(kinds.DETECTED, {"ttd_s": ctx.since_inject(ctx.detected_at), "slos": event.slos})
        ctx.breach_seen.set()
    elif isinstance(event, Recovery) and ctx.breach is not None and ctx.recovery is None:
        ctx.recovery = event
        ctx.log(kinds.RECOVERED, {"ttr_s": ttr_s(ctx), "windows": event.windows})
        ctx.recovered_seen.set()


def ttr_s(ctx: RunContext) -> float | None:
    if ctx.recovery is None:
        return None
    return ctx.since_inject(ctx.recovery.since + ctx.scenario.timeline.window)


def compact(w: SloWindow) -> dict[str, Any]:
    keep = (
        "index",
        "count",
        "errors",
        "error_rate",
        "latency_p95_ms",
        "latency_p99_ms",
        "eval_count",
        "eval_pass_rate",
        "cost_per_request_usd",
        "by_provider",
        "by_model",
        "state",
        "breached",
    )
    return {k: getattr(w, k) for k in keep}


async def heartbeat(ctx: RunContext) -> None:
    while True:
        for backend in ctx.backends.values():
            if any(i.backend is backend and i.active and i.active.dead_man and not i.removed for i in ctx.injected):
                with contextlib.suppress(DrillkitError):
                    await backend.heartbeat()
        await asyncio.sleep(HEARTBEAT_S)


# --- the phases --------------------------------------------------------------------------------


async def warmup(ctx: RunContext) -> None:
    """Traffic runs for `timeline.warmup`; a system already breaching is reported, not rehearsed."""
    ctx.log(kinds.PHASE, {"phase": "warmup", "seconds": ctx.scenario.timeline.warmup})
    await ctx.wait(None, ctx.scenario.timeline.warmup)
    judged = [w for w in _windows_so_far(ctx) if w.state != "insufficient"]
    if judged and judged[-1].state == "breaching":
        ctx.stop(f"steady state does not hold before injection: {', '.join(judged[-1].breached)} already breached")
        raise Aborted(ctx.abort_reason or "")


def _windows_so_far(ctx: RunContext) -> list[SloWindow]:
    return [ctx.last_window] if ctx.last_window is not None else []


async def inject(ctx: RunContext) -> asyncio.Task[None]:
    """Inject faults at their offsets; those at 0 s before returning. Returns the scheduler task."""
    ctx.t_inject = time.monotonic()
    ctx.log(kinds.PHASE, {"phase": "inject"})
    leftovers.owe_restore(
        ctx.options.home,
        ctx.run_id,
        [step.model_dump(mode="json", by_alias=True, exclude_none=True) for step in ctx.scenario.restore],
    )
    faults = sorted(ctx.scenario.faults, key=lambda f: f.at)
    for fault in [f for f in faults if f.at == 0]:
        await inject_one(ctx, fault)

    async def later() -> None:
        assert ctx.t_inject is not None
        for fault in [f for f in faults if f.at > 0]:
            await asyncio.sleep(max(0.0, ctx.t_inject + fault.at - time.monotonic()))
            await inject_one(ctx, fault)

    return asyncio.create_task(later())


async def inject_one(ctx: RunContext, fault: Fault) -> None:
    if fault.type == "change":
        result = await run_step(fault.name or "change", run=fault.run, http=fault.http, env=_step_env(ctx))
        ctx.injected.append(Injected(fault))
        ctx.log(kinds.FAULT_INJECTED, {"type": "change", "at_s": ctx.since_inject(), **result.to_dict()})
        if not result.ok:
            ctx.stop(f"the change fault {result.name!r} failed: {result.detail[:200]}")
        return
    assert fault.target is not None
    backend = backend_for(fault.type, ctx.backends)
    request = FaultRequest(
        type=fault.type,
        target=parse_target(fault.target).name,
        name=fault.name,
        toxicity=fault.toxicity,
        stream=fault.stream,
        attributes=dict(fault.attributes),
        dead_man=backend.layer == "l7",
        heartbeat_interval=DEAD_MAN_INTERVAL_S,
        match=fault.match.model_dump(exclude_none=True) if fault.match else None,
    )
    try:
        active = await backend.inject(request)
    except DrillkitError as exc:
        ctx.stop(f"could not inject {fault.type} on {fault.target}: {exc}")
        raise Aborted(ctx.abort_reason or "") from None
    leftovers.record(ctx.options.home, ctx.run_id, active)
    item = Injected(fault, active, backend=backend)
    ctx.injected.append(item)
    ctx.log(kinds.FAULT_INJECTED, {"at_s": ctx.since_inject(), "target": fault.target, **active.to_dict()})
    if fault.duration is not None:

        async def expire() -> None:
            await asyncio.sleep(fault.duration or 0)
            await remove_one(ctx, item, "duration elapsed")

        asyncio.get_running_loop().create_task(expire())


async def remove_one(ctx: RunContext, item: Injected, why: str) -> None:
    if item.removed or item.active is None or item.backend is None:
        return
    item.removed = True
    try:
        gone = await asyncio.wait_for(item.backend.remove(item.active.target, item.active.name), REMOVE_TIMEOUT_S)
        leftovers.forget(ctx.options.home, item.active)
        ctx.log(
            kinds.FAULT_REMOVED,
            {
                "name": item.active.name,
                "target": item.active.target,
                "why": why,
                "was_active": gone,
                "at_s": ctx.since_inject(),
            },
        )
    except (DrillkitError, TimeoutError) as exc:
        item.removed = False
        ctx.log(
            kinds.FAULT_REMOVED,
            {"name": item.active.name, "target": item.active.target, "ok": False, "error": str(exc) or "timed out"},
        )


async def detect(ctx: RunContext) -> None:
    ctx.log(kinds.PHASE, {"phase": "detect"})
    expect = ctx.scenario.expect
    budget = _remaining(ctx, expect.detect_within)
    await ctx.wait(ctx.breach_seen, budget)
    if ctx.breach is None:
        ctx.reasons.append(f"not detected within {budget:.0f}s: no SLO breached (is the fault too mild?)")
        return
    ttd = ctx.since_inject(ctx.detected_at) or 0.0
    if expect.detect_within is not None and ttd > expect.detect_within:
        ctx.reasons.append(f"detected after {ttd:.1f}s, expected within {expect.detect_within:g}s")
    missing = [slo for slo in expect.breach if slo not in ctx.breach.slos]
    if missing:
        ctx.reasons.append(f"expected {', '.join(missing)} to breach; breached: {', '.join(ctx.breach.slos)}")


def _remaining(ctx: RunContext, within: float | None) -> float:
    """Seconds left until `t_inject + within`, capped by max_duration."""
    assert ctx.t_inject is not None
    end = ctx.t_start + ctx.scenario.timeline.max_duration
    if within is not None:
        end = min(end, ctx.t_inject + within)
    return max(0.0, end - time.monotonic())


def _step_env(ctx: RunContext) -> dict[str, str]:
    return {"DRILLKIT_HOME": str(ctx.options.home)}


async def rollback(ctx: RunContext) -> None:
    """Run (auto) or time (manual) the designed rollback while the fault stays injected."""
    plan = ctx.scenario.rollback
    mode = ctx.options.mode or plan.mode
    ctx.log(kinds.PHASE, {"phase": "rollback", "mode": mode})
    if mode == "auto":
        if not plan.steps:
            ctx.reasons.append("rollback mode auto, but the scenario has no rollback steps")
            ctx.rollback_ok = False
            return
        await ctx.wait(None, plan.decide_after)
        t0 = time.monotonic()
        ctx.log(kinds.ROLLBACK_STARTED, {"mode": mode, "at_s": ctx.since_inject(t0), "steps": len(plan.steps)})
        results: list[StepResult] = []
        for step in plan.steps:
            result = await run_step(step.name, run=step.run, http=step.http, timeout=step.timeout, env=_step_env(ctx))
            results.append(result)
            ctx.log(kinds.ROLLBACK_STEP, result.to_dict())
            if not result.ok:
                break
    else:
        if ctx.options.confirm is None:
            raise InputError("a manual rollback needs an operator at a terminal; pass --auto to run its steps")
        t0 = time.monotonic()
        ctx.log(kinds.ROLLBACK_STARTED, {"mode": mode, "at_s": ctx.since_inject(t0)})
        await ctx.options.confirm(_instructions(ctx))
        results = []
    ctx.rollback_s = round(time.monotonic() - t0, 3)
    ctx.rollback_ok = all(r.ok for r in results)
    ctx.log(kinds.ROLLBACK_FINISHED, {"ok": ctx.rollback_ok, "rollback_s": ctx.rollback_s})
    if not ctx.rollback_ok:
        failed = next(r for r in results if not r.ok)
        ctx.reasons.append(f"rollback step {failed.name!r} failed: {failed.detail[:200]}")
    rto = ctx.system.rto_target
    if ctx.rollback_s > rto:
        ctx.reasons.append(f"rollback took {ctx.rollback_s:.1f}s, over the RTO target of {rto:g}s")


def _instructions(ctx: RunContext) -> str:
    plan = ctx.scenario.rollback
    lines = [plan.instructions.strip()] if plan.instructions else []
    for step in plan.steps:
        lines.append(f"- {step.name}: " + (" ".join(step.run) if step.run else f"{step.http.method} {step.http.url}"))
    return "\n".join(lines) or "Perform the rollback you designed for this failure."


async def recover(ctx: RunContext) -> None:
    ctx.log(kinds.PHASE, {"phase": "recover"})
    if ctx.breach is None:
        return
    within = ctx.scenario.expect.recover_within
    await ctx.wait(ctx.recovered_seen, _remaining(ctx, within))
    if ctx.recovery is None:
        ctx.reasons.append(f"not recovered within {within or ctx.scenario.timeline.max_duration:g}s of injection")
        return
    ttr = ttr_s(ctx) or 0.0
    if within is not None and ttr > within:
        ctx.reasons.append(f"recovered after {ttr:.1f}s, expected within {within:g}s")


async def verify(ctx: RunContext) -> None:
    """Evals and fingerprint expectations, with the fault still injected."""
    ctx.log(kinds.PHASE, {"phase": "verify"})
    spec = ctx.scenario.verify
    if spec.evals and ctx.system.evals:
        from drillkit.evals import load_suite, run_suite

        suite = load_suite(ctx.system.resolve(ctx.system.evals))
        threshold = ctx.system.slos.eval_pass_rate or 0.9
        result = await run_suite(suite, str(ctx.system.service.url), threshold=threshold, concurrency=8)
        ctx.verify["evals"] = {
            "pass_rate": round(result.pass_rate, 4),
            "threshold": threshold,
            "inside_envelope": result.inside_envelope,
        }
        if not result.inside_envelope:
            ctx.reasons.append(
                f"verify: eval pass rate {result.pass_rate:.1%} is outside the envelope ({threshold:.0%})"
            )
    expected_model = spec.fingerprint.get("model")
    if expected_model is not None:
        seen = dict(ctx.last_window.by_model) if ctx.last_window is not None else {}
        ok = bool(seen) and max(seen, key=seen.get) == expected_model
        ctx.verify["fingerprint"] = {"model": {"expected": expected_model, "served": seen, "ok": ok}}
        if not ok:
            ctx.reasons.append(f"verify: expected model {expected_model}, the service reported {seen or 'nothing'}")
    ctx.log(kinds.VERIFY, ctx.verify)


async def cleanup(ctx: RunContext, tasks: list[asyncio.Task[Any]]) -> None:
    """Always: stop traffic, remove every fault, run `restore`, stop a demo this run started."""
    ctx.log(kinds.PHASE, {"phase": "cleanup"})
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    removals = [remove_one(ctx, item, "cleanup") for item in reversed(ctx.injected)]
    await asyncio.gather(*removals, return_exceptions=True)
    if ctx.load is not None and ctx.load.running:
        stats = await ctx.load.stop(timeout=3.0)
        ctx.log("traffic.stopped", stats.model_dump())
    for step in ctx.scenario.restore:
        result = await run_step(step.name, run=step.run, http=step.http, timeout=step.timeout, env=_step_env(ctx))
        ctx.log("restore.step", result.to_dict())
        if not result.ok:
            ctx.reasons.append(f"restore step {step.name!r} failed: {result.detail[:200]}")
    leftovers.paid_restore(ctx.options.home, ctx.run_id)
    if any(not i.removed for i in ctx.injected if i.active is not None):
        ctx.reasons.append("some faults could not be removed; see 'drillkit chaos status'")


# --- the run -----------------------------------------------------------------------------------


async def run_gameday(scenario: Scenario, scenario_path: Path, options: Options) -> Summary:
    """Rehearse `scenario`; always clean up; return the summary (also written to the run folder)."""
    system, started_demo = resolve_system(scenario, scenario_path, options)
    run_id = new_run_id(scenario)
    run_dir = options.home / "runs" / run_id
    run_dir.mkdir(parents=True)
    journal = Journal(run_dir / "journal.jsonl")
    ctx = RunContext(scenario, system, options, run_id, run_dir, journal, started_demo=started_demo)
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:  # SIGHUP: the terminal went away (a closed tmux pane, an ssh drop)
        loop.add_signal_handler(sig, ctx.stop, f"{signal.Signals(sig).name} received")
    started_at = datetime.now(UTC)
    tasks: list[asyncio.Task[Any]] = []
    operator = _operator()
    ctx.log(
        kinds.RUN_STARTED,
        {
            "run_id": run_id,
            "scenario": scenario.id,
            "title": scenario.title,
            "severity": scenario.severity,
            "system": system.name,
            "operator": operator,
            "mode": options.mode or scenario.rollback.mode,
            "drillkit": __version__,
            "scenario_file": str(scenario_path),
            "slos": configured(effective_slos(system.slos, scenario.slos)),
        },
    )
    try:
        async with open_backends(system) as backends:
            ctx.backends = backends
            try:
                await preflight(ctx)
                start_traffic(ctx)
                assert ctx.load is not None
                await ctx.load.start()
                tasks += [asyncio.create_task(monitor(ctx)), asyncio.create_task(heartbeat(ctx))]
                await warmup(ctx)
                tasks.append(await inject(ctx))
                await detect(ctx)
                await rollback(ctx)
                await recover(ctx)
                await verify(ctx)
            except Aborted as exc:
                ctx.stop(str(exc))
            except DrillkitError as exc:
                ctx.stop(str(exc))
            finally:
                await cleanup(ctx, tasks)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        if ctx.started_demo is not None:
            from drillkit.demo import control

            workdir, started = ctx.started_demo
            with contextlib.suppress(DrillkitError):
                control.stop(workdir, process=started.process)
            ctx.log("demo.stopped", {"workdir": str(workdir)})
        summary = report(ctx, started_at, operator)
        ctx.log(kinds.RUN_FINISHED, {"verdict": summary.verdict, "reasons": summary.reasons})
        journal.close()
        summary.journal_head = journal.head
        summary.write(run_dir / "summary.json")
    return summary


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def report(ctx: RunContext, started_at: datetime, operator: str) -> Summary:
    verdict = "aborted" if ctx.abort_reason else ("fail" if ctx.reasons else "pass")
    reasons = ([ctx.abort_reason] if ctx.abort_reason else []) + ctx.reasons
    stats = ctx.load.stats.model_dump() if ctx.load is not None else {}
    finished = datetime.now(UTC)
    return Summary(
        run_id=ctx.run_id,
        scenario=ctx.scenario.id,
        verdict=verdict,
        ttd_s=ctx.since_inject(ctx.detected_at) if ctx.detected_at is not None else None,
        rollback_s=ctx.rollback_s,
        ttr_s=ttr_s(ctx),
        rto_target_s=ctx.system.rto_target,
        faults=[
            {
                "type": i.fault.type,
                "target": i.fault.target,
                "name": i.active.name if i.active else i.fault.name,
                "layer": i.active.layer if i.active else "change",
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
        requests=stats,
        journal=str(ctx.run_dir / "journal.jsonl"),
        drillkit_version=__version__,
    )


def stdin_confirm(prompt: Callable[[str], None]) -> Callable[[str], Awaitable[None]]:
    """A manual-rollback confirmation that shows the instructions and waits for Enter on stdin."""

    async def confirm(instructions: str) -> None:
        prompt(instructions)
        await asyncio.to_thread(sys.stdin.readline)

    return confirm
