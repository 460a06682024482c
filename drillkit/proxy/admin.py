"""The LLM fault proxy's Toxiproxy-shaped admin API over `drillkit.proxy.llm_server.LlmProxyServer`.

Routes are Toxiproxy's proxies, faults its toxics (`drillkit.faults.l7`):

    GET/POST /routes                        200 {name: route} / 201 route (400, 409, 500 cannot listen)
    GET/PATCH/DELETE /routes/{r}            200 / 200 / 204 (400, 404); POST = deprecated PATCH
    GET/POST /routes/{r}/faults             200 [fault] / 200 fault (400 naming the field, 404, 409)
    GET/PATCH/DELETE /routes/{r}/faults/{f} 200 / 200 / 204 (400, 404)
    POST /reset                             204: every fault removed, every route enabled
    GET /version, GET /metrics (Prometheus text), GET/POST /heartbeat

Routes, faults, their `ttl` and `dead_man` clocks are described in `drillkit.proxy.llm_server`;
the metrics (responses by status, faults drawn and active, request duration by outcome) in
`drillkit.proxy.route_metrics.PrometheusMetrics`.
Errors are `{"error": message, "status": code}`.

Every call passes `drillkit.net.AdminGuard` (loopback or allowed `Host`, no foreign `Origin`,
and with a `token` `Authorization: Bearer <token>`: none → 401, wrong → 403).  A route may
listen beyond loopback only when the app has a token (else 403, `listen_refusal`).

`LlmProxyServer`, `RouteConfig` and `AdminError` are re-exported from `drillkit.proxy.llm_server`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit import __version__
from drillkit.net import AdminGuard
from drillkit.proxy.llm_server import AdminError, LlmProxyServer, RouteConfig

DEFAULT_ADMIN_LISTEN = "127.0.0.1:8475"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return await request.json()
    except ValueError:
        raise AdminError(400, "body: not valid JSON") from None


def create_admin_app(
    server: LlmProxyServer,
    *,
    token: str | None = None,
    manage_server: bool = True,
    allowed_hosts: Iterable[str] = (),
) -> Starlette:
    """The admin API over `server`; with `manage_server` its lifespan starts and stops the server.

    Guarded by `AdminGuard`: `allowed_hosts` are the `Host` names it answers besides loopback
    ones, `token` the bearer token.  Sets `server.public_listen` to whether there is a token.
    """
    server.public_listen = token is not None
    app = Starlette(
        routes=_Endpoints(server).table(),
        lifespan=functools.partial(_lifespan, server if manage_server else None),
        exception_handlers={HTTPException: _http_error},
        middleware=[Middleware(AdminGuard, allowed_hosts=allowed_hosts, token=token, error=_error)],
    )
    app.state.server = server
    return app


_Handler = Callable[[Request], Awaitable[Response]]


class _Endpoints:
    """The admin API's endpoints over one server; an `AdminError` answers its status."""

    def __init__(self, server: LlmProxyServer) -> None:
        self.server = server

    def table(self) -> list[Route]:
        table: list[tuple[str, _Handler, list[str]]] = [
            ("/routes", self.routes, ["GET", "POST"]),
            ("/routes/{route}", self.route, ["GET", "PATCH", "POST", "DELETE"]),
            ("/routes/{route}/faults", self.faults, ["GET", "POST"]),
            ("/routes/{route}/faults/{fault}", self.fault, ["GET", "PATCH", "POST", "DELETE"]),
            ("/reset", self.reset, ["POST"]),
            ("/version", self.version, ["GET"]),
            ("/metrics", self.metrics, ["GET"]),
            ("/heartbeat", self.heartbeat, ["GET", "POST"]),
        ]
        return [Route(path, _answering_errors(handler), methods=methods) for path, handler, methods in table]

    async def routes(self, request: Request) -> Response:
        if request.method == "POST":
            return JSONResponse(await self.server.add_route(await _json_body(request)), status_code=201)
        return JSONResponse({name: self.server.route_json(name) for name in self.server.routes})

    async def route(self, request: Request) -> Response:
        name = request.path_params["route"]
        if request.method == "DELETE":
            await self.server.remove_route(name)
            return Response(status_code=204)
        if request.method in ("PATCH", "POST"):
            return JSONResponse(await self.server.update_route(name, await _json_body(request)))
        return JSONResponse(self.server.route_json(name))

    async def faults(self, request: Request) -> Response:
        name = request.path_params["route"]
        if request.method == "POST":
            return JSONResponse(self.server.add_fault(name, await _json_body(request)))
        return JSONResponse(self.server.list_faults(name))

    async def fault(self, request: Request) -> Response:
        rname, fname = request.path_params["route"], request.path_params["fault"]
        if request.method == "DELETE":
            self.server.remove_fault(rname, fname)
            return Response(status_code=204)
        if request.method in ("PATCH", "POST"):
            return JSONResponse(self.server.update_fault(rname, fname, await _json_body(request)))
        return JSONResponse(self.server.fault_json(rname, fname))

    async def reset(self, request: Request) -> Response:
        await self.server.reset()
        return Response(status_code=204)

    async def version(self, request: Request) -> Response:
        return JSONResponse({"version": __version__})

    async def metrics(self, request: Request) -> Response:
        return Response(self.server.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    async def heartbeat(self, request: Request) -> Response:
        return JSONResponse(self.server.heartbeat() if request.method == "POST" else self.server.heartbeat_state())


def _answering_errors(handler: _Handler) -> _Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except AdminError as exc:
            return _error(exc.status, str(exc))

    return wrapped


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _error(status, exc.detail if isinstance(exc, HTTPException) else "internal error")


@contextlib.asynccontextmanager
async def _lifespan(server: LlmProxyServer | None, app: Starlette) -> AsyncIterator[None]:
    """Starts and stops `server` (None: one managed elsewhere)."""
    if server is not None:
        await server.start()
    try:
        yield
    finally:
        if server is not None:
            await server.stop()


__all__ = ["DEFAULT_ADMIN_LISTEN", "AdminError", "LlmProxyServer", "RouteConfig", "create_admin_app"]
