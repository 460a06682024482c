"""Game-day traffic against an OpenAI-shaped service: live quality and cost are judged on every
answer (issue 13: they read nothing on OpenAI-shaped traffic before).

The demo service's `/v1/chat/completions` is the OpenAI-shaped service here: real sim providers,
tool API and service on loopback ports. The load generator sends `{question}` records; the wire
builds chat bodies, sends the configured header, reads the answer from
`/choices/0/message/content` and the cost from a response header.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from drillkit.evals.suite import load_suite
from drillkit.evals.wire import Wire
from drillkit.traffic.inputs import assertions_by_question
from drillkit.traffic.load import LoadGenerator
from drillkit.traffic.samples import Sample
from drillkit.traffic.slo import measure
from tests.demo.test_chat_api import Env, env, service  # noqa: F401  (the module's fixture)
from tests.demo.test_service import ASSETS


def run_traffic(url: str, wire: Wire, records: list[dict], evals: dict, seconds: float = 1.5) -> list[Sample]:
    samples: list[Sample] = []

    async def go() -> None:
        load = LoadGenerator(url, records, rate=20, evals=evals, on_sample=samples.append, wire=wire, timeout=10)
        await load.start()
        await asyncio.sleep(seconds)
        await load.stop(timeout=10)

    asyncio.run(go())
    return samples


def test_openai_shaped_traffic_is_judged_for_quality_and_cost(tmp_path: Path, env: Env) -> None:  # noqa: F811
    suite = load_suite(ASSETS / "evals" / "suite.yaml")
    evals = assertions_by_question(suite)
    records = [{"question": q} for q in evals]
    wire = Wire(
        api="openai-chat",
        model="support",
        headers={"Authorization": "Bearer sk-test"},
        response={"cost_usd": "header:x-drillkit-cost-usd", "provider": "header:x-drillkit-provider"},
    )
    with service(tmp_path, env) as url:
        samples = run_traffic(f"{url}/v1/chat/completions", wire, records, evals)
    ok = [s for s in samples if s.ok]
    assert len(ok) >= 20, [s.error for s in samples if not s.ok][:3]
    assert all(s.eval_passed is not None for s in ok), "every answer to a suite question is judged"
    assert sum(s.eval_passed for s in ok) / len(ok) >= 0.9  # the healthy demo is inside its envelope
    assert all(s.cost_usd is not None and s.cost_usd > 0 for s in ok)
    assert {s.provider for s in ok} == {"primary"}
    window = measure(0, 0.0, 2.0, samples)
    assert window["eval_count"] == len(ok) and window["cost_per_request_usd"] is not None


def test_chat_records_are_matched_to_cases_by_their_last_user_message(tmp_path: Path, env: Env) -> None:  # noqa: F811
    evals = assertions_by_question(load_suite(ASSETS / "evals" / "suite.yaml"))
    question = next(iter(evals))
    records = [{"messages": [{"role": "user", "content": "earlier"}, {"role": "user", "content": question}]}]
    with service(tmp_path, env) as url:
        samples = run_traffic(f"{url}/v1/chat/completions", Wire(api="openai-chat", model="m"), records, evals, 0.6)
    ok = [s for s in samples if s.ok]
    assert ok and all(s.eval_passed is not None for s in ok)
    assert all(s.cost_usd is None for s in ok)  # no cost source, no price for the served model: unknown
    assert measure(0, 0.0, 1.0, samples)["cost_per_request_usd"] is None  # unjudged, not $0


def test_inputs_fingerprint_reads_the_question_not_the_system_prompt() -> None:
    from drillkit.components.inputs import text_of

    system = "You are Acme's support assistant. " * 40
    record = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": "Where is my order?"}]}
    assert text_of(record) == "Where is my order?"
    assert text_of({"question": "q", "user_id": "u-1"}) == "q"


def run_streamed(url: str, wire: Wire, records: list[dict], evals: dict, seconds: float) -> list[Sample]:
    samples: list[Sample] = []

    async def go() -> None:
        load = LoadGenerator(url, records, rate=20, evals=evals, on_sample=samples.append, wire=wire, timeout=5,
                             stream=True)  # fmt: skip
        await load.start()
        await asyncio.sleep(seconds)
        await load.stop(timeout=10)

    asyncio.run(go())
    return samples


def test_streamed_traffic_measures_time_to_first_token_and_judges_the_assembled_answer(
    tmp_path: Path,
    env: Env,  # noqa: F811
) -> None:
    evals = assertions_by_question(load_suite(ASSETS / "evals" / "suite.yaml"))
    records = [{"question": q} for q in evals]
    wire = Wire(api="openai-chat", model="support")
    with service(tmp_path, env) as url:
        before = run_streamed(f"{url}/v1/chat/completions", wire, records, evals, 1.0)
        env.fault({"type": "token_latency", "attributes": {"ttft_ms": 400}})
        during = run_streamed(f"{url}/v1/chat/completions", wire, records, evals, 1.0)
        env.reset()
        env.fault({"type": "stream_cut", "attributes": {"after_chunks": 3}})
        cut = run_streamed(f"{url}/v1/chat/completions", wire, records, evals, 0.6)
    ok_before, ok_during = [s for s in before if s.ok], [s for s in during if s.ok]
    assert len(ok_before) >= 10 and len(ok_during) >= 10, [s.error for s in [*before, *during] if not s.ok][:3]
    assert all(s.ttft_ms is not None and s.ttft_ms <= s.latency_ms for s in ok_before)
    assert all(s.eval_passed is not None for s in ok_before)
    assert sum(s.eval_passed for s in ok_before) / len(ok_before) >= 0.9  # the assembled answers pass
    fast = measure(0, 0.0, 1.0, before)
    slow = measure(0, 0.0, 1.0, during)
    assert fast["ttft_samples"] == len(ok_before) and fast["ttft_p95_ms"] < 300
    assert slow["ttft_p95_ms"] >= 380  # the provider's first token waited 400 ms
    # A stream cut after its first tokens is an error, not a short answer judged as fine.
    assert cut and all(not s.ok for s in cut)
    assert all(s.error and ("cut" in s.error or "stream error" in s.error) for s in cut), {s.error for s in cut}
