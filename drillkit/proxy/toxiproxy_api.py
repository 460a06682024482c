"""The embedded Toxiproxy-compatible server: `ToxiproxyServer` (state) and its HTTP API.

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

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit import __version__
from drillkit.errors import InputError
from drillkit.faults.toxics import ToxicSpec
from drillkit.net import AdminGuard, listen_refusal
from drillkit.proxy.dead_man import Clock, DeadManSwitch
from drillkit.proxy.tcp import AlreadyExists, BadRequest, NotFound, Proxy, ProxyError, ProxyTraffic

DEFAULT_LISTEN = "127.0.0.1:0"


class Forbidden(ProxyError):
    status = 403


class _ProxyBody(BaseModel):
    """A proxy in a create/populate body. ``toxics`` is accepted (a GET dump) and ignored."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = ""
    listen: str = ""
    upstream: str = ""
    enabled: bool = True
    toxics: list[Any] | None = None


def _proxy_body(data: Any, where: str = "") -> _ProxyBody:
    if not isinstance(data, dict):
        raise BadRequest(f"bad request body: a proxy must be a JSON object{where}")
    try:
        body = _ProxyBody.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise BadRequest(f"bad request body: unknown field {field!r}{where}") from None
        raise BadRequest(f"bad request body: {field}: {err['msg']}{where}") from None
    for field in ("name", "upstream"):
        if not getattr(body, field):
            raise BadRequest(f"missing required field: {field}{where}")
    return body


class ToxiproxyServer:
    """The proxies of one embedded server, by name. All methods run on the serving loop.

    Raises `ProxyError` subclasses (``status`` = the HTTP answer) and `InputError` for bodies.
    Changes to the set of proxies are serialised (they await listeners); toxic changes are
    serialised per proxy. `stop` closes every listener and connection and keeps the
    configuration; `start` re-opens what `stop` closed. `dead_man` removes the dead-man toxics
    whose heartbeats stopped (its reaper runs from `start` to `stop`; ``clock`` is for tests).

    A listener beyond loopback is refused (`Forbidden`) unless ``public_listen``; the HTTP app
    sets it from its token (`create_toxiproxy_app`). ``traffic`` counts every proxy's bytes and
    ``registry`` (this server's alone) exposes them.
    """

    def __init__(self, *, public_listen: bool = False, clock: Clock | None = None) -> None:
        self.public_listen = public_listen
        self.proxies: dict[str, Proxy] = {}
        self.traffic = ProxyTraffic()
        self.registry = CollectorRegistry()
        self.registry.register(self.traffic)
        self.dead_man = DeadManSwitch(lambda: self.proxies, clock=clock)
        self._wanted: set[str] = set()  # proxies to (re)start on `start`
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.dead_man.start()
        async with self._lock:
            for name in sorted(self._wanted):
                if name in self.proxies:
                    await self.proxies[name].start()

    async def stop(self) -> None:
        await self.dead_man.stop()
        async with self._lock:
            self._wanted = {name for name, proxy in self.proxies.items() if proxy.enabled}
            for proxy in self.proxies.values():
                await proxy.stop()

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise NotFound("proxy not found") from None

    async def create(self, data: Any) -> Proxy:
        async with self._lock:
            return await self._create(data)

    async def _create(self, data: Any) -> Proxy:
        body = _proxy_body(data)
        if body.name in self.proxies:
            raise AlreadyExists("proxy already exists")
        self._check_listen(body.listen or DEFAULT_LISTEN)
        proxy = Proxy(body.name, body.listen or DEFAULT_LISTEN, body.upstream, traffic=self.traffic)
        if body.enabled:
            await proxy.start()
        self.proxies[body.name] = proxy
        return proxy

    async def populate(self, data: Any) -> tuple[list[Proxy], ProxyError | InputError | None]:
        """Create or replace many proxies; all bodies are validated before anything changes.

        A proxy whose listen and upstream are unchanged is kept as is (with its toxics). Returns
        the proxies applied and the error that stopped the rest, if any.
        """
        async with self._lock:
            return await self._populate(data)

    async def _populate(self, data: Any) -> tuple[list[Proxy], ProxyError | InputError | None]:
        if not isinstance(data, list):
            raise BadRequest("bad request body: expected a JSON array of proxies")
        bodies = [_proxy_body(item, f" at proxy {i + 1}") for i, item in enumerate(data)]
        seen: set[str] = set()
        for body in bodies:
            if body.name in seen:
                raise BadRequest(f"bad request body: duplicate proxy name {body.name!r}")
            seen.add(body.name)
            Proxy(body.name, body.listen or DEFAULT_LISTEN, body.upstream)  # validates addresses
            self._check_listen(body.listen or DEFAULT_LISTEN)
        applied: list[Proxy] = []
        for body in bodies:
            existing = self.proxies.get(body.name)
            listen = body.listen or DEFAULT_LISTEN
            try:
                if existing is not None and existing.listen == listen and existing.upstream == body.upstream:
                    applied.append(existing)
                    continue
                if existing is not None:
                    await self._delete(body.name)
                applied.append(await self._create(body.model_dump(exclude={"toxics"})))
            except (ProxyError, InputError) as exc:
                return applied, exc
        return applied, None

    async def update(self, name: str, data: Any) -> Proxy:
        """PATCH (or the deprecated POST): listen, upstream, enabled; ``name`` is ignored."""
        async with self._lock:
            proxy = self.get(name)
            if not isinstance(data, dict):
                raise BadRequest("bad request body: a proxy must be a JSON object")
            current = {"name": name, "listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled}
            others = {k: v for k, v in data.items() if k not in current}  # unknown ones are errors
            changes = {k: v for k, v in data.items() if k in ("listen", "upstream", "enabled")}
            body = _proxy_body({**current, **changes, **others})
            if body.listen != proxy.listen:
                self._check_listen(body.listen)
            await proxy.update(listen=body.listen, upstream=body.upstream, enabled=body.enabled)
            return proxy

    async def delete(self, name: str) -> None:
        async with self._lock:
            await self._delete(name)

    def _check_listen(self, listen: str) -> None:
        refusal = listen_refusal(listen, has_token=self.public_listen)
        if refusal is not None:
            raise Forbidden(refusal)

    async def _delete(self, name: str) -> None:
        proxy = self.get(name)
        del self.proxies[name]
        await proxy.stop()

    async def reset(self) -> None:
        """Re-enable every proxy and remove every toxic; proxies are kept."""
        async with self._lock:
            for proxy in list(self.proxies.values()):
                await proxy.start()
        for proxy in list(self.proxies.values()):
            await proxy.remove_all_toxics()


# -- HTTP ----------------------------------------------------------------------------------


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
