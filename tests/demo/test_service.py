"""The demo service end to end: real sim providers, tool API and service on loopback ports."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import drillkit.demo
from drillkit.config.system import Provider
from drillkit.demo.prompts import PromptError, PromptTemplates
from drillkit.demo.router import Router, retry_after_seconds
from drillkit.demo.service import create_service_app
from drillkit.demo.sim.app import create_sim_app
from drillkit.demo.tool_api import create_tool_app
from drillkit.evals import load_suite, run_suite
from drillkit.net.serving import ServerThread

ASSETS = Path(drillkit.demo.__file__).parent / "assets"
PINNED, NEWER, LITE = "sim-pro-2025-06", "sim-pro-2025-11", "sim-lite-2025-03"
RETURNS_Q = "How many days do I have to return an item?"


class Flaky:
    """An upstream that answers every request with a configured error, counting the calls."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.status = 429
        self.headers: dict[str, str] = {"retry-after": "30"}
        self.body: Any = {"error": {"message": "Rate limit reached", "type": "requests", "code": None}}
        self.raw: bytes | None = None  # sent as-is instead of `body` as JSON

    def app(self) -> Starlette:
        async def fail(request: Request) -> Response:
            self.calls += 1
            if self.raw is not None:
                return Response(self.raw, status_code=self.status, headers=self.headers, media_type="application/json")
            return JSONResponse(self.body, status_code=self.status, headers=self.headers)

        return Starlette(routes=[Route("/v1/{rest:path}", fail, methods=["POST"])])


