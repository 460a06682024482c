"""SLO windows, judgement, detection and guardrails: pure unit tests on hand-made samples."""

from __future__ import annotations

import pytest

import drillkit.traffic
from drillkit.config.scenario import Scenario
from drillkit.config.system import Slos, System
from drillkit.traffic import (
    Breach,
    Detector,
    Recovery,
    Sample,
    SloEvaluator,
    SloWindow,
    SloWindows,
    effective_slos,
    measure,
    percentile,
)

SLOS = Slos(latency_p95_ms=800, latency_p99_ms=1500, error_rate=0.02, eval_pass_rate=0.9, cost_per_request_usd=0.002)


def sample(
    scheduled: float = 0.0,
    latency_ms: float = 100.0,
    *,
    ok: bool = True,
    status: int | None = 200,
    eval_passed: bool | None = None,
    cost: float | None = 0.001,
    provider: str | None = "primary",
    model: str | None = "sim-pro",
    dropped: bool = False,
) -> Sample:
    ok = ok and not dropped
    return Sample(
        index=0,
        scheduled=scheduled,
        started=None if dropped else scheduled,
        finished=scheduled + latency_ms / 1000,
        latency_ms=latency_ms,
        status=None if dropped else status,
        ok=ok,
        dropped=dropped,
        provider=provider if ok else None,
        model=model if ok else None,
        cost_usd=cost if ok else None,
        error=None if ok else "HTTP 503",
        eval_passed=eval_passed,
    )


def healthy(n: int = 20, at: float = 0.0) -> list[Sample]:
    return [sample(at + i / n, 100 + i, eval_passed=True) for i in range(n)]


def evaluator(rate: float = 20, **kwargs: object) -> SloEvaluator:
    return SloEvaluator(SLOS, rate=rate, window_s=1.0, **kwargs)


# -- metrics ------------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == 95 and percentile(values, 0.99) == 99
    assert percentile([float(v) for v in range(1, 21)], 0.95) == 19
    assert percentile([], 0.95) is None


def test_window_metrics() -> None:
    samples = [
        *[sample(0.01 * i, 100 + i, eval_passed=True, cost=0.001) for i in range(16)],
        sample(0.2, 5000, eval_passed=False, cost=0.003, provider="fallback", model="sim-lite"),
        sample(0.3, 20, ok=False, status=503),
        sample(0.4, 0, dropped=True),
    ]
    m = measure(3, 3.0, 4.0, samples, pending=1)
    assert (m["count"], m["ok"], m["errors"], m["dropped"], m["pending"]) == (20, 17, 3, 1, 1)
    assert m["error_rate"] == pytest.approx(3 / 20)
    assert m["latency_samples"] == 17  # failures do not flatter the latency
    assert m["latency_p95_ms"] == 5000 and m["latency_p99_ms"] == 5000
    assert (m["eval_count"], m["eval_passed"]) == (17, 16)
    assert m["eval_pass_rate"] == pytest.approx(16 / 17)
    assert m["cost_usd"] == pytest.approx(0.019)
    assert m["cost_per_request_usd"] == pytest.approx(0.019 / 18)  # 18 got an HTTP response
    assert m["cost_per_success_usd"] == pytest.approx(0.019 / 17)
    assert m["by_provider"] == {"primary": 16, "fallback": 1}
    assert m["by_model"] == {"sim-pro": 16, "sim-lite": 1}


def test_an_empty_window_has_no_rates() -> None:
    m = measure(0, 0.0, 1.0, [])
    assert m["count"] == 0 and m["error_rate"] is None and m["cost_per_success_usd"] is None


# -- effective SLOs -----------------------------------------------------------------------------


def test_scenario_slos_override_the_systems() -> None:
    scenario = Slos.model_validate({"latency_p95_ms": 400, "cost_per_request_usd": None})
    slos = effective_slos(SLOS, scenario)
    assert slos.latency_p95_ms == 400  # overridden
    assert slos.error_rate == 0.02  # inherited
    assert slos.cost_per_request_usd is None  # an explicit null switches it off


