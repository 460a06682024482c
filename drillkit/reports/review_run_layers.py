"""A run review's contributing factors (one finding list per layer) and its resolution, each
statement citing the journal entries it was read from (see `review_run` for the definitions).

What the rollback was is said once, in `Resolution.lines`, whatever it was: its steps and their
time (auto), the operator's confirmation and its time (manual), skipped and why (an absorb
rehearsal), aborted, or never reached; and whether the service recovered after it. The rollback's
time is never called a recovery, and only the recovery (from the fault) is judged against the RTO.
"""

from __future__ import annotations

import json

from drillkit.journal.events import (
    DetectedLate,
    EvalResult,
    FaultInjected,
    FaultLost,
    GuardrailTripped,
    LeftoversRemoved,
    LeftoversRestored,
    PreflightWarning,
    RecoveredLate,
    RestoreStep,
    RunStarted,
    Verify,
)
from drillkit.journal.events import RollbackStep as RollbackStepDone
from drillkit.journal.events import format_seconds as secs
from drillkit.reports.review_model import Layer, Resolution, RollbackStep
from drillkit.reports.review_run_record import Run
from drillkit.reports.review_sections import COMPONENT_LAYER, diff_section, first_line, judge_rto, layer_of, new_layers
from drillkit.reports.summaries import lenient

# -- layers ------------------------------------------------------------------------------------


def run_layers(run: Run) -> dict[str, Layer]:
    layers = new_layers()
    _fault_findings(layers, run)
    diff_section(layers, run.record, lambda diff: f"against {diff.against or 'the baseline'}")
    _verify_findings(layers, run)
    _operations_findings(layers["operations"], run)
    return layers


def _fault_findings(layers: dict[str, Layer], run: Run) -> None:
    for entry, fault in run.record.pairs(FaultInjected):
        if fault.type == "change":
            ok = "ok" if fault.ok else "failed"
            layer_of(layers, run.summary.layer).findings.append(
                run.record.say(f"Change applied as the fault: {fault.name} ({ok})", entry)
            )
            continue
        target = str(fault.target or "")
        key = "tools" if target.startswith("tool:") else "model"
        attrs = ", ".join(f"{k}={v}" for k, v in fault.attributes.items() if v is not None)
        # Only what the entry recorded: an unset toxicity or time is not written as a number.
        toxicity = f", toxicity {fault.toxicity:g}" if fault.toxicity is not None else ""
        at = f" at +{fault.at_s:g} s" if fault.at_s is not None else ""
        text = (
            f"Fault injected: {fault.type} on {target} ({fault.layer or ''}{toxicity}"
            + (f"; {attrs}" if attrs else "")
            + f"){at}"
        )
        layers[key].findings.append(run.record.say(text, entry))


def _verify_findings(layers: dict[str, Layer], run: Run) -> None:
    cites = run.verify_cites()
    for name, result in (run.verify.fingerprint or {}).items():
        state = "held" if result.get("ok") else "FAILED"
        seen = result.get("served") or result.get("active") or result.get("detail") or ""
        if isinstance(seen, dict):  # the models the answers reported, with counts
            seen = ", ".join(f"{model} ×{n}" for model, n in seen.items())
        text = f"Fingerprint check after the rollback {state}: expected {result.get('expected')}"
        layer_of(layers, name).findings.append(run.record.state(text + (f", found {seen}" if seen else ""), cites))
    scenario = COMPONENT_LAYER.get(run.summary.layer or "")  # None: the scenario's layer is none of the five
    evals = verify_evals(run.verify)
    if evals is not None:
        inside = "inside" if evals.inside_envelope else "OUTSIDE"
        cases = f" ({evals.failed or 0} of {evals.total} cases failing)" if evals.total else ""
        text = (
            f"Evaluation suite after the rollback: {evals.pass_rate or 0:.1%} pass{cases}, {inside} the envelope "
            f"(threshold {evals.threshold or 0:.0%})"
        )
        layers[scenario or "model"].findings.append(run.record.state(text, cites))
    if scenario is not None:
        text = f"The scenario rehearses a failure in this layer ({run.summary.layer})."
        layers[scenario].findings.insert(0, run.record.state(text, [run.record.summary_cite]))


