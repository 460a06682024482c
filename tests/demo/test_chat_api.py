"""`POST /v1/chat/completions` on the demo service, through the official `openai` SDK.

Real sim providers, tool API and service on loopback ports; the primary is reached through a
route of the LLM fault proxy (as in the demo), so the stream faults act between the service and
the primary exactly where a game-day injects them.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from drillkit.demo.service import create_service_app
from drillkit.demo.sim.app import create_sim_app
from drillkit.demo.tool_api import create_tool_app
from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app
from tests.demo.test_service import ASSETS, LITE, PINNED, RETURNS_Q, Flaky, make_workdir, metric

USER = [{"role": "user", "content": RETURNS_Q}]


class Env:
    """The upstreams, and the LLM fault proxy's admin API with a route `primary` to the primary sim."""

    def __init__(self, urls: dict[str, str], flaky: Flaky) -> None:
        self.urls = dict(urls)
        self.flaky = flaky
        self.admin = httpx.Client(base_url=urls["llm_admin"], timeout=10)
        r = self.admin.post("/routes", json={"name": "primary", "upstream": urls["primary"], "api": "openai"})
        assert r.status_code == 201, r.text
        self.urls["routed"] = f"http://{r.json()['listen']}"

    def fault(self, spec: dict[str, Any]) -> None:
        r = self.admin.post("/routes/primary/faults", json=spec)
        assert r.status_code == 200, r.text

    def reset(self) -> None:
        assert self.admin.post("/reset").status_code == 204
        self.flaky.reset()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    orders = tmp_path_factory.mktemp("tool") / "orders.json"
    shutil.copyfile(ASSETS / "orders.json", orders)
    flaky = Flaky()
    apps = {
        "primary": create_sim_app("primary", latency_scale=0),
        "fallback": create_sim_app("fallback", latency_scale=0),
        "tool": create_tool_app(orders),
        "flaky": flaky.app(),
        "llm_admin": create_admin_app(LlmProxyServer()),
    }
    with ServerThread(apps) as urls:
        e = Env(urls, flaky)
        yield e
        e.admin.close()


@pytest.fixture(autouse=True)
def _reset(env: Env) -> Iterator[None]:
    env.reset()
    yield
    env.reset()


@contextmanager
def service(root: Path, env: Env, *, primary: str = "routed", **options: Any) -> Iterator[str]:
    """The service over a fresh workdir whose primary is `env.urls[primary]`; yields its URL."""
    workdir = make_workdir(root, env.urls, primary=primary, **options)
    with ServerThread({"service": create_service_app(workdir, corpus_check_interval=0)}) as urls:
        yield urls["service"]


def sdk(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=15)


def metrics(url: str) -> str:
    return httpx.get(f"{url}/metrics").text


async def collect(stream: Any) -> tuple[list[Any], list[float]]:
    """Every chunk of an SDK stream and the seconds at which each arrived."""
    chunks, times = [], []
    async for chunk in stream:
        chunks.append(chunk)
        times.append(time.perf_counter())
    return chunks, times


def content_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# -- answers ------------------------------------------------------------------------------------


def test_answer_in_openai_shape(tmp_path: Path, env: Env) -> None:
    async def run(url: str) -> tuple[Any, Any, Any]:
        async with sdk(url) as client:
            raw = await client.chat.completions.with_raw_response.create(model="support-assistant", messages=USER)
            parts = [{"type": "text", "text": "About returns:"}, {"type": "text", "text": RETURNS_Q}]
            messages = [
                {"role": "system", "content": "ignored: the service has its own prompt"},
                {"role": "user", "content": "Where is my order A1001?"},
                {"role": "assistant", "content": "It shipped."},
                {"role": "user", "content": parts},
            ]
            multi = await client.chat.completions.create(model="x", messages=messages)  # type: ignore[arg-type]
            return raw, raw.parse(), multi

    with service(tmp_path, env) as url:
        raw, completion, multi = asyncio.run(run(url))
        answer = httpx.post(f"{url}/v1/answer", json={"question": RETURNS_Q}).json()
        text = metrics(url)
    message = completion.choices[0].message
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert (message.role, completion.choices[0].finish_reason) == ("assistant", "stop")
    assert "30 days" in message.content and "[returns-policy]" in message.content
    assert message.content == answer["answer"]  # the same pipeline as /v1/answer
    assert completion.model == PINNED  # what the provider reported, not the request's "support-assistant"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        answer["usage"]["input_tokens"],
        answer["usage"]["output_tokens"],
    )
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-drillkit-provider"] == "primary"
    assert float(raw.headers["x-drillkit-cost-usd"]) == pytest.approx(answer["cost_usd"])
    assert completion.id == f"chatcmpl-{raw.headers['x-trace-id']}"
    assert "30 days" in multi.choices[0].message.content  # the last user message is the question
    assert metric(text, "drillkit_demo_requests_total", provider="primary", model=PINNED, outcome="ok") == 3


