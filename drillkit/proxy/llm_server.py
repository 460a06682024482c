"""The LLM fault proxy's control plane: `LlmProxyServer`, its routes, faults and their clocks.

Routes are Toxiproxy's proxies, faults its toxics (`drillkit.faults.l7`).  A route is `{name,
listen ("127.0.0.1:0" picks a port; reported back), upstream, api: openai|anthropic|json,
enabled}` plus its `faults`.  A fault's `ttl` removes it by itself (`expires_at` says when);
`dead_man` faults are removed when no heartbeat (`POST /heartbeat`) arrives within their
`heartbeat_interval` — the engine that injected them died, so its faults must not outlive it.
Removal is enforced every `REAP_INTERVAL_S` (50 ms).  A refusal is an `AdminError` carrying its
HTTP status.  The admin API over this server is `drillkit.proxy.admin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from drillkit.errors import DrillkitError
from drillkit.faults.l7 import Api, Fault, FaultSpecError, build_fault, parse_fault_spec
from drillkit.net import listen_refusal
from drillkit.net.http11 import UpstreamPool
from drillkit.proxy.dead_man import dead_man_deadline, iso_time
from drillkit.proxy.http import RouteProxy
from drillkit.proxy.route_metrics import PrometheusMetrics

REAP_INTERVAL_S = 0.05
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class AdminError(DrillkitError):
    """An admin API refusal: `status` is the HTTP status, the message names the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RouteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    upstream: str
    listen: str = "127.0.0.1:0"
    api: Api = "openai"
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("expected letters, digits, '.', '_' or '-'")
        return v

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, v: str) -> str:
        UpstreamPool(v).close()  # raises ValueError on a bad URL
        return v

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        _, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError("expected host:port, e.g. 127.0.0.1:0")
        return v


def _bad_request(exc: ValidationError) -> AdminError:
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"])
    message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return AdminError(400, f"{field}: {message}" if field else message)


def _iso(wall: float | None) -> str | None:
    return None if wall is None else iso_time(wall)


@dataclass
class LiveFault:
    """A fault on a route with its clocks (monotonic seconds; reported as wall-clock times)."""

    fault: Fault
    created: float
    expires: float | None

    @property
    def spec(self) -> Any:
        return self.fault.spec


@dataclass
class LiveRoute:
    config: RouteConfig
    proxy: RouteProxy
    faults: dict[str, LiveFault]


