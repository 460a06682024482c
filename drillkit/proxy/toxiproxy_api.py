"""The embedded Toxiproxy-compatible server's HTTP API over a `ToxiproxyServer` (its state, in
`drillkit.proxy.toxiproxy_server`, re-exported here).

`create_toxiproxy_app(server)` speaks the Toxiproxy HTTP API (Shopify/toxiproxy ``api.go``):
the same routes, JSON shapes and status codes, errors as ``{"error": msg, "status": code}``, so
official clients (``toxiproxy-python``, the Go client, ``toxiproxy-cli``) drive it unchanged.

What Go accepts from real clients is accepted: a field or attribute sent as ``null`` keeps its
default (in an update, its current value), and a ``null`` body is an empty one, as Go's
``encoding/json`` decodes them (`_go_nulls`; ``chaostoolkit-toxiproxy`` sends ``"attributes":
null``). ``GET /metrics`` is Go's ``-proxy-metrics`` exposition (`drillkit.proxy.tcp.ProxyTraffic`)
in a registry of the server's own, every series at zero from the proxy's first listen.

Deliberate differences, each stricter or safer than the original:

* unknown fields in proxy/toxic bodies, unknown or negative attributes, a toxicity outside 0–1
  and a PATCH that tries to change a toxic's name/type/stream are 400s naming the field (the
  original ignores or accepts them);
* a duplicate name inside one ``/populate`` body is a 400 (the original answers 500);
* ``listen`` defaults to ``127.0.0.1:0`` (the original listens on every interface), and a
  listener beyond loopback is a 403 unless the app runs with a token (`listen_refusal`);
* every request passes `drillkit.net.AdminGuard`: a loopback (or ``allowed_hosts``) ``Host``,
  no foreign ``Origin`` (requests without one, as clients send them, pass), and with ``token=``
  ``Authorization: Bearer <token>`` (none → 401, a wrong one → 403).

One drillkit extension: a toxic created with ``"dead_man": true`` (and ``heartbeat_interval``,
seconds) is removed when no ``POST /heartbeat`` arrives in time; ``GET /heartbeat`` shows the
switch's state, and its 404 on Go Toxiproxy tells clients the extension is absent
(`drillkit.proxy.dead_man`). Every other toxic's JSON keeps Toxiproxy's exact shape.

The proxies run on the event loop that serves the app; the app's lifespan starts and stops them.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit import __version__
from drillkit.errors import InputError
from drillkit.faults.toxics import ToxicSpec
from drillkit.net import AdminGuard
from drillkit.proxy.tcp import BadRequest, ProxyError
from drillkit.proxy.toxiproxy_server import DEFAULT_LISTEN, ToxiproxyServer


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def _go_nulls(data: Any) -> Any:
    """A decoded body as Go's ``encoding/json`` sees it: a ``null`` field or attribute leaves the
    default (or current) value untouched, so it is dropped; a ``null`` body is an empty object.
    Anything else is returned as is, for validation to accept or refuse."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        return data
    kept = {key: value for key, value in data.items() if value is not None}
    if isinstance(kept.get("attributes"), dict):
        kept["attributes"] = {key: value for key, value in kept["attributes"].items() if value is not None}
    return kept


async def _json_body(request: Request, *, array: bool = False) -> Any:
    """The body, Go's nulls applied (`_go_nulls`); with ``array``, to each item (null: none)."""
    raw = await request.body()
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and bad UTF-8 alike
        raise BadRequest(f"bad request body: {exc}") from None
    if not array:
        return _go_nulls(data)
    if data is None:
        return []
    return [_go_nulls(item) for item in data] if isinstance(data, list) else data


def _toxic_json(spec: ToxicSpec) -> JSONResponse:
    return JSONResponse(spec.to_json())


def create_toxiproxy_app(
    server: ToxiproxyServer, *, token: str | None = None, allowed_hosts: Iterable[str] = ()
) -> Starlette:
    """The Toxiproxy HTTP API over ``server``; the app's lifespan starts and stops it.

    The app is guarded by `AdminGuard` (``allowed_hosts``: extra Host names to answer; ``token``:
    the bearer token) and sets ``server.public_listen`` to whether it has a token.
    """
    server.public_listen = token is not None
    app = Starlette(
        routes=_Endpoints(server).routes(),
        lifespan=functools.partial(_lifespan, server),
        exception_handlers={ProxyError: _on_proxy_error, InputError: _on_proxy_error, HTTPException: _on_http_error},
    )
    app.add_middleware(AdminGuard, allowed_hosts=allowed_hosts, token=token, error=lambda s, m: _error(m, s))
    return app


