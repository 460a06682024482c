"""What every fault backend shares: the request, the fault a server reports, the interface.

See `drillkit.faults.backends` for the two backends and how dead-man faults behave.
"""

from __future__ import annotations

import functools
import ssl
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

#: Calls to a fault server must answer within this many seconds (a hung server is an error),
#: unless the manifest gives the server a `timeout` of its own.
CALL_TIMEOUT_S = 10.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every admin client (building one per client costs ~30 ms)."""
    return httpx.create_ssl_context()


@dataclass
class FaultRequest:
    """A fault to inject on one proxy/route. `ttl` applies to L7 faults only; `dead_man` is
    honoured where the server can (see the module docstring), ignored elsewhere."""

    type: str
    target: str
    name: str | None = None
    toxicity: float = 1.0
    stream: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    ttl: float | None = None
    dead_man: bool = False
    heartbeat_interval: float = 5.0
    match: dict[str, Any] | None = None  # L7: {method, path, model} globs


@dataclass
class ActiveFault:
    """A fault as a server reports it."""

    layer: str  # "l4" | "l7"
    server: str  # admin URL
    target: str
    name: str
    type: str
    toxicity: float = 1.0
    stream: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    expires_at: str | None = None
    dead_man: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultBackend(ABC):
    """One fault layer behind one server's API."""

    layer: str
    types: tuple[str, ...]

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    @abstractmethod
    async def inject(self, request: FaultRequest) -> ActiveFault: ...

    @abstractmethod
    async def remove(self, target: str, name: str) -> bool:
        """Remove one fault; False when it was already gone."""

    @abstractmethod
    async def list(self) -> list[ActiveFault]: ...

    @abstractmethod
    async def reset(self) -> None:
        """Remove every fault this server holds (proxies/routes stay)."""

    @abstractmethod
    async def targets(self) -> list[str]:
        """Names of the proxies/routes faults can target."""

    @abstractmethod
    async def version(self) -> dict[str, Any]: ...

    async def heartbeat(self) -> None:
        """Keep dead-man faults alive (a no-op where the server has none)."""
        return None


__all__ = ["CALL_TIMEOUT_S", "ActiveFault", "FaultBackend", "FaultRequest", "tls_context"]
