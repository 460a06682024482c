"""`traffic.profile` (issue 16 item 4): the format, and the game-day task that applies it to a real
load generator and keeps the SLO evaluator's rate in step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from drillkit.config.scenario import Scenario, Traffic
from drillkit.config.system import System
from drillkit.config.traffic_profile import RateChange, rate_at
from drillkit.gameday.context import RunContext
from drillkit.gameday.profile import SentRates, apply_profile, next_tick
from drillkit.journal.events import PreflightWarning
from drillkit.net.serving import ServerThread
from drillkit.traffic import LoadGenerator, SloEvaluator, SloWindows


def changes(*items: dict[str, Any]) -> list[RateChange]:
    return Traffic.model_validate({"rate": 20, "profile": list(items)}).profile


# -- the format ----------------------------------------------------------------------------------


def test_steps_and_ramps() -> None:
    profile = changes({"at": "0s", "rate": 60, "ramp": "4s"}, {"at": "10s", "rate": 5}, {"at": "12s", "rate": 30})
    assert [rate_at(profile, 20, t) for t in (-3, 0, 1, 2, 4, 9.9, 10, 11, 12, 99)] == [
        20, 20, 30, 40, 60, 60, 5, 5, 30, 30,
    ]  # fmt: skip
    assert rate_at([], 20, 5) == 20


@pytest.mark.parametrize(
    ("traffic", "error"),
    [
        ({"rate": 0, "profile": [{"at": 0, "rate": 5}]}, "no rate to change"),
        ({"rate": 5, "profile": [{"at": "3s", "rate": 9, "ramp": "5s"}, {"at": "4s", "rate": 1}]}, "before the one"),
        ({"rate": 5, "profile": [{"at": "3s", "rate": 9}, {"at": "1s", "rate": 1}]}, "time order"),
        ({"rate": 5, "profile": [{"at": "3s", "rate": 0}]}, "greater than 0"),
        ({"rate": 5, "profile": [{"at": "3s", "rate": 2, "over": "1s"}]}, "over"),
    ],
)
def test_bad_profiles_are_refused(traffic: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        Traffic.model_validate(traffic)


def test_the_evaluator_rate_is_the_lowest_sent_in_the_span() -> None:
    sent = SentRates(span=3.0, rate=20)
    assert sent.lowest(100.0) == 20
    sent.sent(101.0, 60)
    assert sent.lowest(101.0) == 20 and sent.lowest(103.9) == 20  # windows sent at 20 still to judge
    assert sent.lowest(104.1) == 60
    sent.sent(105.0, 10)
    assert sent.lowest(105.0) == 10
    sent.sent(106.0, 40)
    assert sent.lowest(108.5) == 10 and sent.lowest(109.5) == 40


def test_next_tick_wakes_for_each_change_and_along_a_ramp() -> None:
    profile = changes({"at": "2s", "rate": 60, "ramp": "1s"}, {"at": "5s", "rate": 20})
    assert next_tick(profile, -4.0, 1.5) == -3.0  # at least once a second
    assert next_tick(profile, 1.5, 1.5) == 2.0
    assert next_tick(profile, 2.0, 1.5) == pytest.approx(2.1)
    assert next_tick(profile, 2.95, 1.5) == 3.0
    assert next_tick(profile, 3.0, 1.5) == 4.0  # the evaluator catches up after 4.5 (at least once a second)
    assert next_tick(profile, 4.2, 1.5) == pytest.approx(4.52)
    assert next_tick(profile, 4.52, 1.5) == 5.0
    assert next_tick(profile, 6.0, 1.5) == pytest.approx(6.52)  # the end: the evaluator settled


# -- applied to a real load generator -------------------------------------------------------------


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    async def answer(request: Request) -> JSONResponse:
        return JSONResponse({"answer": "ok"})

    with ServerThread({"svc": Starlette(routes=[Route("/v1/answer", answer, methods=["POST"])])}) as urls:
        yield urls["svc"] + "/v1/answer"


SYSTEM = {"apiVersion": "drillkit/v1", "kind": "System", "name": "s", "service": {"url": "http://127.0.0.1:9/"},
          "slos": {"latency_p95_ms": 800, "latency_p99_ms": 1500}}  # fmt: skip


def judge(rate: float, window_s: float) -> SloEvaluator:
    return SloEvaluator(System.model_validate(SYSTEM).slos, rate=rate, window_s=window_s)


def run_context(traffic: dict[str, Any], load: LoadGenerator, windows: SloWindows, events: list[Any]) -> RunContext:
    scenario = Scenario.model_validate({
        "apiVersion": "drillkit/v1", "kind": "Scenario", "id": "profiled", "title": "t", "layer": "provider",
        "traffic": traffic, "timeline": {"warmup": "300ms", "window": "500ms"},
        "faults": [{"type": "latency", "target": "provider:p", "attributes": {"latency": 1}}],
        "rollback": {"steps": [{"name": "x", "run": ["true"]}]},
    })  # fmt: skip
    system = System.model_validate(SYSTEM)
    context = SimpleNamespace(scenario=scenario, system=system, load=load, windows=windows, emit=events.append)
    return cast(RunContext, context)


def test_apply_profile_steps_the_load_and_keeps_the_judge_in_step(url: str) -> None:
    traffic = {"rate": 10, "profile": [{"at": "200ms", "rate": 80}, {"at": "1s", "rate": 40, "ramp": "400ms"}]}
    scheduled: list[float] = []
    events: list[Any] = []
    evaluator = judge(10, 0.5)
    seen: list[tuple[float, float, float]] = []

    async def main() -> float:
        load = LoadGenerator(url, [{"question": "q"}], rate=10, on_schedule=scheduled.append)
        windows = SloWindows(evaluator, origin=time.monotonic(), window_s=0.5, grace_s=0.3)
        ctx = run_context(traffic, load, windows, events)
        await load.start()
        assert load.t0 is not None
        task = asyncio.ensure_future(apply_profile(ctx))
        while not task.done():
            seen.append((time.monotonic() - load.t0, load.rate, evaluator.rate))
            await asyncio.sleep(0.02)
        await asyncio.sleep(max(0.0, load.t0 + 0.3 + 1.9 - time.monotonic()))  # the last rate holds
        await load.stop()
        return load.t0

    t0 = asyncio.run(main())
    warmup_end = t0 + 0.3

    def sent(start: float, end: float) -> int:
        return sum(warmup_end + start <= t < warmup_end + end for t in scheduled)

    assert 2 <= sum(t < warmup_end for t in scheduled) <= 4  # the warmup at 10/s
    assert 54 <= sent(0.25, 0.95) <= 58  # the step to 80/s, 200 ms after the warmup
    assert 15 <= sent(1.45, 1.85) <= 17  # the ramp's end rate, 40/s
    rates = {round(rate) for t, rate, _ in seen if 1.35 < t < 1.65}
    assert rates & set(range(41, 80)), "a ramp passes through the rates between"
    # The judge never asks a window for more samples than it was sent: it follows the lowest rate of
    # the last window + grace (0.8 s), so it reaches 80 only 0.8 s after the step.
    for t, _, judged in seen:
        if 0.5 + 0.05 < t < 0.5 + 0.75:
            assert judged == 10, (t, judged)
    assert evaluator.rate == 40  # settled once the last change is over
    assert events == []  # nothing below the base rate: nothing new goes unjudged


def test_a_profile_below_the_base_rate_warns_of_what_it_leaves_unjudged(url: str) -> None:
    events: list[Any] = []
    evaluator = judge(100, 0.5)

    async def main() -> None:
        load = LoadGenerator(url, [{"question": "q"}], rate=100)
        windows = SloWindows(evaluator, origin=time.monotonic(), window_s=0.5, grace_s=0.1)
        ctx = run_context({"rate": 100, "profile": [{"at": "0s", "rate": 30}]}, load, windows, events)
        await load.start()
        await apply_profile(ctx)
        await load.stop()

    asyncio.run(main())
    assert [type(e) for e in events] == [PreflightWarning]
    assert "latency_p99_ms cannot be judged while traffic.profile sends 30 req/s" in events[0].message


def test_no_profile_no_traffic_nothing_to_do(url: str) -> None:
    async def main() -> None:
        load = LoadGenerator(url, [{"question": "q"}], rate=5)
        windows = SloWindows(judge(5, 1), origin=0, window_s=1)
        await asyncio.wait_for(apply_profile(run_context({"rate": 5}, load, windows, [])), 0.5)  # not started
        await load.start()
        await asyncio.wait_for(apply_profile(run_context({"rate": 5}, load, windows, [])), 0.5)
        await load.stop()

    asyncio.run(main())


def test_a_step_up_at_the_end_settles_the_evaluator_at_once(url: str) -> None:
    evaluator = judge(10, 0.3)

    async def main() -> float:
        load = LoadGenerator(url, [{"question": "q"}], rate=10)
        windows = SloWindows(evaluator, origin=time.monotonic(), window_s=0.3, grace_s=0.1)
        await load.start()
        assert load.t0 is not None
        await apply_profile(run_context({"rate": 10, "profile": [{"at": "0s", "rate": 50}]}, load, windows, []))
        took = time.monotonic() - load.t0
        await load.stop()
        return took

    took = asyncio.run(main())
    assert evaluator.rate == 50
    assert 0.3 + 0.4 <= took < 0.3 + 0.4 + 0.3, took  # warmup, then window + grace, not a second more
