"""The service's wire format (DESIGN §9.1): how a request is built and a response is read.

An input record — a traffic line, an eval case's input, an inputs-sample line — is `{question}` or
`{messages: [...]}` (optionally `system`). The service's `api` decides the request body:

    json                the record as is (drillkit's own shape: {question} → {answer, model, ...})
    openai-chat         {model, messages}                      answer: /choices/0/message/content
    anthropic-messages  {model, max_tokens, messages, system}  answer: the content's text blocks

and how its response is read into a `Reply`: the answer, the served model, the provider, the cost
and the token usage. `service.response` overrides any of these with a JSON Pointer into the body or
`header:NAME`. Without a cost source the cost is `pricing[served model] × usage`; what cannot be
read is None (unknown), never 0.

`Reply.judged` is what eval assertions read (`answer`, `citations`, `cost_usd`, ...): the body
itself for `json`, an equivalent object for the chat APIs (their `citations` are the `[id]`
tokens the answer names), so one suite runs against all three.

The header values (`Wire.headers`, `${VAR}` already expanded) are secrets: send them, store them
nowhere (this module never puts them in a Reply).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drillkit.config.types import expand_headers

if TYPE_CHECKING:
    from drillkit.config.system import System

#: Anthropic requires max_tokens; a support answer fits well within it.
ANTHROPIC_MAX_TOKENS = 1024
ANTHROPIC_VERSION = "2023-06-01"
#: A source named in an answer: `[returns-policy]`. The chat APIs have no citations field, so a
#: suite's `cites` assertions read these.
CITATION = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9_.-]*)\]")


def question_of(record: Any) -> str | None:
    """The user's question in an input record: `question`, or the last user message's text."""
    if not isinstance(record, dict):
        return None
    question = record.get("question")
    if isinstance(question, str):
        return question
    messages = record.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
    return None


def _text_of(content: Any) -> str | None:
    """A message's text: a string, or the `text` of its text blocks (OpenAI and Anthropic both)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text") for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]
        return "".join(parts) if parts else None
    return None


