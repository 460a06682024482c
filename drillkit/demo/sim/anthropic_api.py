"""Anthropic-compatible Messages API and model listing for the sim provider.

Wire contract: `POST /v1/messages` returns a `message` object, or with `stream: true` the
`message_start`, `content_block_start`, `ping`, `content_block_delta` (text_delta)...,
`content_block_stop`, `message_delta`, `message_stop` events as `event: <name>\\ndata: <json>`.
Errors use `{"type": "error", "error": {"type", "message"}}`; every response has `request-id`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from drillkit.demo.sim.brain import content_text
from drillkit.demo.sim.engine import Completion, SimEngine
from drillkit.demo.sim.models import SimModel, get_model

_STOP_REASON = {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens"}


class RequestError(Exception):
    """A request the API refuses; becomes an Anthropic error body with `status`."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    """An error in Anthropic's shape with a fresh `request-id` header."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers={"request-id": _request_id()})


def _parse(body: Any) -> tuple[str, str, list[dict[str, Any]], int, list[str], bool]:
    """Validate a messages request: (model, system_text, messages, max_tokens, stop, stream)."""
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_request_error", "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "invalid_request_error", "model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise RequestError(400, "invalid_request_error", "max_tokens: an integer >= 1 is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "invalid_request_error", "messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise RequestError(400, "invalid_request_error", f"messages.{i}.role: expected 'user' or 'assistant'")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise RequestError(400, "invalid_request_error", "system: expected a string or text blocks")
    stops = [s for s in body.get("stop_sequences") or [] if isinstance(s, str)]
    return model, content_text(system), messages, max_tokens, stops, bool(body.get("stream"))


def _message(c: Completion, message_id: str, name: str, *, final: bool) -> dict[str, Any]:
    """The message object: complete (`final`) or as announced by `message_start`."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": name,
        "content": [{"type": "text", "text": c.text}] if final else [],
        "stop_reason": _STOP_REASON[c.finish] if final else None,
        "stop_sequence": c.stop_sequence if final else None,
        "usage": {"input_tokens": c.prompt_tokens, "output_tokens": c.completion_tokens if final else 1},
    }


def messages_endpoint(engine: SimEngine) -> Callable[[Request], Awaitable[Response]]:
    """The `POST /v1/messages` handler bound to `engine`."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return error_response(400, "invalid_request_error", "The request body is not valid JSON.")
        try:
            name, system_text, messages, max_tokens, stops, stream = _parse(body)
        except RequestError as exc:
            return error_response(exc.status, exc.kind, exc.message)
        spec = get_model(name)
        if spec is None:
            return error_response(404, "not_found_error", f"model: {name}")
        completion = engine.complete(spec, system_text, messages, max_tokens, stops)
        message_id = f"msg_{uuid.uuid4().hex[:24]}"
        headers = {"request-id": _request_id(), "cache-control": "no-cache"}
        if stream:
            await engine.wait_first_token(spec)
            events = _stream(engine, completion, message_id, name)
            return StreamingResponse(events, media_type="text/event-stream", headers=headers)
        await engine.wait_whole(completion)
        return JSONResponse(_message(completion, message_id, name, final=True), headers=headers)

    return endpoint


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"


async def _stream(engine: SimEngine, c: Completion, message_id: str, name: str) -> AsyncIterator[str]:
    """SSE body; the caller already waited the time to first token."""
    yield _event("message_start", {"type": "message_start", "message": _message(c, message_id, name, final=False)})
    yield _event(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    yield _event("ping", {"type": "ping"})
    for i, (piece, tokens) in enumerate(c.chunks()):
        if i:
            await engine.wait_tokens(c.model, tokens)
        yield _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
        )
    yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield _event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP_REASON[c.finish], "stop_sequence": c.stop_sequence},
            "usage": {"output_tokens": c.completion_tokens},
        },
    )
    yield _event("message_stop", {"type": "message_stop"})


def _model_object(spec: SimModel) -> dict[str, Any]:
    created = datetime.fromtimestamp(spec.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "model", "id": spec.id, "display_name": spec.display_name, "created_at": created}


def models_response(models: list[SimModel]) -> Response:
    """`GET /v1/models` in Anthropic's page shape."""
    data = [_model_object(m) for m in models]
    body = {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    return JSONResponse(body, headers={"request-id": _request_id()})


def model_response(spec: SimModel | None, requested: str) -> Response:
    """`GET /v1/models/{id}`: the model object, or a `not_found_error`."""
    if spec is None:
        return error_response(404, "not_found_error", f"model: {requested}")
    return JSONResponse(_model_object(spec), headers={"request-id": _request_id()})