@pytest.fixture(scope="module")
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture(scope="module")
def upstreams(flaky: Flaky, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    orders = tmp_path_factory.mktemp("tool") / "orders.json"
    shutil.copyfile(ASSETS / "orders.json", orders)
    apps = {
        "primary": create_sim_app("primary", latency_scale=0),
        "fallback": create_sim_app("fallback", latency_scale=0),
        "tool": create_tool_app(orders),
        "flaky": flaky.app(),
    }
    with ServerThread(apps) as urls:
        yield urls


@pytest.fixture(autouse=True)
def _fresh_flaky(flaky: Flaky) -> None:
    flaky.reset()


def make_workdir(
    root: Path,
    upstreams: dict[str, str],
    *,
    primary: str = "primary",
    api: str = "openai",
    tool: str | None = None,
    primary_timeout: str = "10s",
) -> Path:
    """A demo workdir: the packaged assets plus a manifest pointing at the test's servers.

    `primary` names one of `upstreams`, or is a URL itself.
    """
    workdir = root / "demo"
    shutil.copytree(ASSETS, workdir, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    primary_url = upstreams.get(primary, primary)
    manifest = {
        "apiVersion": "drillkit/v1",
        "kind": "System",
        "name": "acme-support",
        "service": {"url": "http://127.0.0.1:9/v1/answer"},  # not used by the service itself
        "providers": {
            "primary": {"base_url": f"{primary_url}/v1", "api": api, "model": PINNED, "timeout": primary_timeout},
            "fallback": {"base_url": f"{upstreams['fallback']}/v1", "api": "openai", "model": LITE},
        },
        "tools": {"order_status": {"base_url": tool or upstreams["tool"]}},
        "components": {"prompt": {"path": "prompts/"}, "retrieval": {"path": "corpus/"}},
        "pricing": {
            PINNED: {"input_per_mtok": 3.0, "output_per_mtok": 15.0},
            LITE: {"input_per_mtok": 0.25, "output_per_mtok": 1.25},
        },
    }
    (workdir / "drillkit.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return workdir


@contextmanager
def service(workdir: Path) -> Iterator[httpx.Client]:
    """A client of the service over `workdir`; the app is `client.app` (for in-process tweaks)."""
    app = create_service_app(workdir, corpus_check_interval=0)
    with (
        ServerThread({"service": app}) as urls,
        httpx.Client(base_url=urls["service"], timeout=15, headers={"content-type": "application/json"}) as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


def closed_port_url() -> str:
    """A loopback URL nothing listens on (bound, then closed: connection refused)."""
    with ServerThread({"gone": Starlette()}) as urls:
        return urls["gone"]


@pytest.fixture
def workdir(tmp_path: Path, upstreams: dict[str, str]) -> Path:
    return make_workdir(tmp_path, upstreams)


def ask(client: httpx.Client, question: str) -> dict[str, Any]:
    r = client.post("/v1/answer", json={"question": question})
    assert r.status_code == 200, r.text
    return r.json()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"^([\w:]+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
    return 0.0


# -- answers ------------------------------------------------------------------------------------


def test_answer_cites_retrieved_documents(workdir: Path) -> None:
    with service(workdir) as client:
        r = client.post("/v1/answer", json={"question": RETURNS_Q})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {
        "answer",
        "citations",
        "model",
        "provider",
        "usage",
        "cost_usd",
        "latency_ms",
        "trace_id",
        "prompt_version",
        "corpus_version",
    }
    assert "30 days" in body["answer"]
    assert body["citations"] == ["returns-policy"]
    assert (body["model"], body["provider"], body["prompt_version"]) == (PINNED, "primary", "v3")
    usage = body["usage"]
    assert usage["input_tokens"] > 50 and usage["output_tokens"] > 5
    expected = (usage["input_tokens"] * 3.0 + usage["output_tokens"] * 15.0) / 1e6
    assert body["cost_usd"] == pytest.approx(expected)
    assert re.fullmatch(r"[0-9a-f]{32}", body["trace_id"]) and r.headers["x-trace-id"] == body["trace_id"]
    assert re.fullmatch(r"c[0-9a-f]{8}", body["corpus_version"])
    assert 0 < body["latency_ms"] < 5000


def test_anthropic_wire_format(tmp_path: Path, upstreams: dict[str, str]) -> None:
    with service(make_workdir(tmp_path, upstreams, api="anthropic")) as client:
        body = ask(client, RETURNS_Q)
    assert (body["provider"], body["model"]) == ("primary", PINNED)
    assert body["citations"] == ["returns-policy"] and "30 days" in body["answer"]
    assert body["usage"]["input_tokens"] > 50


def test_order_question_calls_the_tool(workdir: Path) -> None:
    order = json.loads((workdir / "orders.json").read_text())["A1001"]
    with service(workdir) as client:
        known = ask(client, "Where is my order A1001?")
        unknown = ask(client, "What is the status of order A9999?")
        metrics = client.get("/metrics").text
    assert f"Order A1001 is {order['status']}" in known["answer"]
    assert order["carrier"] in known["answer"]
    assert "could not determine" in unknown["answer"]
    assert metric(metrics, "drillkit_demo_tool_calls_total", tool="order_status", status="200") == 1
    assert metric(metrics, "drillkit_demo_tool_calls_total", tool="order_status", status="404") == 1


def test_tool_down_becomes_a_failed_tool_block(tmp_path: Path, upstreams: dict[str, str]) -> None:
    with service(make_workdir(tmp_path, upstreams, tool=closed_port_url())) as client:
        body = ask(client, "Where is my order A1001?")
        metrics = client.get("/metrics").text
    assert "could not determine" in body["answer"]
    assert metric(metrics, "drillkit_demo_tool_calls_total", tool="order_status", status="error") == 1


# -- router -------------------------------------------------------------------------------------


def test_429_falls_back_and_cools_the_primary(tmp_path: Path, upstreams: dict[str, str], flaky: Flaky) -> None:
    with service(make_workdir(tmp_path, upstreams, primary="flaky")) as client:
        first = ask(client, RETURNS_Q)
        second = ask(client, RETURNS_Q)
        health = client.get("/admin/state").json()["health"]["primary"]
        metrics = client.get("/metrics").text
        reset = client.post("/admin/reset")
        third = ask(client, RETURNS_Q)
    assert (first["provider"], first["model"]) == ("fallback", LITE)
    assert second["provider"] == "fallback"
    assert flaky.calls == 2, "the second request skipped the cooling primary; reset cleared the cooldown"
    assert 25 < health["cooldown_s"] <= 30
    assert metric(metrics, "drillkit_demo_provider_errors_total", provider="primary", reason="rate_limited") == 1
    assert metric(metrics, "drillkit_demo_requests_total", provider="fallback", model=LITE, outcome="ok") == 2
    assert reset.json()["health"]["primary"]["cooldown_s"] == 0
    assert third["provider"] == "fallback"


def test_retry_after_is_capped_and_quota_cools_60s(tmp_path: Path, upstreams: dict[str, str], flaky: Flaky) -> None:
    with service(make_workdir(tmp_path, upstreams, primary="flaky")) as client:
        flaky.headers = {"retry-after": "3600"}
        ask(client, RETURNS_Q)
        rate_limited = client.get("/admin/state").json()["health"]["primary"]
        client.post("/admin/reset")
        flaky.headers = {}
        flaky.body = {"error": {"message": "You exceeded your quota", "type": "x", "code": "insufficient_quota"}}
        ask(client, RETURNS_Q)
        quota = client.get("/admin/state").json()["health"]["primary"]
        metrics = client.get("/metrics").text
    assert 55 < rate_limited["cooldown_s"] <= 60
    assert 55 < quota["cooldown_s"] <= 60 and quota["last_outcome"] == "quota"
    assert metric(metrics, "drillkit_demo_provider_errors_total", provider="primary", reason="quota") == 1


def test_three_server_errors_cool_for_5s(tmp_path: Path, upstreams: dict[str, str], flaky: Flaky) -> None:
    flaky.status, flaky.headers = 500, {}
    flaky.body = {"error": {"message": "boom", "type": "server_error", "code": "server_error"}}
    with service(make_workdir(tmp_path, upstreams, primary="flaky")) as client:
        answers = [ask(client, RETURNS_Q) for _ in range(4)]
        health = client.get("/admin/state").json()["health"]["primary"]
    assert {a["provider"] for a in answers} == {"fallback"}
    assert flaky.calls == 3
    assert 4 < health["cooldown_s"] <= 5


def test_every_provider_failing_is_a_503(tmp_path: Path, upstreams: dict[str, str], flaky: Flaky) -> None:
    workdir = make_workdir(tmp_path, upstreams, primary="flaky")
    manifest = yaml.safe_load((workdir / "drillkit.yaml").read_text())
    manifest["providers"]["fallback"]["base_url"] = f"{upstreams['flaky']}/v1"
    (workdir / "drillkit.yaml").write_text(yaml.safe_dump(manifest))
    flaky.status = 503
    with service(workdir) as client:
        r = client.post("/v1/answer", json={"question": RETURNS_Q})
        metrics = client.get("/metrics").text
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "providers_unavailable"
    assert "primary" in error["message"] and "fallback" in error["message"]
    assert r.json()["trace_id"] == r.headers["x-trace-id"]
    assert metric(metrics, "drillkit_demo_requests_total", outcome="unavailable") == 1


@pytest.mark.parametrize(
    ("status", "raw", "reason"),
    [
        (500, b"null", "server_error"),
        (503, b"[]", "server_error"),
        (500, b'"overloaded"', "server_error"),
        (502, b'{"error": ["not", "an", "object"]}', "server_error"),
        (500, b"not gzip at all", "server_error"),  # sent as content-encoding: gzip below
        (200, b"null", "bad_response"),
        (200, b"not gzip at all", "bad_response"),
    ],
)
def test_malformed_provider_bodies_fall_back(
    tmp_path: Path, upstreams: dict[str, str], flaky: Flaky, status: int, raw: bytes, reason: str
) -> None:
    flaky.status, flaky.raw, flaky.headers = status, raw, {}
    if raw.startswith(b"not gzip"):
        flaky.headers = {"content-encoding": "gzip"}
    with service(make_workdir(tmp_path, upstreams, primary="flaky")) as client:
        body = ask(client, RETURNS_Q)
        metrics = client.get("/metrics").text
    assert (body["provider"], body["model"]) == ("fallback", LITE)
    assert flaky.calls == 1
    assert metric(metrics, "drillkit_demo_provider_errors_total", provider="primary", reason=reason) == 1
    assert metric(metrics, "drillkit_demo_requests_total", provider="fallback", model=LITE, outcome="ok") == 1


def test_dead_and_hanging_primaries_fall_back(tmp_path: Path, upstreams: dict[str, str]) -> None:
    async def hang(request: Request) -> Response:
        await asyncio.sleep(0.6)  # well past the primary's 200 ms timeout
        return JSONResponse({})

    hanging = Starlette(routes=[Route("/v1/{rest:path}", hang, methods=["POST"])])
    with ServerThread({"hang": hanging}) as slow:
        for name, url in (("dead", closed_port_url()), ("hanging", slow["hang"])):
            workdir = make_workdir(tmp_path / name, upstreams, primary=url, primary_timeout="200ms")
            with service(workdir) as client:
                started = time.perf_counter()
                body = ask(client, RETURNS_Q)
                took = time.perf_counter() - started
                state = client.get("/admin/state").json()
            assert (body["provider"], body["citations"]) == ("fallback", ["returns-policy"]), name
            expected = "connection" if name == "dead" else "timeout"
            assert state["health"]["primary"]["last_outcome"] == expected
            assert took < 0.5, f"{name}: {took:.2f}s"  # the 200 ms timeout applied, not 10 s


def test_an_unexpected_failure_still_answers_in_shape(workdir: Path) -> None:
    with service(workdir) as client:

        def broken() -> list:
            raise RuntimeError("disk on fire")

        client.app.state.service.corpus.documents = broken  # type: ignore[attr-defined]
        r = client.post("/v1/answer", json={"question": RETURNS_Q})
        metrics = client.get("/metrics").text
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert r.json()["trace_id"] == r.headers["x-trace-id"]
    assert metric(metrics, "drillkit_demo_requests_total", provider="none", model="none", outcome="error") == 1


def test_a_prompt_that_is_not_utf8_is_a_prompt_error(workdir: Path) -> None:
    (workdir / "prompts" / "v3.md").write_bytes("Réponds. {{ context }}".encode("latin-1"))
    with service(workdir) as client:
        r = client.post("/v1/answer", json={"question": RETURNS_Q})
        metrics = client.get("/metrics").text
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "prompt_error" and "UTF-8" in r.json()["error"]["message"]
    assert metric(metrics, "drillkit_demo_requests_total", outcome="error") == 1


# -- levers -------------------------------------------------------------------------------------


def test_route_and_pin_levers(workdir: Path) -> None:
    with service(workdir) as client:
        state = client.get("/admin/state").json()
        assert (state["route"], state["pinned_model"], state["provider_order"]) == (
            "primary",
            None,
            ["primary", "fallback"],
        )
        routed = client.post("/admin/route", json={"provider": "fallback"}).json()
        assert routed["route"] == "fallback" and routed["provider_order"] == ["fallback", "primary"]
        assert ask(client, RETURNS_Q)["provider"] == "fallback"
        assert client.post("/admin/route", json={"provider": "nope"}).status_code == 404
        client.post("/admin/route", json={"provider": "primary"})

        pinned = client.post("/admin/pin", json={"model": NEWER}).json()
        assert pinned["pinned_model"] == NEWER and pinned["models"]["primary"] == NEWER
        assert ask(client, RETURNS_Q)["model"] == NEWER
        assert client.post("/admin/pin", json={"model": ""}).status_code == 400
        bogus = client.post("/admin/pin", json={"model": "no-such-model"})
        assert bogus.status_code == 200  # accepted: it fails at the provider ...
        r = client.post("/v1/answer", json={"question": RETURNS_Q})
        assert r.status_code == 502 and r.json()["error"]["code"] == "provider_rejected"  # ... without fallback
        assert client.post("/admin/pin", json={"model": None}).json()["pinned_model"] is None
        assert ask(client, RETURNS_Q)["model"] == PINNED

        client.post("/admin/route", json={"provider": "fallback"})
        client.post("/admin/pin", json={"model": NEWER})
        reset = client.post("/admin/reset").json()
    assert (reset["route"], reset["pinned_model"], reset["prompt"]["active"]) == ("primary", None, "v3")
    saved = json.loads((workdir / "state.json").read_text())
    assert saved["route"] == "primary" and saved["pinned_model"] is None


def test_prompt_lever_and_previous(workdir: Path) -> None:
    with service(workdir) as client:
        terse = client.post("/admin/prompt", json={"version": "v4-terse"}).json()
        assert terse["prompt"] == {"active": "v4-terse", "history": ["v3", "v4-terse"]}
        body = ask(client, RETURNS_Q)
        assert body["prompt_version"] == "v4-terse"
        assert body["citations"] == []  # the terse prompt never asks to cite
        back = client.post("/admin/prompt", json={"version": "previous"}).json()
        assert back["prompt"]["active"] == "v3"
        assert ask(client, RETURNS_Q)["citations"] == ["returns-policy"]
        no_previous = client.post("/admin/prompt", json={"version": "previous"})
        assert no_previous.status_code == 400 and "previous" in no_previous.json()["error"]
        assert client.post("/admin/prompt", json={"version": "v9"}).status_code == 404
        assert client.post("/admin/prompt", json={"version": "../drillkit"}).status_code == 400
        # A prompt edited on disk is live, with no lever involved.
        (workdir / "prompts" / "v3.md").write_text("Answer briefly.\n\n{{ context }}\n")
        assert ask(client, RETURNS_Q)["citations"] == []


def test_corpus_edit_then_previous_then_forward(workdir: Path) -> None:
    doc = workdir / "corpus" / "returns-policy.md"
    original = doc.read_bytes()
    with service(workdir) as client:
        before = ask(client, RETURNS_Q)
        doc.write_bytes(original.replace(b"30 days", b"14 days"))
        (workdir / "corpus" / "extra.md").write_text("# Extra\n\nA document added with the change.\n")
        edited = ask(client, RETURNS_Q)
        versions = client.get("/admin/corpus").json()
        rolled = client.post("/admin/corpus", json={"version": "previous"}).json()
        after = ask(client, RETURNS_Q)
        restored = (doc.read_bytes(), (workdir / "corpus" / "extra.md").exists())
        again = client.post("/admin/corpus", json={"version": "previous"})
        forward = client.post("/admin/corpus", json={"version": edited["corpus_version"]}).json()
        unknown = client.post("/admin/corpus", json={"version": "c00000000"})
        malformed = client.post("/admin/corpus", json={"version": "latest"})
    assert "30 days" in before["answer"] and "14 days" in edited["answer"]
    assert edited["corpus_version"] != before["corpus_version"]
    assert [v["version"] for v in versions["versions"]] == [before["corpus_version"], edited["corpus_version"]]
    assert versions["active"] == edited["corpus_version"]
    assert rolled["corpus"] == {"active": before["corpus_version"], "history": [before["corpus_version"]]}
    assert after["corpus_version"] == before["corpus_version"] and "30 days" in after["answer"]
    assert restored == (original, False)
    assert again.status_code == 400
    assert forward["corpus"]["active"] == edited["corpus_version"]
    assert b"14 days" in doc.read_bytes() and (workdir / "corpus" / "extra.md").is_file()
    assert unknown.status_code == 404 and malformed.status_code == 400
    assert (workdir / ".versions" / "corpus" / before["corpus_version"] / "returns-policy.md").read_bytes() == original


def test_state_survives_a_restart(workdir: Path) -> None:
    with service(workdir) as client:
        client.post("/admin/route", json={"provider": "fallback"})
        client.post("/admin/prompt", json={"version": "v2"})
    with service(workdir) as client:
        state = client.get("/admin/state").json()
        body = ask(client, RETURNS_Q)
    assert state["route"] == "fallback" and state["prompt"]["history"] == ["v3", "v2"]
    assert (body["provider"], body["prompt_version"]) == ("fallback", "v2")


# -- metrics, health, bad input -----------------------------------------------------------------


def test_metrics_and_health(workdir: Path) -> None:
    with service(workdir) as client:
        body = ask(client, RETURNS_Q)
        health = client.get("/healthz")
        r = client.get("/metrics")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert metric(text, "drillkit_demo_requests_total", provider="primary", model=PINNED, outcome="ok") == 1
    labels = {"provider": "primary", "model": PINNED, "outcome": "ok"}
    assert metric(text, "drillkit_demo_request_duration_seconds_count", **labels) == 1
    assert metric(text, "drillkit_demo_request_duration_seconds_bucket", le="10.0", **labels) == 1
    assert metric(text, "drillkit_demo_request_duration_seconds_bucket", le="10.0", provider="fallback") == 0
    assert metric(text, "drillkit_demo_tokens_total", direction="input") == body["usage"]["input_tokens"]
    assert metric(text, "drillkit_demo_tokens_total", direction="output") == body["usage"]["output_tokens"]
    assert metric(text, "drillkit_demo_cost_usd_total", provider="primary", model=PINNED) == pytest.approx(
        body["cost_usd"]
    )
    assert "# TYPE drillkit_demo_provider_errors_total counter" in text


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b"{}", b'{"question": 3}', b'{"question": "   "}', b'{"q": "hi"}'],
)
def test_bad_answer_bodies_are_400(workdir: Path, content: bytes) -> None:
    with service(workdir) as client:
        r = client.post("/v1/answer", content=content, headers={"content-type": "application/json"})
        metrics = client.get("/metrics").text
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"
    assert metric(metrics, "drillkit_demo_requests_total", outcome="bad_request") == 1


def test_bad_lever_bodies_are_400(workdir: Path) -> None:
    with service(workdir) as client:
        for path in ("/admin/route", "/admin/pin", "/admin/prompt", "/admin/corpus"):
            for content in (b"nope", b"[]", b"{}", b'{"provider": 1, "model": 1, "version": 1}'):
                r = client.post(path, content=content, headers={"content-type": "application/json"})
                assert r.status_code == 400, (path, content)
                assert isinstance(r.json()["error"], str)


def test_levers_refuse_cross_site_requests(workdir: Path) -> None:
    pin = b'{"model": "sim-pro-2025-11"}'
    with service(workdir) as client:
        # What a web page can send without a CORS preflight: a "simple" request.
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"content-type": content_type} if content_type else {}
            with httpx.Client(base_url=str(client.base_url)) as bare:
                r = bare.post("/admin/pin", content=pin, headers=headers)
                assert r.status_code == 415, content_type
            assert isinstance(r.json()["error"], str)
        assert client.post("/admin/reset", content=b"", headers={"content-type": "text/plain"}).status_code == 415
        evil = client.post("/admin/pin", content=pin, headers={"origin": "https://evil.example"})
        null = client.get("/admin/state", headers={"origin": "null"})
        assert (evil.status_code, null.status_code) == (403, 403)
        rebound = client.get("/admin/state", headers={"host": "evil.example"})
        assert rebound.status_code == 403
        assert client.get("/admin/state").json()["pinned_model"] is None  # nothing got through
        local = client.post("/admin/pin", content=pin, headers={"origin": "http://localhost:3000"})
        assert local.status_code == 200 and local.json()["pinned_model"] == NEWER
        assert client.get("/admin/state", headers={"origin": "http://[::1]:8710"}).status_code == 200


def test_unknown_paths_and_methods_in_the_error_shape(workdir: Path) -> None:
    with service(workdir) as client:
        wrong_method = client.get("/v1/answer")
        unknown = client.post("/v1/ask", json={"question": RETURNS_Q})
    assert (wrong_method.status_code, unknown.status_code) == (405, 404)
    assert wrong_method.headers["allow"] == "POST"
    for r, code in ((wrong_method, "method_not_allowed"), (unknown, "not_found")):
        assert r.json()["error"]["code"] == code
        assert r.json()["trace_id"] == r.headers["x-trace-id"]


def test_tampered_state_is_ignored(workdir: Path) -> None:
    (workdir / "secret.md").write_text("SECRET {{ context }}")
    outside = workdir / "elsewhere"
    outside.mkdir()
    (outside / "x.md").write_text("# X\n")
    state = {
        "route": "primary",
        "prompt": {"history": ["v3", "../secret"]},
        "corpus": {"history": ["c00000000", "../../elsewhere"]},
    }
    (workdir / "state.json").write_text(json.dumps(state))
    with service(workdir) as client:
        body = ask(client, RETURNS_Q)
        rollback = client.post("/admin/corpus", json={"version": "previous"})
    assert body["prompt_version"] == "v3" and "SECRET" not in body["answer"]
    assert rollback.status_code == 400  # the tampered history was dropped: nothing to go back to
    assert (workdir / "corpus" / "returns-policy.md").is_file()
    templates = PromptTemplates(workdir / "prompts")
    with pytest.raises(PromptError, match="not a file in"):
        templates.render("../secret", "")


# -- router timing, with a fake clock ----------------------------------------------------------


def test_router_cooldown_expires_and_parses_retry_after(upstreams: dict[str, str], flaky: Flaky) -> None:
    now = [1000.0]
    providers = {
        "primary": Provider(base_url=f"{upstreams['flaky']}/v1", model=PINNED),
        "fallback": Provider(base_url=f"{upstreams['fallback']}/v1", model=LITE),
    }
    flaky.headers = {"retry-after-ms": "2500", "retry-after": "40"}  # the ms header wins

    async def scenario() -> list[str]:
        async with httpx.AsyncClient() as client:
            router = Router(providers, client, clock=lambda: now[0])
            seen = []
            for advance in (0.0, 2.0, 1.0):  # t = 0 (429), 2 (cooling), 3 (cooled down)
                now[0] += advance
                done = await router.complete("Answer from the context. Cite.", RETURNS_Q, order=["primary", "fallback"])
                seen.append("/".join(f"{a.provider}:{a.reason}" for a in done.attempts))
            return seen

    seen = asyncio.run(scenario())
    assert seen == [
        "primary:rate_limited/fallback:ok",
        "primary:cooldown/fallback:ok",
        "primary:rate_limited/fallback:ok",
    ]
    assert flaky.calls == 2


def test_retry_after_formats() -> None:
    from email.utils import format_datetime

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(httpx.Headers({"retry-after": "7"})) == 7
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "1500"})) == 1.5
    assert 25 < (retry_after_seconds(httpx.Headers({"retry-after": soon})) or 0) <= 30
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None


