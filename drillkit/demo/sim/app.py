"""One sim provider instance: OpenAI- and Anthropic-compatible APIs on one host:port.

`create_sim_app()` returns a Starlette app serving `POST /v1/chat/completions`,
`POST /v1/messages`, `GET /v1/models[/{id}]` (OpenAI shape, or Anthropic shape when the request
carries an `anthropic-version` header) and `GET /healthz`.  An unknown path (404) or method (405)
is answered in the same API's error shape, chosen the same way.  Only loopback `Host` names are
served (`drillkit.net.serving.loopback_only`).  `SimEngine` is what both API modules share:
turning a request into a `Completion` and pacing it by the model's latency profile.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit.demo.sim import anthropic_api, openai_api
from drillkit.demo.sim.brain import (
    answer,
    content_text,
    count_tokens,
    split_chunks,
    truncate_tokens,
)
from drillkit.demo.sim.models import MODELS, SimModel
from drillkit.net.serving import loopback_only

LATENCY_SCALE_ENV = "DRILLKIT_SIM_LATENCY_SCALE"
TOKENS_PER_CHUNK = 3

Finish = Literal["stop", "length", "stop_sequence"]


@dataclass(frozen=True)
class Completion:
    """A finished generation: text after stop/length cuts, why it ended, and token usage."""

    model: SimModel
    text: str
    finish: Finish
    stop_sequence: str | None
    prompt_tokens: int
    completion_tokens: int

    def chunks(self) -> list[tuple[str, int]]:
        """Stream deltas of a few tokens each, as (text, n_tokens); they join to `text`."""
        return split_chunks(self.text, TOKENS_PER_CHUNK)


class SimEngine:
    """Shared by the API modules: generation and latency pacing for one app instance.

    `latency_scale` multiplies every sleep; 0 means no sleeping at all.
    """

    def __init__(self, name: str, latency_scale: float) -> None:
        self.name = name
        self.latency_scale = max(0.0, latency_scale)

    def complete(
        self,
        model: SimModel,
        system_text: str,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
    ) -> Completion:
        """Answer `messages`; prompt tokens count `system_text` plus every non-system message."""
        text = answer(model, system_text, messages)
        finish: Finish = "stop"
        hit: str | None = None
        hits = [(text.find(s), s) for s in stop if s and s in text]
        if hits:
            index, hit = min(hits)
            text, finish = text[:index], "stop_sequence"
        text, was_cut = truncate_tokens(text, max_tokens)
        if was_cut:
            hit, finish = None, "length"
        prompt = count_tokens(system_text) + sum(
            count_tokens(content_text(m.get("content")))
            for m in messages
            if m.get("role") not in ("system", "developer")
        )
        return Completion(model, text, finish, hit, prompt, count_tokens(text))

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def wait_first_token(self, model: SimModel) -> float:
        """Sleep the model's time to first token; returns the seconds slept."""
        seconds = model.ttft_s(self.latency_scale)
        await self._sleep(seconds)
        return seconds

    async def wait_tokens(self, model: SimModel, tokens: int) -> None:
        """Sleep the time `model` takes to produce `tokens` more output tokens."""
        await self._sleep(model.generation_s(tokens, self.latency_scale))

    async def wait_whole(self, completion: Completion) -> float:
        """Sleep a whole non-streaming response's time; returns the seconds slept."""
        seconds = completion.model.total_s(completion.completion_tokens, self.latency_scale)
        await self._sleep(seconds)
        return seconds


def latency_scale_from_env(default: float = 1.0) -> float:
    """The latency scale from `DRILLKIT_SIM_LATENCY_SCALE` (unset or empty: `default`)."""
    raw = os.environ.get(LATENCY_SCALE_ENV, "").strip()
    if not raw:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"{LATENCY_SCALE_ENV} must be a number, got {raw!r}") from None


def create_sim_app(
    name: str = "primary", latency_scale: float | None = None, *, allowed_hosts: Iterable[str] = ()
) -> Starlette:
    """A sim provider app; `latency_scale` None reads `DRILLKIT_SIM_LATENCY_SCALE` (default 1).

    `allowed_hosts`: Host names answered besides loopback ones (`loopback_only`)."""
    engine = SimEngine(name, latency_scale_from_env() if latency_scale is None else latency_scale)

    async def list_models(request: Request) -> Response:
        if "anthropic-version" in request.headers:
            return anthropic_api.models_response(list(MODELS.values()))
        return openai_api.models_response(list(MODELS.values()))

    async def get_model(request: Request) -> Response:
        spec = MODELS.get(request.path_params["model_id"])
        if "anthropic-version" in request.headers:
            return anthropic_api.model_response(spec, request.path_params["model_id"])
        return openai_api.model_response(spec, request.path_params["model_id"])

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "name": engine.name, "models": sorted(MODELS)})

    routes = [
        Route("/v1/chat/completions", openai_api.chat_completions_endpoint(engine), methods=["POST"]),
        Route("/v1/messages", anthropic_api.messages_endpoint(engine), methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    handlers = {404: _route_error, 405: _route_error}
    app = Starlette(routes=routes, middleware=loopback_only(allowed_hosts), exception_handlers=handlers)
    app.state.engine = engine
    return app


async def _route_error(request: Request, exc: Exception) -> Response:
    """404/405 in the error shape of the API the client speaks (`Allow` kept on a 405)."""
    assert isinstance(exc, HTTPException)
    message = f"{exc.detail}: {request.method} {request.url.path}"
    if "anthropic-version" in request.headers:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        response = anthropic_api.error_response(exc.status_code, kind, message)
    else:
        code = "unknown_url" if exc.status_code == 404 else "method_not_allowed"
        response = openai_api.error_response(exc.status_code, message, code=code)
    response.headers.update(exc.headers or {})
    return response
