"""Fault backends: one small interface over both fault layers, so callers treat faults alike.

    FaultBackend           inject / remove / list / reset (+ heartbeat, version)   backends_base
    ├── ToxiproxyBackend   L4 toxics and `down`, over one Toxiproxy server's HTTP  backends_toxiproxy
    │                      API (httpx, that server's headers and timeout on every
    │                      request): the same code drives drillkit's embedded
    │                      server and a team's real Toxiproxy
    └── LlmProxyBackend    L7 faults, through the LLM fault proxy's admin API      backends_llm
                           (httpx)

Every name is importable from here (`drillkit.faults.backends`), as callers do. A system's
backends together are a `drillkit.faults.fleet.Fleet` (one per Toxiproxy server of its fleet,
and the LLM fault proxy), which also says where a fault goes.

A fault's target, at this level, is the proxy/route *name* (the manifest's `chaos.proxies` /
`chaos.routes` say which carries a `provider:` or `tool:` target; by default the one named after
it, as the demo names them).  Errors are translated by the backends: a refusal by a server
(400/404/409) is an `InputError` quoting it, an unreachable or silent server a `ServiceError`
naming its URL.  Backends hold no state of their own: `list()` always asks the server.  (One
exception, a capability: whether a Toxiproxy server honours dead-man toxics is asked once and
remembered.)

Dead-man faults vanish by themselves when `heartbeat()` stops being called (the engine calls it
every second while it has any; a SIGKILLed run stops calling it).  The LLM fault proxy honours
`dead_man` for every fault; on the L4 half only drillkit's embedded Toxiproxy server does
(`drillkit.proxy.dead_man`).  `ToxiproxyBackend` asks `GET /heartbeat` once: a 404 (Go Toxiproxy,
or an older drillkit) means the toxic is injected without the dead-man fields, its `ActiveFault`
says `dead_man=False`, and `heartbeat()` is a no-op; such toxics rely on the leftovers file
(`drillkit.gameday.leftovers`).  `down` (a disabled proxy) is never dead-man.
"""

from __future__ import annotations

from drillkit.errors import InputError
from drillkit.faults.backends_base import CALL_TIMEOUT_S, ActiveFault, FaultBackend, FaultRequest
from drillkit.faults.backends_llm import LlmProxyBackend
from drillkit.faults.backends_toxiproxy import DOWN, ToxiproxyBackend


def backend_for(fault_type: str, backends: dict[str, FaultBackend]) -> FaultBackend:
    """The backend whose layer owns `fault_type` (names are unique across layers)."""
    for backend in backends.values():
        if fault_type in backend.types:
            return backend
    known = sorted({t for b in backends.values() for t in b.types})
    raise InputError(f"unknown fault type {fault_type!r}; expected one of {', '.join(known)}")


__all__ = [
    "CALL_TIMEOUT_S",
    "DOWN",
    "ActiveFault",
    "FaultBackend",
    "FaultRequest",
    "LlmProxyBackend",
    "ToxiproxyBackend",
    "backend_for",
]