def test_evaluator_from_a_scenario_and_system() -> None:
    system = System.model_validate(
        {"apiVersion": "drillkit/v1", "kind": "System", "name": "s", "service": {"url": "http://127.0.0.1:1/"}}
        | {"slos": SLOS.model_dump(exclude_none=True)}
    )
    scenario = Scenario.model_validate(
        {
            "apiVersion": "drillkit/v1",
            "kind": "Scenario",
            "id": "x",
            "title": "x",
            "layer": "model",
            "traffic": {"rate": 40},
            "timeline": {"window": "500ms"},
            "slos": {"eval_pass_rate": 0.8},
            "faults": [{"type": "model_swap", "target": "provider:primary"}],
            "rollback": {"steps": [{"name": "pin", "run": ["true"]}]},
            "guardrails": {"abort_if": {"error_rate": 0.95}},
        }
    )
    ev = SloEvaluator.for_scenario(scenario, system)
    assert ev.objectives["eval_pass_rate"] == 0.8 and ev.objectives["latency_p95_ms"] == 800
    assert (ev.rate, ev.window_s, ev.guardrails) == (40, 0.5, {"error_rate": 0.95})
    assert ev.min_samples == 5


# -- judgement ----------------------------------------------------------------------------------


def test_a_good_window_is_healthy() -> None:
    w = evaluator().judge(0, 0.0, 1.0, healthy())
    assert (w.state, w.breached) == ("healthy", [])
    assert w.unjudged == ["latency_p99_ms"]  # 20 samples cannot judge a p99


@pytest.mark.parametrize(
    ("samples", "breached"),
    [
        ([*healthy(18), sample(0.5, 2000, eval_passed=True), sample(0.6, 2000, eval_passed=True)], ["latency_p95_ms"]),
        ([*healthy(18), sample(0.5, ok=False, status=500)], ["error_rate"]),
        ([sample(i / 20, eval_passed=i % 2 == 0) for i in range(20)], ["eval_pass_rate"]),
        ([sample(i / 20, cost=0.005) for i in range(20)], ["cost_per_request_usd"]),
    ],
)
def test_each_slo_breaches_when_worse_than_its_objective(samples: list[Sample], breached: list[str]) -> None:
    w = evaluator().judge(0, 0.0, 1.0, samples)
    assert (w.state, w.breached) == ("breaching", breached)


def test_an_objective_met_exactly_is_not_a_breach() -> None:
    samples = [sample(i / 10, eval_passed=i != 0) for i in range(10)]  # 0.9 exactly
    w = SloEvaluator(Slos(eval_pass_rate=0.9), rate=10, window_s=1).judge(0, 0, 1, samples)
    assert w.state == "healthy"


def test_pending_requests_count_as_errors() -> None:
    w = evaluator().judge(0, 0.0, 1.0, healthy(15), pending=5)
    assert (w.count, w.errors, w.state, w.breached) == (20, 5, "breaching", ["error_rate"])


def test_too_few_samples_is_insufficient_not_healthy_nor_breaching() -> None:
    ev = evaluator(rate=20)  # min max(3, 20 * 1 / 4) = 5
    assert ev.min_samples == 5
    bad = [sample(i / 10, ok=False, status=503) for i in range(4)]
    w = ev.judge(0, 0.0, 1.0, bad)
    assert (w.state, w.breached, w.tripped) == ("insufficient", [], [])
    assert evaluator(rate=2).min_samples == 3
    assert evaluator(rate=20, min_samples=10).min_samples == 10


def test_p99_is_judged_only_with_enough_samples() -> None:
    slow_tail = [sample(i / 100, 100) for i in range(99)] + [sample(0.99, 3000)]
    ev = SloEvaluator(Slos(latency_p99_ms=1500), rate=100, window_s=1)
    assert ev.judge(0, 0, 1, slow_tail).breached == []  # 100 samples: p99 is the 99th, not the max
    w = ev.judge(0, 0, 1, slow_tail[-49:])
    assert (w.state, w.unjudged) == ("healthy", ["latency_p99_ms"])  # 49 samples: p99 unjudged
    slow = [sample(i / 100, 2000) for i in range(50)]
    assert ev.judge(0, 0, 1, slow).breached == ["latency_p99_ms"]


