"""The official openai and anthropic SDKs against the LLM fault proxy (sim provider behind it).

What a client sees is the point of every fault, so these drive the SDKs unchanged: their error
types, their built-in retries (counted at the proxy, waits measured with tolerance), their
stream iterators.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from drillkit.demo.sim import MODELS, NEWER, PINNED, create_sim_app
from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app

MESSAGES = [
    {"role": "system", "content": "Answer from the documents and cite them."},
    {"role": "user", "content": "How many days do I have to return an item?"},
]


class Env:
    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.admin = httpx.Client(base_url=urls["admin"], timeout=10)
        self.base: dict[str, str] = {}
        for name, api in (("openai", "openai"), ("anthropic", "anthropic")):
            r = self.admin.post("/routes", json={"name": name, "upstream": urls["sim"], "api": api})
            assert r.status_code == 201, r.text
            self.base[name] = f"http://{r.json()['listen']}"

    def fault(self, route: str, spec: dict[str, Any]) -> None:
        r = self.admin.post(f"/routes/{route}/faults", json=spec)
        assert r.status_code == 200, r.text

    def requests(self, route: str, status: int) -> float:
        """Responses the proxy sent on `route` with `status` so far (its Prometheus counter)."""
        for family in text_string_to_metric_families(self.admin.get("/metrics").text):
            for sample in family.samples:
                if sample.name == "drillkit_llm_proxy_requests_total" and sample.labels == {
                    "route": route,
                    "status": str(status),
                }:
                    return sample.value
        return 0.0

    def openai(self, *, direct: bool = False, **kw: Any) -> openai.OpenAI:
        base = self.urls["sim"] if direct else self.base["openai"]
        return openai.OpenAI(base_url=base + "/v1", api_key="sk-test", **kw)

    def anthropic(self, *, direct: bool = False, **kw: Any) -> anthropic.Anthropic:
        base = self.urls["sim"] if direct else self.base["anthropic"]
        return anthropic.Anthropic(base_url=base, api_key="sk-ant-test", **kw)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    apps = {"sim": create_sim_app(latency_scale=0), "admin": create_admin_app(LlmProxyServer())}
    with ServerThread(apps) as urls:
        e = Env(urls)
        yield e
        e.admin.close()


@pytest.fixture(autouse=True)
def _reset(env: Env) -> Iterator[None]:
    yield
    env.admin.post("/reset")


def test_rate_limited_openai_retries_honour_retry_after(env: Env) -> None:
    env.fault("openai", {"type": "rate_limited", "attributes": {"retry_after": 0.4}})
    before = env.requests("openai", 429)
    started = time.monotonic()
    with env.openai(max_retries=2) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=PINNED, messages=MESSAGES)
    elapsed = time.monotonic() - started
    assert caught.value.response.headers["retry-after"] == "0.4"
    assert caught.value.code == "rate_limit_exceeded"
    assert env.requests("openai", 429) - before == 3  # the first try and two retries
    assert 0.75 <= elapsed < 2.0  # two waits of 0.4 s, not the SDK's own 0.5–8 s backoff


def test_rate_limit_budget_lets_the_sdk_recover_after_the_window(env: Env) -> None:
    env.fault("openai", {"type": "rate_limited", "attributes": {"requests_per_window": 1, "window": "1s"}})
    with env.openai(max_retries=2) as client:
        client.chat.completions.create(model=PINNED, messages=MESSAGES)
        started = time.monotonic()
        reply = client.chat.completions.create(model=PINNED, messages=MESSAGES)  # 429, wait, retry, 200
    elapsed = time.monotonic() - started
    assert reply.choices[0].message.content
    assert 0.8 <= elapsed < 2.5


def test_quota_exhausted_is_not_retried(env: Env) -> None:
    env.fault("openai", {"type": "quota_exhausted"})
    before = env.requests("openai", 429)
    with env.openai(max_retries=2) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=PINNED, messages=MESSAGES)
    assert caught.value.code == "insufficient_quota"
    assert env.requests("openai", 429) - before == 1


def test_stream_cut_breaks_the_openai_iteration(env: Env) -> None:
    env.fault("openai", {"type": "stream_cut", "attributes": {"after_chunks": 2}})
    received = []
    with env.openai(max_retries=0) as client:
        stream = client.chat.completions.create(model=PINNED, messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIConnectionError):  # the SDK wraps the broken chunked read
            for chunk in stream:
                received.append(chunk)
    assert len(received) == 2


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("keep", MODELS[PINNED].system_fingerprint), ("served", MODELS[NEWER].system_fingerprint), ("null", None)],
)
def test_model_swap_serves_the_newer_model_under_the_pinned_name(env: Env, policy: str, expected: str | None) -> None:
    with env.openai(direct=True) as direct_client:
        newer = direct_client.chat.completions.create(model=NEWER, messages=MESSAGES).choices[0].message.content
        pinned = direct_client.chat.completions.create(model=PINNED, messages=MESSAGES).choices[0].message.content
    assert newer != pinned
    attrs = {"serve_model": NEWER, "system_fingerprint": policy}
    env.fault("openai", {"type": "model_swap", "attributes": attrs})
    with env.openai() as client:
        reply = client.chat.completions.create(model=PINNED, messages=MESSAGES)
        chunks = list(client.chat.completions.create(model=PINNED, messages=MESSAGES, stream=True))
    assert reply.choices[0].message.content == newer
    assert reply.model == PINNED and reply.system_fingerprint == expected
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == newer
    assert {c.model for c in chunks} == {PINNED} and {c.system_fingerprint for c in chunks} == {expected}


def test_model_swap_reporting_the_served_model(env: Env) -> None:
    env.fault("openai", {"type": "model_swap", "attributes": {"serve_model": NEWER, "report_model": "served"}})
    with env.openai() as client:
        assert client.chat.completions.create(model=PINNED, messages=MESSAGES).model == NEWER


def test_model_swap_anthropic(env: Env) -> None:
    with env.anthropic(direct=True) as client:
        newer = client.messages.create(model=NEWER, max_tokens=256, messages=MESSAGES[1:]).content[0].text
    env.fault("anthropic", {"type": "model_swap", "attributes": {"serve_model": NEWER}})
    with env.anthropic() as client:
        reply = client.messages.create(model=PINNED, max_tokens=256, messages=MESSAGES[1:])
        with client.messages.stream(model=PINNED, max_tokens=256, messages=MESSAGES[1:]) as stream:
            streamed = stream.get_final_message()
    assert reply.model == PINNED and reply.content[0].text == newer
    assert streamed.model == PINNED and streamed.content[0].text == newer


def test_anthropic_sdk_gets_its_own_error_types(env: Env) -> None:
    with env.anthropic(max_retries=0) as client:
        env.fault("anthropic", {"type": "http_error", "attributes": {"status": 529}})
        with pytest.raises(anthropic.InternalServerError) as overloaded:
            client.messages.create(model=PINNED, max_tokens=64, messages=MESSAGES[1:])
        assert overloaded.value.status_code == 529
        assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        env.admin.post("/reset")
        env.fault("anthropic", {"type": "rate_limited", "attributes": {"retry_after": 1}})
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.messages.create(model=PINNED, max_tokens=64, messages=MESSAGES[1:])
        assert limited.value.response.headers["retry-after"] == "1"


def test_anthropic_spend_limit_is_not_retried(env: Env) -> None:
    env.fault("anthropic", {"type": "quota_exhausted"})
    before = env.requests("anthropic", 429)
    with env.anthropic(max_retries=2) as client, pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=PINNED, max_tokens=64, messages=MESSAGES[1:])
    assert caught.value.body["error"]["details"]["error_code"] == "enforced_spend_limit_reached"  # type: ignore[index]
    assert env.requests("anthropic", 429) - before == 1


def test_truncate_and_empty_completion_through_the_sdks(env: Env) -> None:
    env.fault("openai", {"type": "truncate", "attributes": {"max_chars": 20}})
    env.fault("anthropic", {"type": "empty_completion"})
    with env.openai() as oc, env.anthropic() as ac:
        reply = oc.chat.completions.create(model=PINNED, messages=MESSAGES)
        with ac.messages.stream(model=PINNED, max_tokens=256, messages=MESSAGES[1:]) as stream:
            message = stream.get_final_message()
    assert reply.choices[0].finish_reason == "length" and len(reply.choices[0].message.content or "") == 20
    assert message.content[0].text == "" and message.stop_reason == "end_turn"