def test_streaming_relays_the_same_answer(tmp_path: Path, env: Env) -> None:
    async def run(url: str) -> tuple[Any, Any, list[Any], list[Any]]:
        async with sdk(url) as client:
            whole = await client.chat.completions.create(model="m", messages=USER)
            raw = await client.chat.completions.with_raw_response.create(
                model="m", messages=USER, stream=True, stream_options={"include_usage": True}
            )
            with_usage, _ = await collect(raw.parse())
            plain, _ = await collect(await client.chat.completions.create(model="m", messages=USER, stream=True))
            return whole, raw, with_usage, plain

    with service(tmp_path, env) as url:
        whole, raw, chunks, plain = asyncio.run(run(url))
        text = metrics(url)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-drillkit-provider"] == "primary" and "x-drillkit-cost-usd" not in raw.headers
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and {c.model for c in chunks} == {PINNED}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id == f"chatcmpl-{raw.headers['x-trace-id']}"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert content_of(chunks) == whole.choices[0].message.content == content_of(plain)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3  # relayed piece by piece
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert all(c.usage is None for c in plain) and plain[-1].choices[0].finish_reason == "stop"
    assert metric(text, "drillkit_demo_requests_total", provider="primary", model=PINNED, outcome="ok") == 3
    assert metric(text, "drillkit_demo_tokens_total", direction="output") == 3 * whole.usage.completion_tokens


def test_anthropic_provider_streams_too(tmp_path: Path, env: Env) -> None:
    async def run(url: str) -> tuple[Any, list[Any]]:
        async with sdk(url) as client:
            whole = await client.chat.completions.create(model="m", messages=USER)
            stream = await client.chat.completions.create(
                model="m", messages=USER, stream=True, stream_options={"include_usage": True}
            )
            return whole, (await collect(stream))[0]

    with service(tmp_path, env, primary="primary", api="anthropic") as url:
        whole, chunks = asyncio.run(run(url))
    assert whole.model == PINNED and "30 days" in whole.choices[0].message.content
    assert content_of(chunks) == whole.choices[0].message.content
    assert chunks[-1].usage == whole.usage and whole.usage.prompt_tokens > 50


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b"not json", None),
        (b"[]", None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
        (b'{"model": "m"}', "messages"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"model": "m", "messages": [{"role": "system", "content": "only a system message"}]}', "messages"),
        (b'{"model": "m", "messages": [{"role": "user", "content": 3}]}', "messages[0].content"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "  "}]}', "messages[0].content"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', "stream"),
    ],
)
def test_bad_bodies_are_400_in_openai_shape(tmp_path: Path, env: Env, content: bytes, param: str | None) -> None:
    with service(tmp_path, env) as url:
        r = httpx.post(f"{url}/v1/chat/completions", content=content, headers={"content-type": "application/json"})
        text = metrics(url)
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    assert r.headers["x-trace-id"]
    assert metric(text, "drillkit_demo_requests_total", outcome="bad_request") == 1


