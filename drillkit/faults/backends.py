"""Fault backends: one small interface over both fault layers, so callers treat faults alike.

    FaultBackend           inject / remove / list / reset (+ heartbeat, version)
    ├── ToxiproxyBackend   L4 toxics and `down`, through the `toxiproxy-python` client: the same
    │                      code drives drillkit's embedded server and a team's real Toxiproxy
    └── LlmProxyBackend    L7 faults, through the LLM fault proxy's admin API (httpx)

A fault's target is the proxy/route *name* (the manifest's provider or tool name: the demo names
every proxy and route after what it fronts).  Errors are translated here: a refusal by a server
(400/404/409) is an `InputError` quoting it, an unreachable server a `ServiceError` naming its
URL.  Backends hold no state of their own: `list()` always asks the server.  (One exception, a
capability: whether a Toxiproxy server honours dead-man toxics is asked once and remembered.)

Dead-man faults vanish by themselves when `heartbeat()` stops being called (the engine calls it
every second while it has any; a SIGKILLed run stops calling it).  The LLM fault proxy honours
`dead_man` for every fault; on the L4 half only drillkit's embedded Toxiproxy server does
(`drillkit.proxy.dead_man`).  `ToxiproxyBackend` asks `GET /heartbeat` once: a 404 (Go Toxiproxy,
or an older drillkit) means the toxic is injected without the dead-man fields, its `ActiveFault`
says `dead_man=False`, and `heartbeat()` is a no-op; such toxics rely on the leftovers file
(`drillkit.gameday.leftovers`).  `down` (a disabled proxy) is never dead-man.
"""

from __future__ import annotations

import asyncio
import json
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from drillkit.config.scenario import L4_TYPES, L7_TYPES
from drillkit.errors import InputError, ServiceError

#: Calls to a fault server must answer within this many seconds (a hung server is an error).
CALL_TIMEOUT_S = 10.0


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


# --- L4: Toxiproxy --------------------------------------------------------------------------

# toxiproxy-python keeps the server address in class attributes; calls are serialised so that
# two backends for different servers never mix them up.
_TOXIPROXY_LOCK = threading.Lock()
DOWN = "down"


