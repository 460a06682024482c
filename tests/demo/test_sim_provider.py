"""The sim provider through the official `openai` and `anthropic` SDKs, on loopback ports."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from drillkit.demo.context import Document, document_block
from drillkit.demo.sim import brain
from drillkit.demo.sim.app import LATENCY_SCALE_ENV, create_sim_app, latency_scale_from_env
from drillkit.demo.sim.models import LITE, MODELS, NEWER, PINNED
from drillkit.net.serving import ServerThread

SYSTEM = "Answer only from the context and cite document ids in square brackets.\n" + document_block(
    Document(
        "returns-policy",
        "Returns and refunds",
        "You can return most items within 30 days of delivery. Refunds take 5 business days.",
    )
)
QUESTION = "How many days do I have to return an item?"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with ServerThread({"sim": create_sim_app(latency_scale=0)}) as urls:
        yield urls["sim"]


@pytest.fixture
def oai(sim_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim_url + "/v1", api_key="x", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(sim_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=0) as client:
        yield client


def _chat(client: openai.OpenAI, model: str = PINNED, **kwargs: object) -> openai.types.chat.ChatCompletion:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    return client.chat.completions.create(model=model, messages=messages, temperature=0, **kwargs)


def test_openai_non_streaming(oai: openai.OpenAI) -> None:
    resp = _chat(oai, max_tokens=512)
    text = resp.choices[0].message.content
    assert resp.object == "chat.completion"
    assert resp.model == PINNED
    assert resp.system_fingerprint == MODELS[PINNED].system_fingerprint
    assert resp.choices[0].finish_reason == "stop"
    assert "30 days" in text and "[returns-policy]" in text
    assert resp.usage.prompt_tokens == brain.count_tokens(SYSTEM) + brain.count_tokens(QUESTION)
    assert resp.usage.completion_tokens == brain.count_tokens(text)
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_openai_streaming_matches_non_streaming(oai: openai.OpenAI) -> None:
    whole = _chat(oai)
    chunks = list(_chat(oai, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) > 1
    assert "".join(content) == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump() == whole.usage.model_dump()
    assert {c.system_fingerprint for c in chunks} == {MODELS[PINNED].system_fingerprint}


def test_openai_raw_headers_and_sse_framing(sim_url: str) -> None:
    body = {"model": LITE, "messages": [{"role": "user", "content": "Say hello"}], "stream": True}
    with httpx.stream("POST", sim_url + "/v1/chat/completions", json=body) as resp:
        raw = resp.read().decode()
        assert resp.headers["x-request-id"].startswith("req_")
        assert int(resp.headers["openai-processing-ms"]) >= 0
        assert resp.headers["content-type"].startswith("text/event-stream")
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"


def test_openai_max_tokens_cuts_with_length(oai: openai.OpenAI) -> None:
    resp = _chat(oai, max_tokens=4)
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.completion_tokens == 4
    assert resp.choices[0].message.content == "You can return most"


def test_openai_models_list(oai: openai.OpenAI) -> None:
    ids = [m.id for m in oai.models.list()]
    assert ids == list(MODELS)
    assert oai.models.retrieve(NEWER).owned_by == MODELS[NEWER].owned_by


def test_openai_unknown_model_is_not_found(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        _chat(oai, model="gpt-nonexistent")
    assert info.value.body["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("payload", "param"),
    [(b"{not json", None), (b'{"model": "sim-pro-2025-06"}', "messages"), (b"[]", None)],
)
def test_openai_bad_requests(sim_url: str, payload: bytes, param: str | None) -> None:
    resp = httpx.post(sim_url + "/v1/chat/completions", content=payload, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert set(error) == {"message", "type", "param", "code"}


def test_determinism_and_newer_fingerprint(oai: openai.OpenAI) -> None:
    first, second = _chat(oai), _chat(oai)
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.id != second.id
    newer = _chat(oai, model=NEWER)
    assert newer.system_fingerprint != first.system_fingerprint
    assert newer.choices[0].message.content != first.choices[0].message.content


def test_plain_chat_without_context(oai: openai.OpenAI) -> None:
    resp = oai.chat.completions.create(model=PINNED, messages=[{"role": "user", "content": "Say hello"}])
    assert resp.choices[0].message.content.startswith("Hello")


def test_anthropic_non_streaming(claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(
        model=PINNED,
        max_tokens=512,
        system=[{"type": "text", "text": SYSTEM}],
        messages=[{"role": "user", "content": QUESTION}],
    )
    text = msg.content[0].text
    assert msg.type == "message" and msg.role == "assistant" and msg.model == PINNED
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert "30 days" in text and "[returns-policy]" in text
    assert msg.usage.input_tokens == brain.count_tokens(SYSTEM) + brain.count_tokens(QUESTION)
    assert msg.usage.output_tokens == brain.count_tokens(text)


def test_anthropic_streaming_matches_non_streaming(claude: anthropic.Anthropic) -> None:
    kwargs = {"model": NEWER, "max_tokens": 512, "system": SYSTEM, "messages": [{"role": "user", "content": QUESTION}]}
    whole = claude.messages.create(**kwargs)
    with claude.messages.stream(**kwargs) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == whole.content[0].text == final.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens

    sdk_events = [e.type for e in claude.messages.create(stream=True, **kwargs)]
    assert sdk_events[0] == "message_start" and sdk_events[-1] == "message_stop"


def test_anthropic_sse_framing(sim_url: str) -> None:
    body = {"model": LITE, "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "Say hello"}]}
    with httpx.stream("POST", sim_url + "/v1/messages", json=body) as resp:
        raw = resp.read().decode()
        assert resp.headers["request-id"].startswith("req_")
    blocks = [b.split("\n") for b in raw.split("\n\n") if b]
    assert all(lines[0].startswith("event: ") and lines[1].startswith("data: ") for lines in blocks)
    names = [lines[0].removeprefix("event: ") for lines in blocks]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}


def test_anthropic_max_tokens_and_headers(sim_url: str) -> None:
    body = {"model": PINNED, "max_tokens": 3, "system": SYSTEM, "messages": [{"role": "user", "content": QUESTION}]}
    resp = httpx.post(sim_url + "/v1/messages", json=body)
    assert resp.headers["request-id"].startswith("req_")
    assert resp.json()["stop_reason"] == "max_tokens"
    assert resp.json()["usage"]["output_tokens"] == 3


def test_anthropic_errors(claude: anthropic.Anthropic, sim_url: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(model="claude-nonexistent", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["error"]["type"] == "not_found_error"
    resp = httpx.post(sim_url + "/v1/messages", json={"model": PINNED, "messages": []})
    assert resp.status_code == 400
    assert resp.json()["type"] == "error"
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_anthropic_models_list(claude: anthropic.Anthropic) -> None:
    assert [m.id for m in claude.models.list()] == list(MODELS)


def test_latency_profile_is_respected() -> None:
    pinned = MODELS[PINNED]
    scale = 0.5
    with (
        ServerThread({"sim": create_sim_app(latency_scale=scale)}) as urls,
        openai.OpenAI(base_url=urls["sim"] + "/v1", api_key="x", max_retries=0) as client,
    ):
        _chat(client, model=LITE)  # warm the connection up
        started = time.perf_counter()
        stream = _chat(client, stream=True)
        first_content_at = None
        for chunk in stream:
            if first_content_at is None and chunk.choices and chunk.choices[0].delta.content:
                first_content_at = time.perf_counter() - started
        total = time.perf_counter() - started
    expected_ttft = pinned.ttft_s(scale)
    assert expected_ttft * 0.9 <= first_content_at <= expected_ttft + 0.25
    text_tokens = brain.count_tokens(brain.answer(PINNED, SYSTEM, [{"role": "user", "content": QUESTION}]))
    assert total >= expected_ttft + pinned.generation_s(text_tokens, scale) * 0.5
    assert total <= pinned.total_s(text_tokens, scale) + 0.4


def test_latency_scale_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LATENCY_SCALE_ENV, raising=False)
    assert latency_scale_from_env() == 1.0
    monkeypatch.setenv(LATENCY_SCALE_ENV, "0")
    assert latency_scale_from_env() == 0.0
    assert create_sim_app().state.engine.latency_scale == 0.0
    monkeypatch.setenv(LATENCY_SCALE_ENV, "fast")
    with pytest.raises(ValueError, match=LATENCY_SCALE_ENV):
        latency_scale_from_env()


@pytest.mark.parametrize("anthropic_version", [None, "2023-06-01"])
def test_unknown_paths_and_methods_answer_in_the_api_shape(sim_url: str, anthropic_version: str | None) -> None:
    headers = {"anthropic-version": anthropic_version} if anthropic_version else {}
    wrong_method = httpx.get(sim_url + "/v1/chat/completions", headers=headers)
    unknown = httpx.post(sim_url + "/v1/messages/count_tokens", json={}, headers=headers)
    assert (wrong_method.status_code, unknown.status_code) == (405, 404)
    assert wrong_method.headers["allow"] == "POST"
    for r in (wrong_method, unknown):
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        if anthropic_version:
            assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        else:
            assert set(body["error"]) == {"message", "type", "param", "code"}
    kind = unknown.json()["error"]["type"] if anthropic_version else unknown.json()["error"]["code"]
    assert kind == ("not_found_error" if anthropic_version else "unknown_url")


def test_only_loopback_host_names_are_served(sim_url: str) -> None:
    port = httpx.URL(sim_url).port
    for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert httpx.get(sim_url + "/healthz", headers={"host": host}).status_code == 200, host
    rebound = httpx.get(sim_url + "/v1/models", headers={"host": f"evil.example:{port}"})
    assert rebound.status_code == 403
