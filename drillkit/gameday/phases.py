"""The game-day phases, one small function each over the run context.

    preflight → warmup → inject (faulting.py) → detect → rollback → recover → verify → cleanup

The phases that judge something return it (`drillkit.gameday.results`); `run.py` collects the
results and passes a phase the earlier results it depends on.

Definitions: TTD = when the engine declared the breach − t_inject; rollback = the first step's
start → the last step's end (auto), or instructions shown → the operator's confirmation (manual);
TTR = t_inject → the end of the first healthy window of the streak that declared recovery,
counting only windows that start after the rollback began.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from drillkit.config.scenario import RestoreStep as OwedStep
from drillkit.config.scenario import Step
from drillkit.errors import Aborted, InputError
from drillkit.evals.wire import Wire
from drillkit.faults.targets import parse_target
from drillkit.gameday import leftovers
from drillkit.gameday.context import RunContext
from drillkit.gameday.faulting import missing_faults, remove_all, step_env
from drillkit.gameday.fingerprints import failures as fingerprint_failures
from drillkit.gameday.fingerprints import record_preflight, verify_fingerprints
from drillkit.gameday.results import CleanupResult, DetectResult, RecoverResult, RollbackResult, VerifyResult
from drillkit.journal.events import (
    Absorbed,
    FaultLost,
    LeftoversRemoved,
    LeftoversRestored,
    Phase,
    PreflightLayer,
    RestoreStep,
    RollbackFinished,
    RollbackSkipped,
    RollbackStarted,
    RollbackStep,
    StepDone,
    TrafficStopped,
    Verify,
)
from drillkit.traffic.slo import configured, effective_slos
from drillkit.traffic.steps import StepResult, run_step


async def run_steps(
    ctx: RunContext, steps: list[Step], event: type[StepDone], *, stop_on_failure: bool
) -> list[StepResult]:
    """Run steps in order, journaling each as `event`; a stop of the run interrupts them (Aborted)."""
    results = []
    for step in steps:
        result = await ctx.guard(
            run_step(
                step.name,
                run=step.run,
                http=step.http,
                timeout=step.timeout,
                env=step_env(ctx),
                cwd=ctx.scenario.base_dir,
            )
        )
        results.append(result)
        ctx.emit(event(**result.to_dict()))
        if stop_on_failure and not result.ok:
            break
    return results


async def preflight(ctx: RunContext) -> None:
    ctx.emit(Phase(phase="preflight"))
    ctx.wire = Wire.of(ctx.system)  # an unset ${VAR} in service.headers: bad input, before any fault
    assert ctx.backends is not None
    removed, problems = await leftovers.clean(ctx.options.home, ctx.backends)
    if removed:
        ctx.emit(LeftoversRemoved(faults=removed))
    if problems:
        raise InputError(
            "faults left by an earlier run could not be removed: " + "; ".join(problems)
            + " (if those servers are gone for good: drillkit chaos reset --forget)"
        )  # fmt: skip
    for owed in leftovers.read_pending(ctx.options.home):
        # A killed run never put the system back: do it now, before measuring a steady state;
        # a restore that keeps failing is tried MAX_OWED_ATTEMPTS times, then reported.
        given_up = leftovers.exhausted(owed)
        if given_up is not None:
            raise InputError(given_up)
        steps = [OwedStep.model_validate(s) for s in owed.get("steps", [])]
        results = await run_steps(ctx, steps, LeftoversRestored, stop_on_failure=True)
        if all(r.ok for r in results):
            leftovers.paid_restore(ctx.options.home, str(owed.get("run_id")))
        else:
            failed = next((r for r in results if not r.ok), None)
            error = failed.detail if failed is not None else "a step did not run"
            leftovers.failed_restore(ctx.options.home, str(owed.get("run_id")), error)
    for fault in ctx.scenario.faults:
        if fault.target is not None:
            parse_target(fault.target, ctx.system)
    placed = {ctx.backends.place(f.target, f.type)[0] for f in ctx.scenario.faults if f.target is not None}
    for key, backend in ctx.backends.items():
        if backend not in placed:  # a server this scenario injects nothing into
            continue
        active = await backend.list()
        if active:
            names = ", ".join(f"{f.name} on {f.target}" for f in active)
            raise InputError(f"faults are already active on {backend.url} ({names}); run 'drillkit chaos reset' first")
        ctx.emit(PreflightLayer(layer=key, url=backend.url, version=await backend.version()))
    await record_preflight(ctx)


async def warmup(ctx: RunContext) -> None:
    """Traffic runs for `timeline.warmup`; a system already breaching is reported, not rehearsed."""
    ctx.emit(Phase(phase="warmup", seconds=ctx.scenario.timeline.warmup))
    await ctx.wait(None, ctx.scenario.timeline.warmup)
    last = ctx.last_window
    if last is not None and last.state == "breaching":
        ctx.control.abort(f"steady state does not hold before injection: {', '.join(last.breached)} already breached")


def remaining(ctx: RunContext, within: float | None) -> float:
    """Seconds left until `t_inject + within`, capped by max_duration."""
    assert ctx.t_inject is not None
    end = ctx.t_start + ctx.scenario.timeline.max_duration
    if within is not None:
        end = min(end, ctx.t_inject + within)
    return max(0.0, end - time.monotonic())


async def detect(ctx: RunContext) -> DetectResult:
    ctx.emit(Phase(phase="detect"))
    expect = ctx.scenario.expect
    await ctx.wait(ctx.breach_seen, remaining(ctx, expect.detect_within))
    ctx.detect_closed = True
    breach = ctx.breach
    if expect.absorb:
        if breach is not None:
            why = f"expected the system to absorb the fault, but {', '.join(breach.slos)} breached"
            return DetectResult(breach, reasons=(why,))
        ctx.emit(Absorbed(held_s=ctx.since_inject()))
        return DetectResult(absorbed=True)
    if breach is None:
        within = expect.detect_within or ctx.scenario.timeline.max_duration
        why = f"not detected within {within:g}s: no SLO breached{_worst(ctx)} (is the fault too mild?)"
        return DetectResult(reasons=(why,))
    missing = [slo for slo in expect.breach if slo not in breach.slos]
    if missing:
        why = f"expected {', '.join(missing)} to breach; breached: {', '.join(breach.slos)}"
        return DetectResult(breach, reasons=(why,))
    return DetectResult(breach)


def _worst(ctx: RunContext) -> str:
    w = ctx.last_window
    if w is None:
        return ""
    shown = [f"{name} {w.value(name):.3g}" for name in ("eval_pass_rate", "error_rate", "latency_p95_ms")
             if w.value(name) is not None]  # fmt: skip
    return f" (last window: {', '.join(shown)})" if shown else ""


async def rollback(ctx: RunContext, detected: DetectResult) -> RollbackResult:
    """Run (auto) or time (manual) the designed rollback while the fault stays injected."""
    plan = ctx.scenario.rollback
    mode = ctx.options.mode or plan.mode
    ctx.emit(Phase(phase="rollback", mode=mode))
    if ctx.scenario.expect.absorb:  # nothing to roll back: the system was to ride through it
        why = "the system absorbed the fault" if detected.breach is None else "an absorb rehearsal runs no rollback"
        ctx.emit(RollbackSkipped(why=why))
        return RollbackResult(mode, skipped=why)
    if mode == "auto" and not plan.steps:
        return RollbackResult(mode, ok=False, reasons=("rollback mode auto, but the scenario has no rollback steps",))
    confirm = ctx.options.confirm
    if mode != "auto" and confirm is None:
        raise InputError("a manual rollback needs an operator at a terminal; pass --auto to run its steps")
    if mode == "auto":
        await ctx.wait(None, plan.decide_after)
    ctx.rollback_started_at = t0 = time.monotonic()
    steps = {"steps": len(plan.steps)} if mode == "auto" else {}
    ctx.emit(RollbackStarted(mode=mode, at_s=ctx.since_inject(t0), **steps))
    try:
        if mode == "auto":
            results = await run_steps(ctx, plan.steps, RollbackStep, stop_on_failure=True)
        else:
            assert confirm is not None
            await ctx.guard(confirm(instructions(ctx)))
            results = []
    except Aborted:
        ctx.emit(RollbackFinished(ok=False, aborted=True))
        raise
    rollback_s = round(time.monotonic() - t0, 3)
    ok = all(r.ok for r in results) and len(results) == len(plan.steps if mode == "auto" else [])
    ctx.emit(RollbackFinished(ok=ok, rollback_s=rollback_s))
    reasons = []
    if not ok:
        failed = next(r for r in results if not r.ok)
        reasons.append(f"rollback step {failed.name!r} failed: {failed.detail[:200]}")
    if rollback_s > ctx.system.rto_target:
        reasons.append(f"rollback took {rollback_s:.1f}s, over the RTO target of {ctx.system.rto_target:g}s")
    return RollbackResult(mode, ok=ok, rollback_s=rollback_s, reasons=tuple(reasons))


def instructions(ctx: RunContext) -> str:
    plan = ctx.scenario.rollback
    lines = [plan.instructions.strip()] if plan.instructions else []
    for step in plan.steps:
        lines.append(f"- {step.name}: " + (" ".join(step.run) if step.run else f"{step.http.method} {step.http.url}"))
    return "\n".join(lines) or "Perform the rollback you designed for this failure."


async def recover(ctx: RunContext, detected: DetectResult) -> RecoverResult:
    ctx.emit(Phase(phase="recover"))
    if detected.breach is None or ctx.scenario.expect.absorb:
        return RecoverResult()  # nothing to recover from, or an absorb rehearsal that already failed on its breach
    within = ctx.scenario.expect.recover_within
    await ctx.wait(ctx.recovered_seen, remaining(ctx, within))
    ctx.recover_closed = True
    if ctx.recovery is None:
        deadline = within or ctx.scenario.timeline.max_duration
        return RecoverResult(reasons=(f"not recovered within {deadline:g}s of injection",))
    reasons = []
    ended = [i.active.name for i in ctx.injected
             if i.active is not None and i.removed_at is not None and i.removed_at <= time.monotonic()]  # fmt: skip
    if ended:
        reasons.append(
            f"the fault ended ({', '.join(ended)}: its duration elapsed) before recovery was declared: "
            "the rollback was not proven under it"
        )
    missing = await missing_faults(ctx)
    if missing:
        ctx.emit(FaultLost(faults=missing))
        reasons.append(f"the fault ended before recovery ({', '.join(missing)}): the rollback was not proven under it")
    return RecoverResult(ctx.recovery, lost=tuple(missing), reasons=tuple(reasons))


async def verify(ctx: RunContext) -> VerifyResult:
    """Evals and fingerprint expectations, with the fault still injected."""
    ctx.emit(Phase(phase="verify"))
    evals, reasons = await _verify_evals(ctx)
    fingerprint = await verify_fingerprints(ctx)
    if fingerprint:
        reasons.extend(fingerprint_failures(fingerprint))
    result = VerifyResult(evals, fingerprint or None, tuple(reasons))
    ctx.emit(Verify(**result.data()))
    return result


async def _verify_evals(ctx: RunContext) -> tuple[dict[str, Any] | None, list[str]]:
    """The system's eval suite against the service, when the scenario asks for it."""
    if not (ctx.scenario.verify.evals and ctx.system.evals):
        return None, []
    from drillkit.evals import load_suite, run_suite

    suite = load_suite(ctx.system.resolve(ctx.system.evals))
    objectives = configured(effective_slos(ctx.system.slos, ctx.scenario.slos))
    threshold = objectives.get("eval_pass_rate", 0.9)
    result = await ctx.guard(
        run_suite(suite, str(ctx.system.service.url), threshold=threshold, concurrency=8, wire=ctx.wire)
    )
    evals = result.journal_record()
    if result.inside_envelope:
        return evals, []
    return evals, [f"verify: eval pass rate {result.pass_rate:.1%} is outside the envelope ({threshold:.0%})"]