class LlmProxyServer:
    """Routes, their faults, and the clocks that remove faults (ttl, dead-man heartbeat).

    Everything runs on one event loop: `start()` it there (the admin app's lifespan does), add
    routes and faults from the same loop.  `stop()` closes every listener and connection.
    A route listening beyond loopback is refused (403) unless `public_listen`; the admin app
    sets it from its token.
    """

    def __init__(
        self,
        *,
        upstream_timeout: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        public_listen: bool = False,
    ) -> None:
        self.public_listen = public_listen
        self.routes: dict[str, LiveRoute] = {}
        self.upstream_timeout = upstream_timeout
        self.registry = CollectorRegistry()
        self.metrics = PrometheusMetrics(self.registry)
        self.last_heartbeat: float | None = None
        self._clock = clock
        self._reaper: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever())
        for route in self.routes.values():
            if route.config.enabled and not route.proxy.running:
                await self._listen(route)

    async def stop(self) -> None:
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
        await asyncio.gather(*(r.proxy.stop() for r in self.routes.values()))

    async def _listen(self, route: LiveRoute) -> None:
        try:
            await route.proxy.start()
        except OSError as exc:
            raise AdminError(500, f"listen: cannot listen on {route.config.listen}: {exc.strerror or exc}") from None
        route.config.listen = route.proxy.listen

    # --- routes --------------------------------------------------------------------------------
    def _route(self, name: str) -> LiveRoute:
        try:
            return self.routes[name]
        except KeyError:
            raise AdminError(404, f"route not found: {name}") from None

    async def add_route(self, data: Any) -> dict[str, Any]:
        try:
            config = RouteConfig.model_validate(data)
        except ValidationError as exc:
            raise _bad_request(exc) from None
        if config.name in self.routes:
            raise AdminError(409, f"route already exists: {config.name}")
        self._check_listen(config.listen)
        proxy = RouteProxy(
            config.name,
            config.listen,
            config.upstream,
            config.api,
            metrics=self.metrics,
            upstream_timeout=self.upstream_timeout,
        )
        route = LiveRoute(config, proxy, {})
        if config.enabled:
            await self._listen(route)
        self.routes[config.name] = route
        return self.route_json(config.name)

    async def update_route(self, name: str, data: Any) -> dict[str, Any]:
        route = self._route(name)
        if not isinstance(data, dict):
            raise AdminError(400, "expected a JSON object")
        if data.get("name", name) != name:
            raise AdminError(400, "name: a route cannot be renamed")
        try:
            config = RouteConfig.model_validate({**route.config.model_dump(), **data})
        except ValidationError as exc:
            raise _bad_request(exc) from None
        if config.listen != route.config.listen:
            self._check_listen(config.listen)
        relisten = config.listen != route.config.listen or not config.enabled
        if relisten and route.proxy.running:
            await route.proxy.stop()
        if config.upstream != route.config.upstream:
            route.proxy.set_upstream(config.upstream)
        route.proxy.api, route.proxy.listen = config.api, config.listen
        route.config = config
        if config.enabled and not route.proxy.running:
            await self._listen(route)
        return self.route_json(name)

    def _check_listen(self, listen: str) -> None:
        refusal = listen_refusal(listen, has_token=self.public_listen)
        if refusal is not None:
            raise AdminError(403, refusal)

    async def remove_route(self, name: str) -> None:
        route = self._route(name)
        del self.routes[name]
        for live in route.faults.values():
            live.fault.removed.set()
        await route.proxy.stop()
        self._refresh_active()

    def route_json(self, name: str) -> dict[str, Any]:
        route = self._route(name)
        return {**route.config.model_dump(), "faults": [self._fault_json(f) for f in route.faults.values()]}

    # --- faults --------------------------------------------------------------------------------
    def _fault_json(self, live: LiveFault) -> dict[str, Any]:
        offset = time.time() - self._clock()
        expires = _iso(live.expires + offset) if live.expires is not None else None
        return {**live.spec.model_dump(mode="json"), "created_at": _iso(live.created + offset), "expires_at": expires}

    def _live(self, route: str, name: str) -> LiveFault:
        try:
            return self._route(route).faults[name]
        except KeyError:
            raise AdminError(404, f"fault not found: {name}") from None

    def _install(self, route: LiveRoute) -> None:
        route.proxy.set_faults([live.fault for live in route.faults.values()])
        self._refresh_active()

    def add_fault(self, route_name: str, data: Any) -> dict[str, Any]:
        route = self._route(route_name)
        try:
            spec = parse_fault_spec(data)
        except FaultSpecError as exc:
            raise AdminError(400, str(exc)) from None
        if spec.name in route.faults:
            raise AdminError(409, f"fault already exists: {spec.name}")
        now = self._clock()
        live = LiveFault(build_fault(spec), now, now + spec.ttl if spec.ttl is not None else None)
        route.faults[spec.name] = live
        self._install(route)
        return self._fault_json(live)

    def update_fault(self, route_name: str, name: str, data: Any) -> dict[str, Any]:
        """Change a fault's toxicity, attributes (merged), match, ttl (re-armed from now) or dead-man."""
        route, live = self._route(route_name), self._live(route_name, name)
        if not isinstance(data, dict):
            raise AdminError(400, "expected a JSON object")
        for field in ("name", "type"):
            if field in data and data[field] != getattr(live.spec, field):
                raise AdminError(400, f"{field}: cannot be changed (remove the fault and add another)")
        if not isinstance(data.get("attributes", {}), dict):
            raise AdminError(400, "attributes: expected an object")
        merged = {**live.spec.model_dump(), **data}
        merged["attributes"] = {**live.spec.attributes.model_dump(), **data.get("attributes", {})}
        try:
            spec = parse_fault_spec(merged)
        except FaultSpecError as exc:
            raise AdminError(400, str(exc)) from None
        expires = live.expires
        if "ttl" in data:
            expires = self._clock() + spec.ttl if spec.ttl is not None else None
        live.fault.removed.set()
        route.faults[name] = new = LiveFault(build_fault(spec), live.created, expires)
        self._install(route)
        return self._fault_json(new)

    def remove_fault(self, route_name: str, name: str) -> None:
        route, live = self._route(route_name), self._live(route_name, name)
        live.fault.removed.set()
        del route.faults[name]
        self._install(route)

    def fault_json(self, route_name: str, name: str) -> dict[str, Any]:
        return self._fault_json(self._live(route_name, name))

    def list_faults(self, route_name: str) -> list[dict[str, Any]]:
        return [self._fault_json(f) for f in self._route(route_name).faults.values()]

    async def reset(self) -> None:
        """Remove every fault and enable every route (Toxiproxy's /reset); routes stay."""
        for route in self.routes.values():
            for live in route.faults.values():
                live.fault.removed.set()
            route.faults.clear()
            self._install(route)
            if not route.config.enabled:
                route.config.enabled = True
                await self._listen(route)

    # --- clocks --------------------------------------------------------------------------------
    def heartbeat(self) -> dict[str, Any]:
        self.last_heartbeat = self._clock()
        return self.heartbeat_state()

    def heartbeat_state(self) -> dict[str, Any]:
        offset = time.time() - self._clock()
        watched = [
            {
                "route": rname,
                "fault": fname,
                "heartbeat_interval": live.spec.heartbeat_interval,
                "deadline": _iso(self._dead_man_deadline(live) + offset),
            }
            for rname, route in self.routes.items()
            for fname, live in route.faults.items()
            if live.spec.dead_man
        ]
        last = _iso(self.last_heartbeat + offset) if self.last_heartbeat is not None else None
        return {"last_heartbeat": last, "dead_man_faults": watched}

    def _dead_man_deadline(self, live: LiveFault) -> float:
        return dead_man_deadline(live.created, self.last_heartbeat, live.spec.heartbeat_interval)

    def reap(self) -> list[tuple[str, str]]:
        """Remove faults past their ttl or dead-man deadline; returns (route, fault) removed."""
        now, gone = self._clock(), []
        for rname, route in self.routes.items():
            for fname, live in list(route.faults.items()):
                expired = live.expires is not None and now >= live.expires
                if expired or (live.spec.dead_man and now >= self._dead_man_deadline(live)):
                    live.fault.removed.set()
                    del route.faults[fname]
                    gone.append((rname, fname))
            if any(r == rname for r, _ in gone):
                self._install(route)
        return gone

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            self.reap()

    def _refresh_active(self) -> None:
        self.metrics.active.clear()
        for rname, route in self.routes.items():
            for live in route.faults.values():
                self.metrics.active.labels(rname, live.spec.type).inc()

    def metrics_text(self) -> bytes:
        return generate_latest(self.registry)


__all__ = [
    "REAP_INTERVAL_S",
    "AdminError",
    "LiveFault",
    "LiveRoute",
    "LlmProxyServer",
    "PrometheusMetrics",
    "RouteConfig",
]
