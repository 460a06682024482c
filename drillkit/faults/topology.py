"""Making running fault servers match the manifest: `drillkit chaos apply` and `chaos serve --system`.

Like Toxiproxy's `POST /populate`, for every proxy (`chaos.proxies`) and route (`chaos.routes`)
the manifest declares with an `upstream`:

    missing on its server              created (listen as declared, else 127.0.0.1:0)
    listen, upstream (or api) differ   changed in place: `POST /proxies/{p}`, `PATCH /routes/{r}`
                                       (unlike /populate, which recreates it, its faults stay)
    as declared                        unchanged

A declared `listen` with port 0 (or none) matches whatever port the server chose, so applying
twice changes nothing the second time. A route without `upstream` forwards to its target's
declared proxy, at the address that proxy's server reports (its listen host, or the server's
host when the proxy listens on every interface). Entries without an upstream, and proxies or
routes the manifest does not declare, are left alone; so are `enabled` (`chaos reset` brings a
proxy taken down back) and an existing route's `api` unless declared. Nothing raises for a
server that cannot be reached or refuses a change: that entry is `failed`, with the server's
words, and the others are still applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from drillkit.config.chaos import L4Proxy, L7Route
from drillkit.errors import DrillkitError
from drillkit.faults.fleet import Fleet

Action = Literal["created", "updated", "unchanged", "failed"]
ANY_HOST = ("0.0.0.0", "::", "[::]", "")
DEFAULT_LISTEN = "127.0.0.1:0"


@dataclass(frozen=True)
class Applied:
    """What `apply_topology` did with one declared proxy or route."""

    layer: Literal["l4", "l7"]
    server: str  # the Toxiproxy server's name, or "llm_proxy"
    url: str  # its admin URL
    target: str  # provider:<name> / tool:<name>
    name: str  # the proxy's or route's name
    action: Action
    listen: str | None = None  # where it listens now (as the server reports it)
    changes: dict[str, list[Any]] = field(default_factory=dict)  # field → [was, now], for updated
    error: str | None = None  # for failed

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}


@dataclass(frozen=True)
class TopologyReport:
    applied: list[Applied]

    @property
    def changed(self) -> list[Applied]:
        return [a for a in self.applied if a.action in ("created", "updated")]

    @property
    def ok(self) -> bool:
        return all(a.action != "failed" for a in self.applied)

    def to_dict(self) -> dict[str, Any]:
        """The `drillkit chaos apply --json` document."""
        return {"ok": self.ok, "changed": len(self.changed), "applied": [a.to_dict() for a in self.applied]}


def _same_listen(declared: str | None, actual: str | None) -> bool:
    if declared is None:
        return True
    host, _, port = declared.rpartition(":")
    actual_host, _, actual_port = (actual or "").rpartition(":")
    return host == actual_host and (port == "0" or port == actual_port)


def _diff(want: dict[str, Any], have: dict[str, Any]) -> dict[str, list[Any]]:
    changes = {}
    for key, value in want.items():
        same = _same_listen(value, have.get(key)) if key == "listen" else value == have.get(key)
        if value is not None and not same:
            changes[key] = [have.get(key), value]
    return changes


async def apply_topology(fleet: Fleet, *, servers: Iterable[str] | None = None, routes: bool = True) -> TopologyReport:
    """Make the fleet's servers match the manifest (module doc). `servers`: the Toxiproxy servers
    whose proxies to apply (default all); `routes`: whether to apply the LLM fault proxy's routes."""
    chosen = set(fleet.toxiproxies if servers is None else servers)
    applied: list[Applied] = []
    for name in fleet.toxiproxies:
        if name in chosen:
            applied += await _apply_proxies(fleet, name)
    if routes:
        applied += await _apply_routes(fleet)
    return TopologyReport(applied)


def _declared_proxies(fleet: Fleet, server: str) -> list[tuple[str, str, L4Proxy]]:
    out = []
    for target, entry in fleet.chaos.proxies.items():
        where, proxy = fleet.chaos.l4_place(target)
        if where == server and entry.upstream is not None:
            out.append((target, proxy, entry))
    return out


