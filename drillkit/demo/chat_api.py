"""The demo service's OpenAI-shaped endpoint, `POST /v1/chat/completions`: its wire shapes.

The handler is `drillkit.demo.service.DemoService.chat_completions` (the same pipeline as
`/v1/answer`); this module reads the request, writes OpenAI's objects and relays a stream
(`relay`, served by `EventStream`):

- request: `messages` (the question is the text of the last `user` message: a string, or the
  `text` parts of a list), `model` (required, any name: the service's levers choose the model,
  the response names the model that answered), `stream`, `stream_options.include_usage`; any
  other field (temperature, max_tokens, ...) is accepted and ignored;
- answer: a `chat.completion` object; with `stream: true`, server-sent `chat.completion.chunk`
  events (`StreamWriter`) ending in `data: [DONE]`;
- errors: `{"error": {"message", "type", "param", "code"}}` (`error_response`), and in a stream
  that breaks after its first token one `data: {"error": ...}` event (`StreamWriter.error`)
  and no `[DONE]`, which OpenAI's SDKs raise as an `APIError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from drillkit.demo.metrics import ServiceMetrics
from drillkit.demo.router import AnswerStream, Completion, StreamInterrupted

log = logging.getLogger(__name__)


class ChatRequestError(Exception):
    """A request the endpoint refuses (400), in OpenAI's terms: message, param, code."""

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


