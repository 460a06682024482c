"""The service's wire format: requests built from input records, responses read into a Reply."""

from __future__ import annotations

import pytest

from drillkit.config.system import Service, System
from drillkit.config.types import expand_headers
from drillkit.errors import InputError
from drillkit.evals.wire import Wire, pointer, question_of

OPENAI_BODY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "support",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Refunds take 30 days."}}],
    "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240},
}
ANTHROPIC_BODY = {
    "id": "msg_1",
    "type": "message",
    "model": "claude-x",
    "content": [{"type": "text", "text": "Refunds "}, {"type": "tool_use", "id": "t"}, {"type": "text", "text": "ok"}],
    "usage": {"input_tokens": 100, "output_tokens": 10},
}


def system(service: dict, pricing: dict | None = None) -> System:
    return System.model_validate(
        {"apiVersion": "drillkit/v1", "kind": "System", "name": "s", "service": service, "pricing": pricing or {}}
    )


def test_question_is_the_question_or_the_last_user_message() -> None:
    assert question_of({"question": "why?"}) == "why?"
    messages = [
        {"role": "system", "content": "You are a support agent. " * 50},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    assert question_of({"messages": messages}) == "second"
    assert question_of({"messages": [{"role": "assistant", "content": "x"}]}) is None
    assert question_of("not a record") is None


def test_openai_request_carries_model_system_and_stream_usage() -> None:
    wire = Wire(api="openai-chat", model="support")
    assert wire.body({"question": "hi", "system": "be brief"}) == {
        "model": "support",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    streamed = wire.body({"messages": [{"role": "user", "content": "hi"}]}, stream=True)
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}


def test_anthropic_request_has_max_tokens_top_level_system_and_version_header() -> None:
    wire = Wire(api="anthropic-messages", model="claude-x", headers={"x-api-key": "k"})
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]
    body = wire.body({"messages": messages, "system": "s"})
    assert body["system"] == "s" and body["max_tokens"] > 0
    assert body["messages"] == [{"role": "user", "content": "q"}]
    assert wire.request_headers() == {"anthropic-version": "2023-06-01", "x-api-key": "k"}


def test_json_request_is_the_record_itself() -> None:
    record = {"question": "q", "user_id": "u1"}
    assert Wire().body(record) is record


def test_openai_reply_reads_answer_usage_and_judged_shape() -> None:
    reply = Wire(api="openai-chat", model="support").read(OPENAI_BODY, {})
    assert reply.answer == "Refunds take 30 days."
    assert reply.served_model == "support"
    assert reply.cost_usd is None  # no cost source and no price for the model: unknown, not 0
    assert reply.judged["answer"] == "Refunds take 30 days." and "cost_usd" not in reply.judged


def test_cost_from_a_header_wins_and_header_names_are_case_insensitive() -> None:
    wire = Wire(
        api="openai-chat",
        model="support",
        response={"cost_usd": "header:x-litellm-response-cost", "served_model": "header:x-litellm-model-id"},
        pricing={"support": (1.0, 1.0)},
    )
    reply = wire.read(OPENAI_BODY, {"X-LiteLLM-Response-Cost": "0.00042", "X-LiteLLM-Model-Id": "primary-1"})
    assert reply.cost_usd == pytest.approx(0.00042)
    assert reply.served_model == "primary-1"
    assert reply.judged["cost_usd"] == pytest.approx(0.00042) and reply.judged["model"] == "primary-1"


def test_cost_is_pricing_times_usage_when_there_is_no_source() -> None:
    wire = Wire(api="openai-chat", model="support", pricing={"support": (2.0, 10.0)})
    reply = wire.read(OPENAI_BODY, {})
    assert reply.cost_usd == pytest.approx((1200 * 2.0 + 40 * 10.0) / 1e6)


@pytest.mark.parametrize("value", ["", "n/a", "-1", "nan", "inf"])
def test_an_unreadable_cost_is_unknown_never_zero(value: str) -> None:
    wire = Wire(api="openai-chat", model="m", response={"cost_usd": "header:x-cost"})
    assert wire.read(OPENAI_BODY, {"x-cost": value}).cost_usd is None


def test_anthropic_reply_joins_text_blocks() -> None:
    reply = Wire(api="anthropic-messages", model="claude-x", pricing={"claude-x": (3.0, 15.0)}).read(ANTHROPIC_BODY)
    assert reply.answer == "Refunds ok"
    assert reply.cost_usd == pytest.approx((100 * 3.0 + 10 * 15.0) / 1e6)


def test_json_reply_keeps_the_body_for_assertions() -> None:
    body = {"answer": "a", "citations": ["kb-1"], "model": "m", "provider": "p", "cost_usd": 0.001}
    reply = Wire().read(body)
    assert (reply.answer, reply.provider, reply.cost_usd) == ("a", "p", 0.001)
    assert reply.judged["citations"] == ["kb-1"]


def test_json_pointer_escapes_and_misses() -> None:
    doc = {"a/b": {"m~n": [1, {"x": "y"}]}}
    assert pointer(doc, "/a~1b/m~0n/1/x") == "y"
    assert pointer(doc, "/a~1b/m~0n/5") is None
    assert pointer(doc, "") is doc


def test_service_api_aliases_and_chat_apis_need_a_model() -> None:
    assert Service.model_validate({"url": "http://127.0.0.1/v1", "api": "anthropic", "model": "c"}).api == (
        "anthropic-messages"
    )
    with pytest.raises(ValueError, match=r"service\.model"):
        Service.model_validate({"url": "http://127.0.0.1/v1", "api": "openai-chat"})
    with pytest.raises(ValueError, match="header name"):
        Service.model_validate({"url": "http://127.0.0.1/v1", "headers": {"bad name": "x"}})
    with pytest.raises(ValueError, match="CR, LF"):
        Service.model_validate({"url": "http://127.0.0.1/v1", "headers": {"X": "a\r\nInjected: 1"}})


def test_header_variables_come_from_the_environment_and_a_missing_one_names_the_field() -> None:
    headers = {"Authorization": "Bearer ${MASTER_KEY}", "X-Team": "support"}
    assert expand_headers(headers, "service.headers", {"MASTER_KEY": "sk-1"}) == {
        "Authorization": "Bearer sk-1",
        "X-Team": "support",
    }
    with pytest.raises(InputError) as info:
        expand_headers(headers, "service.headers", {})
    assert info.value.exit_code == 2
    assert "service.headers.Authorization" in str(info.value) and "MASTER_KEY" in str(info.value)


def test_wire_of_a_system_expands_headers_and_reads_pricing() -> None:
    s = system(
        {"url": "http://127.0.0.1/v1", "api": "openai", "model": "support", "headers": {"Authorization": "${K}"}},
        {"support": {"input_per_mtok": 1, "output_per_mtok": 2}},
    )
    wire = Wire.of(s, env={"K": "secret"})
    assert wire.headers == {"Authorization": "secret"} and wire.pricing == {"support": (1.0, 2.0)}
    assert "secret" not in repr(wire.read(OPENAI_BODY, {}))