def test_errors_through_the_sdk(tmp_path: Path, env: Env) -> None:
    async def run(url: str) -> dict[str, Exception]:
        seen: dict[str, Exception] = {}
        async with sdk(url) as client:
            try:
                await client.chat.completions.create(model="m", messages=[])
            except openai.APIError as exc:
                seen["bad"] = exc
            httpx.post(f"{url}/admin/pin", json={"model": "sim-nope"})
            for stream in (False, True):
                try:
                    await client.chat.completions.create(model="m", messages=USER, stream=stream)  # type: ignore[call-overload]
                except openai.APIError as exc:
                    seen[f"pinned-{stream}"] = exc
        return seen

    with service(tmp_path, env) as url:
        seen = asyncio.run(run(url))
        method = httpx.get(f"{url}/v1/chat/completions")
    bad = seen["bad"]
    assert isinstance(bad, openai.BadRequestError) and bad.status_code == 400
    assert bad.code == "invalid_value" and bad.param == "messages"
    for stream in (False, True):
        rejected = seen[f"pinned-{stream}"]
        assert isinstance(rejected, openai.APIStatusError) and rejected.status_code == 502, rejected
        assert rejected.code == "provider_rejected" and "sim-nope" in rejected.message
        assert rejected.type == "server_error" and rejected.response.headers["x-trace-id"]
    assert method.status_code == 405 and method.headers["allow"] == "POST"
    assert set(method.json()["error"]) == {"message", "type", "param", "code"}


def test_every_provider_failing_is_a_503(tmp_path: Path, env: Env) -> None:
    workdir = make_workdir(tmp_path, env.urls, primary="flaky")
    manifest = yaml.safe_load((workdir / "drillkit.yaml").read_text())
    manifest["providers"]["fallback"]["base_url"] = f"{env.urls['flaky']}/v1"
    (workdir / "drillkit.yaml").write_text(yaml.safe_dump(manifest))
    env.flaky.status, env.flaky.headers = 503, {}

    async def run(url: str) -> list[Exception]:
        errors = []
        async with sdk(url) as client:
            for stream in (False, True):
                with pytest.raises(openai.InternalServerError) as caught:
                    await client.chat.completions.create(model="m", messages=USER, stream=stream)  # type: ignore[call-overload]
                errors.append(caught.value)
        return errors

    with ServerThread({"service": create_service_app(workdir, corpus_check_interval=0)}) as urls:
        errors = asyncio.run(run(urls["service"]))
        text = metrics(urls["service"])
    for error in errors:
        assert isinstance(error, openai.InternalServerError) and error.status_code == 503
        assert error.code == "providers_unavailable" and "fallback" in error.message
    assert metric(text, "drillkit_demo_requests_total", outcome="unavailable") == 2


# -- the router's streaming: fallback before the first token, none after -------------------------


def stream_once(url: str, **kwargs: Any) -> tuple[Any, list[Any], list[float], float, Exception | None]:
    """One streamed answer: (raw response, chunks, their arrival times, start time, error if it broke)."""

    async def run() -> tuple[Any, list[Any], list[float], float, Exception | None]:
        chunks: list[Any] = []
        times: list[float] = []
        async with sdk(url) as client:
            started = time.perf_counter()
            raw = await client.chat.completions.with_raw_response.create(
                model="m", messages=USER, stream=True, **kwargs
            )
            try:
                async for chunk in raw.parse():
                    chunks.append(chunk)
                    times.append(time.perf_counter())
            except openai.APIError as exc:
                return raw, chunks, times, started, exc
            return raw, chunks, times, started, None

    return asyncio.run(run())


def test_stream_falls_back_before_the_first_token(tmp_path: Path, env: Env) -> None:
    with service(tmp_path, env, primary="flaky") as url:
        raw, chunks, _, _, error = stream_once(url)
        limited = httpx.get(f"{url}/admin/state").json()["health"]["primary"]
    assert error is None and raw.headers["x-drillkit-provider"] == "fallback"
    assert {c.model for c in chunks} == {LITE} and "30 days" in content_of(chunks)
    assert limited["last_outcome"] == "rate_limited"

    env.fault({"type": "stream_cut", "attributes": {"after_chunks": 1}})  # the role chunk, then cut
    with service(tmp_path / "cut", env) as url:
        raw, chunks, _, _, error = stream_once(url)
        health = httpx.get(f"{url}/admin/state").json()["health"]["primary"]
        text = metrics(url)
    assert error is None and raw.headers["x-drillkit-provider"] == "fallback"
    assert chunks[0].choices[0].delta.role == "assistant" and "30 days" in content_of(chunks)
    assert health["last_outcome"] == "connection" and health["consecutive_failures"] == 1
    assert metric(text, "drillkit_demo_provider_errors_total", provider="primary", reason="connection") == 1
    assert metric(text, "drillkit_demo_requests_total", provider="fallback", model=LITE, outcome="ok") == 1


