"""Each L7 fault driven through its ability interfaces, without sockets and without waiting.

A fault is built from a spec exactly as the admin API builds it (`parse_fault_spec`, then
`build_fault`) and called the way `drillkit.proxy.http` calls it: ``before(ex)`` for a
`ShortCircuit`, ``rewrite_request(ex)``, ``rewrite_body(ex, reply)`` and ``on_event(ex, event)``.
Sleeping faults get a recorder in place of `Fault.sleep`; `rate_limited` gets a fake clock through
its module's ``clock``; `model_swap`'s side request goes to a fake `SideChannel`.

The same faults over real HTTP (the sim provider, streaming, removal under load) are tested in
``tests/proxy/test_llm_proxy.py``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest

from drillkit.faults.l7 import (
    REGISTRY,
    Api,
    Exchange,
    Fault,
    FiltersEvents,
    Reply,
    RewritesBody,
    RewritesRequest,
    ShortCircuit,
    SseEvent,
    StreamCut,
    build_fault,
    parse_fault_spec,
)
from drillkit.faults.l7 import rate_limited as rate_limited_module
from drillkit.net.jsonio import dumps

CHAT = {"model": "gpt-pinned", "messages": [{"role": "user", "content": "hi"}]}


def make(spec: dict[str, Any]) -> Any:
    """The fault object for a spec, built as the admin API builds it."""
    return build_fault(parse_fault_spec(spec))


def exchange(
    api: Api = "openai",
    body: dict[str, Any] | None = None,
    *,
    path: str = "/v1/chat/completions",
    side: Any = None,
    route_cache: dict[str, Any] | None = None,
) -> Exchange:
    return Exchange(
        route="r", api=api, method="POST", path=path, query="", headers=[("authorization", "Bearer k")],
        body=dumps(CHAT if body is None else body), route_cache={} if route_cache is None else route_cache, side=side,
    )  # fmt: skip


def reply(body: Any, status: int = 200) -> Reply:
    raw = body if isinstance(body, bytes) else dumps(body)
    return Reply(status, [("content-type", "application/json")], raw)


def event(obj: Any, index: int) -> SseEvent:
    data = obj if isinstance(obj, str) else dumps(obj).decode()
    return SseEvent(f"data: {data}\n\n".encode(), index)


def go(coro: Any) -> Any:
    return asyncio.run(coro)


class Sleeps:
    """Stands in for `Fault.sleep`: records the seconds asked for, returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def record_sleeps(monkeypatch: pytest.MonkeyPatch, fault: Fault) -> Sleeps:
    sleeps = Sleeps()
    monkeypatch.setattr(fault, "sleep", sleeps)
    return sleeps


