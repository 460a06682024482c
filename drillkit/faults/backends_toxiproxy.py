"""The L4 backend: Toxiproxy toxics and `down`, over the Toxiproxy HTTP API of one server.

The same code drives drillkit's embedded server and a team's real (Go) Toxiproxy.

Why not through `toxiproxy-python` any more: the user's named client keeps the server's address
in class attributes (`APIConsumer.host/port`, so calls to two servers of a fleet had to be
serialised behind one lock, and a hung server stalled every other), and its calls take neither
headers nor a timeout. A fleet needs both on every request (DESIGN §9.2: each server's
`headers` and `timeout`), and one slow server must not starve another's heartbeats. So this
backend sends, with `httpx`, the very requests `toxiproxy-python` sends (`GET /proxies`,
`POST /proxies/{p}` `{"enabled": …}`, `POST /proxies/{p}/toxics`, `DELETE …/toxics/{t}`,
`POST /reset`, `GET /version`), with this server's headers and timeout on each. `toxiproxy-python`
stays where it serves: it is the client `tests/proxy/test_toxiproxy_compat.py` and
`test_toxiproxy_dead_man.py` drive the embedded server with, proving the server answers the
user's client as Go does, and teams keep using it in their own scripts against the same servers.

Every request is a fresh connection (one client per call, sharing one TLS context): the backend
holds no connection state, so nothing needs closing and a backend can be used from any loop.
Beyond faults it reads and changes the server's proxies (`proxies`, `create_proxy`,
`update_proxy`), for `drillkit chaos apply` (`drillkit.faults.topology`).

Dead-man toxics are honoured only by drillkit's embedded server (`drillkit.proxy.dead_man`):
`GET /heartbeat` is asked once, and a 404 means toxics are injected without the dead-man fields
(see `drillkit.faults.backends`). `down` (a disabled proxy) is never dead-man.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from drillkit.config.scenario import L4_TYPES
from drillkit.errors import InputError, ServiceError
from drillkit.faults.backends_base import CALL_TIMEOUT_S, ActiveFault, FaultBackend, FaultRequest, tls_context

DOWN = "down"


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"
    return str(body.get("error", body)) if isinstance(body, dict) else str(body)


def _p(name: str) -> str:
    return quote(name, safe="")


class ToxiproxyBackend(FaultBackend):
    """One Toxiproxy server. `headers` go with every request (already expanded: secrets, never
    stored); each request must be answered within `timeout` seconds."""

    layer = "l4"
    types = L4_TYPES

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = CALL_TIMEOUT_S) -> None:
        super().__init__(url)
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"Toxiproxy URL must look like http://host:port (got {url!r})")
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._dead_man: bool | None = None  # whether the server honours dead-man toxics (asked once)

    async def _send(self, what: str, method: str, path: str, body: Any = None) -> httpx.Response:
        """One request; a refusal (4xx) is an `InputError` quoting the server, anything else
        that is not an answer a `ServiceError` naming this server."""
        client = httpx.AsyncClient(
            base_url=self.url, headers=self._headers, timeout=self._timeout, verify=tls_context()
        )
        try:
            async with client:
                response = await client.request(method, path, json=body)
        except httpx.TimeoutException:
            raise ServiceError(f"Toxiproxy at {self.url} did not answer within {self._timeout:g}s ({what})") from None
        except httpx.HTTPError as exc:
            raise ServiceError(f"cannot reach Toxiproxy at {self.url} ({what}: {type(exc).__name__})") from None
        if 400 <= response.status_code < 500:
            raise InputError(f"Toxiproxy at {self.url}: {what}: {_message(response)}")
        if response.status_code >= 500:
            raise ServiceError(f"Toxiproxy at {self.url}: {what}: HTTP {response.status_code}: {_message(response)}")
        return response

    async def _json(self, what: str, method: str, path: str, body: Any = None) -> Any:
        response = await self._send(what, method, path, body)
        try:
            return response.json()
        except ValueError:
            raise ServiceError(f"Toxiproxy at {self.url}: {what}: not a JSON answer") from None

    # --- proxies ----------------------------------------------------------------------------

    async def proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy as the server reports it: name → {name, listen, upstream, enabled, …}."""
        found = await self._json("list proxies", "GET", "/proxies")
        if not isinstance(found, dict):
            raise ServiceError(f"Toxiproxy at {self.url}: list proxies: expected a JSON object")
        return found

    async def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        return await self._json(f"create proxy {name!r}", "POST", "/proxies", body)

    async def update_proxy(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a proxy's listen/upstream/enabled (`POST /proxies/{p}`, which Go and drillkit both take)."""
        return await self._json(f"update proxy {name!r}", "POST", f"/proxies/{_p(name)}", changes)

    async def _proxy(self, name: str) -> dict[str, Any]:
        return await self._json(f"proxy {name!r}", "GET", f"/proxies/{_p(name)}")

    # --- faults ------------------------------------------------------------------------------

    async def inject(self, request: FaultRequest) -> ActiveFault:
        self._check(request)
        if request.type == DOWN:
            await self.update_proxy(request.target, {"enabled": False})
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
        what = f"add {request.type} to proxy {request.target!r}"
        added = await self._json(what, "POST", f"/proxies/{_p(request.target)}/toxics", body)
        return ActiveFault(
            "l4",
            self.url,
            request.target,
            name,
            request.type,
            request.toxicity,
            stream,
            dict(request.attributes),
            dead_man=bool(added.get("dead_man", False)) if isinstance(added, dict) else False,
        )

    def _check(self, request: FaultRequest) -> None:
        if request.type not in self.types:
            raise InputError(f"{request.type!r} is not a Toxiproxy fault; expected one of {', '.join(self.types)}")
        if request.match:
            raise InputError("'match' applies to LLM (L7) faults only")
        if request.ttl is not None:
            raise InputError(
                "Toxiproxy toxics have no TTL; remove the fault with 'drillkit chaos remove' "
                "(game-days remove theirs at cleanup)"
            )

    async def remove(self, target: str, name: str) -> bool:
        if name == DOWN:
            was_down = not (await self._proxy(target)).get("enabled", True)
            await self.update_proxy(target, {"enabled": True})
            return was_down
        toxics = await self._json(f"toxics of proxy {target!r}", "GET", f"/proxies/{_p(target)}/toxics")
        if name not in {t.get("name") for t in toxics if isinstance(t, dict)}:
            return False
        await self._send(f"remove {name!r} from proxy {target!r}", "DELETE", f"/proxies/{_p(target)}/toxics/{_p(name)}")
        return True

    async def list(self) -> list[ActiveFault]:
        found = []
        for name, proxy in sorted((await self.proxies()).items()):
            if not proxy.get("enabled", True):
                found.append(ActiveFault("l4", self.url, name, DOWN, DOWN))
            toxics = proxy.get("toxics")
            if toxics is None:  # an older server lists proxies without their toxics
                toxics = await self._json(f"toxics of proxy {name!r}", "GET", f"/proxies/{_p(name)}/toxics")
            found += [self._active(name, toxic) for toxic in toxics]
        return found

    def _active(self, proxy: str, toxic: dict[str, Any]) -> ActiveFault:
        return ActiveFault(
            "l4",
            self.url,
            proxy,
            toxic["name"],
            toxic["type"],
            float(toxic.get("toxicity", 1.0)),
            toxic.get("stream", "downstream"),
            dict(toxic.get("attributes") or {}),
            dead_man=bool(toxic.get("dead_man", False)),
        )

    async def reset(self) -> None:
        await self._send("reset", "POST", "/reset")

    async def targets(self) -> list[str]:
        return sorted(await self.proxies())

    async def version(self) -> dict[str, Any]:
        response = await self._send("version", "GET", "/version")
        try:
            body = response.json()
        except ValueError:
            body = response.text.strip()
        return body if isinstance(body, dict) else {"version": body}

    async def honours_dead_man(self) -> bool:
        """Whether the server removes dead-man toxics by itself: its `GET /heartbeat` answers 200
        with the switch's state (drillkit's embedded server); anything else (404 on Go Toxiproxy)
        means no. Asked once per backend."""
        if self._dead_man is None:
            try:
                state = await self._json("ask for dead-man support", "GET", "/heartbeat")
            except InputError:
                state = None
            self._dead_man = isinstance(state, dict) and "dead_man_toxics" in state
        return self._dead_man

    async def heartbeat(self) -> None:
        """Keep this server's dead-man toxics alive (a no-op on servers without them)."""
        if await self.honours_dead_man():
            await self._send("heartbeat", "POST", "/heartbeat")


__all__ = ["DOWN", "ToxiproxyBackend"]