def test_stream_broken_after_the_first_token_ends_with_an_error(tmp_path: Path, env: Env) -> None:
    env.fault({"type": "stream_cut", "attributes": {"after_chunks": 3}})  # role + two content chunks
    with service(tmp_path, env) as url:
        raw, chunks, _, _, error = stream_once(url)
        text = metrics(url)
    assert raw.headers["x-drillkit-provider"] == "primary"
    assert isinstance(error, openai.APIError) and "primary" in error.message
    assert error.code == "stream_interrupted"
    partial = content_of(chunks)
    assert partial and "30 days" not in partial  # the start of the answer, no fallback's answer after it
    assert metric(text, "drillkit_demo_requests_total", provider="primary", model=PINNED, outcome="unavailable") == 1
    assert metric(text, "drillkit_demo_provider_errors_total", provider="primary", reason="connection") == 1
    assert metric(text, "drillkit_demo_requests_total", provider="fallback") == 0


def test_stream_timeouts_before_and_after_the_first_token(tmp_path: Path, env: Env) -> None:
    env.fault({"type": "token_latency", "attributes": {"ttft_ms": 1500}})
    with service(tmp_path, env, primary_timeout="300ms") as url:
        raw, chunks, times, started, error = stream_once(url)
        health = httpx.get(f"{url}/admin/state").json()["health"]["primary"]
    assert error is None and raw.headers["x-drillkit-provider"] == "fallback" and "30 days" in content_of(chunks)
    assert times[0] - started < 1.0 and health["last_outcome"] == "timeout"

    env.reset()
    env.fault({"type": "stream_stall", "attributes": {"after_chunks": 3, "stall_ms": 1500}})
    with service(tmp_path / "stall", env, primary_timeout="300ms") as url:
        raw, chunks, times, started, error = stream_once(url)
        text = metrics(url)
    assert raw.headers["x-drillkit-provider"] == "primary" and content_of(chunks)
    assert isinstance(error, openai.APIError) and error.code == "stream_interrupted" and "timeout" in error.message
    assert time.perf_counter() - started < 1.4  # the read timeout ended it, not the end of the stall
    assert metric(text, "drillkit_demo_provider_errors_total", provider="primary", reason="timeout") == 1


def test_stream_faults_show_in_the_service_stream_timing(tmp_path: Path, env: Env) -> None:
    """What a game-day sees: the proxy's stream faults on the primary, in the service's own stream."""
    with service(tmp_path, env) as url:
        _, _, times, started, _ = stream_once(url)
        baseline_ttft = times[0] - started
        env.fault({"type": "token_latency", "attributes": {"ttft_ms": 400}})
        raw, chunks, times, started, error = stream_once(url)
        slow_ttft = times[0] - started
        env.reset()
        env.fault({"type": "stream_stall", "attributes": {"after_chunks": 4, "stall_ms": 400}})
        _, stalled, stall_times, stall_started, stall_error = stream_once(url)
    assert error is None and stall_error is None and raw.headers["x-drillkit-provider"] == "primary"
    assert baseline_ttft < 0.3, baseline_ttft
    assert slow_ttft >= 0.38, slow_ttft  # the first token waited for the provider's
    assert "30 days" in content_of(chunks) and "30 days" in content_of(stalled)
    gaps = [b - a for a, b in itertools.pairwise(stall_times)]
    assert stall_times[0] - stall_started < 0.3 and max(gaps) >= 0.38, gaps  # relayed, not buffered


def test_a_client_leaving_mid_stream_releases_the_provider(tmp_path: Path, env: Env) -> None:
    env.fault({"type": "stream_stall", "attributes": {"after_chunks": 3, "stall_ms": 3000}})

    async def leave_early(url: str) -> str:
        async with sdk(url) as client:
            stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
            first = await anext(stream.__aiter__())
            await stream.close()
            return first.choices[0].delta.role

    with service(tmp_path, env) as url:
        assert asyncio.run(leave_early(url)) == "assistant"
        deadline = time.monotonic() + 2.5  # well before the stall would have ended
        while time.monotonic() < deadline:
            text = metrics(url)
            if metric(text, "drillkit_demo_requests_total", outcome="error"):
                break
            time.sleep(0.05)
        env.reset()
        _, chunks, _, _, error = stream_once(url)
    assert metric(text, "drillkit_demo_requests_total", provider="primary", model=PINNED, outcome="error") == 1
    assert error is None and "30 days" in content_of(chunks)