def _operations_findings(ops: Layer, run: Run) -> None:
    record, s, expect = run.record, run.summary, run.summary.expect
    started = run.rollback_started or record.pair(RunStarted)
    mode = run.started.mode or s.rollback_mode or "unknown"
    ops.findings.append(record.say(f"Rollback mode: {mode}", started))
    ttd_s, ttd_cites = run.measured("ttd_s", run.detected, "ttd_s")
    if ttd_s is not None:
        text = f"Detection: {secs(ttd_s)} (expected within {expect.get('detect_within', '?')})"
        ops.findings.append(record.state(text, [*ttd_cites, record.summary_cite]))
    ops.findings.extend(_rollback_timing(run))
    ops.findings.extend(_record_findings(run))
    for slo, counts in s.judged.items():
        if counts.get("judged") == 0:
            text = f"{slo} was never judged: none of the {counts.get('windows', 0)} windows held enough answers"
            ops.findings.append(record.state(text, [record.summary_cite]))
    reasons, cites = reasons_of(run)
    ops.findings.extend(record.state(f"Reason the verdict records: {reason}", cites) for reason in reasons)


def _rollback_timing(run: Run) -> list[str]:
    """The rollback's time and, apart from it, the recovery's (from the fault)."""
    rollback_s, rollback_cites = run.measured("rollback_s", run.rollback_finished, "rollback_s")
    if rollback_s is None:
        return []
    ttr_s, ttr_cites = run.measured("ttr_s", run.recovered, "ttr_s")
    expect = run.summary.expect
    after = f"recovered {secs(ttr_s)} after the fault" if ttr_s is not None else "not recovered"
    text = (
        f"Rollback: took {secs(rollback_s)}; {after} (expected within {expect.get('recover_within', '?')}; "
        f"RTO {secs(run.summary.rto_target_s)})"
    )
    return [run.record.state(text, [*rollback_cites, *ttr_cites, run.record.summary_cite])]


def _record_findings(run: Run) -> list[str]:
    """What preflight found, warnings, guardrails, failed restores and late events, as recorded."""
    out = []
    for entry, event in run.record:
        match event:
            case LeftoversRemoved(faults=faults):
                text = f"Preflight removed {len(faults)} fault(s) an earlier run left behind"
            case LeftoversRestored(name=name, ok=ok, detail=detail):
                state = "paid" if ok else f"FAILED ({first_line(detail)})"
                text = f"Preflight ran a restore step an earlier run owed, {name!r}: {state}"
            case PreflightWarning(message=message):
                text = f"Preflight warning: {message}"
            case GuardrailTripped(window=window, guardrails=guardrails):
                text = f"Guardrail tripped in window {window}: {', '.join(guardrails)}"
            case RestoreStep(ok=False, skipped=False, name=name, detail=detail):
                text = f"Restore step {name!r} failed: {first_line(detail)}"
            case DetectedLate() | RecoveredLate() | FaultLost():
                text = f"{entry.kind}: {json.dumps(event.data(), sort_keys=True)}"
            case _:
                continue
        out.append(run.record.say(text, entry))
    return out


def reasons_of(run: Run) -> tuple[list[str], list[str]]:
    """The reasons the verdict records, and where: run.finished when it says the same."""
    reasons = list(run.summary.reasons or []) if run.has_summary else []
    finished = run.finished
    if not run.has_summary and finished is not None:
        reasons = list(finished[1].reasons)
    if finished is not None and list(finished[1].reasons) == reasons:
        return reasons, run.record.cite(finished)
    return reasons, [run.record.summary_cite]


