"""The game-day phases, one small function each over the run context.

    preflight → warmup → inject (faulting.py) → detect → rollback → recover → verify → cleanup

Definitions: TTD = when the engine declared the breach − t_inject; rollback = the first step's
start → the last step's end (auto), or instructions shown → the operator's confirmation (manual);
TTR = t_inject → the end of the first healthy window of the streak that declared recovery,
counting only windows that start after the rollback began.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from drillkit.config.scenario import Step
from drillkit.errors import Aborted, InputError
from drillkit.faults.targets import parse_target
from drillkit.gameday import leftovers
from drillkit.gameday.context import RunContext
from drillkit.gameday.faulting import missing_faults, remove_all, step_env
from drillkit.gameday.fingerprints import failures as fingerprint_failures
from drillkit.gameday.fingerprints import record_preflight, verify_fingerprints
from drillkit.journal import kinds
from drillkit.traffic.slo import configured, effective_slos
from drillkit.traffic.steps import StepResult, run_step


async def run_steps(ctx: RunContext, steps: list[Step], kind: str, *, stop_on_failure: bool) -> list[StepResult]:
    """Run steps in order, journaling each; a stop of the run interrupts them (Aborted)."""
    results = []
    for step in steps:
        result = await ctx.guard(
            run_step(step.name, run=step.run, http=step.http, timeout=step.timeout, env=step_env(ctx))
        )
        results.append(result)
        ctx.log(kind, result.to_dict())
        if stop_on_failure and not result.ok:
            break
    return results


async def preflight(ctx: RunContext) -> None:
    ctx.log(kinds.PHASE, {"phase": "preflight"})
    removed, problems = await leftovers.clean(ctx.options.home)
    if removed:
        ctx.log("leftovers.removed", {"faults": removed})
    if problems:
        raise InputError(
            "faults left by an earlier run could not be removed: " + "; ".join(problems)
            + " (if those servers are gone for good: drillkit chaos reset --forget)"
        )  # fmt: skip
    for owed in leftovers.read_pending(ctx.options.home):
        # A killed run never put the system back: do it now, before measuring a steady state.
        steps = [Step.model_validate(s) for s in owed.get("steps", [])]
        results = await run_steps(ctx, steps, "leftovers.restored", stop_on_failure=True)
        if all(r.ok for r in results):
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
    await record_preflight(ctx)


async def warmup(ctx: RunContext) -> None:
    """Traffic runs for `timeline.warmup`; a system already breaching is reported, not rehearsed."""
    ctx.log(kinds.PHASE, {"phase": "warmup", "seconds": ctx.scenario.timeline.warmup})
    await ctx.wait(None, ctx.scenario.timeline.warmup)
    last = ctx.last_window
    if last is not None and last.state == "breaching":
        ctx.stop(f"steady state does not hold before injection: {', '.join(last.breached)} already breached")
        raise Aborted(ctx.abort_reason or "")


def remaining(ctx: RunContext, within: float | None) -> float:
    """Seconds left until `t_inject + within`, capped by max_duration."""
    assert ctx.t_inject is not None
    end = ctx.t_start + ctx.scenario.timeline.max_duration
    if within is not None:
        end = min(end, ctx.t_inject + within)
    return max(0.0, end - time.monotonic())


async def detect(ctx: RunContext) -> None:
    ctx.log(kinds.PHASE, {"phase": "detect"})
    expect = ctx.scenario.expect
    await ctx.wait(ctx.breach_seen, remaining(ctx, expect.detect_within))
    ctx.detect_closed = True
    if expect.absorb:
        if ctx.breach is not None:
            ctx.reasons.append(f"expected the system to absorb the fault, but {', '.join(ctx.breach.slos)} breached")
        else:
            ctx.log("absorbed", {"held_s": ctx.since_inject()})
        return
    if ctx.breach is None:
        within = expect.detect_within or ctx.scenario.timeline.max_duration
        worst = _worst(ctx)
        ctx.reasons.append(f"not detected within {within:g}s: no SLO breached{worst} (is the fault too mild?)")
        return
    missing = [slo for slo in expect.breach if slo not in ctx.breach.slos]
    if missing:
        ctx.reasons.append(f"expected {', '.join(missing)} to breach; breached: {', '.join(ctx.breach.slos)}")


def _worst(ctx: RunContext) -> str:
    w = ctx.last_window
    if w is None:
        return ""
    shown = [f"{name} {w.value(name):.3g}" for name in ("eval_pass_rate", "error_rate", "latency_p95_ms")
             if w.value(name) is not None]  # fmt: skip
    return f" (last window: {', '.join(shown)})" if shown else ""


async def rollback(ctx: RunContext) -> None:
    """Run (auto) or time (manual) the designed rollback while the fault stays injected."""
    plan = ctx.scenario.rollback
    mode = ctx.options.mode or plan.mode
    ctx.log(kinds.PHASE, {"phase": "rollback", "mode": mode})
    if ctx.scenario.expect.absorb and ctx.breach is None:
        ctx.log("rollback.skipped", {"why": "the system absorbed the fault"})
        return
    if mode == "auto":
        if not plan.steps:
            ctx.reasons.append("rollback mode auto, but the scenario has no rollback steps")
            ctx.rollback_ok = False
            return
        await ctx.wait(None, plan.decide_after)
        ctx.rollback_started_at = t0 = time.monotonic()
        ctx.log(kinds.ROLLBACK_STARTED, {"mode": mode, "at_s": ctx.since_inject(t0), "steps": len(plan.steps)})
        try:
            results = await run_steps(ctx, plan.steps, kinds.ROLLBACK_STEP, stop_on_failure=True)
        except Aborted:
            ctx.log(kinds.ROLLBACK_FINISHED, {"ok": False, "aborted": True})
            raise
    else:
        if ctx.options.confirm is None:
            raise InputError("a manual rollback needs an operator at a terminal; pass --auto to run its steps")
        ctx.rollback_started_at = t0 = time.monotonic()
        ctx.log(kinds.ROLLBACK_STARTED, {"mode": mode, "at_s": ctx.since_inject(t0)})
        try:
            await ctx.guard(ctx.options.confirm(instructions(ctx)))
        except Aborted:
            ctx.log(kinds.ROLLBACK_FINISHED, {"ok": False, "aborted": True})
            raise
        results = []
    ctx.rollback_s = round(time.monotonic() - t0, 3)
    ctx.rollback_ok = all(r.ok for r in results) and len(results) == len(plan.steps if mode == "auto" else [])
    ctx.log(kinds.ROLLBACK_FINISHED, {"ok": ctx.rollback_ok, "rollback_s": ctx.rollback_s})
    if not ctx.rollback_ok:
        failed = next(r for r in results if not r.ok)
        ctx.reasons.append(f"rollback step {failed.name!r} failed: {failed.detail[:200]}")
    if ctx.rollback_s > ctx.system.rto_target:
        ctx.reasons.append(f"rollback took {ctx.rollback_s:.1f}s, over the RTO target of {ctx.system.rto_target:g}s")


def instructions(ctx: RunContext) -> str:
    plan = ctx.scenario.rollback
    lines = [plan.instructions.strip()] if plan.instructions else []
    for step in plan.steps:
        lines.append(f"- {step.name}: " + (" ".join(step.run) if step.run else f"{step.http.method} {step.http.url}"))
    return "\n".join(lines) or "Perform the rollback you designed for this failure."


async def recover(ctx: RunContext) -> None:
    ctx.log(kinds.PHASE, {"phase": "recover"})
    if ctx.breach is None or ctx.scenario.expect.absorb:
        return  # nothing to recover from, or an absorb rehearsal that already failed on its breach
    within = ctx.scenario.expect.recover_within
    await ctx.wait(ctx.recovered_seen, remaining(ctx, within))
    ctx.recover_closed = True
    if ctx.recovery is None:
        ctx.reasons.append(f"not recovered within {within or ctx.scenario.timeline.max_duration:g}s of injection")
        return
    ended = [i.active.name for i in ctx.injected
             if i.active is not None and i.removed_at is not None and i.removed_at <= time.monotonic()]  # fmt: skip
    if ended:
        ctx.reasons.append(
            f"the fault ended ({', '.join(ended)}: its duration elapsed) before recovery was declared: "
            "the rollback was not proven under it"
        )
    missing = await missing_faults(ctx)
    if missing:
        ctx.log("fault.lost", {"faults": missing})
        ctx.reasons.append(
            f"the fault ended before recovery ({', '.join(missing)}): the rollback was not proven under it"
        )


async def verify(ctx: RunContext) -> None:
    """Evals and fingerprint expectations, with the fault still injected."""
    ctx.log(kinds.PHASE, {"phase": "verify"})
    spec = ctx.scenario.verify
    if spec.evals and ctx.system.evals:
        from drillkit.evals import load_suite, run_suite

        suite = load_suite(ctx.system.resolve(ctx.system.evals))
        objectives = configured(effective_slos(ctx.system.slos, ctx.scenario.slos))
        threshold = objectives.get("eval_pass_rate", 0.9)
        result = await ctx.guard(run_suite(suite, str(ctx.system.service.url), threshold=threshold, concurrency=8))
        ctx.verify["evals"] = {
            "pass_rate": round(result.pass_rate, 4),
            "threshold": threshold,
            "inside_envelope": result.inside_envelope,
        }
        if not result.inside_envelope:
            ctx.reasons.append(
                f"verify: eval pass rate {result.pass_rate:.1%} is outside the envelope ({threshold:.0%})"
            )
    results = await verify_fingerprints(ctx)
    if results:
        ctx.verify["fingerprint"] = results
        ctx.reasons.extend(fingerprint_failures(results))
    ctx.log(kinds.VERIFY, ctx.verify)


async def cleanup(ctx: RunContext) -> None:
    """Always: remove every fault, stop traffic, run `restore`. Each stage runs even if one fails."""
    ctx.log(kinds.PHASE, {"phase": "cleanup"})
    for task in ctx.tasks:
        task.cancel()
    await asyncio.gather(*ctx.tasks, return_exceptions=True)
    await remove_all(ctx, "cleanup")
    if ctx.load is not None and ctx.load.running:
        stats = await ctx.load.stop(timeout=3.0)
        ctx.log("traffic.stopped", stats.model_dump())
    results: list[Any] = []
    for step in ctx.scenario.restore:
        result = await run_step(step.name, run=step.run, http=step.http, timeout=step.timeout, env=step_env(ctx))
        results.append(result)
        ctx.log("restore.step", result.to_dict())
        if not result.ok:
            ctx.reasons.append(f"restore step {step.name!r} failed: {result.detail[:200]}")
    if all(r.ok for r in results):
        leftovers.paid_restore(ctx.options.home, ctx.run_id)
    if any(not i.removed for i in ctx.injected if i.active is not None):
        ctx.reasons.append("some faults could not be removed; see 'drillkit chaos status' and 'drillkit chaos reset'")