async def cleanup(ctx: RunContext) -> CleanupResult:
    """Always: remove every fault, stop traffic, run `restore`. Each stage runs even if one fails."""
    ctx.emit(Phase(phase="cleanup"))
    for task in ctx.tasks:
        task.cancel()
    await asyncio.gather(*ctx.tasks, return_exceptions=True)
    await remove_all(ctx, "cleanup")
    if ctx.load is not None and ctx.load.running:
        stats = await ctx.load.stop(timeout=3.0)
        ctx.emit(TrafficStopped(**stats.model_dump()))
    if ctx.external is not None:
        await ctx.external.close()
    reasons = []
    results: list[StepResult] = []
    for step in ctx.scenario.restore:
        if step.when == "rolled_back" and ctx.rollback_started_at is None:
            ctx.emit(RestoreStep(name=step.name, skipped=True, detail="skipped: no rollback began"))
            continue
        result = await run_step(
            step.name, run=step.run, http=step.http, timeout=step.timeout, env=step_env(ctx), cwd=ctx.scenario.base_dir
        )
        results.append(result)
        ctx.emit(RestoreStep(**result.to_dict()))
        if not result.ok:
            reasons.append(f"restore step {step.name!r} failed: {result.detail[:200]}")
    if all(r.ok for r in results):
        leftovers.paid_restore(ctx.options.home, ctx.run_id)
    if any(not i.removed for i in ctx.injected if i.active is not None):
        reasons.append("some faults could not be removed; see 'drillkit chaos status' and 'drillkit chaos reset'")
    return CleanupResult(tuple(reasons))