def test_time_to_first_token_is_judged_on_streamed_samples_only() -> None:
    ev = SloEvaluator(Slos(ttft_p95_ms=600, latency_p95_ms=5000), rate=20, window_s=1)
    streamed = [sample(i / 20, 1800).model_copy(update={"ttft_ms": 1600.0}) for i in range(20)]
    w = ev.judge(0, 0.0, 1.0, streamed)
    assert (w.state, w.breached, w.ttft_samples, w.ttft_p95_ms) == ("breaching", ["ttft_p95_ms"], 20, 1600.0)
    fast = [s.model_copy(update={"ttft_ms": 90.0}) for s in streamed]
    assert ev.judge(0, 0.0, 1.0, fast).breached == []
    # Unstreamed traffic has no first token: the TTFT SLO is unjudged, never healthy by default.
    w = ev.judge(0, 0.0, 1.0, [sample(i / 20, 100) for i in range(20)])
    assert (w.ttft_samples, w.ttft_p95_ms, w.unjudged) == (0, None, ["ttft_p95_ms"])


def test_eval_pass_rate_needs_a_few_judged_samples() -> None:
    samples = [sample(i / 20) for i in range(18)] + [sample(0.95, eval_passed=False)] * 2
    w = evaluator().judge(0, 0.0, 1.0, samples)
    assert "eval_pass_rate" in w.unjudged and w.state == "healthy"


def test_guardrails_trip_at_their_threshold() -> None:
    ev = evaluator(abort_if=Slos(error_rate=1.0, latency_p95_ms=10_000))
    down = [sample(i / 20, ok=False, status=503) for i in range(20)]
    assert ev.judge(0, 0.0, 1.0, down).tripped == ["error_rate"]
    assert ev.judge(0, 0.0, 1.0, healthy()).tripped == []
    assert ev.judge(0, 0.0, 1.0, down[:4]).tripped == []  # insufficient windows never abort a run


# -- detection ----------------------------------------------------------------------------------


def window(index: int, state: str, breached: list[str] | None = None) -> SloWindow:
    m = measure(index, float(index), float(index + 1), [])
    return SloWindow(**m, state=state, breached=breached or [], unjudged=[])


def test_breach_after_consecutive_bad_windows_then_recovery() -> None:
    d = Detector(bad_windows=2, healthy_windows=3)
    events = [
        d.observe(window(0, "healthy")),
        d.observe(window(1, "breaching", ["eval_pass_rate"])),
        d.observe(window(2, "breaching", ["latency_p95_ms", "eval_pass_rate"])),
        d.observe(window(3, "breaching", ["eval_pass_rate"])),
        d.observe(window(4, "healthy")),
        d.observe(window(5, "healthy")),
        d.observe(window(6, "healthy")),
    ]
    assert events[:2] == [None, None]
    assert events[2] == Breach(at=3.0, since=1.0, windows=[1, 2], slos=["eval_pass_rate", "latency_p95_ms"])
    assert events[3:6] == [None, None, None]  # already in breach; recovery needs 3 healthy windows
    assert events[6] == Recovery(at=7.0, since=4.0, windows=[4, 5, 6])
    assert not d.in_breach and d.healthy_streak == 3


def test_an_interrupted_streak_is_not_a_breach() -> None:
    d = Detector(bad_windows=2, healthy_windows=1)
    states = ["breaching", "healthy", "breaching", "healthy", "breaching"]
    assert [d.observe(window(i, s, ["error_rate"])) for i, s in enumerate(states)] == [None] * 5
    assert d.breach is None and d.bad_streak == 1


def test_insufficient_windows_neither_extend_nor_break_a_streak() -> None:
    d = Detector(bad_windows=2, healthy_windows=2)
    assert d.observe(window(0, "breaching", ["error_rate"])) is None
    assert d.observe(window(1, "insufficient")) is None
    assert isinstance(d.observe(window(2, "breaching", ["error_rate"])), Breach)
    assert d.observe(window(3, "healthy")) is None
    assert d.observe(window(4, "insufficient")) is None
    assert d.observe(window(5, "insufficient")) is None
    assert isinstance(d.observe(window(6, "healthy")), Recovery)


def test_detection_rearms_after_recovery() -> None:
    d = Detector(bad_windows=1, healthy_windows=1)
    kinds = [type(d.observe(window(i, s, ["error_rate"]))).__name__ for i, s in enumerate(["breaching", "healthy"] * 2)]
    assert kinds == ["Breach", "Recovery", "Breach", "Recovery"]


# -- windows as samples arrive ------------------------------------------------------------------


def feed(windows: SloWindows, samples: list[Sample]) -> None:
    for s in samples:
        windows.scheduled(s.scheduled)
    for s in samples:
        windows.add(s)