@dataclass(frozen=True)
class ChatRequest:
    """What the endpoint uses of a chat request."""

    question: str
    model: str
    stream: bool = False
    include_usage: bool = False


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Read a chat-completions request body; `ChatRequestError` when it is not one."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise ChatRequestError("We could not parse the JSON body of your request.", None, "invalid_json") from None
    if not isinstance(body, dict):
        raise ChatRequestError("The request body must be a JSON object.", None, "invalid_request_error")
    model = body.get("model")
    if model is None:
        raise ChatRequestError("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    if not isinstance(model, str) or not model.strip():
        raise ChatRequestError("Invalid 'model': expected a non-empty string.", "model")
    messages = body.get("messages")
    if messages is None:
        raise ChatRequestError("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise ChatRequestError("Invalid 'messages': expected a non-empty array of messages.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ChatRequestError(f"Invalid 'messages[{i}]': expected an object with a role.", f"messages[{i}]")
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users:
        raise ChatRequestError("Invalid 'messages': expected at least one message with role 'user'.", "messages")
    last = users[-1]
    question = _text(messages[last].get("content"), f"messages[{last}].content")
    if not question.strip():
        raise ChatRequestError("Invalid 'content': the last user message has no text.", f"messages[{last}].content")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise ChatRequestError("Invalid 'stream': expected a boolean.", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ChatRequestError("Invalid 'stream_options': expected an object.", "stream_options")
    if options is not None and not stream:
        raise ChatRequestError(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
        )
    include_usage = bool((options or {}).get("include_usage"))
    return ChatRequest(question, model, bool(stream), include_usage)


def _text(content: Any, param: str) -> str:
    """A message's text: the string, or the `text` parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise ChatRequestError(f"Invalid '{param}': expected content parts with a type.", param)
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise ChatRequestError(f"Invalid '{param}': a text part needs a string 'text'.", param)
                texts.append(part["text"])
        return "\n".join(texts)
    raise ChatRequestError(f"Invalid '{param}': expected a string or an array of content parts.", param)


def completion_id(trace_id: str) -> str:
    """The `id` of the answer to the request traced as `trace_id`."""
    return f"chatcmpl-{trace_id}"


def usage_object(input_tokens: int, output_tokens: int) -> dict[str, int]:
    total = input_tokens + output_tokens
    return {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": total}


def completion_object(
    trace_id: str, created: int, model: str, text: str, finish_reason: str, input_tokens: int, output_tokens: int
) -> dict[str, Any]:
    """A `chat.completion` object."""
    return {
        "id": completion_id(trace_id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_object(input_tokens, output_tokens),
    }


def error_object(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(status: int, code: str, message: str, trace_id: str, *, param: str | None = None) -> JSONResponse:
    """An error in OpenAI's shape; `x-trace-id` names the request."""
    body = error_object(status, code, message, param)
    return JSONResponse(body, status_code=status, headers={"x-trace-id": trace_id})


class StreamWriter:
    """The server-sent events of one streamed answer, in OpenAI's `chat.completion.chunk` format.

    With `include_usage` every chunk carries `"usage": null` and `usage()` is the extra chunk with
    no choices that OpenAI sends before `[DONE]`.
    """

    def __init__(self, trace_id: str, model: str, include_usage: bool, created: int | None = None) -> None:
        self.id = completion_id(trace_id)
        self.created = int(time.time()) if created is None else created
        self.model = model
        self.include_usage = include_usage

    def _chunk(
        self, delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None
    ) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [] if delta is None else [choice],
        }
        if self.include_usage:
            obj["usage"] = usage
        return _event(obj)

    def role(self) -> str:
        """The first chunk: the assistant's role, no text yet."""
        return self._chunk({"role": "assistant", "content": "", "refusal": None})

    def content(self, text: str) -> str:
        return self._chunk({"content": text})

    def finish(self, reason: str) -> str:
        return self._chunk({}, reason)

    def usage(self, input_tokens: int, output_tokens: int) -> str:
        return self._chunk(None, usage=usage_object(input_tokens, output_tokens))

    @staticmethod
    def done() -> str:
        return "data: [DONE]\n\n"

    @staticmethod
    def error(code: str, message: str) -> str:
        """The event that ends a stream broken after its first token (no `[DONE]` follows)."""
        return _event(error_object(502, code, message))


def _event(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'), ensure_ascii=False)}\n\n"


async def relay(
    stream: AnswerStream,
    chat: ChatRequest,
    trace_id: str,
    started: float,
    metrics: ServiceMetrics,
    cost_of: Callable[[Completion], float],
) -> AsyncGenerator[str, None]:
    """The SSE body of a streamed answer: the provider's deltas as chunks as they arrive, then
    the end (or an error event when the provider's stream breaks).  Counted in `metrics` once it
    is over, however it ended (a client that left: `error`); `cost_of` prices the answer."""
    writer = StreamWriter(trace_id, stream.model, chat.include_usage)
    outcome = "error"  # unless it ends: the client left, or relaying failed
    cost = 0.0
    try:
        yield writer.role()
        async with contextlib.aclosing(stream.deltas()) as pieces:
            async for piece in pieces:
                yield writer.content(piece)
        completion = stream.completion()
        cost = cost_of(completion)
        yield writer.finish(completion.finish_reason)
        if chat.include_usage:
            yield writer.usage(completion.input_tokens, completion.output_tokens)
        yield writer.done()
        outcome = "ok"
    except StreamInterrupted as exc:
        outcome = "unavailable"
        log.warning("stream interrupted (trace %s): %s", trace_id, exc)
        yield writer.error(exc.code, str(exc))
    except Exception:
        log.exception("relaying the stream failed (trace %s)", trace_id)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
        completion = stream.completion()
        metrics.observe_attempts(completion.attempts)
        if outcome == "ok":
            metrics.observe_success(completion, cost)
        metrics.observe_request(outcome, completion.provider, completion.model, time.perf_counter() - started)


def usd(cost: float) -> str:
    """A cost for a header: plain decimal notation, no exponent."""
    return f"{cost:.12f}".rstrip("0").rstrip(".") or "0"


class EventStream(StreamingResponse):
    """A `text/event-stream` response whose body generator is always closed, also when the
    client leaves mid-stream (Starlette then cancels the send loop and leaves the generator
    suspended): the generator's `finally` releases the provider and counts the request."""

    def __init__(self, body: AsyncGenerator[str, None], headers: Mapping[str, str]) -> None:
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._body.aclose()


__all__ = [
    "ChatRequest",
    "ChatRequestError",
    "EventStream",
    "StreamWriter",
    "completion_object",
    "error_response",
    "parse_chat_request",
    "relay",
    "usd",
]