class _Endpoints:
    """The API's endpoints over one server (``api.go``'s handlers)."""

    def __init__(self, server: ToxiproxyServer) -> None:
        self.server = server

    def routes(self) -> list[Route]:
        return [
            Route("/proxies", self.list_proxies, methods=["GET"]),
            Route("/proxies", self.create_proxy, methods=["POST"]),
            Route("/populate", self.populate, methods=["POST"]),
            Route("/proxies/{proxy}", self.show_proxy, methods=["GET"]),
            Route("/proxies/{proxy}", self.update_proxy, methods=["POST", "PATCH"]),
            Route("/proxies/{proxy}", self.delete_proxy, methods=["DELETE"]),
            Route("/proxies/{proxy}/toxics", self.list_toxics, methods=["GET"]),
            Route("/proxies/{proxy}/toxics", self.create_toxic, methods=["POST"]),
            Route("/proxies/{proxy}/toxics/{toxic}", self.show_toxic, methods=["GET"]),
            Route("/proxies/{proxy}/toxics/{toxic}", self.update_toxic, methods=["POST", "PATCH"]),
            Route("/proxies/{proxy}/toxics/{toxic}", self.delete_toxic, methods=["DELETE"]),
            Route("/reset", self.reset, methods=["POST"]),
            Route("/version", self.version, methods=["GET"]),
            Route("/heartbeat", self.heartbeat, methods=["GET", "POST"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def list_proxies(self, request: Request) -> Response:
        return JSONResponse({name: p.to_json() for name, p in self.server.proxies.items()})

    async def create_proxy(self, request: Request) -> Response:
        proxy = await self.server.create(await _json_body(request))
        return JSONResponse(proxy.to_json(), status_code=201)

    async def populate(self, request: Request) -> Response:
        try:
            applied, error = await self.server.populate(await _json_body(request, array=True))
        except (ProxyError, InputError) as exc:  # rejected before any change
            applied, error = [], exc
        proxies = [p.to_json() for p in applied]
        if error is None:
            return JSONResponse({"proxies": proxies}, status_code=201)
        status = error.status if isinstance(error, ProxyError) else 400
        return JSONResponse({"error": str(error), "status": status, "proxies": proxies}, status_code=status)

    async def show_proxy(self, request: Request) -> Response:
        return JSONResponse(self.server.get(request.path_params["proxy"]).to_json())

    async def update_proxy(self, request: Request) -> Response:
        name = request.path_params["proxy"]
        self.server.get(name)  # 404 before a body error, like the original
        proxy = await self.server.update(name, await _json_body(request))
        return JSONResponse(proxy.to_json())

    async def delete_proxy(self, request: Request) -> Response:
        await self.server.delete(request.path_params["proxy"])
        return Response(status_code=204)

    async def list_toxics(self, request: Request) -> Response:
        proxy = self.server.get(request.path_params["proxy"])
        return JSONResponse([t.to_json() for t in proxy.ordered_toxics()])

    async def create_toxic(self, request: Request) -> Response:
        proxy = self.server.get(request.path_params["proxy"])
        return _toxic_json(await proxy.add_toxic(await _json_body(request)))

    async def show_toxic(self, request: Request) -> Response:
        proxy = self.server.get(request.path_params["proxy"])
        return _toxic_json(proxy.get_toxic(request.path_params["toxic"]))

    async def update_toxic(self, request: Request) -> Response:
        proxy = self.server.get(request.path_params["proxy"])
        proxy.get_toxic(request.path_params["toxic"])
        return _toxic_json(await proxy.update_toxic(request.path_params["toxic"], await _json_body(request)))

    async def delete_toxic(self, request: Request) -> Response:
        proxy = self.server.get(request.path_params["proxy"])
        await proxy.remove_toxic(request.path_params["toxic"])
        return Response(status_code=204)

    async def reset(self, request: Request) -> Response:
        await self.server.reset()
        return Response(status_code=204)

    async def version(self, request: Request) -> Response:
        body = json.dumps({"version": __version__, "server": "drillkit"}) + "\n"
        return Response(body, media_type="application/json;charset=utf-8")

    async def heartbeat(self, request: Request) -> Response:
        dead_man = self.server.dead_man
        return JSONResponse(dead_man.heartbeat() if request.method == "POST" else dead_man.state())

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.server.registry), media_type=CONTENT_TYPE_LATEST)


async def _on_proxy_error(request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, ProxyError) else 400
    return _error(str(exc), status)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(str(exc.detail), exc.status_code)


@contextlib.asynccontextmanager
async def _lifespan(server: ToxiproxyServer, app: Starlette) -> AsyncIterator[None]:
    await server.start()
    try:
        yield
    finally:
        await server.stop()


__all__ = ["DEFAULT_LISTEN", "ToxiproxyServer", "create_toxiproxy_app"]
