"""The facts of a review, read from a record: a game-day run or a triage incident.

Definitions (game-day runs; windows are the engine's SLO windows, see `drillkit.engine.slo`):

- the breach: from the first window after the fault that breached an SLO to the last one that
  did; *requests affected* are every request in the windows of that span (the SLO judges the
  whole window), with the errors and the failed answers (eval count × (1 − pass rate)) among them;
- *time outside an SLO*: windows that breached that SLO × the window length (the median spacing
  of the window entries), after the fault;
- *extra cost*: Σ (cost per request − the pre-fault cost per request) × requests, over the breach;
- detection, rollback and recovery times are the engine's (`detected.ttd_s`, `rollback_s`,
  `ttr_s`), judged against the scenario's expectations and the system's RTO.

Incidents have no traffic windows: their impact is the envelope check (eval pass rate against the
threshold, the weakest tags) and, when the envelope was seen failing and later passing, the time
between those checks (a lower bound of the time outside the envelope).
"""

from __future__ import annotations

import itertools
import json
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from drillkit.config.types import parse_duration
from drillkit.journal.redact import Redactor
from drillkit.journal.verify import read_journal, verify_chain
from drillkit.journal.writer import JournalEntry
from drillkit.reports.review import (
    LAYERS,
    Detection,
    Evidence,
    Impact,
    Kind,
    Layer,
    LedgerPosition,
    Resolution,
    Review,
    RollbackStep,
    SloImpact,
)
from drillkit.reports.review_timeline import incident_timeline, run_timeline

COMPONENT_LAYER = {"model": "model", "provider": "model", "prompt": "prompt", "retrieval": "retrieval",
                   "tools": "tools", "inputs": "inputs"}  # fmt: skip


def collect(home: Path, kind: Kind, folder: Path) -> Review:
    journal = folder / "journal.jsonl"
    entries = read_journal(journal)
    if not entries:
        from drillkit.errors import InputError

        raise InputError(f"{journal}: the journal is empty")
    summary = _read_json(folder / "summary.json")
    review = _run(entries, summary) if kind == "run" else _incident(entries, summary)
    review.evidence = _evidence(home, folder, entries, summary)
    redactor = Redactor.for_system(_system(home, entries))
    return Review.model_validate(redactor(review.model_dump(mode="json")))


# -- game-day runs -------------------------------------------------------------------------------