async def _apply_proxies(fleet: Fleet, server: str) -> list[Applied]:
    backend = fleet.toxiproxy(server)
    declared = _declared_proxies(fleet, server)
    if not declared:
        return []
    base = {"layer": "l4", "server": server, "url": backend.url}
    try:
        existing = await backend.proxies()
    except DrillkitError as exc:
        return [Applied(**base, target=t, name=p, action="failed", error=str(exc)) for t, p, _ in declared]
    out = []
    for target, proxy, entry in declared:
        item = {**base, "target": target, "name": proxy}
        have = existing.get(proxy)
        try:
            if have is None:
                made = await backend.create_proxy(proxy, entry.listen or DEFAULT_LISTEN, str(entry.upstream))
                out.append(Applied(**item, action="created", listen=made.get("listen")))
                continue
            changes = _diff({"listen": entry.listen, "upstream": entry.upstream}, have)
            if changes:
                now = await backend.update_proxy(proxy, {k: new for k, (_, new) in changes.items()})
                out.append(Applied(**item, action="updated", listen=now.get("listen"), changes=changes))
            else:
                out.append(Applied(**item, action="unchanged", listen=have.get("listen")))
        except DrillkitError as exc:
            out.append(Applied(**item, action="failed", error=str(exc)))
    return out


async def _route_upstream(fleet: Fleet, target: str, entry: L7Route) -> str | None:
    """The declared upstream, else the address of the target's declared proxy (None: unmanaged).
    Raises `DrillkitError` when that proxy cannot be read."""
    if entry.upstream is not None:
        return entry.upstream
    if target not in fleet.chaos.proxies:
        return None
    server, proxy = fleet.chaos.l4_place(target)
    backend = fleet.toxiproxy(server)
    found = (await backend.proxies()).get(proxy)
    if found is None:
        raise DrillkitError(f"its upstream is proxy {proxy!r} on {server} ({backend.url}), which does not exist")
    host, _, port = str(found.get("listen", "")).rpartition(":")
    if host in ANY_HOST:
        host = urlsplit(backend.url).hostname or "127.0.0.1"
    return f"http://{host}:{port}"


def _route_api(fleet: Fleet, target: str, entry: L7Route) -> str:
    if entry.api is not None:
        return entry.api
    kind, _, name = target.partition(":")
    provider = fleet.system.providers.get(name) if kind == "provider" else None
    return provider.api if provider is not None else "json"


async def _apply_routes(fleet: Fleet) -> list[Applied]:
    backend = fleet.llm_proxy
    base = {"layer": "l7", "server": "llm_proxy", "url": backend.url}
    out: list[Applied] = []
    existing: dict[str, dict[str, Any]] | None = None
    for target, entry in fleet.chaos.routes.items():
        item = {**base, "target": target, "name": fleet.chaos.l7_place(target)}
        try:
            upstream = await _route_upstream(fleet, target, entry)
            if upstream is None:
                continue
            if existing is None:
                existing = await backend.routes()
            out.append(await _apply_route(fleet, item, entry, upstream, existing.get(item["name"])))
        except DrillkitError as exc:
            out.append(Applied(**item, action="failed", error=str(exc)))
    return out


async def _apply_route(
    fleet: Fleet, item: dict[str, Any], entry: L7Route, upstream: str, have: dict[str, Any] | None
) -> Applied:
    backend, name = fleet.llm_proxy, item["name"]
    if have is None:
        api = _route_api(fleet, item["target"], entry)
        made = await backend.create_route(name, entry.listen or DEFAULT_LISTEN, upstream, api)
        return Applied(**item, action="created", listen=made.get("listen"))
    # An existing route's api changes only when the manifest says which (the default is for new ones).
    changes = _diff({"listen": entry.listen, "upstream": upstream, "api": entry.api}, have)
    if not changes:
        return Applied(**item, action="unchanged", listen=have.get("listen"))
    now = await backend.update_route(name, {k: new for k, (_, new) in changes.items()})
    return Applied(**item, action="updated", listen=now.get("listen"), changes=changes)


__all__ = ["Applied", "TopologyReport", "apply_topology"]
