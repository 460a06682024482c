"""The LLM fault proxy's Toxiproxy-shaped admin API over `drillkit.proxy.llm_server.LlmProxyServer`.

Routes are Toxiproxy's proxies, faults its toxics (`drillkit.faults.l7`):

    GET/POST /routes                        200 {name: route} / 201 route (400, 409, 500 cannot listen)
    GET/PATCH/DELETE /routes/{r}            200 / 200 / 204 (400, 404); POST = deprecated PATCH
    GET/POST /routes/{r}/faults             200 [fault] / 200 fault (400 naming the field, 404, 409)
    GET/PATCH/DELETE /routes/{r}/faults/{f} 200 / 200 / 204 (400, 404)
    POST /reset                             204: every fault removed, every route enabled
    GET /version, GET /metrics (Prometheus text), GET/POST /heartbeat

Routes, faults, their `ttl` and `dead_man` clocks are described in `drillkit.proxy.llm_server`.
Errors are `{"error": message, "status": code}`.

Every call passes `drillkit.net.AdminGuard` (loopback or allowed `Host`, no foreign `Origin`,
and with a `token` `Authorization: Bearer <token>`: none → 401, wrong → 403).  A route may
listen beyond loopback only when the app has a token (else 403, `listen_refusal`).

`LlmProxyServer`, `RouteConfig` and `AdminError` are re-exported from `drillkit.proxy.llm_server`.
"""

from __future__ import annotations

import contextlib
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

    def endpoint(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except AdminError as exc:
                return _error(exc.status, str(exc))

        return wrapped

    def p(request: Request, key: str) -> str:
        return request.path_params[key]

    async def routes(request: Request) -> Response:
        if request.method == "POST":
            return JSONResponse(await server.add_route(await _json_body(request)), status_code=201)
        return JSONResponse({name: server.route_json(name) for name in server.routes})

    async def route(request: Request) -> Response:
        name = p(request, "route")
        if request.method == "DELETE":
            await server.remove_route(name)
            return Response(status_code=204)
        if request.method in ("PATCH", "POST"):
            return JSONResponse(await server.update_route(name, await _json_body(request)))
        return JSONResponse(server.route_json(name))

    async def faults(request: Request) -> Response:
        name = p(request, "route")
        if request.method == "POST":
            return JSONResponse(server.add_fault(name, await _json_body(request)))
        return JSONResponse(server.list_faults(name))

    async def fault(request: Request) -> Response:
        rname, fname = p(request, "route"), p(request, "fault")
        if request.method == "DELETE":
            server.remove_fault(rname, fname)
            return Response(status_code=204)
        if request.method in ("PATCH", "POST"):
            return JSONResponse(server.update_fault(rname, fname, await _json_body(request)))
        return JSONResponse(server.fault_json(rname, fname))

    async def reset(request: Request) -> Response:
        await server.reset()
        return Response(status_code=204)

    async def version(request: Request) -> Response:
        return JSONResponse({"version": __version__})

    async def metrics(request: Request) -> Response:
        return Response(server.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    async def heartbeat(request: Request) -> Response:
        return JSONResponse(server.heartbeat() if request.method == "POST" else server.heartbeat_state())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_server:
            await server.start()
        try:
            yield
        finally:
            if manage_server:
                await server.stop()

    table = [
        ("/routes", routes, ["GET", "POST"]),
        ("/routes/{route}", route, ["GET", "PATCH", "POST", "DELETE"]),
        ("/routes/{route}/faults", faults, ["GET", "POST"]),
        ("/routes/{route}/faults/{fault}", fault, ["GET", "PATCH", "POST", "DELETE"]),
        ("/reset", reset, ["POST"]),
        ("/version", version, ["GET"]),
        ("/metrics", metrics, ["GET"]),
        ("/heartbeat", heartbeat, ["GET", "POST"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return _error(status, exc.detail if isinstance(exc, HTTPException) else "internal error")

    app = Starlette(
        routes=[Route(path, endpoint(h), methods=m) for path, h, m in table],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
        middleware=[Middleware(AdminGuard, allowed_hosts=allowed_hosts, token=token, error=_error)],
    )
    app.state.server = server
    return app


__all__ = ["DEFAULT_ADMIN_LISTEN", "AdminError", "LlmProxyServer", "RouteConfig", "create_admin_app"]