def test_samples_count_against_the_window_they_were_scheduled_in() -> None:
    ws = SloWindows(evaluator(), origin=100.0, window_s=1.0, grace_s=2.0)
    slow = sample(100.9, 1500)  # finishes in window 1, belongs to window 0
    feed(ws, [*healthy(19, at=100.0), slow, sample(101.0)])
    (w0,) = ws.poll(101.5)
    assert (w0.index, w0.start, w0.end, w0.count, w0.latency_p99_ms) == (0, 100.0, 101.0, 20, 1500)


def test_a_window_closes_early_when_complete_and_waits_for_stragglers_until_its_grace() -> None:
    # Objectives the stragglers could still meet, whatever they answer: nothing is certain early.
    patient = SloEvaluator(Slos(latency_p99_ms=5000, error_rate=0.2), rate=20, window_s=1.0)
    ws = SloWindows(patient, origin=0.0, window_s=1.0, grace_s=2.0)
    in_time = healthy(18)
    for s in in_time:
        ws.scheduled(s.scheduled)
    ws.scheduled(0.97)
    ws.scheduled(0.98)  # two requests still in flight
    ws.scheduled(1.0)  # the schedule moved past window 0
    for s in in_time:
        ws.add(s)
    assert ws.poll(0.99) == []  # not over yet
    assert ws.poll(1.5) == []  # over, but two requests are unanswered and the grace runs
    ws.add(sample(0.97, 900))
    assert ws.poll(2.5) == []
    (w0,) = ws.poll(3.0)  # end + grace: the last one counts as pending
    assert (w0.count, w0.pending, w0.errors) == (20, 1, 1)
    ws.add(sample(0.98, 2500))
    assert ws.late == 1


def test_windows_close_in_order_and_empty_ones_are_insufficient() -> None:
    ws = SloWindows(evaluator(), origin=0.0, window_s=1.0, grace_s=0.5)
    feed(ws, healthy(20, at=2.0))
    ws.scheduled(3.0)
    closed = ws.poll(3.01)
    assert [(w.index, w.state) for w in closed] == [(0, "insufficient"), (1, "insufficient"), (2, "healthy")]
    assert ws.next_index == 3


def test_close_all_closes_what_traffic_left_open() -> None:
    ws = SloWindows(evaluator(), origin=0.0, window_s=1.0, grace_s=5.0)
    feed(ws, healthy(20))
    ws.scheduled(0.99)
    assert ws.poll(1.2) == []
    (w0,) = ws.close_all(1.2)
    assert w0.pending == 1


def test_samples_before_the_origin_are_ignored() -> None:
    ws = SloWindows(evaluator(), origin=10.0, window_s=1.0)
    ws.add(sample(9.5))
    assert ws.ignored == 1


def test_engine_exports_are_deliberate() -> None:
    for name in drillkit.traffic.__all__:
        assert getattr(drillkit.traffic, name) is not None
    assert {"LoadGenerator", "Sample", "SloEvaluator", "SloWindows", "Detector"} <= set(drillkit.traffic.__all__)


def test_a_window_whose_breach_is_already_certain_closes_without_waiting_for_stragglers() -> None:
    ws = SloWindows(evaluator(), origin=0.0, window_s=1.0, grace_s=2.0)
    failing = [sample(i / 20, 100, eval_passed=i % 4 == 0) for i in range(18)]  # 5 of 18 pass
    feed(ws, failing)
    ws.scheduled(0.97)
    ws.scheduled(0.98)  # two requests still in flight...
    ws.scheduled(1.0)
    (w0,) = ws.poll(1.05)  # ...but even if both pass, the pass rate cannot reach the objective
    assert w0.early is True and w0.pending == 2
    assert w0.breached == ["eval_pass_rate"]
    ws.add(sample(0.97, 900, eval_passed=True))
    assert ws.late == 1


def test_cost_alone_never_closes_a_window_early() -> None:
    costly = SloEvaluator(Slos(cost_per_request_usd=0.0001), rate=20, window_s=1.0)
    ws = SloWindows(costly, origin=0.0, window_s=1.0, grace_s=2.0)
    feed(ws, [sample(i / 20, 100, cost=0.01) for i in range(18)])
    ws.scheduled(0.97)
    ws.scheduled(1.0)
    assert ws.poll(1.05) == []  # the unanswered request's cost is unknown: wait for it
    (w0,) = ws.poll(3.0)
    assert w0.early is False and w0.breached == ["cost_per_request_usd"]