def openai_body(content: str, finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "sim-cheap",
        "system_fingerprint": "fp_cheap",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


def openai_chunk(content: str | None, finish: str | None = None, index: int = 0) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {"model": "sim-cheap", "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def anthropic_message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "model": "claude-cheap",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 9},
    }


# -- the base rules every fault inherits --------------------------------------------------------


def test_selection_honours_toxicity_match_and_removal() -> None:
    never = make({"type": "http_error", "toxicity": 0.0})
    assert not any(never.selected("POST", "/v1/chat/completions", "m") for _ in range(100))
    lite = make({"type": "http_error", "match": {"path": "/v1/chat/*", "model": "lite-*"}})
    assert lite.selected("POST", "/v1/chat/completions", "lite-1")
    assert not lite.selected("POST", "/v1/chat/completions", "pro-1")
    assert not lite.selected("POST", "/v1/chat/completions", None)  # model-constrained, no model
    assert not lite.selected("GET", "/v1/models", "lite-1")
    lite.removed.set()
    assert not lite.selected("POST", "/v1/chat/completions", "lite-1")


def test_fault_sleep_ends_at_once_when_the_fault_is_removed() -> None:
    async def scenario() -> float:
        stall = make({"type": "stream_stall"})
        started = time.perf_counter()
        asyncio.get_running_loop().call_soon(stall.removed.set)
        await stall.sleep(30.0)
        return time.perf_counter() - started

    assert go(scenario()) < 0.5


def test_abilities_are_the_interfaces_the_proxy_discovers() -> None:
    def abilities(kind: str) -> set[str]:
        cls = REGISTRY[kind]
        interfaces = (ShortCircuit, RewritesRequest, RewritesBody, FiltersEvents)
        return {i.__name__ for i in interfaces if issubclass(cls, i)}

    assert abilities("http_error") == {"ShortCircuit"}
    assert abilities("model_swap") == {"RewritesRequest", "RewritesBody", "FiltersEvents"}
    assert abilities("json_mutate") == {"RewritesBody"}
    assert abilities("truncate") == {"RewritesBody", "FiltersEvents"}  # through EditsCompletion


# -- http_error ---------------------------------------------------------------------------------


def test_http_error_answers_in_the_route_api_shape() -> None:
    fault = make({"type": "http_error", "attributes": {"status": 503, "retry_after": 2.5}})
    r = go(fault.before(exchange()))
    assert r.status == 503 and r.header("retry-after") == "2.5"
    assert r.json()["error"] == {
        "message": "Service Unavailable",
        "type": "server_error",
        "param": None,
        "code": "server_is_overloaded",
    }
    overloaded = go(make({"type": "http_error", "attributes": {"status": 529}}).before(exchange("anthropic")))
    assert overloaded.status == 529 and overloaded.header("retry-after") is None
    assert overloaded.json() == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


# -- rate_limited -------------------------------------------------------------------------------


def test_rate_limited_without_a_budget_refuses_every_request() -> None:
    r = go(make({"type": "rate_limited", "attributes": {"retry_after": 1}}).before(exchange()))
    assert r.status == 429 and r.header("retry-after") == "1"
    assert r.json()["error"]["code"] == "rate_limit_exceeded" and r.json()["error"]["type"] == "requests"
    assert r.header("x-ratelimit-remaining-requests") == "0" and r.header("x-ratelimit-limit-requests") is None


def test_rate_limited_request_budget_per_window_on_a_fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(rate_limited_module, "clock", lambda: now[0])
    fault = make({"type": "rate_limited", "attributes": {"requests_per_window": 2, "window": "10s"}})
    assert go(fault.before(exchange())) is None
    assert go(fault.before(exchange())) is None
    now[0] = 103.0
    r = go(fault.before(exchange()))
    assert r.status == 429 and r.header("retry-after") == "7"  # what is left of the window
    assert r.header("x-ratelimit-limit-requests") == "2" and r.header("x-ratelimit-remaining-requests") == "0"
    assert r.header("x-ratelimit-reset-requests") == "7s"
    now[0] = 110.0  # a new window
    assert go(fault.before(exchange())) is None


def test_rate_limited_token_budget_spends_only_on_accepted_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rate_limited_module, "clock", lambda: 0.0)
    fault = make({"type": "rate_limited", "attributes": {"tokens_per_window": 100}})
    big = {**CHAT, "max_tokens": 70}
    cost = len(dumps(big)) // 4 + 70  # prompt bytes / 4, plus max_tokens
    assert go(fault.before(exchange("anthropic", big))) is None
    refused = go(fault.before(exchange("anthropic", big)))
    assert refused.status == 429 and refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.header("anthropic-ratelimit-tokens-limit") == "100"
    assert refused.header("anthropic-ratelimit-tokens-remaining") == str(100 - cost)
    small = {"model": "m"}  # 3 tokens: fits in what is left, because the refusal spent nothing
    assert go(fault.before(exchange("anthropic", small))) is None


# -- quota_exhausted ----------------------------------------------------------------------------


