"""The facts of a game-day run's review, read from its journal and summary.json.

Definitions (game-day runs; windows are the engine's SLO windows, see `drillkit.traffic.slo`):

- the breach: from the first window after the fault that breached an SLO to the last one that
  did; *requests affected* are every request in the windows of that span (the SLO judges the
  whole window), with the errors and the failed answers (eval count × (1 − pass rate)) among them;
- *time outside an SLO*: windows that breached that SLO × the window length (the median spacing
  of the window entries), after the fault;
- *extra cost*: Σ (cost per request − the pre-fault cost per request) × requests, over the breach;
- detection, rollback and recovery times are the engine's (`detected.ttd_s`, `rollback_s`,
  `ttr_s`), judged against the scenario's expectations and the system's RTO.

One function per section: `run_impact`, `run_detection`, `run_layers`, `run_resolution`,
`run_findings`; what they share with incident reviews is in `review_sections`.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass
from typing import Any

from drillkit.config.types import parse_duration
from drillkit.journal.events import (
    Absorbed,
    Detected,
    DetectedLate,
    EvalResult,
    FaultInjected,
    FaultLost,
    GuardrailTripped,
    InjectClock,
    LeftoversRemoved,
    LeftoversRestored,
    PreflightWarning,
    Recovered,
    RecoveredLate,
    RestoreStep,
    RollbackFinished,
    RollbackImpact,
    RollbackStarted,
    RunFinished,
    RunStarted,
    SloBreach,
    Verify,
    Window,
)
from drillkit.journal.events import RollbackStep as RollbackStepDone
from drillkit.journal.events import (
    format_seconds as secs,
)
from drillkit.journal.writer import JournalEntry
from drillkit.reports.review_model import Detection, Impact, Layer, Resolution, Review, RollbackStep, SloImpact
from drillkit.reports.review_sections import (
    COMPONENT_LAYER,
    Record,
    assemble,
    diff_section,
    first_line,
    judge_rto,
    layer_of,
    new_layers,
)
from drillkit.reports.review_timeline import run_timeline
from drillkit.reports.summaries import RunRecord, lenient


@dataclass
class Run:
    """What every section of a run's review reads: the record, its summary (an empty one when the
    run was killed before writing it), the run.started entry and the verify result."""

    record: Record
    summary: RunRecord
    has_summary: bool
    started: RunStarted
    verify: Verify

    @classmethod
    def of(cls, record: Record, summary: RunRecord | None) -> Run:
        s = summary or lenient(RunRecord, {})
        verify = lenient(Verify, s.verify) if s.verify else record.first(Verify) or Verify()
        return cls(record, s, summary is not None, record.first(RunStarted) or RunStarted(), verify)


def run_review(record: Record, summary: RunRecord | None) -> Review:
    run = Run.of(record, summary)
    s, started = run.summary, run.started
    finished = record.first(RunFinished)
    review = assemble(
        "run",
        record,
        id=s.run_id or started.run_id or "",
        title=s.title or started.title or "",
        outcome=s.verdict or (finished.verdict if finished else None) or "unknown",
        severity=s.severity or started.severity or "",
        system=s.system or started.system or "",
        operator=s.operator or started.operator or "",
        source=s.scenario or started.scenario or "",
        layer=s.layer or "",
        mode=started.mode or "",
        impact=run_impact(run),
        detection=run_detection(run),
        timeline=run_timeline(record, dict(started.slos)),
        layers=run_layers(run),
        resolution=run_resolution(run),
    )
    review.summary, review.went_well, review.went_poorly = run_findings(review, run)
    return review


# -- impact ------------------------------------------------------------------------------------


def run_impact(run: Run) -> Impact:
    record, slos = run.record, run.started.slos
    t_inject = record.entry(FaultInjected) or record.entry(InjectClock)
    windows = record.pairs(Window)
    after = [w for e, w in windows if t_inject is None or e.seq > t_inject.seq]
    before = [w for e, w in windows if t_inject is not None and e.seq < t_inject.seq]
    window_s = _window_seconds([e for e, _ in windows])
    breaching = [i for i, w in enumerate(after) if w.breached]
    span = after[breaching[0] : breaching[-1] + 1] if breaching else []

    impact = Impact(window_s=window_s, requests_total=run.summary.requests.get("sent"))
    if span:
        impact.requests_affected = sum(int(w.count or 0) for w in span)
        impact.errors_affected = sum(int(w.errors or 0) for w in span)
        impact.failed_answers_affected = sum(
            round((w.eval_count or 0) * (1 - rate)) for w in span if (rate := w.value("eval_pass_rate")) is not None
        )
        impact.served_during_breach = {key: _sum_counts(span, key) for key in ("by_provider", "by_model")}
    for slo in sorted({s for w in after for s in w.breached}):
        hit = [w for w in after if slo in w.breached]
        values = [v for w in hit if (v := w.value(slo)) is not None]
        worst = (min(values) if slo == "eval_pass_rate" else max(values)) if values else None
        seconds = round(len(hit) * (window_s or 0), 3)
        impact.slos.append(
            SloImpact(slo=slo, objective=slos.get(slo), worst=worst, windows=len(hit), seconds_outside=seconds)
        )
    impact.cost_total_usd = _cost([w for _, w in windows])
    impact.baseline_cost_per_request_usd = baseline = _cost_per_request(before)
    if span and baseline is not None:
        impact.extra_cost_usd = round(
            sum(((w.value("cost_per_request_usd") or 0) - baseline) * int(w.count or 0) for w in span), 6
        )
    return impact


def _window_seconds(windows: list[JournalEntry]) -> float | None:
    gaps = [(b.time - a.time).total_seconds() for a, b in itertools.pairwise(windows)]
    return round(statistics.median(gaps), 3) if gaps else None


def _sum_counts(windows: list[Window], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in windows:
        for name, n in (getattr(w, key) or {}).items():
            out[name] = out.get(name, 0) + int(n)
    return out


def _cost(windows: list[Window]) -> float | None:
    priced = [(cost, w) for w in windows if (cost := w.value("cost_per_request_usd")) is not None]
    if not priced:
        return None
    return round(sum(cost * int(w.count or 0) for cost, w in priced), 6)


def _cost_per_request(windows: list[Window]) -> float | None:
    priced = [w for w in windows if w.value("cost_per_request_usd") is not None and w.count]
    count = sum(int(w.count or 0) for w in priced)
    return None if not count else (_cost(priced) or 0) / count


# -- detection ---------------------------------------------------------------------------------


def run_detection(run: Run) -> Detection:
    record, s = run.record, run.summary
    detected, breach = record.first(Detected), record.first(SloBreach)
    at = record.entry(Detected)
    detection = Detection(
        slos=detected.slos if detected else [],
        detected_at=at.ts if at is not None else None,
        ttd_s=detected.ttd_s if detected else None,
        detect_lag_s=s.detect_lag_s,
        target_s=_duration(s.expect.get("detect_within")),
    )
    if detected is not None:
        where = f" in windows {', '.join(map(str, breach.windows))}" if breach and breach.windows else ""
        detection.how = f"drillkit's SLO detector: {', '.join(detection.slos)} breached{where}"
    elif record.first(Absorbed) is not None:
        detection.how = "nothing breached: the system absorbed the fault (as the scenario expected)"
    else:
        detection.how = "not detected: no SLO breach was declared before the detection deadline"
    return detection


def _duration(value: Any) -> float | None:
    try:
        return None if value is None else parse_duration(value)
    except ValueError:
        return None


# -- layers ------------------------------------------------------------------------------------


def run_layers(run: Run) -> dict[str, Layer]:
    layers = new_layers()
    _fault_findings(layers, run)
    diff_section(layers, run.record, lambda diff: f"against {diff.against or 'the baseline'}")
    _verify_findings(layers, run)
    _operations_findings(layers["operations"], run)
    return layers


def _fault_findings(layers: dict[str, Layer], run: Run) -> None:
    for fault in run.record.all(FaultInjected):
        if fault.type == "change":
            ok = "ok" if fault.ok else "failed"
            layer_of(layers, run.summary.layer).findings.append(f"Change applied as the fault: {fault.name} ({ok})")
            continue
        target = str(fault.target or "")
        key = "tools" if target.startswith("tool:") else "model"
        attributes = fault.attributes
        attrs = ", ".join(f"{k}={v}" for k, v in attributes.items() if v is not None)
        toxicity = fault.toxicity
        layers[key].findings.append(
            f"Fault injected: {fault.type} on {target} ({fault.layer or ''}, toxicity "
            f"{1 if toxicity is None else toxicity}" + (f"; {attrs}" if attrs else "") + f") at +{fault.at_s or 0:g} s"
        )


def _verify_findings(layers: dict[str, Layer], run: Run) -> None:
    for name, result in (run.verify.fingerprint or {}).items():
        state = "held" if result.get("ok") else "FAILED"
        seen = result.get("served") or result.get("active") or result.get("detail") or ""
        if isinstance(seen, dict):  # the models the answers reported, with counts
            seen = ", ".join(f"{model} ×{n}" for model, n in seen.items())
        layer_of(layers, name).findings.append(
            f"Fingerprint check after the rollback {state}: expected {result.get('expected')}"
            + (f", found {seen}" if seen else "")
        )
    scenario = COMPONENT_LAYER.get(run.summary.layer or "")  # None: the scenario's layer is none of the five
    evals = _evals(run.verify)
    if evals is not None:
        inside = "inside" if evals.inside_envelope else "OUTSIDE"
        layers[scenario or "model"].findings.append(
            f"Evaluation suite after the rollback: {evals.pass_rate or 0:.1%} pass, {inside} the envelope "
            f"(threshold {evals.threshold or 0:.0%})"
        )
    if scenario is not None:
        layers[scenario].findings.insert(0, f"The scenario rehearses a failure in this layer ({run.summary.layer}).")


def _operations_findings(ops: Layer, run: Run) -> None:
    s, expect = run.summary, run.summary.expect
    ops.findings.append(f"Rollback mode: {run.started.mode or s.rollback_mode or 'unknown'}")
    if s.ttd_s is not None:
        ops.findings.append(f"Detection: {secs(s.ttd_s)} (expected within {expect.get('detect_within', '?')})")
    if s.rollback_s is not None:
        ops.findings.append(
            f"Rollback: {secs(s.rollback_s)}; recovery {secs(s.ttr_s)} after the fault "
            f"(expected within {expect.get('recover_within', '?')}; RTO {secs(s.rto_target_s)})"
        )
    for entry, event in run.record:
        match event:
            case LeftoversRemoved() | LeftoversRestored():
                ops.findings.append(
                    f"Preflight found what an earlier run left behind ({entry.kind}): cleaned before starting"
                )
            case PreflightWarning(message=message):
                ops.findings.append(f"Preflight warning: {message}")
            case GuardrailTripped(window=window, guardrails=guardrails):
                ops.findings.append(f"Guardrail tripped in window {window}: {', '.join(guardrails)}")
            case RestoreStep(ok=False, name=name, detail=detail):
                ops.findings.append(f"Restore step {name!r} failed: {first_line(detail)}")
            case DetectedLate() | RecoveredLate() | FaultLost():
                ops.findings.append(f"{entry.kind}: {json.dumps(event.data(), sort_keys=True)}")
    ops.findings.extend(f"Reason the verdict records: {reason}" for reason in s.reasons)


# -- resolution --------------------------------------------------------------------------------


def run_resolution(run: Run) -> Resolution:
    record, s = run.record, run.summary
    started = record.first(RollbackStarted)
    finished, recovered = record.first(RollbackFinished), record.first(Recovered)
    res = Resolution(
        mode=started.mode if started is not None and started.mode is not None else s.rollback_mode or "",
        rollback_s=s.rollback_s if run.has_summary else finished.rollback_s if finished else None,
        ttr_s=s.ttr_s if run.has_summary else recovered.ttr_s if recovered else None,
        rto_target_s=s.rto_target_s,
    )
    for step in record.all(RollbackStepDone):
        res.steps.append(
            RollbackStep(name=str(step.name), ok=step.ok, duration_s=step.duration_s, output=str(step.detail or ""))
        )
    for step in record.all(RestoreStep):
        done = "skipped: no rollback began" if step.skipped else "ok" if step.ok else "FAILED"
        res.restore.append(f"{step.name}: {done}" + ("" if step.skipped else f" in {step.duration_s or 0:.1f} s"))
    judge_rto(res, res.ttr_s if res.ttr_s is not None else res.rollback_s)
    evals = _evals(run.verify)
    if evals is not None:
        res.verify.append(
            f"evals {evals.pass_rate or 0:.1%} (threshold {evals.threshold or 0:.0%}): "
            + ("inside the envelope" if evals.inside_envelope else "OUTSIDE the envelope")
        )
    for name, r in (run.verify.fingerprint or {}).items():
        res.verify.append(f"fingerprint {name}: expected {r.get('expected')}: {'ok' if r.get('ok') else 'FAILED'}")
    return res


def _evals(verify: Verify) -> EvalResult | None:
    """The eval suite's result the verify step recorded (same keys as an `eval` entry), if any."""
    return lenient(EvalResult, verify.evals) if verify.evals else None


