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
"""

from __future__ import annotations

import itertools
import json
import statistics
from typing import Any

from drillkit.config.types import parse_duration
from drillkit.journal.writer import JournalEntry
from drillkit.reports.markdown import format_seconds as secs
from drillkit.reports.review import (
    LAYERS,
    Detection,
    Evidence,
    Impact,
    Layer,
    Resolution,
    Review,
    RollbackStep,
    SloImpact,
)
from drillkit.reports.review_facts import (
    COMPONENT_LAYER,
    between,
    diff_findings,
    first,
    first_entry,
    first_line,
    ts_of,
)
from drillkit.reports.review_timeline import run_timeline


def run_review(entries: list[JournalEntry], summary: dict[str, Any]) -> Review:
    started = first(entries, "run.started") or {}
    slos: dict[str, float] = started.get("slos") or {}
    t_inject = first_entry(entries, "fault.injected") or first_entry(entries, "inject.clock")
    windows = [e for e in entries if e.kind == "window"]
    window_s = _windowsecs(windows)
    after = [w for w in windows if t_inject is None or w.seq > t_inject.seq]
    before = [w for w in windows if t_inject is not None and w.seq < t_inject.seq]
    breaching = [i for i, w in enumerate(after) if w.data.get("breached")]
    span = after[breaching[0] : breaching[-1] + 1] if breaching else []

    impact = Impact(window_s=window_s, requests_total=(summary.get("requests") or {}).get("sent"))
    if span:
        impact.requests_affected = sum(int(w.data.get("count") or 0) for w in span)
        impact.errors_affected = sum(int(w.data.get("errors") or 0) for w in span)
        impact.failed_answers_affected = sum(
            round((w.data.get("eval_count") or 0) * (1 - w.data["eval_pass_rate"]))
            for w in span
            if w.data.get("eval_pass_rate") is not None
        )
        impact.served_during_breach = {key: _sum_counts(span, key) for key in ("by_provider", "by_model")}
    for slo in sorted({s for w in after for s in w.data.get("breached", [])}):
        hit = [w for w in after if slo in w.data.get("breached", [])]
        values = [w.data.get(slo) for w in hit if w.data.get(slo) is not None]
        worst = (min(values) if slo == "eval_pass_rate" else max(values)) if values else None
        impact.slos.append(
            SloImpact(
                slo=slo,
                objective=slos.get(slo),
                worst=worst,
                windows=len(hit),
                seconds_outside=round(len(hit) * (window_s or 0), 3),
            )
        )
    impact.cost_total_usd = _cost(windows)
    baseline = _cost_per_request(before)
    impact.baseline_cost_per_request_usd = baseline
    if span and baseline is not None:
        impact.extra_cost_usd = round(
            sum(((w.data.get("cost_per_request_usd") or 0) - baseline) * int(w.data.get("count") or 0) for w in span),
            6,
        )

    detected = first(entries, "detected")
    breach = first(entries, "slo.breach")
    expect = summary.get("expect") or {}
    detection = Detection(
        slos=(detected or {}).get("slos", []),
        detected_at=ts_of(first_entry(entries, "detected")),
        ttd_s=(detected or {}).get("ttd_s"),
        detect_lag_s=summary.get("detect_lag_s"),
        target_s=_duration(expect.get("detect_within")),
    )
    if detected is not None:
        where = f" in windows {', '.join(map(str, breach['windows']))}" if breach and breach.get("windows") else ""
        detection.how = f"drillkit's SLO detector: {', '.join(detection.slos)} breached{where}"
    elif first(entries, "absorbed") is not None:
        detection.how = "nothing breached: the system absorbed the fault (as the scenario expected)"
    else:
        detection.how = "not detected: no SLO breach was declared before the detection deadline"

    layers = _run_layers(entries, summary, started)
    resolution = _run_resolution(entries, summary)
    review = Review(
        kind="run",
        id=summary.get("run_id") or started.get("run_id", ""),
        title=summary.get("title") or started.get("title", ""),
        outcome=summary.get("verdict") or (first(entries, "run.finished") or {}).get("verdict", "unknown"),
        severity=summary.get("severity") or started.get("severity", ""),
        system=summary.get("system") or started.get("system", ""),
        operator=summary.get("operator") or started.get("operator", ""),
        source=summary.get("scenario") or started.get("scenario", ""),
        layer=summary.get("layer", ""),
        mode=started.get("mode", ""),
        started_at=entries[0].ts,
        finished_at=entries[-1].ts,
        duration_s=between(entries[0], entries[-1]),
        impact=impact,
        detection=detection,
        timeline=run_timeline(entries, slos),
        layers=layers,
        resolution=resolution,
        evidence=Evidence(journal="", entries=0, head="", chain_ok=True),
    )
    review.summary = _run_summary(review, summary)
    review.went_well, review.went_poorly = _run_judgement_hints(review, summary)
    return review


def _run_layers(entries: list[JournalEntry], summary: dict[str, Any], started: dict[str, Any]) -> list[Layer]:
    layers = {key: Layer(key=key, title=title) for key, title in LAYERS}
    for e in entries:
        if e.kind != "fault.injected":
            continue
        d = e.data
        if d.get("type") == "change":
            key = COMPONENT_LAYER.get(summary.get("layer", ""), "operations")
            layers[key].findings.append(
                f"Change applied as the fault: {d.get('name')} ({'ok' if d.get('ok') else 'failed'})"
            )
            continue
        target = str(d.get("target") or "")
        key = "tools" if target.startswith("tool:") else "model"
        attrs = ", ".join(f"{k}={v}" for k, v in (d.get("attributes") or {}).items() if v is not None)
        layers[key].findings.append(
            f"Fault injected: {d.get('type')} on {target} ({d.get('layer', '')}, toxicity {d.get('toxicity', 1)}"
            + (f"; {attrs}" if attrs else "")
            + f") at +{d.get('at_s') or 0:g} s"
        )
    for e in entries:
        if e.kind == "diff":
            diff_findings(layers, e.data, f"against {e.data.get('against', 'the baseline')}")
    verify = summary.get("verify") or (first(entries, "verify") or {})
    for name, result in (verify.get("fingerprint") or {}).items():
        key = COMPONENT_LAYER.get(name, "operations")
        state = "held" if result.get("ok") else "FAILED"
        seen = result.get("served") or result.get("active") or result.get("detail") or ""
        if isinstance(seen, dict):  # the models the answers reported, with counts
            seen = ", ".join(f"{model} ×{n}" for model, n in seen.items())
        layers[key].findings.append(
            f"Fingerprint check after the rollback {state}: expected {result.get('expected')}"
            + (f", found {seen}" if seen else "")
        )
    scenario_layer = COMPONENT_LAYER.get(summary.get("layer", ""))
    evals = verify.get("evals")
    if evals:
        inside = "inside" if evals.get("inside_envelope") else "OUTSIDE"
        layers[scenario_layer or "model"].findings.append(
            f"Evaluation suite after the rollback: {evals.get('pass_rate', 0):.1%} pass, {inside} the envelope "
            f"(threshold {evals.get('threshold', 0):.0%})"
        )
    if scenario_layer is not None:
        layers[scenario_layer].findings.insert(
            0, f"The scenario rehearses a failure in this layer ({summary.get('layer')})."
        )
    ops = layers["operations"]
    ops.findings.append(f"Rollback mode: {started.get('mode') or summary.get('rollback_mode') or 'unknown'}")
    expect = summary.get("expect") or {}
    if summary.get("ttd_s") is not None:
        ops.findings.append(f"Detection: {secs(summary['ttd_s'])} (expected within {expect.get('detect_within', '?')})")
    if summary.get("rollback_s") is not None:
        ops.findings.append(
            f"Rollback: {secs(summary['rollback_s'])}; recovery {secs(summary.get('ttr_s'))} after the fault "
            f"(expected within {expect.get('recover_within', '?')}; RTO {secs(summary.get('rto_target_s'))})"
        )
    for e in entries:
        if e.kind in ("leftovers.removed", "leftovers.restored"):
            ops.findings.append(f"Preflight found what an earlier run left behind ({e.kind}): cleaned before starting")
        elif e.kind == "preflight.warning":
            ops.findings.append(f"Preflight warning: {e.data.get('message')}")
        elif e.kind == "guardrail.tripped":
            ops.findings.append(
                f"Guardrail tripped in window {e.data.get('window')}: {', '.join(e.data.get('guardrails', []))}"
            )
        elif e.kind == "restore.step" and not e.data.get("ok"):
            ops.findings.append(f"Restore step {e.data.get('name')!r} failed: {first_line(e.data.get('detail'))}")
        elif e.kind in ("detected.late", "recovered.late", "fault.lost"):
            ops.findings.append(f"{e.kind}: {json.dumps(e.data, sort_keys=True)}")
    for reason in summary.get("reasons") or []:
        ops.findings.append(f"Reason the verdict records: {reason}")
    return list(layers.values())


def _run_resolution(entries: list[JournalEntry], summary: dict[str, Any]) -> Resolution:
    res = Resolution(
        mode=(first(entries, "rollback.started") or {}).get("mode", summary.get("rollback_mode", "")),
        rollback_s=summary.get("rollback_s")
        if summary
        else (first(entries, "rollback.finished") or {}).get("rollback_s"),
        ttr_s=summary.get("ttr_s") if summary else (first(entries, "recovered") or {}).get("ttr_s"),
        rto_target_s=summary.get("rto_target_s"),
    )
    for e in entries:
        if e.kind == "rollback.step":
            d = e.data
            res.steps.append(
                RollbackStep(
                    name=str(d.get("name")),
                    ok=d.get("ok"),
                    duration_s=d.get("duration_s"),
                    output=str(d.get("detail") or ""),
                )
            )
        elif e.kind == "restore.step":
            ok = "ok" if e.data.get("ok") else "FAILED"
            res.restore.append(f"{e.data.get('name')}: {ok} in {e.data.get('duration_s', 0):.1f} s")
    if res.rto_target_s is not None:
        measured = res.ttr_s if res.ttr_s is not None else res.rollback_s
        res.within_rto = None if measured is None else measured <= res.rto_target_s
    verify = summary.get("verify") or (first(entries, "verify") or {})
    if verify.get("evals"):
        ev = verify["evals"]
        res.verify.append(
            f"evals {ev.get('pass_rate', 0):.1%} (threshold {ev.get('threshold', 0):.0%}): "
            + ("inside the envelope" if ev.get("inside_envelope") else "OUTSIDE the envelope")
        )
    for name, r in (verify.get("fingerprint") or {}).items():
        res.verify.append(f"fingerprint {name}: expected {r.get('expected')}: {'ok' if r.get('ok') else 'FAILED'}")
    return res


def _run_summary(r: Review, summary: dict[str, Any]) -> list[str]:
    lines = [f"Game-day rehearsal {r.source} against {r.system or 'the system'}: verdict {r.outcome}."]
    faults = ", ".join(f"{f.get('type')} on {f.get('target') or f.get('name')}" for f in summary.get("faults", []))
    if faults:
        lines.append(f"Faults: {faults}.")
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


def _run_judgement_hints(r: Review, summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    well, poorly = [], []
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
    if res.within_rto is not None:
        (well if res.within_rto else poorly).append(
            f"Recovery {secs(res.ttr_s or res.rollback_s)} against the RTO of {secs(res.rto_target_s)}"
        )
    poorly.extend(summary.get("reasons") or [])
    return well, poorly


def _windowsecs(windows: list[JournalEntry]) -> float | None:
    gaps = [(b.time - a.time).total_seconds() for a, b in itertools.pairwise(windows)]
    return round(statistics.median(gaps), 3) if gaps else None


def _sum_counts(windows: list[JournalEntry], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in windows:
        for name, n in (w.data.get(key) or {}).items():
            out[name] = out.get(name, 0) + int(n)
    return out


def _cost(windows: list[JournalEntry]) -> float | None:
    priced = [w for w in windows if w.data.get("cost_per_request_usd") is not None]
    if not priced:
        return None
    return round(sum(w.data["cost_per_request_usd"] * int(w.data.get("count") or 0) for w in priced), 6)


def _cost_per_request(windows: list[JournalEntry]) -> float | None:
    priced = [w for w in windows if w.data.get("cost_per_request_usd") is not None and w.data.get("count")]
    count = sum(int(w.data["count"]) for w in priced)
    return None if not count else (_cost(priced) or 0) / count


def _duration(value: Any) -> float | None:
    try:
        return None if value is None else parse_duration(value)
    except ValueError:
        return None