def verify_evals(verify: Verify) -> EvalResult | None:
    """The eval suite's result the verify step recorded (same keys as an `eval` entry), if any."""
    return lenient(EvalResult, verify.evals) if verify.evals else None


# -- resolution --------------------------------------------------------------------------------


def run_resolution(run: Run) -> Resolution:
    record, s = run.record, run.summary
    started = run.rollback_started
    res = Resolution(
        mode=started[1].mode if started is not None and started[1].mode is not None else s.rollback_mode or "",
        rto_target_s=s.rto_target_s,
    )
    res.cites["mode"] = record.cite(started) if started is not None else [record.summary_cite]
    res.rollback_s, res.cites["rollback_s"] = run.measured("rollback_s", run.rollback_finished, "rollback_s")
    res.ttr_s, res.cites["ttr_s"] = run.measured("ttr_s", run.recovered, "ttr_s")
    if res.rto_target_s is not None:
        res.cites["rto_target_s"] = [record.summary_cite]
    for i, (entry, step) in enumerate(record.pairs(RollbackStepDone)):
        res.steps.append(RollbackStep(name=str(step.name), ok=step.ok, duration_s=step.duration_s,
                                      output=str(step.detail or "")))  # fmt: skip
        res.cites[f"steps.{i}"] = record.cite(entry)
    for entry, step in record.pairs(RestoreStep):
        done = "skipped: no rollback began" if step.skipped else "ok" if step.ok else "FAILED"
        took = "" if step.skipped else f" in {step.duration_s or 0:.1f} s"
        res.restore.append(record.say(f"{step.name}: {done}{took}", entry))
    judge_rto(res, res.ttr_s)  # the recovery only: a rollback that finished is not a service that recovered
    res.lines = rollback_lines(run, res)
    _verify_lines(res, run)
    return res


def rollback_lines(run: Run, res: Resolution) -> list[str]:
    """What the rollback was (see the module doc), and whether the service recovered after it."""
    record, started, finished = run.record, run.rollback_started, run.rollback_finished
    if run.rollback_skipped is not None:
        return [record.say(f"No rollback was run: {run.rollback_skipped[1].why}.", run.rollback_skipped)]
    if started is None:
        ended = f"the run ended ({run.verdict}) before a rollback began"
        return [record.say(f"No rollback was run: {ended}.", run.finished)]
    lines = []
    if finished is None or finished[1].aborted:
        lines.append(record.say("The rollback began but never finished: the run was stopped during it.",
                                started, finished, run.finished))  # fmt: skip
    elif started[1].mode == "manual" and res.rollback_s is not None:
        text = (
            f"The operator rolled back by hand (manual rollback) and confirmed it done after "
            f"{secs(res.rollback_s)}: that is the rollback's time, not a recovery."
        )
        lines.append(record.state(text, [*record.cite(started), *res.cites["rollback_s"]]))
    if res.ttr_s is None and run.detected is not None and finished is not None and not finished[1].aborted:
        took = f" (which took {secs(res.rollback_s)})" if res.rollback_s is not None else ""
        text = f"Not recovered: no healthy streak of windows followed the rollback{took} before the run ended."
        lines.append(record.state(text, [*res.cites["rollback_s"], *record.cite(run.finished)]))
    return lines


def _verify_lines(res: Resolution, run: Run) -> None:
    cites = run.verify_cites()
    evals = verify_evals(run.verify)
    if evals is not None:
        text = f"evals {evals.pass_rate or 0:.1%} (threshold {evals.threshold or 0:.0%}): " + (
            "inside the envelope" if evals.inside_envelope else "OUTSIDE the envelope"
        )
        res.verify.append(run.record.state(text, cites))
    for name, r in (run.verify.fingerprint or {}).items():
        text = f"fingerprint {name}: expected {r.get('expected')}: {'ok' if r.get('ok') else 'FAILED'}"
        res.verify.append(run.record.state(text, cites))