def pointer(document: Any, path: str) -> Any:
    """RFC 6901: the value at `path` ("" = the whole document); None when it is not there."""
    if path == "":
        return document
    node = document
    for raw in path[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass
class Reply:
    """What drillkit read from one response. None = unknown (not in the response, or unreadable)."""

    answer: str | None = None
    served_model: str | None = None
    provider: str | None = None
    cost_usd: float | None = None
    usage: Usage | None = None
    #: What assertions judge: the json body, or an equivalent object for the chat APIs.
    judged: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Wire:
    api: str = "json"
    model: str | None = None
    #: Sent with every request; `${VAR}` expanded. Secrets: never stored.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: `service.response`: field → JSON Pointer or `header:NAME`.
    response: Mapping[str, str] = field(default_factory=dict)
    #: model → (USD per million input tokens, per million output tokens)
    pricing: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, system: System, env: Mapping[str, str] | None = None) -> Wire:
        """The manifest's service as a wire (InputError, exit 2, when a `${VAR}` is not set)."""
        service = system.service
        return cls(
            api=service.api,
            model=service.model,
            headers=expand_headers(service.headers, "service.headers", os.environ if env is None else env),
            response=service.response.model_dump(exclude_none=True),
            pricing={name: (p.input_per_mtok, p.output_per_mtok) for name, p in system.pricing.items()},
        )

    # -- requests ------------------------------------------------------------------------------

    def body(self, record: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
        """The request body for one input record."""
        if self.api == "json":
            return {**record, "stream": True} if stream else record
        messages = _messages(record)
        system = record.get("system") if isinstance(record.get("system"), str) else None
        if self.api == "openai-chat":
            if system is not None:
                messages = [{"role": "system", "content": system}, *messages]
            body: dict[str, Any] = {"model": self.model, "messages": messages}
            if stream:
                body |= {"stream": True, "stream_options": {"include_usage": True}}
            return body
        body = {"model": self.model, "max_tokens": ANTHROPIC_MAX_TOKENS, "messages": messages}
        if system is not None:
            body["system"] = system
        return body | ({"stream": True} if stream else {})

    def request_headers(self) -> dict[str, str]:
        """Headers for each request: the api's own, then the manifest's (which win)."""
        base = {"anthropic-version": ANTHROPIC_VERSION} if self.api == "anthropic-messages" else {}
        return base | dict(self.headers)

    # -- responses -----------------------------------------------------------------------------

    def read(self, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
        """Read one successful response (its decoded JSON body and its headers)."""
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        doc = body if isinstance(body, dict) else {}
        default = _DEFAULTS[self.api]

        def get(name: str) -> Any:
            where = self.response.get(name, default.get(name))
            if where is None:
                return None
            if where.startswith("header:"):
                return lowered.get(where[len("header:") :].lower())
            return pointer(doc, where)

        if self.api == "anthropic-messages" and "answer" not in self.response:
            answer = _anthropic_text(doc)
        else:
            answer = _text_of(get("answer"))
        usage = _usage(doc.get("usage"))
        served = _str(get("served_model"))
        cost = _number(get("cost_usd"))
        if cost is None and usage is not None and served in self.pricing:
            per_in, per_out = self.pricing[served]
            cost = round((usage.input_tokens * per_in + usage.output_tokens * per_out) / 1e6, 9)
        reply = Reply(answer=answer, served_model=served, provider=_str(get("provider")), cost_usd=cost, usage=usage)
        reply.judged = self._judged(doc, reply)
        return reply

    def _judged(self, doc: dict[str, Any], reply: Reply) -> dict[str, Any]:
        read = {"answer": reply.answer, "model": reply.served_model, "provider": reply.provider}
        read["cost_usd"] = reply.cost_usd
        if self.api == "json":
            return {**doc, **{k: v for k, v in read.items() if v is not None}}
        extra = {"usage": doc["usage"]} if isinstance(doc.get("usage"), dict) else {}
        if reply.answer is not None:  # `cites` on a chat API: the `[id]` tokens the answer names
            extra["citations"] = list(dict.fromkeys(CITATION.findall(reply.answer)))
        return {k: v for k, v in read.items() if v is not None} | extra

    # -- streams -------------------------------------------------------------------------------

    def is_token(self, event: dict[str, Any]) -> bool:
        """Whether one streamed event (a decoded SSE `data:` object) carries answer text."""
        if self.api == "anthropic-messages":
            delta = event.get("delta")
            return event.get("type") == "content_block_delta" and isinstance(delta, dict) and bool(delta.get("text"))
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return False
        delta = choices[0].get("delta")
        return isinstance(delta, dict) and bool(delta.get("content"))

    def assemble(self, events: list[dict[str, Any]], done: bool) -> Stream:
        """The streamed events as the equivalent non-streamed body, and whether the stream ended
        as the api says a stream ends (`[DONE]` or a finish reason; Anthropic's `message_stop`)."""
        if self.api == "anthropic-messages":
            return _assemble_anthropic(events)
        return _assemble_openai(events, done)


@dataclass
class Stream:
    body: dict[str, Any]
    complete: bool
    error: str | None = None


def _assemble_openai(events: list[dict[str, Any]], done: bool) -> Stream:
    text, model, usage, finish = [], None, None, None
    for event in events:
        if isinstance(event.get("error"), dict):
            return Stream({}, False, f"stream error: {_error_name(event['error'])}")
        model = model or event.get("model")
        usage = event.get("usage") if isinstance(event.get("usage"), dict) else usage
        for choice in event.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                text.append(delta["content"])
            finish = (choice.get("finish_reason") if isinstance(choice, dict) else None) or finish
    message = {"role": "assistant", "content": "".join(text)}
    body: dict[str, Any] = {"model": model, "choices": [{"message": message, "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return Stream(body, done or finish is not None)


def _assemble_anthropic(events: list[dict[str, Any]]) -> Stream:
    text, model, usage, complete = [], None, {}, False
    for event in events:
        kind = event.get("type")
        if kind == "error":
            return Stream({}, False, f"stream error: {_error_name(event.get('error'))}")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            model = event["message"].get("model")
            usage |= event["message"].get("usage") or {}
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            text.append(str(event["delta"].get("text") or ""))
        elif kind == "message_delta" and isinstance(event.get("usage"), dict):
            usage |= event["usage"]
        elif kind == "message_stop":
            complete = True
    body = {"model": model, "content": [{"type": "text", "text": "".join(text)}], "usage": usage}
    return Stream(body, complete)


def _error_name(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("code") or error.get("type") or error.get("message") or "error")
    return "error"


_DEFAULTS: dict[str, dict[str, str]] = {
    "json": {"answer": "/answer", "served_model": "/model", "provider": "/provider", "cost_usd": "/cost_usd"},
    "openai-chat": {"answer": "/choices/0/message/content", "served_model": "/model"},
    "anthropic-messages": {"served_model": "/model"},
}


def _messages(record: dict[str, Any]) -> list[dict[str, Any]]:
    messages = record.get("messages")
    if isinstance(messages, list):
        return [m for m in messages if isinstance(m, dict) and m.get("role") != "system"]
    question = record.get("question")
    return [{"role": "user", "content": question if isinstance(question, str) else ""}]


def _anthropic_text(doc: dict[str, Any]) -> str | None:
    content = doc.get("content")
    if not isinstance(content, list):
        return None
    texts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return "".join(t for t in texts if isinstance(t, str)) if texts else None


def _usage(value: Any) -> Usage | None:
    """Token usage in either naming (OpenAI prompt/completion, Anthropic input/output)."""
    if not isinstance(value, dict):
        return None
    tokens_in = value.get("prompt_tokens", value.get("input_tokens"))
    tokens_out = value.get("completion_tokens", value.get("output_tokens"))
    if isinstance(tokens_in, int) and isinstance(tokens_out, int) and tokens_in >= 0 and tokens_out >= 0:
        return Usage(tokens_in, tokens_out)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    """A number, or a header's decimal text; None for anything else (unknown, never 0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if number >= 0 and number == number and number != float("inf") else None
    return None
