"""Traffic and what it shows: the load, the windows, the detector, the guardrails.

Detection rules beyond a single window (`drillkit.traffic.slo` judges one window):

- quality is also judged over the last `POOL_WINDOWS` windows pooled: a sustained regression of a
  few points is caught even when each window alone holds too few answers to be sure (like a
  multi-window burn-rate alert);
- a breach counts only until the detection deadline (later ones are journaled as late);
- recovery counts only windows that start after the rollback began: a fault that ends by itself,
  or a window before anyone acted, proves nothing about the rollback.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from drillkit.errors import InputError
from drillkit.gameday.context import RunContext
from drillkit.gameday.external import ExternalSignals, PromClient, run_probe
from drillkit.gameday.judgeable import refused, unjudgeable
from drillkit.journal.events import (
    Detected,
    DetectedLate,
    GuardrailTripped,
    PreflightWarning,
    Recovered,
    RecoveredLate,
    SloBreach,
    Window,
)
from drillkit.traffic.detect import Breach, Detector, Recovery
from drillkit.traffic.inputs import InputCycle, assertions_by_question, load_inputs
from drillkit.traffic.load import LoadGenerator
from drillkit.traffic.locust_engine import LocustLoad
from drillkit.traffic.slo import SloEvaluator, SloWindow, effective_slos, wilson_upper
from drillkit.traffic.windows import SloWindows

POLL_S = 0.1
POOL_WINDOWS = 3


def start_traffic(ctx: RunContext) -> None:
    s, system = ctx.scenario, ctx.system
    if s.traffic.stream and ctx.wire.api == "json":
        raise InputError(
            "traffic.stream: streamed traffic needs service.api openai-chat or anthropic-messages "
            f"(system {system.name} says json)"
        )
    slos = effective_slos(system.slos, s.slos)
    problems = refused(s, slos)
    if problems:
        raise InputError("; ".join(problems))
    for name, why in unjudgeable(s, slos).items():  # said once, before anything is injected
        ctx.emit(PreflightWarning(message=f"{name} can never be judged in this run: {why}"))
    evaluator = SloEvaluator.for_scenario(s, system)
    ctx.external = external_signals(ctx, evaluator)
    ctx.t_start = time.monotonic()
    grace = 2.0 if s.traffic.rate > 0 else 0.05  # nothing to wait for without traffic of our own
    ctx.windows = SloWindows(
        evaluator, origin=ctx.t_start, window_s=s.timeline.window, grace_s=grace, certain=lambda w: pool_view(ctx, w)
    )
    ctx.detector = Detector(s.timeline.bad_windows, s.timeline.healthy_windows)
    if s.traffic.rate == 0:
        if any(f.type == "input_shift" for f in s.faults):
            raise InputError("faults: input_shift changes drillkit's own traffic; traffic.rate 0 sends none")
        return  # observe-only: the SLOs come from promql and the eval probe
    bodies = InputCycle(load_inputs(s.traffic.inputs, system, s.base_dir), seed=0)
    evals: dict[str, Any] = {}
    if system.evals:
        from drillkit.evals import load_suite

        evals = assertions_by_question(load_suite(system.resolve(system.evals)))
    engine = LocustLoad if s.traffic.engine == "locust" else LoadGenerator
    ctx.load = engine(
        str(system.service.url),
        bodies,
        rate=s.traffic.rate,
        concurrency=s.traffic.concurrency,
        timeout=min(system.service.timeout, 10.0),
        evals=evals,
        on_schedule=ctx.windows.scheduled,
        on_sample=ctx.windows.add,
        wire=ctx.wire,
        stream=s.traffic.stream,
        workers=s.traffic.workers,
    )


def external_signals(ctx: RunContext, evaluator: SloEvaluator) -> ExternalSignals:
    """The PromQL queries and the eval probe that judge SLOs beyond our own samples (§9.3)."""
    s, system = ctx.scenario, ctx.system
    slos = effective_slos(system.slos, s.slos)
    abort_if = s.guardrails.abort_if
    queries, guard_queries = slos.queries(), abort_if.queries() if abort_if is not None else {}
    if (queries or guard_queries) and system.prometheus is None:
        name = next(iter(queries or guard_queries))
        raise InputError(f"slos.{name}.promql: the system manifest has no `prometheus: {{url: ...}}` to query")
    if s.traffic.rate == 0 and not (queries or s.traffic.eval_probe):
        raise InputError("traffic.rate 0 sends no traffic: judge the SLOs with `promql` or a `traffic.eval_probe`")
    prom = PromClient(system.prometheus) if (queries or guard_queries) and system.prometheus else None
    return ExternalSignals(
        objectives=evaluator.objectives, queries=queries, guardrails=evaluator.guardrails,
        guardrail_queries=guard_queries, prom=prom, probing=s.traffic.eval_probe is not None,
    )  # fmt: skip


async def probe(ctx: RunContext) -> None:
    """The eval probe of `traffic.eval_probe`: batches of suite cases against the service."""
    from drillkit.evals import load_suite

    system, settings = ctx.system, ctx.scenario.traffic.eval_probe
    assert ctx.external is not None and settings is not None
    if not system.evals:
        raise InputError("traffic.eval_probe: the system manifest names no eval suite (`evals:`)")
    suite = load_suite(system.resolve(system.evals))
    await run_probe(ctx.external, suite, str(system.service.url), ctx.wire, settings)


async def monitor(ctx: RunContext) -> None:
    """Close windows as they complete; feed the detector; enforce guardrails and max_duration."""
    assert ctx.windows is not None
    limit = ctx.t_start + ctx.scenario.timeline.max_duration
    while True:
        now = time.monotonic()
        for window in ctx.windows.poll(now):
            observe(ctx, await ctx.external.judge(window) if ctx.external is not None else window)
        if now > limit:
            ctx.stop(f"timeline.max_duration ({ctx.scenario.timeline.max_duration:g}s) reached")
        await asyncio.sleep(POLL_S)


def pooled(ctx: RunContext, window: SloWindow) -> SloWindow:
    """`window`, marked breaching when quality over the last few windows pooled is surely low."""
    view = pool_view(ctx, window)
    ctx.recent = [*ctx.recent, window][-POOL_WINDOWS:]
    return view


def pool_view(ctx: RunContext, window: SloWindow) -> SloWindow:
    """`pooled` without recording `window` (also how SloWindows asks whether a breach is certain)."""
    objective = ctx.windows.evaluator.objectives.get("eval_pass_rate") if ctx.windows else None
    if objective is None or window.state == "insufficient" or "eval_pass_rate" in window.breached:
        return window
    recent = [*ctx.recent, window][-POOL_WINDOWS:]
    passed = sum(w.eval_passed for w in recent)
    count = sum(w.eval_count for w in recent)
    if count and wilson_upper(passed, count) < objective:
        return window.model_copy(update={"state": "breaching", "breached": [*window.breached, "eval_pass_rate"]})
    return window


def observe(ctx: RunContext, window: SloWindow) -> None:
    detector: Detector | None = ctx.detector
    assert detector is not None
    window = pooled(ctx, window)
    ctx.last_window = window
    for name in ctx.windows.evaluator.objectives if ctx.windows is not None else ():
        counts = ctx.judged.setdefault(name, [0, 0])
        counts[0] += name not in window.unjudged
        counts[1] += 1
    ctx.emit(Window(**compact(window)))
    if window.tripped:
        ctx.emit(GuardrailTripped(window=window.index, guardrails=window.tripped))
        ctx.stop(f"guardrail tripped: {', '.join(window.tripped)}")
    if ctx.t_inject is None or window.end <= ctx.t_inject:
        return  # before the fault: the warmup's steady-state check reads the windows itself
    assert ctx.windows is not None
    ctx.impact.observe(window, ctx.windows.evaluator, ctx.rollback_started_at)
    before_rollback = ctx.rollback_started_at is None or window.start < ctx.rollback_started_at
    if window.state == "healthy" and detector.in_breach and before_rollback:
        return  # not evidence of recovery: nobody has acted yet
    event = detector.observe(window)
    if isinstance(event, Breach) and ctx.breach is None:
        if ctx.detect_closed:
            ctx.emit(DetectedLate(at_s=ctx.since_inject(), slos=event.slos))
            return
        ctx.breach, ctx.detected_at = event, time.monotonic()
        # How long after the first breaching window closed the breach was declared: the streak
        # length (`bad_windows`) minus one window, plus waiting for that window's late answers.
        lag = round(ctx.detected_at - (event.since + ctx.scenario.timeline.window), 3)
        ctx.emit(SloBreach(slos=event.slos, windows=event.windows))
        ctx.emit(Detected(ttd_s=ctx.since_inject(ctx.detected_at), slos=event.slos,
                          after_first_breaching_window_s=lag))  # fmt: skip
        ctx.breach_seen.set()
    elif isinstance(event, Recovery) and ctx.breach is not None and ctx.recovery is None:
        if ctx.recover_closed:
            ctx.emit(RecoveredLate(at_s=ctx.since_inject()))
            return
        ctx.recovery = event
        ctx.emit(Recovered(ttr_s=ttr_s(ctx), windows=event.windows))
        ctx.recovered_seen.set()


def ttr_s(ctx: RunContext) -> float | None:
    """t_inject → the end of the first healthy window of the recovery streak."""
    if ctx.recovery is None:
        return None
    return ctx.since_inject(ctx.recovery.since + ctx.scenario.timeline.window)


def compact(w: SloWindow) -> dict[str, Any]:
    keep = ("index", "count", "errors", "error_rate", "latency_p95_ms", "latency_p99_ms", "eval_count",
            "eval_pass_rate", "cost_per_request_usd", "by_provider", "by_model", "state", "breached")  # fmt: skip
    out = {k: getattr(w, k) for k in keep}
    if w.ttft_samples:  # streamed traffic only: other runs' windows keep their shape
        out |= {"ttft_p95_ms": w.ttft_p95_ms, "ttft_p99_ms": w.ttft_p99_ms}
    if w.early:
        out |= {"early": True, "pending": w.pending}
    if w.unjudged:  # never read as healthy: which SLOs this window could not judge
        out |= {"unjudged": w.unjudged}
    if w.sources:  # judged on promql or the eval probe
        out |= {"sources": w.sources}
    return out
