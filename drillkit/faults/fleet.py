"""A system's fault servers as one object: every Toxiproxy server of its fleet and its LLM fault proxy.

`Fleet` is a read-only mapping key → backend, so callers that visit every server (status, reset,
preflight, the game-day's heartbeat) need nothing else: the key is `l4` for a manifest's single
Toxiproxy server (the first release's keys, unchanged), `l4:<name>` for each named server of a
fleet, and `l7` for the LLM fault proxy. `place(target, fault type)` says which backend and which
proxy or route name carry a fault (`drillkit.config.chaos`: `chaos.proxies`, `chaos.routes`, else
the name of the target on the only server).

`connect(system)` builds it: each server's `headers` are expanded here (`${VAR}` from the
environment; an unset one is an `InputError`, exit 2, naming the field and never a value) and
live only inside the backends, which send them (and the server's `timeout`) with every request.
`DRILLKIT_CHAOS_TOKEN` (`TOKEN_ENV`), when set, is sent as `Authorization: Bearer …` to every
server whose headers carry no `Authorization` of their own. Close it with `aclose()` (the L7
backend keeps a connection pool; the L4 ones hold none).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from drillkit.config.chaos import DEFAULT_SERVER, FaultServer
from drillkit.config.scenario import L4_TYPES, L7_TYPES
from drillkit.config.system import System
from drillkit.config.types import expand_headers
from drillkit.errors import InputError
from drillkit.faults.backends import FaultBackend, LlmProxyBackend, ToxiproxyBackend

#: Bearer token for fault servers bound beyond loopback (`drillkit chaos serve --token`).
TOKEN_ENV = "DRILLKIT_CHAOS_TOKEN"
L7_KEY = "l7"


class Fleet(Mapping[str, FaultBackend]):
    """Every fault server of one manifest, by key (`l4` or `l4:<name>`, and `l7`)."""

    def __init__(self, system: System, toxiproxy: dict[str, ToxiproxyBackend], llm_proxy: LlmProxyBackend) -> None:
        self.system = system
        self.chaos = system.chaos
        self._toxiproxy = toxiproxy
        self.llm_proxy = llm_proxy
        self._by_key: dict[str, FaultBackend] = {self.key(name): b for name, b in toxiproxy.items()}
        self._by_key[L7_KEY] = llm_proxy

    def key(self, server: str) -> str:
        """The key of the Toxiproxy server named `server`."""
        return f"l4:{server}" if self.chaos.is_fleet else "l4"

    def server_name(self, key: str) -> str | None:
        """The Toxiproxy server's name behind `key` (`default` for a single URL); None for `l7`."""
        if key == L7_KEY:
            return None
        return key.partition(":")[2] or DEFAULT_SERVER

    def toxiproxy(self, server: str) -> ToxiproxyBackend:
        return self._toxiproxy[server]

    @property
    def toxiproxies(self) -> dict[str, ToxiproxyBackend]:
        """Every Toxiproxy server's backend by name."""
        return dict(self._toxiproxy)

    def place(self, target: str, fault_type: str) -> tuple[FaultBackend, str]:
        """The backend and the proxy/route name that carry a `fault_type` fault on `target`
        (`provider:<name>`, `tool:<name>`). Unknown types and targets the manifest does not place
        are `InputError`s."""
        if fault_type in L7_TYPES:
            return self.llm_proxy, self.chaos.l7_place(target)
        if fault_type not in L4_TYPES:
            known = ", ".join((*L4_TYPES, *L7_TYPES))
            raise InputError(f"unknown fault type {fault_type!r}; expected one of {known}")
        try:
            server, proxy = self.chaos.l4_place(target)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return self._toxiproxy[server], proxy

    def placements(self, target: str) -> list[tuple[FaultBackend, str]]:
        """Both layers' (backend, name) for `target`: where its faults of any type are."""
        return [self.place(target, L4_TYPES[0]), self.place(target, L7_TYPES[0])]

    def __getitem__(self, key: str) -> FaultBackend:
        return self._by_key[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    async def aclose(self) -> None:
        await self.llm_proxy.aclose()


def _headers(server: FaultServer, field: str, env: Mapping[str, str]) -> dict[str, str]:
    headers = expand_headers(server.headers, f"{field}.headers", env)
    token = env.get(TOKEN_ENV)
    if token and not any(name.lower() == "authorization" for name in headers):
        headers["Authorization"] = f"Bearer {token}"
    return headers


def connect(system: System, *, urls: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None) -> Fleet:
    """The fleet of `system`'s manifest, headers expanded (`InputError` naming the field when a
    `${VAR}` is unset). `urls` replaces a server's admin URL by its name (`llm_proxy` for the LLM
    fault proxy): `drillkit chaos serve` reaches the servers it runs where it bound them."""
    env = os.environ if env is None else env
    urls = urls or {}
    chaos = system.chaos
    toxiproxy = {}
    for name, server in chaos.servers().items():
        field = f"chaos.toxiproxy.{name}" if chaos.is_fleet else "chaos.toxiproxy"
        toxiproxy[name] = ToxiproxyBackend(
            urls.get(name, server.url), headers=_headers(server, field, env), timeout=server.timeout
        )
    llm = chaos.llm_server()
    llm_proxy = LlmProxyBackend(
        urls.get("llm_proxy", llm.url), headers=_headers(llm, "chaos.llm_proxy", env), timeout=llm.timeout
    )
    return Fleet(system, toxiproxy, llm_proxy)


__all__ = ["L7_KEY", "TOKEN_ENV", "Fleet", "connect"]
