"""The runbook's checks against the live system: `eval`, `diff`, `slo`, `ask` (and the probes).

Each check returns a `StepResult` whose outcome the runbook branches on:

| check | pass | fail | error |
| --- | --- | --- | --- |
| `eval` | pass rate inside the envelope | outside it | service unreachable, no suite |
| `diff` | no component changed | some component changed | a component unknown and none changed |
| `slo` | no SLO breached over the probe | some SLO breached | too few answers to judge, no inputs sample |
| `http`, `command`, `promql` | see `drillkit.runbooks.probes` | | |
| `ask` | the responder's choice is the outcome; `skipped` under `--auto` | | |

`diff` compares with `<home>/baseline.json` when it is this system's; without a usable one it
judges each component from what needs no baseline (served vs pinned model, contract tests, git
history and file dates, the inputs against the eval suite's, the last game-day's preflight:
`drillkit.components.unbaselined`), and says how sure it is. Against a baseline recorded while the
evals failed (`healthy: false`) it says so first.

`eval` and `diff` also journal what they found (`eval`, `diff` entries; a diff's `against` is
`baseline` or `no-baseline`) and update the session: `envelope`, `diff`. Checks only read the
system; none of them changes it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from drillkit.config.runbook import AskCheck, DiffCheck, EvalCheck, RunbookStep, SloCheck
from drillkit.evals.wire import Wire
from drillkit.journal.events import Diff, EvalResult
from drillkit.runbooks.outcome import StepResult
from drillkit.runbooks.probes import run_command, run_http, run_promql

if TYPE_CHECKING:
    from drillkit.components.changelog import ChangeLog, LoggedChange
    from drillkit.components.types import DiffReport, Snapshot
    from drillkit.runbooks.session import Session

#: Longest any one eval request may take during triage (a hung service must not hold the page).
EVAL_TIMEOUT_S = 10.0
#: How old the evidence hold's snapshot may be for a diff to reuse it instead of fingerprinting again.
SNAPSHOT_REUSE_S = 60.0


async def run_check(session: Session, step: RunbookStep) -> StepResult:
    check = step.check
    assert check is not None
    if isinstance(check, EvalCheck):
        return await run_eval(session, check)
    if isinstance(check, DiffCheck):
        return await run_diff(session, check)
    if isinstance(check, SloCheck):
        return await run_slo(session, check)
    if isinstance(check, AskCheck):
        return run_ask(session, step, check)
    if check.type == "http":
        return await run_http(check)
    if check.type == "command":
        return await run_command(check)
    if check.type == "promql":
        return await run_promql(check)
    raise AssertionError(f"unhandled check type {check.type!r}")  # the runbook model rejects these


async def run_eval(session: Session, check: EvalCheck) -> StepResult:
    """The eval suite against the live service: is the output inside the envelope?"""
    from drillkit.evals.runner import DEFAULT_THRESHOLD, run_suite
    from drillkit.evals.suite import load_suite

    system = session.system
    relative = check.suite or system.evals
    if relative is None:
        return StepResult("error", "no eval suite: the manifest has no 'evals' and the step names no 'suite'")
    suite = load_suite(system.resolve(relative))  # type: ignore[arg-type]
    threshold = check.threshold
    if threshold is None:
        envelope = system.slos.objective("eval_pass_rate")
        threshold = envelope if envelope is not None else DEFAULT_THRESHOLD
    url = str(system.service.url)
    result = await run_suite(
        suite,
        url,
        concurrency=check.concurrency,
        timeout=min(system.service.timeout, EVAL_TIMEOUT_S),
        tags=check.tags,
        threshold=threshold,
        wire=Wire.of(system),
    )
    if result.unreachable:
        return StepResult("error", f"cannot reach the service at {url} ({result.cases[0].error})")
    data = result.journal_record()
    by_tag = data["by_tag"]
    session.emit(EvalResult(**data))
    session.envelope = "pass" if result.inside_envelope else "fail"
    worst = sorted(by_tag.items(), key=lambda kv: kv[1]["pass_rate"])[:2]
    tags = ", ".join(f"{tag} {t['pass_rate']:.0%}" for tag, t in worst if t["pass_rate"] < 1)
    detail = (
        f"pass rate {result.pass_rate:.1%} ({result.passed}/{result.total}) "
        f"{'≥' if result.inside_envelope else '<'} {threshold:.0%}" + (f"; weakest: {tags}" if tags else "")
    )
    return StepResult("pass" if result.inside_envelope else "fail", detail, {k: data[k] for k in data if k != "by_tag"})


async def run_diff(session: Session, check: DiffCheck) -> StepResult:
    """The five-input diff against the last known good snapshot (`drillkit snapshot`), or without
    one against what needs none (`drillkit.components.unbaselined`): never refused for lack of it."""
    from drillkit.components import diff_live, diff_snapshots, take_snapshot
    from drillkit.components.changelog import annotate, consider_changes
    from drillkit.components.snapshot import baseline_of
    from drillkit.components.unbaselined import diff_without_baseline

    system = session.system
    t0 = time.perf_counter()
    wanted = list(check.components)
    baseline, why = baseline_of(session.home, system)
    fresh = _reusable_snapshot(session, wanted)
    log = _change_log(session)
    if baseline is None:
        if log is not None and fresh is None:  # the change log's digests are compared with this one
            fresh = await take_snapshot(system, components=wanted)
        report = await diff_without_baseline(system, session.home, components=wanted, snapshot=fresh, why=why)
        if log is not None and fresh is not None:
            report = consider_changes(report, log, fresh)
    elif fresh is not None:
        # The evidence hold fingerprinted everything moments ago and nothing was changed since
        # (a rollback clears it): compare that snapshot instead of fingerprinting twice. A
        # responder who went back later gets a fresh one (SNAPSHOT_REUSE_S).
        report = diff_snapshots(baseline, fresh, system)
        report.components = {c: d for c, d in report.components.items() if c in wanted}
        report.took_s = round(time.perf_counter() - t0, 3)
    else:
        report = await diff_live(system, session.home, components=wanted)
    changes = [] if log is None else log.changes_since(baseline.taken_at if baseline is not None else None)
    report = annotate(report, changes) if baseline is not None else report
    session.diff = report
    logged = {"changes": [c.model_dump(exclude_none=True) for c in changes]} if log is not None else {}
    session.emit(
        Diff(**report.to_json(), against=report.reference, reused_evidence_snapshot=fresh is not None, **logged)
    )
    return _diff_result(report, changes)


def _change_log(session: Session) -> ChangeLog | None:
    """The home's change log (`drillkit watch`) when it watches this system."""
    from drillkit.components.changelog import read_change_log

    log = read_change_log(session.home)
    return log if log is not None and log.system in (None, session.system.name) else None