def _server_message(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else b""
    try:
        body = json.loads(raw)
        return str(body.get("error", body)) if isinstance(body, dict) else str(body)
    except (TypeError, ValueError):
        return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


class ToxiproxyBackend(FaultBackend):
    layer = "l4"
    types = L4_TYPES

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise InputError(f"Toxiproxy URL must look like http://host:port (got {url!r})")
        self._host = parts.hostname
        self._port = parts.port or 8474
        self._dead_man: bool | None = None  # whether the server honours dead-man toxics (asked once)

    async def _call(self, what: str, fn: Any, *args: Any) -> Any:
        def run() -> Any:
            with _TOXIPROXY_LOCK:
                APIConsumer.host = self._host
                APIConsumer.port = self._port
                return fn(*args)

        try:
            return await asyncio.wait_for(asyncio.to_thread(run), CALL_TIMEOUT_S)
        except ProxyExists as exc:
            raise InputError(f"Toxiproxy at {self.url}: {what}: already exists ({_server_message(exc)})") from None
        except NotFound as exc:
            raise InputError(f"Toxiproxy at {self.url}: {what}: not found ({_server_message(exc)})") from None
        except InvalidToxic as exc:
            raise InputError(f"Toxiproxy at {self.url}: {what}: {_server_message(exc)}") from None
        except (requests.ConnectionError, requests.Timeout, TimeoutError):
            raise ServiceError(f"cannot reach Toxiproxy at {self.url} ({what})") from None

    def _proxy(self, name: str) -> Any:
        proxy = Toxiproxy().get_proxy(name)
        if proxy is None:
            raise NotFound(json.dumps({"error": f"no proxy named {name!r}"}).encode())
        return proxy

    async def inject(self, request: FaultRequest) -> ActiveFault:
        if request.type not in self.types:
            raise InputError(f"{request.type!r} is not a Toxiproxy fault; expected one of {', '.join(self.types)}")
        if request.match:
            raise InputError("'match' applies to LLM (L7) faults only")
        if request.ttl is not None:
            raise InputError(
                "Toxiproxy toxics have no TTL; remove the fault with 'drillkit chaos remove' "
                "(game-days remove theirs at cleanup)"
            )
        if request.type == DOWN:
            await self._call(f"disable proxy {request.target!r}", lambda: self._proxy(request.target).disable())
            return ActiveFault("l4", self.url, request.target, DOWN, DOWN)
        stream = request.stream or "downstream"
        name = request.name or f"{request.type}_{stream}"

        body: dict[str, Any] = {
            "name": name,
            "type": request.type,
            "stream": stream,
            "toxicity": request.toxicity,
            "attributes": request.attributes,
        }
        if request.dead_man and await self.honours_dead_man():
            body.update(dead_man=True, heartbeat_interval=request.heartbeat_interval)

        def add() -> dict[str, Any]:
            proxy = self._proxy(request.target)
            return _json(APIConsumer.post(f"/proxies/{proxy.name}/toxics", json=body, timeout=CALL_TIMEOUT_S))

        added = await self._call(f"add {request.type} to proxy {request.target!r}", add)
        return ActiveFault(
            "l4",
            self.url,
            request.target,
            name,
            request.type,
            request.toxicity,
            stream,
            dict(request.attributes),
            dead_man=bool(added.get("dead_man", False)),
        )

    async def remove(self, target: str, name: str) -> bool:
        def drop() -> bool:
            proxy = self._proxy(target)
            if name == DOWN:
                was_down = not proxy.enabled
                proxy.enable()
                return was_down
            if proxy.get_toxic(name) is None:
                return False
            proxy.destroy_toxic(name)
            return True

        return await self._call(f"remove {name!r} from proxy {target!r}", drop)

    async def list(self) -> list[ActiveFault]:
        def collect() -> list[ActiveFault]:
            found = []
            for name, proxy in sorted(Toxiproxy().proxies().items()):
                if not proxy.enabled:
                    found.append(ActiveFault("l4", self.url, name, DOWN, DOWN))
                # Raw JSON rather than the client's Toxic objects, which drop `dead_man`.
                for toxic in APIConsumer.get(f"/proxies/{name}/toxics", timeout=CALL_TIMEOUT_S).json():
                    found.append(
                        ActiveFault(
                            "l4",
                            self.url,
                            name,
                            toxic["name"],
                            toxic["type"],
                            float(toxic.get("toxicity", 1.0)),
                            toxic.get("stream", "downstream"),
                            dict(toxic.get("attributes") or {}),
                            dead_man=bool(toxic.get("dead_man", False)),
                        )
                    )
            return found

        return await self._call("list proxies", collect)

    async def reset(self) -> None:
        await self._call("reset", lambda: Toxiproxy().reset())

    async def targets(self) -> list[str]:
        return await self._call("list proxies", lambda: sorted(Toxiproxy().proxies()))

    async def version(self) -> dict[str, Any]:
        def get() -> dict[str, Any]:
            raw = APIConsumer.get("/version", timeout=CALL_TIMEOUT_S).content
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace").strip()
            return body if isinstance(body, dict) else {"version": body}

        return await self._call("version", get)

    async def honours_dead_man(self) -> bool:
        """Whether the server removes dead-man toxics by itself: its `GET /heartbeat` answers 200
        with the switch's state (drillkit's embedded server); anything else (404 on Go Toxiproxy)
        means no. Asked once per backend."""
        if self._dead_man is None:

            def probe() -> bool:
                try:
                    response = APIConsumer.get("/heartbeat", timeout=CALL_TIMEOUT_S)
                except NotFound:
                    return False
                return response.status_code == 200 and "dead_man_toxics" in _json(response)

            self._dead_man = await self._call("ask for dead-man support", probe)
        return self._dead_man

    async def heartbeat(self) -> None:
        """Keep this server's dead-man toxics alive (a no-op on servers without them)."""
        if not await self.honours_dead_man():
            return
        response = await self._call("heartbeat", lambda: APIConsumer.post("/heartbeat", timeout=CALL_TIMEOUT_S))
        if response.status_code != 200:
            raise ServiceError(f"Toxiproxy at {self.url}: heartbeat: HTTP {response.status_code}")


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --- L7: the LLM fault proxy ----------------------------------------------------------------


class LlmProxyBackend(FaultBackend):
    layer = "l7"
    types = L7_TYPES

    def __init__(self, url: str, *, token: str | None = None, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.AsyncClient(base_url=self.url, timeout=CALL_TIMEOUT_S, headers=headers)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(self, what: str, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ServiceError(f"cannot reach the LLM fault proxy at {self.url} ({what}: {exc})") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            error = InputError if response.status_code < 500 else ServiceError
            raise error(f"LLM fault proxy at {self.url}: {what}: {message}")
        return response

    def _active(self, route: str, f: dict[str, Any]) -> ActiveFault:
        return ActiveFault(
            "l7",
            self.url,
            route,
            f["name"],
            f["type"],
            float(f.get("toxicity", 1.0)),
            None,
            dict(f.get("attributes") or {}),
            f.get("expires_at"),
            bool(f.get("dead_man", False)),
        )

    async def inject(self, request: FaultRequest) -> ActiveFault:
        if request.type not in self.types:
            raise InputError(f"{request.type!r} is not an LLM proxy fault; expected one of {', '.join(self.types)}")
        if request.stream is not None:
            raise InputError("'stream' applies to network (L4) faults only")
        body: dict[str, Any] = {
            "type": request.type,
            "toxicity": request.toxicity,
            "attributes": request.attributes,
            "dead_man": request.dead_man,
            "heartbeat_interval": request.heartbeat_interval,
        }
        if request.name:
            body["name"] = request.name
        if request.ttl is not None:
            body["ttl"] = request.ttl
        if request.match:
            body["match"] = request.match
        what = f"add {request.type} to route {request.target!r}"
        response = await self._request(what, "POST", f"/routes/{request.target}/faults", body)
        return self._active(request.target, response.json())

    async def remove(self, target: str, name: str) -> bool:
        try:
            await self._request(f"remove {name!r} from route {target!r}", "DELETE", f"/routes/{target}/faults/{name}")
        except InputError:
            # Gone already (expired, reaped) is fine; an unknown route is not.
            if target not in await self.targets():
                raise
            return False
        return True

    async def list(self) -> list[ActiveFault]:
        routes = (await self._request("list routes", "GET", "/routes")).json()
        return [self._active(name, f) for name, r in sorted(routes.items()) for f in r.get("faults", [])]

    async def reset(self) -> None:
        await self._request("reset", "POST", "/reset")

    async def targets(self) -> list[str]:
        return sorted((await self._request("list routes", "GET", "/routes")).json())

    async def version(self) -> dict[str, Any]:
        body = (await self._request("version", "GET", "/version")).json()
        return body if isinstance(body, dict) else {"version": body}

    async def heartbeat(self) -> None:
        await self._request("heartbeat", "POST", "/heartbeat")


def backend_for(fault_type: str, backends: dict[str, FaultBackend]) -> FaultBackend:
    """The backend whose layer owns `fault_type` (names are unique across layers)."""
    for backend in backends.values():
        if fault_type in backend.types:
            return backend
    known = sorted({t for b in backends.values() for t in b.types})
    raise InputError(f"unknown fault type {fault_type!r}; expected one of {', '.join(known)}")
