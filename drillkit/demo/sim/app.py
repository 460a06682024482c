"""One sim provider instance: OpenAI- and Anthropic-compatible APIs on one host:port.

`create_sim_app()` returns a Starlette app serving `POST /v1/chat/completions`,
`POST /v1/messages`, `GET /v1/models[/{id}]` (OpenAI shape, or Anthropic shape when the request
carries an `anthropic-version` header) and `GET /healthz`.  An unknown path (404) or method (405)
is answered in the same API's error shape, chosen the same way.  Only loopback `Host` names are
served (`drillkit.net.serving.loopback_only`).  `SimEngine` (`drillkit.demo.sim.engine`) is what
both API modules share: turning a request into a `Completion` and pacing it by the model's
latency profile.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit.demo.sim import anthropic_api, openai_api
from drillkit.demo.sim.engine import (
    LATENCY_SCALE_ENV,
    TOKENS_PER_CHUNK,
    Completion,
    Finish,
    SimEngine,
    latency_scale_from_env,
)
from drillkit.demo.sim.models import MODELS
from drillkit.net.serving import loopback_only


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


__all__ = [
    "LATENCY_SCALE_ENV",
    "TOKENS_PER_CHUNK",
    "Completion",
    "Finish",
    "SimEngine",
    "create_sim_app",
    "latency_scale_from_env",
]