def test_anthropic_spend_limit_is_quota(tmp_path: Path, upstreams: dict[str, str], flaky: Flaky) -> None:
    flaky.headers = {"retry-after": "1"}
    flaky.body = {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "spend limit reached",
            "details": {"error_code": "enforced_spend_limit_reached"},
        },
    }
    with service(make_workdir(tmp_path, upstreams, primary="flaky", api="anthropic")) as client:
        body = ask(client, RETURNS_Q)
        health = client.get("/admin/state").json()["health"]["primary"]
    assert body["provider"] == "fallback"
    assert health["last_outcome"] == "quota" and health["cooldown_s"] > 55


# -- the shipped eval suite through the real service ---------------------------------------------


def test_the_shipped_suite_through_the_service(workdir: Path) -> None:
    """Issue 2's acceptance targets, measured the way `drillkit eval run` measures them."""
    suite = load_suite(workdir / "evals" / "suite.yaml")
    with service(workdir) as client:
        url = f"{client.base_url}/v1/answer"

        def run(*lever: tuple[str, dict[str, Any]]) -> Any:
            for path, body in lever:
                assert client.post(path, json=body).status_code == 200, path
            return asyncio.run(run_suite(suite, url, threshold=0.9))

        pinned = run()
        newer = run(("/admin/pin", {"model": NEWER}))
        fallback = run(("/admin/reset", {}), ("/admin/route", {"provider": "fallback"}))
        served = metric(client.get("/metrics").text, "drillkit_demo_requests_total", provider="fallback", model=LITE)
        terse = run(("/admin/reset", {}), ("/admin/prompt", {"version": "v4-terse"}))
        client.post("/admin/reset", json={})
        for doc in (workdir / "corpus").glob("*.md"):
            doc.write_text("")
        emptied = run()
        restored = run(("/admin/corpus", {"version": "previous"}))

    assert len(suite.cases) >= 30
    assert pinned.pass_rate >= 0.95, [c.case.id for c in pinned.cases if not c.passed]
    assert pinned.inside_envelope and pinned.errored == 0
    assert newer.pass_rate <= 0.75 and not newer.inside_envelope
    assert fallback.pass_rate >= 0.90 and fallback.inside_envelope
    assert served == len(fallback.cases)
    assert terse.pass_rate < 0.9
    assert emptied.pass_rate < 0.9
    assert restored.pass_rate >= 0.95
