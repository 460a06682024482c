"""The demo service's `/admin` API: its levers (the system's rollback paths) over HTTP.

Each lever answers the new state (`GET /admin/state`'s body); a bad value is
`{"error": message}` with 400 (malformed) or 404 (unknown):

- `GET /admin/state`: the lever state plus what it means now (`provider_order`, `models`,
  the router's `health`);
- `POST /admin/route {"provider"}`, `POST /admin/pin {"model": name|null}`,
  `POST /admin/prompt {"version": name|"previous"}`, `POST /admin/corpus {"version": id|"previous"}`;
- `POST /admin/degrade {"on": true|false}`, `POST /admin/kill-switch {"on": true|false}`: the
  switches of `drillkit.demo.levers` (what they do to answers: `drillkit.demo.answer_modes`);
- `GET /admin/corpus`: the corpus versions;
- `POST /admin/reset`: route, pin and prompt back to defaults, degrade and kill switch off, and the
  router's cooldowns cleared; the corpus is left as it is (see `drillkit.demo.levers`).

Cross-site requests are refused: the app's `drillkit.net.AdminGuard` (`loopback_only`) answers
403 to a foreign `Host` or `Origin`, and a POST must also say `Content-Type: application/json`
(else 415; a web page cannot send that without a CORS preflight, which this API never answers).
A lever that fails unexpectedly answers 500 `{"error": ...}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit.config.system import System
from drillkit.demo.corpus import LiveCorpus
from drillkit.demo.levers import LeverError, Levers
from drillkit.demo.router import Router

Handler = Callable[[Request], Awaitable[Response]]
log = logging.getLogger(__name__)


class LeverHolder(Protocol):
    """What the levers act on: the parts of a `drillkit.demo.service.DemoService` this API uses."""

    system: System
    levers: Levers
    corpus: LiveCorpus
    router: Router | None


class AdminApi:
    """The `/admin` endpoints of one `DemoService`."""

    def __init__(self, service: LeverHolder) -> None:
        self.service = service

    def routes(self) -> list[Route]:
        return [
            Route("/admin/state", guarded(self.get_state), methods=["GET"]),
            Route("/admin/route", guarded(self.route), methods=["POST"]),
            Route("/admin/pin", guarded(self.pin), methods=["POST"]),
            Route("/admin/prompt", guarded(self.prompt), methods=["POST"]),
            Route("/admin/corpus", guarded(self.corpus), methods=["POST"]),
            Route("/admin/degrade", guarded(self.degrade), methods=["POST"]),
            Route("/admin/kill-switch", guarded(self.kill_switch), methods=["POST"]),
            Route("/admin/corpus", guarded(self.corpus_versions), methods=["GET"]),
            Route("/admin/reset", guarded(self.reset), methods=["POST"]),
        ]

    def state(self) -> dict[str, Any]:
        """The lever state plus what it means right now (provider order, models, router health)."""
        service = self.service
        service.corpus.refresh(force=True)
        state = service.levers.state
        first = next(iter(service.system.providers))
        models = {name: p.model for name, p in service.system.providers.items()}
        if state.pinned_model:
            models[first] = state.pinned_model
        return {
            **state.model_dump(mode="json"),
            "provider_order": service.levers.provider_order(state),
            "models": models,
            "health": service.router.health() if service.router else {},
        }

    async def get_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def route(self, request: Request) -> Response:
        self.service.levers.set_route(await _field(request, "provider"))
        return JSONResponse(self.state())

    async def pin(self, request: Request) -> Response:
        self.service.levers.pin(await _field(request, "model", nullable=True))
        return JSONResponse(self.state())

    async def prompt(self, request: Request) -> Response:
        self.service.levers.activate_prompt(await _field(request, "version"))
        return JSONResponse(self.state())

    async def corpus(self, request: Request) -> Response:
        self.service.corpus.activate(await _field(request, "version"))
        return JSONResponse(self.state())

    async def degrade(self, request: Request) -> Response:
        self.service.levers.set_degrade(await _switch(request))
        return JSONResponse(self.state())

    async def kill_switch(self, request: Request) -> Response:
        self.service.levers.set_kill_switch(await _switch(request))
        return JSONResponse(self.state())

    async def corpus_versions(self, request: Request) -> Response:
        corpus = self.service.corpus
        corpus.refresh(force=True)
        history = self.service.levers.state.corpus.history
        return JSONResponse({"active": corpus.version, "history": history, "versions": corpus.list_versions()})

    async def reset(self, request: Request) -> Response:
        self.service.levers.reset()
        if self.service.router is not None:
            self.service.router.reset_health()
        return JSONResponse(self.state())


def describe_state(state: Any) -> dict[str, str]:
    """A `GET /admin/state` body (as a client got it) in one readable line per lever, for people."""
    if not isinstance(state, dict):
        return {"state": str(state)}
    if set(state) == {"error"}:
        return {"error": f"lever state unavailable: {state['error']}"}
    lines = {}
    for key, value in state.items():
        if key in ("updated_at", "pinned_model", "provider_order"):
            continue
        line = str(value)
        if key == "route":
            order = state.get("provider_order") or []
            line += f"   (tried in order: {' → '.join(order)})" if len(order) > 1 else ""
        elif key == "models" and isinstance(value, dict):
            pinned = state.get("pinned_model")
            line = ", ".join(f"{name}: {model}" for name, model in value.items())
            line += f"   (pinned: {pinned})" if pinned else "   (none pinned: manifest models)"
        elif key in SWITCHES and isinstance(value, bool):
            line = f"on   ({SWITCHES[key]})" if value else "off"
        elif key == "health" and isinstance(value, dict):
            bad = {n: h for n, h in value.items() if isinstance(h, dict) and h.get("cooldown_s")}
            cooling = [f"{n} cooling down {h['cooldown_s']}s" for n, h in bad.items()]
            line = ", ".join(cooling) or "all providers ok"
        elif isinstance(value, dict) and "active" in value:
            history = value.get("history") or []
            line = f"{value['active']}"
            line += f"   (history, newest first: {' ← '.join(reversed(history[-5:]))})" if len(history) > 1 else ""
        lines[key] = line
    return lines


#: What each switch does while on, as `describe_state` says it.
SWITCHES = {
    "degrade": "the fast provider first, a shorter context and answer",
    "kill_switch": "the AI feature is off: every answer is the static fallback",
}


def guarded(handler: Handler) -> Handler:
    """An `/admin` endpoint: a POST that is not JSON refused (415; Host and Origin are the app's
    `AdminGuard`'s), bad values answered as `{"error": ...}`."""

    async def endpoint(request: Request) -> Response:
        if request.method == "POST" and _media_type(request) != "application/json":
            return _error(415, "admin requests must send Content-Type: application/json")
        try:
            return await handler(request)
        except LeverError as exc:
            return _error(exc.status, str(exc))
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.url.path)
            return _error(500, f"the lever failed: {type(exc).__name__}: {exc}")

    return endpoint


async def read_json_object(request: Request) -> dict[str, Any] | None:
    """The request body as a JSON object; None when it is not JSON or not an object."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _switch(request: Request) -> bool:
    """A switch's JSON body `{"on": true|false}`; LeverError(400) otherwise."""
    body = await read_json_object(request)
    if body is None or not isinstance(body.get("on"), bool):
        raise LeverError('expected a JSON object {"on": true} or {"on": false}')
    return bool(body["on"])


async def _field(request: Request, name: str, *, nullable: bool = False) -> Any:
    """One field of a lever's JSON body; LeverError(400) when missing or not a string."""
    body = await read_json_object(request)
    if body is None or name not in body:
        raise LeverError(f'expected a JSON object {{"{name}": ...}}')
    value = body[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value.strip():
        raise LeverError(f"{name} must be a non-empty string" + (" or null" if nullable else ""))
    return value.strip()


__all__ = ["AdminApi", "LeverHolder", "describe_state", "guarded", "read_json_object"]