# -- findings: the summary lines, what went well and poorly ------------------------------------


def run_findings(r: Review, run: Run) -> tuple[list[str], list[str], list[str]]:
    well, poorly = _judgement_hints(r)
    poorly.extend(run.summary.reasons)
    poorly.extend(_rollback_impact(run))
    return _summary_lines(r, run), well, poorly


def _rollback_impact(run: Run) -> list[str]:
    """The breaches the rollback itself started (the `rollback.impact` entry), said as such."""
    impact = run.record.first(RollbackImpact)
    if impact is None or not impact.breached:
        return []
    worst = ", ".join(f"{name} {impact.slos[name]:g}" for name in impact.breached if name in impact.slos)
    return [
        f"The rollback itself breached {', '.join(impact.breached)} in the {impact.windows} windows after it began"
        + (f" (worst {worst})" if worst else "")
    ]


def _summary_lines(r: Review, run: Run) -> list[str]:
    lines = [f"Game-day rehearsal {r.source} against {r.system or 'the system'}: verdict {r.outcome}."]
    faults = [lenient(FaultInjected, f) for f in run.summary.faults or []]
    if faults:
        lines.append(f"Faults: {', '.join(f'{f.type} on {f.target or f.name}' for f in faults)}.")
    d, res = r.detection, r.resolution
    if d.ttd_s is not None:
        lines.append(
            f"Detected after {d.ttd_s:.1f} s ({', '.join(d.slos)}); rollback took "
            f"{secs(res.rollback_s)}; recovered {secs(res.ttr_s)} after the fault (RTO {secs(res.rto_target_s)})."
        )
    else:
        lines.append(d.how + ".")
    if r.impact.requests_affected is not None:
        lines.append(f"{r.impact.requests_affected} of {r.impact.requests_total or '?'} requests fell in the breach.")
    return lines


def _judgement_hints(r: Review) -> tuple[list[str], list[str]]:
    well: list[str] = []
    poorly: list[str] = []
    d, res = r.detection, r.resolution
    if d.ttd_s is not None and d.target_s is not None:
        (well if d.ttd_s <= d.target_s else poorly).append(
            f"Detection in {d.ttd_s:.1f} s against a target of {d.target_s:g} s"
        )
    if res.steps:
        failed = [s.name for s in res.steps if s.ok is False]
        if failed:
            poorly.append(f"Rollback steps failed: {', '.join(failed)}")
        else:
            well.append(f"Every rollback step succeeded ({len(res.steps)}), in {secs(res.rollback_s)}")
    if res.within_rto is not None and res.ttr_s is not None:
        (well if res.within_rto else poorly).append(
            f"Recovery {secs(res.ttr_s)} after the fault, against the RTO of {secs(res.rto_target_s)}"
        )
    elif res.within_rto is not None and res.rollback_s is not None:
        (well if res.within_rto else poorly).append(
            f"Rollback {secs(res.rollback_s)} against the RTO of {secs(res.rto_target_s)}"
        )
    return well, poorly
