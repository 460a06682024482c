"""The embedded Toxiproxy server's state: `ToxiproxyServer`, its proxies by name.

Its HTTP API, the shapes it accepts and what it refuses, is `drillkit.proxy.toxiproxy_api`,
which re-exports `ToxiproxyServer`; the proxies themselves are `drillkit.proxy.tcp.Proxy`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, ValidationError

from drillkit.errors import InputError
from drillkit.net import listen_refusal
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


__all__ = ["DEFAULT_LISTEN", "Forbidden", "ToxiproxyServer"]