def _reusable_snapshot(session: Session, wanted: list[str]) -> Snapshot | None:
    """The evidence hold's snapshot while it is fresh and covers every wanted, configured component."""
    fresh, system = session.snapshot, session.system
    if fresh is None or time.monotonic() - session.snapshot_at > SNAPSHOT_REUSE_S:
        return None
    if not all(c in fresh.components for c in wanted if getattr(system.components, c) is not None):
        return None
    return fresh


def _diff_result(report: DiffReport, changes: list[LoggedChange] | None = None) -> StepResult:
    """The diff step's outcome: fail when something changed, error when only unknowns, else pass.
    `changes`: what the change log says changed since the last good evaluation, listed first."""
    changed, unknown = report.changed, report.unknown
    parts = [_against(report)] if _against(report) else []
    if changes:
        parts.append("change log since the last good evaluation: " + "; ".join(c.line() for c in changes[-5:]))
    for name in changed:
        cd = report.components[name]
        sure = f" ({cd.certainty} confidence, from {cd.basis})" if report.reference == "no-baseline" else ""
        parts.append(f"{name}: {cd.summary.strip() or 'changed'}{sure}")
    if unknown:
        parts.append("unknown: " + ", ".join(f"{c} ({report.components[c].reason})" for c in unknown))
    result = {
        "changed": changed,
        "unknown": unknown,
        "baseline_at": report.baseline_at,
        "reference": report.reference,
        "baseline_healthy": report.baseline_healthy,
        "took_s": report.took_s,
    }
    if changed:
        return StepResult("fail", "; ".join(parts), result)
    if not report.components:
        return StepResult("error", "the manifest fingerprints no component (`components`): nothing to compare", result)
    if unknown:
        return StepResult("error", "nothing changed that could be seen; " + "; ".join(parts), result)
    seen = (
        "nothing changed that could be seen without one"
        if report.reference == "no-baseline"
        else f"nothing changed since the baseline of {report.baseline_at}"
    )
    return StepResult("pass", "; ".join([*parts, seen]), result)