def test_quota_exhausted_is_a_429_clients_must_not_retry() -> None:
    fault = make({"type": "quota_exhausted"})
    r = go(fault.before(exchange()))
    assert r.status == 429 and r.header("x-should-retry") == "false"
    assert r.json()["error"]["type"] == "insufficient_quota" and r.json()["error"]["code"] == "insufficient_quota"
    a = go(fault.before(exchange("anthropic")))
    assert a.status == 429 and a.header("x-should-retry") == "false"
    assert a.json()["error"]["type"] == "rate_limit_error"
    assert a.json()["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}
    custom = go(make({"type": "quota_exhausted", "attributes": {"message": "no credit"}}).before(exchange("json")))
    assert custom.json() == {"error": {"code": "insufficient_quota", "message": "no credit"}}


# -- model_swap ---------------------------------------------------------------------------------


class FakeSide:
    """A `SideChannel` that answers the fingerprint probe without a network."""

    def __init__(self, answer: tuple[int, Any] | Exception) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def request_json(self, ex: Exchange, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.calls.append((method, path, body))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_model_swap_serves_another_model_under_the_pinned_name() -> None:
    fault = make({"type": "model_swap", "attributes": {"serve_model": "sim-cheap"}})
    side, cache = FakeSide((200, {"system_fingerprint": "fp_pinned"})), {}
    ex = exchange(side=side, route_cache=cache)
    go(fault.rewrite_request(ex))
    assert ex.json()["model"] == "sim-cheap" and json.loads(ex.body)["model"] == "sim-cheap"
    assert ex.requested_model == "gpt-pinned"
    ((method, path, probe),) = side.calls  # one tiny probe for the pinned model's fingerprint
    assert (method, path, probe["model"], probe["max_tokens"]) == ("POST", "/v1/chat/completions", "gpt-pinned", 1)

    body = go(fault.rewrite_body(ex, reply(openai_body("hello")))).json()
    assert body["model"] == "gpt-pinned" and body["system_fingerprint"] == "fp_pinned"
    chunk = go(fault.on_event(ex, event({**openai_chunk("he"), "system_fingerprint": "fp_cheap"}, 0))).json()
    assert chunk["model"] == "gpt-pinned" and chunk["system_fingerprint"] == "fp_pinned"
    error = go(fault.rewrite_body(ex, reply({"model": "sim-cheap"}, status=404)))
    assert error.json() == {"model": "sim-cheap"}  # error bodies pass unchanged

    go(fault.rewrite_request(exchange(side=side, route_cache=cache)))
    assert len(side.calls) == 1  # learnt once per route and model


def test_model_swap_probe_failure_reports_null_and_tries_again() -> None:
    fault = make({"type": "model_swap", "attributes": {"serve_model": "sim-cheap"}})
    side, cache = FakeSide(OSError("refused")), {}
    ex = exchange(side=side, route_cache=cache)
    go(fault.rewrite_request(ex))
    assert go(fault.rewrite_body(ex, reply(openai_body("x")))).json()["system_fingerprint"] is None
    go(fault.rewrite_request(exchange(side=side, route_cache=cache)))
    assert len(side.calls) == 2  # a failure is not cached


def test_model_swap_served_report_and_anthropic_stream() -> None:
    attrs = {"serve_model": "sim-cheap", "report_model": "served", "system_fingerprint": "null"}
    shown = make({"type": "model_swap", "attributes": attrs})
    ex = exchange(side=FakeSide(AssertionError("no probe when the fingerprint is not kept")))
    go(shown.rewrite_request(ex))
    body = go(shown.rewrite_body(ex, reply(openai_body("x")))).json()
    assert body["model"] == "sim-cheap" and body["system_fingerprint"] is None

    hidden = make({"type": "model_swap", "attributes": {"serve_model": "claude-cheap"}})
    ex = exchange("anthropic", {"model": "claude-pinned", "max_tokens": 5, "messages": []}, path="/v1/messages")
    go(hidden.rewrite_request(ex))
    assert ex.json()["model"] == "claude-cheap"
    start = {"type": "message_start", "message": {"model": "claude-cheap", "content": []}}
    assert go(hidden.on_event(ex, event(start, 0))).json()["message"]["model"] == "claude-pinned"


# -- token_latency ------------------------------------------------------------------------------


def test_token_latency_waits_before_the_first_event_and_between_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    fault = make({"type": "token_latency", "attributes": {"ttft_ms": 200, "per_chunk_ms": 50}})
    sleeps = record_sleeps(monkeypatch, fault)
    ex = exchange()
    for i in range(3):
        assert go(fault.on_event(ex, event(openai_chunk("x"), i))).raw == event(openai_chunk("x"), i).raw
    go(fault.rewrite_body(ex, reply(openai_body("x"))))
    assert sleeps.calls == [0.2, 0.05, 0.05, 0.2]


def test_token_latency_jitter_stays_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    random.seed(5)
    fault = make({"type": "token_latency", "attributes": {"ttft_ms": 10, "jitter_ms": 30}})
    sleeps = record_sleeps(monkeypatch, fault)
    for _ in range(200):
        go(fault.on_event(exchange(), event(openai_chunk("x"), 0)))
    assert all(0.0 <= s <= 0.04 for s in sleeps.calls) and min(sleeps.calls) == 0.0


# -- stream_cut ---------------------------------------------------------------------------------


def test_stream_cut_ends_the_stream_after_n_events() -> None:
    fault = make({"type": "stream_cut", "attributes": {"after_chunks": 2}})
    ex = exchange()
    assert go(fault.on_event(ex, event(openai_chunk("a"), 0))) is not None
    assert go(fault.on_event(ex, event(openai_chunk("b"), 1))) is not None
    with pytest.raises(StreamCut):
        go(fault.on_event(ex, event(openai_chunk("c"), 2)))


def test_stream_cut_whole_body_is_cut_at_half_or_after_bytes() -> None:
    body = reply(b"x" * 100)
    assert go(make({"type": "stream_cut"}).rewrite_body(exchange(), body)).cut_at == 50
    for after, cut_at in ((10, 10), (1000, 100)):
        fault = make({"type": "stream_cut", "attributes": {"after_bytes": after}})
        assert go(fault.rewrite_body(exchange(), body)).cut_at == cut_at


# -- stream_stall -------------------------------------------------------------------------------


def test_stream_stall_waits_once_after_n_events(monkeypatch: pytest.MonkeyPatch) -> None:
    fault = make({"type": "stream_stall", "attributes": {"after_chunks": 1, "stall_ms": 300}})
    sleeps = record_sleeps(monkeypatch, fault)
    ex = exchange()
    for i in range(4):
        go(fault.on_event(ex, event(openai_chunk("x"), i)))
    assert sleeps.calls == [0.3]
    go(fault.rewrite_body(ex, reply(openai_body("x"))))
    assert sleeps.calls == [0.3, 0.3]  # non-streaming: before the body


# -- malformed ----------------------------------------------------------------------------------


def test_malformed_whole_body_no_longer_parses() -> None:
    body = {"id": "c1", "choices": []}
    invalid = go(make({"type": "malformed"}).rewrite_body(exchange(), reply(body)))
    assert invalid.body == b'{"id"="c1","choices":[]}' and invalid.json() is None
    raw = dumps(body)
    cut = go(make({"type": "malformed", "attributes": {"mode": "truncated"}}).rewrite_body(exchange(), reply(body)))
    assert cut.body == raw[: len(raw) // 2] and cut.json() is None


def test_malformed_stream_corrupts_one_json_event_at_or_after_n() -> None:
    fault = make({"type": "malformed", "attributes": {"after_chunks": 1}})
    ex = exchange()
    events = [event(openai_chunk("a"), 0), event("[DONE]", 1), event(openai_chunk("b"), 2), event(openai_chunk("c"), 3)]
    out = [go(fault.on_event(ex, e)) for e in events]
    assert out[0].raw == events[0].raw and out[1].raw == events[1].raw  # before n; not JSON
    assert out[2].json() is None and "=" in out[2].data
    assert out[3].raw == events[3].raw  # once per exchange
    assert go(fault.on_event(exchange(), event(openai_chunk("d"), 5))).json() is None  # a new exchange: again


# -- empty_completion ---------------------------------------------------------------------------


def test_empty_completion_empties_the_answer_and_says_it_finished() -> None:
    fault = make({"type": "empty_completion"})
    body = go(fault.rewrite_body(exchange(), reply(openai_body("a long answer", finish="length")))).json()
    assert body["choices"][0]["message"]["content"] == "" and body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 0, "total_tokens": 7}
    ex = exchange()
    assert go(fault.on_event(ex, event(openai_chunk("tok"), 0))).json()["choices"][0]["delta"]["content"] == ""
    last = go(fault.on_event(ex, event(openai_chunk(None, finish="length"), 1))).json()
    assert last["choices"][0]["finish_reason"] == "stop"
    assert go(fault.on_event(ex, event("[DONE]", 2))).data == "[DONE]"
    msg = go(fault.rewrite_body(exchange("anthropic"), reply(anthropic_message("hello")))).json()
    assert msg["content"] == [{"type": "text", "text": ""}] and msg["stop_reason"] == "end_turn"
    assert msg["usage"]["output_tokens"] == 0
    error = {"error": {"message": "bad"}}
    assert go(fault.rewrite_body(exchange(), reply(error, status=400))).json() == error


# -- truncate -----------------------------------------------------------------------------------


def test_truncate_cuts_the_answer_and_reports_a_length_stop() -> None:
    fault = make({"type": "truncate", "attributes": {"max_chars": 5}})
    body = go(fault.rewrite_body(exchange(), reply(openai_body("Hello world")))).json()
    assert body["choices"][0]["message"]["content"] == "Hello" and body["choices"][0]["finish_reason"] == "length"
    short = go(fault.rewrite_body(exchange(), reply(openai_body("Hi")))).json()
    assert short["choices"][0]["message"]["content"] == "Hi" and short["choices"][0]["finish_reason"] == "stop"
    msg = go(fault.rewrite_body(exchange("anthropic"), reply(anthropic_message("Hello world")))).json()
    assert msg["content"][0]["text"] == "Hello" and msg["stop_reason"] == "max_tokens"


def test_truncate_stream_budget_runs_across_events_per_choice() -> None:
    fault = make({"type": "truncate", "attributes": {"max_chars": 5}})
    ex = exchange()
    texts = []
    for i, piece in enumerate(["Hel", "lo w", "orld"]):
        texts.append(go(fault.on_event(ex, event(openai_chunk(piece), i))).json()["choices"][0]["delta"]["content"])
    assert texts == ["Hel", "lo", ""]
    other = go(fault.on_event(ex, event(openai_chunk("abc", index=1), 3))).json()
    assert other["choices"][0]["delta"]["content"] == "abc"  # choice 1 has its own budget
    last = go(fault.on_event(ex, event(openai_chunk(None, finish="stop"), 4))).json()
    assert last["choices"][0]["finish_reason"] == "length"


# -- json_mutate --------------------------------------------------------------------------------


def test_json_mutate_drops_renames_and_sets_in_that_order() -> None:
    attrs = {
        "drop": ["carrier", "missing.path"],
        "rename": {"status": "state"},
        "set": {"items.0.sku": "XX-1", "meta.source": "chaos"},
        "status": 203,
    }
    fault = make({"type": "json_mutate", "attributes": attrs})
    order = {"order_id": "A1", "status": "shipped", "carrier": "UPS", "items": [{"sku": "KB"}]}
    r = go(fault.rewrite_body(exchange("json"), reply(order)))
    assert r.status == 203
    assert r.json() == {"order_id": "A1", "state": "shipped", "items": [{"sku": "XX-1"}], "meta": {"source": "chaos"}}
    assert list(r.json())[:2] == ["order_id", "state"]  # the renamed key keeps its place


def test_json_mutate_leaves_non_json_bodies_alone_but_applies_the_status() -> None:
    fault = make({"type": "json_mutate", "attributes": {"drop": "a", "status": 500}})
    r = go(fault.rewrite_body(exchange("json"), reply(b"plain text")))
    assert r.status == 500 and r.body == b"plain text"


# -- registration -------------------------------------------------------------------------------


def test_every_registered_fault_has_a_unit_test_here() -> None:
    names = [name for name in globals() if name.startswith("test_")]
    untested = {t for t in REGISTRY if not any(name.startswith(f"test_{t}_") for name in names)}
    assert not untested, f"add a test_<type>_... unit test for {sorted(untested)}"
