"""A run review's impact (the breach's requests, errors, SLOs, cost) and detection, each figure
with the journal entries it was read from (definitions: `review_run`)."""

from __future__ import annotations

import itertools
import statistics
from typing import Any

from drillkit.config.types import parse_duration
from drillkit.journal.events import FaultInjected, InjectClock, RunStarted, SloBreach, TrafficStopped, Window
from drillkit.journal.writer import JournalEntry
from drillkit.reports.review_model import Detection, Impact, SloImpact
from drillkit.reports.review_run_record import Pair, Run
from drillkit.reports.review_sections import Record, extra

# -- impact ------------------------------------------------------------------------------------


def run_impact(run: Run) -> Impact:
    record = run.record
    t_inject = record.entry(FaultInjected) or record.entry(InjectClock)
    windows = record.pairs(Window)
    after = [(e, w) for e, w in windows if t_inject is None or e.seq > t_inject.seq]
    before = [(e, w) for e, w in windows if t_inject is not None and e.seq < t_inject.seq]
    breaching = [i for i, (_, w) in enumerate(after) if w.breached]
    span = after[breaching[0] : breaching[-1] + 1] if breaching else []
    impact = Impact(window_s=_window_seconds([e for e, _ in windows]))
    impact.cites["window_s"] = record.cite(*(e for e, _ in windows))
    _requests_total(impact, run)
    if span:
        _breach_span(impact, record, span)
    _slo_impacts(impact, run, after)
    _costs(impact, record, windows, before, span)
    return impact


def _requests_total(impact: Impact, run: Run) -> None:
    stopped = run.record.pair(TrafficStopped, last=True)
    journal = extra(stopped[1], "sent") if stopped is not None else None
    summary = run.summary.requests.get("sent") if run.summary.requests else None
    impact.requests_total = summary if summary is not None else journal
    if impact.requests_total is not None:
        same = stopped is not None and journal == impact.requests_total
        impact.cites["requests_total"] = run.record.cite(stopped) if same else [run.record.summary_cite]


def _breach_span(impact: Impact, record: Record, span: list[tuple[JournalEntry, Window]]) -> None:
    windows = [w for _, w in span]
    cites = record.cite(*(e for e, _ in span))
    impact.requests_affected = sum(int(w.count or 0) for w in windows)
    impact.errors_affected = sum(int(w.errors or 0) for w in windows)
    impact.failed_answers_affected = sum(
        round((w.eval_count or 0) * (1 - rate)) for w in windows if (rate := w.value("eval_pass_rate")) is not None
    )
    impact.served_during_breach = {key: _sum_counts(windows, key) for key in ("by_provider", "by_model")}
    impact.served_answers = {key: sum(counts.values()) for key, counts in impact.served_during_breach.items()}
    for key in ("requests_affected", "errors_affected", "failed_answers_affected", "served_during_breach"):
        impact.cites[key] = cites


def _slo_impacts(impact: Impact, run: Run, after: list[tuple[JournalEntry, Window]]) -> None:
    started = run.record.entry(RunStarted)
    for slo in sorted({s for _, w in after for s in w.breached}):
        hit = [(e, w) for e, w in after if slo in w.breached]
        valued = [(v, w) for _, w in hit if (v := w.value(slo)) is not None]
        pick = min if slo == "eval_pass_rate" else max
        worst, window = pick(valued, key=lambda vw: vw[0]) if valued else (None, None)
        impact.slos.append(SloImpact(
            slo=slo, objective=run.started.slos.get(slo), worst=worst, windows=len(hit),
            seconds_outside=round(len(hit) * (impact.window_s or 0), 3),
        ))  # fmt: skip
        sample = None if window is None else window.eval_count if slo == "eval_pass_rate" else window.count
        if sample is not None:
            impact.worst_samples[slo] = sample
        impact.cites[f"slos.{slo}"] = run.record.cite(started, *(e for e, _ in hit))


def _costs(impact: Impact, record: Record, windows: list[tuple[JournalEntry, Window]],
           before: list[tuple[JournalEntry, Window]], span: list[tuple[JournalEntry, Window]]) -> None:  # fmt: skip
    impact.cost_total_usd = _cost([w for _, w in windows])
    if impact.cost_total_usd is not None:
        impact.cites["cost_total_usd"] = record.cite(*(e for e, _ in windows))
    impact.baseline_cost_per_request_usd = baseline = _cost_per_request([w for _, w in before])
    if baseline is not None:
        impact.cites["baseline_cost_per_request_usd"] = record.cite(*(e for e, _ in before))
    if span and baseline is not None:
        impact.extra_cost_usd = round(
            sum(((w.value("cost_per_request_usd") or 0) - baseline) * int(w.count or 0) for _, w in span), 6
        )
        impact.cites["extra_cost_usd"] = record.cite(*(e for e, _ in before + span))


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
    detected, breach = run.detected, record.pair(SloBreach)
    detection = Detection(slos=detected[1].slos if detected else [])
    if detected is not None:
        detection.detected_at = detected[0].ts
        detection.ttd_s = detected[1].ttd_s
        detection.cites.update(detected_at=record.cite(detected), ttd_s=record.cite(detected))
        detection.detect_lag_s, detection.cites["detect_lag_s"] = run.measured(
            "detect_lag_s", detected, "after_first_breaching_window_s"
        )
    detection.target_s = _duration(s.expect.get("detect_within"))
    if detection.target_s is not None:
        detection.cites["target_s"] = [record.summary_cite]
    detection.how, detection.cites["how"] = _how(run, detected, breach)
    return detection


def _how(run: Run, detected: Pair | None, breach: tuple[JournalEntry, SloBreach] | None) -> tuple[str, list[str]]:
    record = run.record
    if detected is not None:
        where = f" in windows {', '.join(map(str, breach[1].windows))}" if breach and breach[1].windows else ""
        return f"drillkit's SLO detector: {', '.join(detected[1].slos)} breached{where}", record.cite(detected, breach)
    if run.absorbed is not None:
        return "nothing breached: the system absorbed the fault (as the scenario expected)", record.cite(run.absorbed)
    return "not detected: no SLO breach was declared before the detection deadline", record.cite(run.finished)


def _duration(value: Any) -> float | None:
    try:
        return None if value is None else parse_duration(value)
    except ValueError:
        return None