def _against(report: DiffReport) -> str:
    """What the comparison stood on, when it was not a healthy baseline (said first, so it is read)."""
    if report.reference == "no-baseline":
        return f"no baseline ({report.note or 'none usable'}): judged from what needs none"
    if report.baseline_healthy is False:
        return (
            f"against an UNHEALTHY baseline ({report.baseline_at}, recorded with --force while the evals failed): "
            "a change since may be a fix"
        )
    return ""


async def run_slo(session: Session, check: SloCheck) -> StepResult:
    """A short burst of the system's own input mix, judged against its SLOs as one window."""
    from drillkit.config.system import Slos
    from drillkit.traffic.inputs import InputCycle, assertions_by_question, load_inputs
    from drillkit.traffic.load import LoadGenerator, Sample
    from drillkit.traffic.slo import SloEvaluator, configured

    system = session.system
    objectives = system.slos
    if check.slos:
        # Only the SLOs the step asks about: the others are switched off for this judgement.
        objectives = Slos(**{name: value for name, value in system.slos.model_dump().items() if name in check.slos})
    if not configured(objectives):
        wanted = f" among {', '.join(check.slos)}" if check.slos else ""
        return StepResult("error", f"the manifest sets no SLO{wanted} (slos:) to probe against")
    bodies = load_inputs("system", system)
    evals: dict[str, Any] = {}
    if system.evals:
        from drillkit.evals.suite import load_suite

        evals = assertions_by_question(load_suite(system.resolve(system.evals)))  # type: ignore[arg-type]
    samples: list[Sample] = []
    load = LoadGenerator(
        str(system.service.url),
        InputCycle(bodies, seed=0),
        rate=check.rate,
        concurrency=64,
        timeout=min(system.service.timeout, 10.0),
        evals=evals,
        on_sample=samples.append,
        wire=Wire.of(system),
    )
    await load.start()
    t0 = load.t0 or time.monotonic()
    try:
        await asyncio.sleep(check.duration)
    finally:
        stats = await load.stop(timeout=min(system.service.timeout, 10.0))
    evaluator = SloEvaluator(objectives, rate=check.rate, window_s=check.duration)
    window = evaluator.judge(0, t0, t0 + check.duration, samples, pending=stats.cancelled)
    measured = {name: _round(window.value(name)) for name in evaluator.objectives}
    result = {
        "requests": window.count,
        "errors": window.errors,
        "measured": measured,
        "objectives": evaluator.objectives,
        "breached": window.breached,
        "unjudged": window.unjudged,
        "by_provider": window.by_provider,
        "by_model": window.by_model,
    }
    shown = ", ".join(_show(k, v) for k, v in measured.items() if v is not None)
    if window.state == "insufficient":
        return StepResult("error", f"only {window.count} answers in {check.duration:g}s: too few to judge", result)
    if window.breached:
        return StepResult("fail", f"breached: {', '.join(window.breached)} ({shown})", result)
    which = "every judged SLO" if not check.slos else ", ".join(check.slos)
    return StepResult("pass", f"{window.count} requests, {which} met ({shown})", result)


def run_ask(session: Session, step: RunbookStep, check: AskCheck) -> StepResult:
    question = check.question or step.title
    answer = session.responder.choose(question, check.choices)
    if answer is None:
        why = "no one to ask under --auto" if not session.responder.interactive else "skipped by the responder"
        return StepResult("skipped", why, {"question": question})
    return StepResult(answer, f"{question} → {answer}", {"question": question, "answer": answer})


def _show(slo: str, value: float) -> str:
    """`latency_p95_ms 15.93` → `p95 15.9 ms`; rates as percentages, costs in dollars."""
    if slo.startswith("latency_"):
        return f"{slo.split('_')[1]} {value:.1f} ms"
    if slo in ("error_rate", "eval_pass_rate"):
        return f"{slo.replace('_', ' ')} {value:.1%}"
    return f"{slo.replace('_usd', '').replace('_', ' ')} ${value:.4f}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


__all__ = ["run_ask", "run_check", "run_diff", "run_eval", "run_slo"]