def _run(entries: list[JournalEntry], summary: dict[str, Any]) -> Review:
    started = _first(entries, "run.started") or {}
    slos: dict[str, float] = started.get("slos") or {}
    t_inject = _first_entry(entries, "fault.injected") or _first_entry(entries, "inject.clock")
    windows = [e for e in entries if e.kind == "window"]
    window_s = _window_s(windows)
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

    detected = _first(entries, "detected")
    breach = _first(entries, "slo.breach")
    expect = summary.get("expect") or {}
    detection = Detection(
        slos=(detected or {}).get("slos", []),
        detected_at=_ts(_first_entry(entries, "detected")),
        ttd_s=(detected or {}).get("ttd_s"),
        detect_lag_s=summary.get("detect_lag_s"),
        target_s=_duration(expect.get("detect_within")),
    )
    if detected is not None:
        where = f" in windows {', '.join(map(str, breach['windows']))}" if breach and breach.get("windows") else ""
        detection.how = f"drillkit's SLO detector: {', '.join(detection.slos)} breached{where}"
    elif _first(entries, "absorbed") is not None:
        detection.how = "nothing breached: the system absorbed the fault (as the scenario expected)"
    else:
        detection.how = "not detected: no SLO breach was declared before the detection deadline"

    layers = _run_layers(entries, summary, started)
    resolution = _run_resolution(entries, summary)
    review = Review(
        kind="run",
        id=summary.get("run_id") or started.get("run_id", ""),
        title=summary.get("title") or started.get("title", ""),
        outcome=summary.get("verdict") or (_first(entries, "run.finished") or {}).get("verdict", "unknown"),
        severity=summary.get("severity") or started.get("severity", ""),
        system=summary.get("system") or started.get("system", ""),
        operator=summary.get("operator") or started.get("operator", ""),
        source=summary.get("scenario") or started.get("scenario", ""),
        layer=summary.get("layer", ""),
        mode=started.get("mode", ""),
        started_at=entries[0].ts,
        finished_at=entries[-1].ts,
        duration_s=_between(entries[0], entries[-1]),
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
            _diff_findings(layers, e.data, f"against {e.data.get('against', 'the baseline')}")
    verify = summary.get("verify") or (_first(entries, "verify") or {})
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
        ops.findings.append(f"Detection: {_s(summary['ttd_s'])} (expected within {expect.get('detect_within', '?')})")
    if summary.get("rollback_s") is not None:
        ops.findings.append(
            f"Rollback: {_s(summary['rollback_s'])}; recovery {_s(summary.get('ttr_s'))} after the fault "
            f"(expected within {expect.get('recover_within', '?')}; RTO {_s(summary.get('rto_target_s'))})"
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
            ops.findings.append(f"Restore step {e.data.get('name')!r} failed: {_first_line(e.data.get('detail'))}")
        elif e.kind in ("detected.late", "recovered.late", "fault.lost"):
            ops.findings.append(f"{e.kind}: {json.dumps(e.data, sort_keys=True)}")
    for reason in summary.get("reasons") or []:
        ops.findings.append(f"Reason the verdict records: {reason}")
    return list(layers.values())


def _run_resolution(entries: list[JournalEntry], summary: dict[str, Any]) -> Resolution:
    res = Resolution(
        mode=(_first(entries, "rollback.started") or {}).get("mode", summary.get("rollback_mode", "")),
        rollback_s=summary.get("rollback_s")
        if summary
        else (_first(entries, "rollback.finished") or {}).get("rollback_s"),
        ttr_s=summary.get("ttr_s") if summary else (_first(entries, "recovered") or {}).get("ttr_s"),
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
    verify = summary.get("verify") or (_first(entries, "verify") or {})
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
            f"{_s(res.rollback_s)}; recovered {_s(res.ttr_s)} after the fault (RTO {_s(res.rto_target_s)})."
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
            well.append(f"Every rollback step succeeded ({len(res.steps)}), in {_s(res.rollback_s)}")
    if res.within_rto is not None:
        (well if res.within_rto else poorly).append(
            f"Recovery {_s(res.ttr_s or res.rollback_s)} against the RTO of {_s(res.rto_target_s)}"
        )
    poorly.extend(summary.get("reasons") or [])
    return well, poorly


# -- triage incidents ----------------------------------------------------------------------------


def _incident(entries: list[JournalEntry], summary: dict[str, Any]) -> Review:
    started = _first(entries, "incident.started") or {}
    finished = _first(entries, "incident.finished") or {}
    evals = [e for e in entries if e.kind == "eval"]
    impact = Impact(eval=evals[0].data if evals else None)
    held = [e for e in entries if e.kind == "evidence.hold"]
    if held:
        impact.traffic_minutes = held[0].data.get("traffic_minutes")
    first_fail = next((e for e in evals if e.data.get("inside_envelope") is False), None)
    recovered = next(
        (e for e in evals if first_fail is not None and e.seq > first_fail.seq and e.data.get("inside_envelope")), None
    )
    if first_fail is not None and recovered is not None:
        impact.envelope_s = _between(first_fail, recovered)

    diagnosed = next((e for e in entries if e.kind == "step.finished" and e.data.get("type") == "diff"), None)
    detection = Detection(
        how=(
            f"triage started by {started.get('operator', 'someone')} ({started.get('mode', '')} mode, runbook "
            f"{started.get('runbook', '')}); first envelope check: "
            + ("outside" if first_fail is not None else "inside" if evals else "not run")
        ),
        detected_at=entries[0].ts,
        diagnosed_s=_between(entries[0], diagnosed) if diagnosed is not None else None,
    )

    layers = {key: Layer(key=key, title=title) for key, title in LAYERS}
    for e in entries:
        if e.kind == "diff":
            _diff_findings(layers, e.data, "against the last known good baseline")
    plan = _last(entries, "revert_plan") or {}
    for pos, component in enumerate(plan.get("order", []), 1):
        layers[COMPONENT_LAYER.get(component, "operations")].findings.append(f"Revert plan: position {pos}")
    res = Resolution(
        mode=started.get("mode", ""),
        revert_order=summary.get("revert_order") or finished.get("revert_order") or plan.get("order", []),
    )
    for e in entries:
        if e.kind == "rollback.finished":
            d = e.data
            step = RollbackStep(
                name=str(d.get("component")),
                ok=d.get("ok"),
                duration_s=d.get("duration_s"),
                expected_s=d.get("expected_s"),
                user_visible_cost=d.get("user_visible_cost"),
                output=str(d.get("output") or ""),
            )
            res.steps.append(step)
            layers[COMPONENT_LAYER.get(step.name, "operations")].findings.append(
                f"Rolled back: {'ok' if step.ok else 'FAILED'} in {_s(step.duration_s)} "
                f"(expected {_s(step.expected_s)}, user-visible cost {step.user_visible_cost or '?'})"
            )
    if res.steps:
        res.rollback_s = round(sum(s.duration_s or 0 for s in res.steps), 3)
    res.rto_target_s = summary.get("rto_target_s")
    if res.rto_target_s is not None and res.rollback_s is not None:
        res.within_rto = res.rollback_s <= res.rto_target_s
    for e in evals[1:]:
        res.verify.append(
            f"envelope check at {_clock(e.ts)}: {e.data.get('pass_rate', 0):.1%} "
            + ("inside" if e.data.get("inside_envelope") else "OUTSIDE")
        )

    ops = layers["operations"]
    outcome = finished.get("outcome") or summary.get("outcome", "unknown")
    ops.findings.append(f"Mode: {started.get('mode', 'unknown')}; outcome: {outcome}")
    first_rollback = _first_entry(entries, "rollback.started")
    if held:
        when = "before" if first_rollback is None or held[0].seq < first_rollback.seq else "AFTER"
        ops.findings.append(f"Evidence held {when} the first change ({held[0].data.get('path')})")
    elif first_rollback is not None:
        ops.findings.append("No evidence hold before rolling back")
    skipped = [str(e.data.get("step")) for e in entries if e.kind == "step.skipped"]
    if skipped:
        ops.findings.append(f"Steps skipped: {', '.join(skipped)}")
    if detection.diagnosed_s is not None:
        ops.findings.append(f"Time from the start of triage to the five-input diff: {_s(detection.diagnosed_s)}")

    review = Review(
        kind="incident",
        id=started.get("incident_id") or summary.get("incident_id", ""),
        title=summary.get("title") or started.get("title", ""),
        outcome=finished.get("outcome") or summary.get("outcome") or "open",
        system=started.get("system", ""),
        operator=started.get("operator", ""),
        source=started.get("runbook", ""),
        mode=started.get("mode", ""),
        started_at=entries[0].ts,
        finished_at=entries[-1].ts,
        duration_s=_between(entries[0], entries[-1]),
        impact=impact,
        detection=detection,
        timeline=incident_timeline(entries),
        layers=list(layers.values()),
        resolution=res,
        notes=[f"{e.data.get('step', '')}: {e.data.get('text', '')}" for e in entries if e.kind == "note"],
        evidence=Evidence(journal="", entries=0, head="", chain_ok=True),
    )
    envelope = finished.get("envelope") or summary.get("envelope")
    changed = finished.get("changed") or summary.get("changed") or []
    review.summary = [
        f"Triage incident with runbook {review.source} on {review.system or 'the system'}: {review.outcome}.",
        f"Evaluation envelope: {envelope or 'not checked'}; changed: {', '.join(changed) or 'nothing found'}; "
        f"revert order: {', '.join(res.revert_order) or '—'}.",
    ]
    if res.steps:
        review.went_well += [
            f"Rolled back {s.name} in {_s(s.duration_s)}"
            for s in res.steps
            if s.ok and (s.expected_s is None or (s.duration_s or 0) <= s.expected_s)
        ]
        review.went_poorly += [
            f"Rollback of {s.name}: {'failed' if not s.ok else 'slower than expected'}"
            for s in res.steps
            if not s.ok or (s.expected_s is not None and (s.duration_s or 0) > s.expected_s)
        ]
    if held and (first_rollback is None or held[0].seq < first_rollback.seq):
        review.went_well.append("Evidence was held before anything was changed")
    if review.outcome != "resolved":
        review.went_poorly.append(f"The incident record ends {review.outcome}")
    return review


# -- shared --------------------------------------------------------------------------------------


def _diff_findings(layers: dict[str, Layer], data: dict[str, Any], against: str) -> None:
    if data.get("error"):
        layers["operations"].findings.append(f"Five-input diff {against} could not run: {data['error']}")
        return
    for name, c in (data.get("components") or {}).items():
        layer = layers[COMPONENT_LAYER.get(name, "operations")]
        changed = c.get("changed")
        if changed is True:
            layer.changed = True
            layer.findings.append(
                f"Changed {against}: {c.get('summary', '')} (confidence {c.get('confidence', 0):.0%})"
            )
        elif changed is None:
            layer.changed = layer.changed or None
            layer.findings.append(f"Unknown {against}: {c.get('reason') or c.get('summary') or 'no data'}")
        else:
            layer.changed = bool(layer.changed)
            layer.findings.append(f"Unchanged {against}: {c.get('summary', '')}")


def _evidence(home: Path, folder: Path, entries: list[JournalEntry], summary: dict[str, Any]) -> Evidence:
    journal = folder / "journal.jsonl"
    problems = verify_chain(journal)
    ev = Evidence(
        journal=_relative(home, journal),
        entries=len(entries),
        head=entries[-1].hash,
        chain_ok=not problems,
        chain_problems=[str(p) for p in problems],
        summary_file=_relative(home, folder / "summary.json") if summary else None,
        redaction=(entries[0].data.get("redaction") if entries else None),
        holds=[str(e.data.get("path")) for e in entries if e.kind == "evidence.hold"],
    )
    ev.ledger = _ledger_position(home, entries)
    return ev


def _ledger_position(home: Path, entries: list[JournalEntry]) -> LedgerPosition | None:
    """Where the record sits in `<home>/ledger.jsonl` (its latest entry), if it was recorded."""
    from drillkit.errors import InputError
    from drillkit.journal import ledger

    ident = entries[0].data.get("run_id") or entries[0].data.get("incident_id")
    if not ident or not ledger.ledger_path(home).exists():
        return None
    try:
        recorded = ledger.read_ledger(home)
    except (InputError, ValueError, OSError):
        return None
    mine = [e for e in recorded if e.id == ident]
    if not mine:
        return None
    entry = mine[-1]
    position = LedgerPosition(
        seq=entry.seq,
        of=len(recorded),
        ts=entry.ts,
        merkle_root=entry.merkle_root,
        journal_head=entry.journal_head,
        matches_journal=entry.journal_head == entries[-1].hash,
    )
    try:
        checkpoint = ledger.read_checkpoint(ledger.checkpoint_path(home))
        position.checkpoint_size, position.key_fingerprint = checkpoint.size, checkpoint.key_fingerprint
    except (InputError, ValueError, OSError, AttributeError):
        pass
    return position


def _system(home: Path, entries: list[JournalEntry]) -> Any:
    """The record's system manifest, when it can still be found (for its extra redaction rules)."""
    from drillkit.config.system import load_system
    from drillkit.errors import InputError

    data = entries[0].data
    candidates = [data.get("system_file")]
    if data.get("scenario_file"):
        try:
            from drillkit.config.loader import load_model
            from drillkit.config.scenario import Scenario

            path = Path(data["scenario_file"])
            scenario = load_model(path, Scenario)
            system = Path(scenario.system)
            demo = home / "demo" / "drillkit.yaml"
            candidates.append(
                str(demo if scenario.system == "demo" else system if system.is_absolute() else path.parent / system)
            )
        except (InputError, OSError, ValueError):
            pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            try:
                return load_system(candidate)
            except InputError:
                continue
    return None


def _first(entries: list[JournalEntry], kind: str) -> dict[str, Any] | None:
    e = _first_entry(entries, kind)
    return None if e is None else e.data


def _first_entry(entries: list[JournalEntry], kind: str) -> JournalEntry | None:
    return next((e for e in entries if e.kind == kind), None)


def _last(entries: list[JournalEntry], kind: str) -> dict[str, Any] | None:
    return next((e.data for e in reversed(entries) if e.kind == kind), None)


def _between(a: JournalEntry, b: JournalEntry) -> float:
    return round((b.time - a.time).total_seconds(), 3)


def _ts(e: JournalEntry | None) -> str | None:
    return None if e is None else e.ts


def _clock(ts: str) -> str:
    return datetime.fromisoformat(ts).strftime("%H:%M:%S")


def _window_s(windows: list[JournalEntry]) -> float | None:
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


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _first_line(text: Any) -> str:
    return str(text or "").strip().splitlines()[0][:200] if str(text or "").strip() else ""


def _relative(home: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
