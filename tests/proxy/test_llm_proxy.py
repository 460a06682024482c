"""The LLM fault proxy over HTTP: real sim provider and tool API behind real route listeners."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from drillkit.bench.http import bench_http
from drillkit.demo.sim import create_sim_app
from drillkit.demo.tool_api import create_tool_app
from drillkit.faults.l7 import FAULT_TYPES, FaultSpecError, parse_fault_spec
from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app

QUESTION = [{"role": "user", "content": "How many days do I have to return an item?"}]
CHAT = {"model": "sim-pro-2025-06", "messages": QUESTION}
MESSAGES = {"model": "sim-pro-2025-06", "max_tokens": 256, "messages": CHAT["messages"]}
ORDERS = {"A1001": {"order_id": "A1001", "status": "shipped", "carrier": "UPS", "items": [{"sku": "KB-200"}]}}


class Env:
    def __init__(self, urls: dict[str, str], server: LlmProxyServer) -> None:
        self.urls, self.server = urls, server
        self.admin = httpx.Client(base_url=urls["admin"], timeout=10)
        self.route: dict[str, str] = {}

    def add_route(self, name: str, upstream: str, api: str) -> str:
        r = self.admin.post("/routes", json={"name": name, "upstream": upstream, "api": api})
        assert r.status_code == 201, r.text
        self.route[name] = f"http://{r.json()['listen']}"
        return self.route[name]

    def fault(self, route: str, spec: dict[str, Any]) -> dict[str, Any]:
        r = self.admin.post(f"/routes/{route}/faults", json=spec)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    orders = Path(tmp_path_factory.mktemp("tool")) / "orders.json"
    orders.write_text(json.dumps(ORDERS))
    server = LlmProxyServer()
    apps = {
        "sim": create_sim_app(latency_scale=0),
        "slow-sim": create_sim_app(latency_scale=1),  # real pacing: streams take ~0.5 s
        "tool": create_tool_app(orders),
        "admin": create_admin_app(server),
    }
    with ServerThread(apps) as urls:
        e = Env(urls, server)
        e.add_route("openai", urls["sim"], "openai")
        e.add_route("anthropic", urls["sim"], "anthropic")
        e.add_route("tool", urls["tool"], "json")
        e.add_route("slow", urls["slow-sim"], "openai")
        yield e
        e.admin.close()


@pytest.fixture(autouse=True)
def _reset(env: Env) -> Iterator[None]:
    yield
    assert env.admin.post("/reset").status_code == 204


def _sse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def _content(events: list[dict[str, Any]]) -> str:
    return "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])


def test_passes_requests_and_streams_through_unchanged(env: Env) -> None:
    direct = httpx.post(env.urls["sim"] + "/v1/chat/completions", json=CHAT).json()
    proxied = httpx.post(env.route["openai"] + "/v1/chat/completions", json=CHAT)
    assert proxied.status_code == 200 and "x-request-id" in proxied.headers
    assert proxied.json()["choices"] == direct["choices"]
    stream = httpx.post(env.route["openai"] + "/v1/chat/completions", json={**CHAT, "stream": True})
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert _content(_sse(stream.text)) == direct["choices"][0]["message"]["content"]
    assert stream.text.rstrip().endswith("data: [DONE]")
    models = httpx.get(env.route["anthropic"] + "/v1/models?limit=5", headers={"anthropic-version": "2023-06-01"})
    assert models.status_code == 200 and "has_more" in models.json()
    assert httpx.get(env.route["tool"] + "/orders/A1001").json() == ORDERS["A1001"]


def test_upstream_down_answers_502_in_the_route_api_shape_and_keeps_serving(env: Env) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    for api, check in (
        ("openai", lambda b: b["error"]["code"] == "bad_gateway" and b["error"]["type"] == "server_error"),
        ("anthropic", lambda b: b["type"] == "error" and b["error"]["type"] == "api_error"),
        ("json", lambda b: b["error"]["code"] == "bad_gateway"),
    ):
        url = env.add_route(f"dead-{api}", dead, api)
        r = httpx.post(url + "/v1/chat/completions", json=CHAT)
        assert r.status_code == 502 and check(r.json()), r.text
    assert env.admin.patch("/routes/dead-openai", json={"upstream": env.urls["sim"]}).status_code == 200
    assert httpx.post(env.route["dead-openai"] + "/v1/chat/completions", json=CHAT).status_code == 200
    for api in ("openai", "anthropic", "json"):
        assert env.admin.delete(f"/routes/dead-{api}").status_code == 204


def _disconnect_mid_stream(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({**CHAT, "stream": True}).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + b"content-length: %d\r\n\r\n%b" % (len(body), body)
        )
        assert b"200 OK" in sock.recv(4096)


@pytest.mark.parametrize("route", ["slow", "openai"])
def test_client_disconnect_mid_stream_neither_crashes_nor_leaks(env: Env, route: str) -> None:
    if route == "openai":  # the fault path: events pass through a filter, 30 ms apart
        env.fault("openai", {"type": "token_latency", "attributes": {"per_chunk_ms": 30}})
    for _ in range(3):
        _disconnect_mid_stream(env.route[route])
    proxy = env.server.routes[route].proxy
    deadline = time.monotonic() + 5
    while proxy._tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not proxy._tasks  # every exchange noticed and ended
    env.admin.post("/reset")
    assert httpx.post(env.route[route] + "/v1/chat/completions", json=CHAT, timeout=10).status_code == 200


def test_upstream_breaking_mid_stream_breaks_the_client_stream_only(env: Env) -> None:
    chain = env.add_route("chain", env.route["openai"], "openai")  # a proxy in front of a proxy
    env.fault("openai", {"type": "stream_cut", "attributes": {"after_chunks": 2}})
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(chain + "/v1/chat/completions", json={**CHAT, "stream": True})
    env.admin.post("/reset")
    assert httpx.post(chain + "/v1/chat/completions", json={**CHAT, "stream": True}).status_code == 200
    assert env.admin.delete("/routes/chain").status_code == 204


def test_malformed_requests_get_400_not_a_crash(env: Env) -> None:
    host, port = env.route["openai"].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"NONSENSE\r\nbroken header\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")
    assert httpx.get(env.route["openai"] + "/v1/models").status_code == 200


def test_fault_with_ttl_disappears_on_its_own(env: Env) -> None:
    fault = env.fault("openai", {"type": "http_error", "ttl": "300ms", "attributes": {"status": 503}})
    assert fault["expires_at"] and fault["ttl"] == "300ms"
    assert httpx.post(env.route["openai"] + "/v1/chat/completions", json=CHAT).status_code == 503
    time.sleep(0.5)
    assert env.admin.get("/routes/openai/faults/http_error").status_code == 404
    assert httpx.post(env.route["openai"] + "/v1/chat/completions", json=CHAT).status_code == 200


def test_dead_man_faults_need_heartbeats(env: Env) -> None:
    spec = {"type": "http_error", "dead_man": True, "heartbeat_interval": "300ms"}
    env.fault("openai", {**spec, "name": "watched"})
    for _ in range(8):  # 0.8 s with a heartbeat every 0.1 s: it stays
        assert env.admin.post("/heartbeat").status_code == 200
        time.sleep(0.1)
    state = env.admin.get("/heartbeat").json()
    assert state["last_heartbeat"] and [f["fault"] for f in state["dead_man_faults"]] == ["watched"]
    assert env.admin.get("/routes/openai/faults/watched").status_code == 200
    time.sleep(0.5)  # no heartbeat for longer than the interval: gone
    assert env.admin.get("/routes/openai/faults/watched").status_code == 404
    assert env.admin.get("/heartbeat").json()["dead_man_faults"] == []


def test_toxicity_is_a_probability_per_request(env: Env) -> None:
    env.fault("openai", {"type": "http_error", "toxicity": 0.5, "attributes": {"status": 500}})
    env.fault("anthropic", {"type": "http_error", "toxicity": 0.0})
    with httpx.Client() as client:
        statuses = [client.get(env.route["openai"] + "/v1/models").status_code for _ in range(400)]
        never = [client.get(env.route["anthropic"] + "/v1/models").status_code for _ in range(50)]
    share = statuses.count(500) / len(statuses)
    assert 0.4 < share < 0.6, share  # ±4 standard deviations of a fair coin over 400 draws
    assert set(never) == {200}


def test_json_mutate_changes_the_tool_contract(env: Env) -> None:
    attrs = {"drop": ["carrier"], "rename": {"status": "state"}, "set": {"items.0.sku": "XX-1"}, "status": 203}
    env.fault("tool", {"type": "json_mutate", "attributes": attrs})
    r = httpx.get(env.route["tool"] + "/orders/A1001")
    assert r.status_code == 203
    assert r.json() == {"order_id": "A1001", "state": "shipped", "items": [{"sku": "XX-1"}]}
    assert list(r.json()) == ["order_id", "state", "items"]  # the renamed key keeps its place


def test_match_limits_a_fault_to_a_model_and_path(env: Env) -> None:
    env.fault("openai", {"type": "http_error", "match": {"path": "/v1/chat/*", "model": "sim-lite-*"}})
    url = env.route["openai"] + "/v1/chat/completions"
    assert httpx.post(url, json=CHAT).status_code == 200
    assert httpx.post(url, json={**CHAT, "model": "sim-lite-2025-03"}).status_code == 500
    assert httpx.get(env.route["openai"] + "/v1/models").status_code == 200


def test_faults_act_in_the_fixed_order_not_the_order_added(env: Env) -> None:
    env.fault("openai", {"type": "http_error", "attributes": {"status": 503}})
    env.fault("openai", {"type": "quota_exhausted"})
    r = httpx.post(env.route["openai"] + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota"
    assert r.headers["x-should-retry"] == "false"


def test_rate_limit_budget_and_headers(env: Env) -> None:
    env.fault("openai", {"type": "rate_limited", "attributes": {"requests_per_window": 2, "window": "1s"}})
    env.fault("anthropic", {"type": "rate_limited", "attributes": {"retry_after": 2}})
    url = env.route["openai"] + "/v1/chat/completions"
    assert [httpx.post(url, json=CHAT).status_code for _ in range(3)] == [200, 200, 429]
    r = httpx.post(url, json=CHAT)
    assert r.json()["error"]["code"] == "rate_limit_exceeded" and r.json()["error"]["type"] == "requests"
    assert r.headers["retry-after"] == "1" and r.headers["x-ratelimit-limit-requests"] == "2"
    assert r.headers["x-ratelimit-remaining-requests"] == "0" and r.headers["x-ratelimit-reset-requests"]
    a = httpx.post(env.route["anthropic"] + "/v1/messages", json=MESSAGES)
    assert a.status_code == 429 and a.json()["error"]["type"] == "rate_limit_error"
    assert a.headers["retry-after"] == "2" and a.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_content_faults_non_streaming_and_streaming(env: Env) -> None:
    url = env.route["openai"] + "/v1/chat/completions"
    env.fault("openai", {"type": "truncate", "attributes": {"max_chars": 12}})
    body = httpx.post(url, json=CHAT).json()["choices"][0]
    assert len(body["message"]["content"]) == 12 and body["finish_reason"] == "length"
    events = _sse(httpx.post(url, json={**CHAT, "stream": True}).text)
    assert len(_content(events)) == 12 and events[-1]["choices"][0]["finish_reason"] == "length"
    msg = httpx.post(env.route["anthropic"] + "/v1/messages", json=MESSAGES)
    assert msg.json()["stop_reason"] == "end_turn"  # the anthropic route has no fault
    env.admin.post("/reset")

    env.fault("anthropic", {"type": "empty_completion"})
    msg = httpx.post(env.route["anthropic"] + "/v1/messages", json=MESSAGES).json()
    assert msg["content"] == [{"type": "text", "text": ""}] and msg["stop_reason"] == "end_turn"
    env.fault("openai", {"type": "malformed", "attributes": {"mode": "truncated"}})
    broken = httpx.post(url, json=CHAT)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.text)


def test_stream_cut_non_streaming_breaks_the_body(env: Env) -> None:
    env.fault("openai", {"type": "stream_cut"})
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(env.route["openai"] + "/v1/chat/completions", json=CHAT)
    env.admin.post("/reset")
    assert httpx.post(env.route["openai"] + "/v1/chat/completions", json=CHAT).status_code == 200


def test_timing_faults_delay_first_token_and_stall(env: Env) -> None:
    url = env.route["openai"] + "/v1/chat/completions"
    env.fault("openai", {"type": "token_latency", "attributes": {"ttft_ms": 200}})
    env.fault("openai", {"type": "stream_stall", "attributes": {"after_chunks": 2, "stall_ms": 300}})
    started = time.monotonic()
    with httpx.stream("POST", url, json={**CHAT, "stream": True}) as r:
        lines = r.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        first = time.monotonic() - started
        rest = [line for line in lines if line.startswith("data:")]
    total = time.monotonic() - started
    assert 0.18 <= first < 1.0 and total >= first + 0.28 and rest[-1] == "data: [DONE]"


def test_removing_a_fault_cuts_its_sleep_short(env: Env) -> None:
    env.fault("openai", {"type": "stream_stall", "attributes": {"after_chunks": 1, "stall_ms": 20_000}})

    def remove_soon() -> None:
        time.sleep(0.3)
        env.admin.delete("/routes/openai/faults/stream_stall")

    remover = threading.Thread(target=remove_soon)
    started = time.monotonic()
    remover.start()
    r = httpx.post(env.route["openai"] + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10)
    remover.join()
    assert r.text.rstrip().endswith("[DONE]") and time.monotonic() - started < 3


def test_admin_api_errors(env: Env) -> None:
    a = env.admin
    r = a.post("/routes/openai/faults", json={"type": "gremlins"})
    assert r.status_code == 400 and "gremlins" in r.json()["error"] and r.json()["status"] == 400
    r = a.post("/routes/openai/faults", json={"type": "http_error", "attributes": {"status": "often"}})
    assert r.status_code == 400 and "attributes.status" in r.json()["error"]
    r = a.post("/routes/openai/faults", json={"type": "model_swap"})
    assert r.status_code == 400 and "attributes.serve_model" in r.json()["error"]
    r = a.post("/routes/openai/faults", json={"type": "http_error", "attributes": {"stauts": 500}})
    assert r.status_code == 400 and "attributes.stauts" in r.json()["error"]
    assert a.post("/routes/nope/faults", json={"type": "http_error"}).status_code == 404
    assert a.get("/routes/nope").status_code == 404
    assert a.get("/routes/openai/faults/nope").status_code == 404
    assert a.post("/routes", json={"name": "openai", "upstream": env.urls["sim"]}).status_code == 409
    r = a.post("/routes", json={"name": "x"})
    assert r.status_code == 400 and "upstream" in r.json()["error"]
    assert a.post("/routes/openai/faults", json={"type": "http_error"}).status_code == 200
    assert a.post("/routes/openai/faults", json={"type": "http_error"}).status_code == 409
    r = a.patch("/routes/openai/faults/http_error", json={"attributes": {"status": 502}, "toxicity": 0.9})
    assert r.status_code == 200 and r.json()["attributes"]["status"] == 502 and r.json()["toxicity"] == 0.9
    assert a.patch("/routes/openai/faults/http_error", json={"type": "truncate"}).status_code == 400
    assert a.get("/routes").json()["openai"]["faults"][0]["name"] == "http_error"
    assert a.delete("/routes/openai/faults/http_error").status_code == 204
    assert a.get("/routes/openai/faults").json() == []
    assert a.get("/version").json()["version"]


def test_routes_can_be_disabled_and_reset_enables_them(env: Env) -> None:
    url = env.route["tool"] + "/orders/A1001"
    assert env.admin.patch("/routes/tool", json={"enabled": False}).json()["enabled"] is False
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    assert env.admin.post("/reset").status_code == 204
    assert env.admin.get("/routes/tool").json()["enabled"] is True
    assert httpx.get(url).status_code == 200  # the same port again


def test_metrics_count_requests_faults_and_active_faults(env: Env) -> None:
    env.fault("tool", {"type": "http_error", "attributes": {"status": 503}})
    httpx.get(env.route["tool"] + "/orders/A1001")
    text = env.admin.get("/metrics").text
    assert 'drillkit_llm_proxy_requests_total{route="tool",status="503"}' in text
    assert 'drillkit_llm_proxy_faults_applied_total{route="tool",type="http_error"}' in text
    assert 'drillkit_llm_proxy_active_faults{route="tool",type="http_error"} 1.0' in text


def test_bearer_token_guards_the_admin_api() -> None:
    app = create_admin_app(LlmProxyServer(), token="s3cret")
    with ServerThread({"admin": app}) as urls:
        assert httpx.get(urls["admin"] + "/version").status_code == 401
        ok = httpx.get(urls["admin"] + "/version", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_admin_can_refuse_foreign_host_headers() -> None:
    app = create_admin_app(LlmProxyServer(), allowed_hosts=["chaos.internal"])
    with ServerThread({"admin": app}) as urls:
        assert httpx.get(urls["admin"] + "/version").status_code == 200
        assert httpx.get(urls["admin"] + "/version", headers={"host": "chaos.internal:8475"}).status_code == 200
        assert httpx.get(urls["admin"] + "/version", headers={"host": "evil.example"}).status_code == 403


def test_every_fault_type_has_a_spec_with_defaults_or_a_named_requirement() -> None:
    for kind in FAULT_TYPES:
        try:
            spec = parse_fault_spec({"type": kind})
        except FaultSpecError as exc:  # only model_swap needs an attribute
            assert kind == "model_swap" and "serve_model" in str(exc)
        else:
            assert spec.name == kind and spec.toxicity == 1.0


def test_registry_matches_the_scenario_contract_and_exports() -> None:
    import drillkit.faults.l7 as l7
    from drillkit.config.scenario import L7_TYPES

    assert set(FAULT_TYPES) == set(L7_TYPES)
    assert all(hasattr(l7, name) for name in l7.__all__)


def test_bench_smoke() -> None:
    result = asyncio.run(bench_http(rate=50, seconds=0.3, rounds=1, warmup_s=0.1, isolate=False))
    assert result["direct"]["ok"] > 0 and result["proxy"]["ok"] > 0
    assert result["direct"]["errors"] == 0 and result["proxy"]["errors"] == 0
    assert set(result["added"]) == {"p50_ms", "p99_ms"}
