"""OpenAI-compatible chat completions and model listing for the sim provider.

Wire contract: `POST /v1/chat/completions` returns a `chat.completion` object, or with
`stream: true` server-sent `data: {chat.completion.chunk}` events ending in `data: [DONE]`
(a usage-only chunk before it when `stream_options.include_usage` is set).  Errors use OpenAI's
`{"error": {"message", "type", "param", "code"}}` shape; every response has `x-request-id`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from drillkit.demo.sim.brain import content_text
from drillkit.demo.sim.engine import Completion, SimEngine
from drillkit.demo.sim.models import SimModel, get_model

_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length"}


class RequestError(Exception):
    """A request the API refuses; becomes an OpenAI error body with `status`."""

    def __init__(self, status: int, message: str, param: str | None, code: str | None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def error_response(
    status: int, message: str, *, param: str | None = None, code: str | None = None, kind: str = "invalid_request_error"
) -> JSONResponse:
    """An error in OpenAI's shape with a fresh `x-request-id`."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers={"x-request-id": _request_id()})


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _parse(body: Any) -> tuple[str, list[dict[str, Any]], int | None, list[str], bool, bool]:
    """Validate a chat request: (model, messages, max_tokens, stop, stream, include_usage)."""
    if not isinstance(body, dict):
        raise RequestError(400, "The request body must be a JSON object.", None, "invalid_request_error")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "Missing required parameter: 'model'.", "model", "missing_required_parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(
                400,
                f"Invalid value for 'messages[{i}]': expected an object with a role.",
                f"messages[{i}]",
                "invalid_value",
            )
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise RequestError(
            400, "Invalid 'max_tokens': expected an integer of at least 1.", "max_tokens", "invalid_value"
        )
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    return model, messages, max_tokens, stops, bool(body.get("stream")), include_usage


def _usage(c: Completion) -> dict[str, int]:
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
    }


def chat_completions_endpoint(engine: SimEngine) -> Callable[[Request], Awaitable[Response]]:
    """The `POST /v1/chat/completions` handler bound to `engine`."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await request.json()
        except ValueError:
            return error_response(400, "We could not parse the JSON body of your request.", code="invalid_json")
        try:
            name, messages, max_tokens, stops, stream, include_usage = _parse(body)
        except RequestError as exc:
            return error_response(exc.status, exc.message, param=exc.param, code=exc.code)
        spec = get_model(name)
        if spec is None:
            return error_response(
                404, f"The model `{name}` does not exist or you do not have access to it.", code="model_not_found"
            )
        system_text = "\n".join(
            content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
        )
        completion = engine.complete(spec, system_text, messages, max_tokens, stops)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if stream:
            await engine.wait_first_token(spec)
            headers = _headers(started)
            events = _stream(engine, completion, completion_id, created, name, include_usage)
            return StreamingResponse(events, media_type="text/event-stream", headers=headers)
        await engine.wait_whole(completion)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": name,
            "system_fingerprint": spec.system_fingerprint,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": completion.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": _FINISH[completion.finish],
                }
            ],
            "usage": _usage(completion),
            "service_tier": "default",
        }
        return JSONResponse(payload, headers=_headers(started))

    return endpoint


def _headers(started: float) -> dict[str, str]:
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    return {"x-request-id": _request_id(), "openai-processing-ms": str(elapsed_ms), "cache-control": "no-cache"}


async def _stream(
    engine: SimEngine, c: Completion, completion_id: str, created: int, name: str, include_usage: bool
) -> AsyncIterator[str]:
    """SSE body; the caller already waited the time to first token."""

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> str:
        """One event; `delta` None makes the usage-only chunk (no choices) sent before [DONE]."""
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        obj: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "system_fingerprint": c.model.system_fingerprint,
            "choices": [] if delta is None else [choice],
        }
        if include_usage:
            obj["usage"] = usage
        return f"data: {_dumps(obj)}\n\n"

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for i, (piece, tokens) in enumerate(c.chunks()):
        if i:
            await engine.wait_tokens(c.model, tokens)
        yield chunk({"content": piece})
    yield chunk({}, _FINISH[c.finish])
    if include_usage:
        yield chunk(None, usage=_usage(c))
    yield "data: [DONE]\n\n"


def _model_object(spec: SimModel) -> dict[str, Any]:
    return {"id": spec.id, "object": "model", "created": spec.created, "owned_by": spec.owned_by}


def models_response(models: list[SimModel]) -> Response:
    """`GET /v1/models` in OpenAI's list shape."""
    body = {"object": "list", "data": [_model_object(m) for m in models]}
    return JSONResponse(body, headers={"x-request-id": _request_id()})


def model_response(spec: SimModel | None, requested: str) -> Response:
    """`GET /v1/models/{id}`: the model object, or a `model_not_found` error."""
    if spec is None:
        return error_response(
            404, f"The model `{requested}` does not exist or you do not have access to it.", code="model_not_found"
        )
    return JSONResponse(_model_object(spec), headers={"x-request-id": _request_id()})
