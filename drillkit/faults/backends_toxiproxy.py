"""The L4 backend: Toxiproxy toxics and `down`, through the `toxiproxy-python` client.

The same code drives drillkit's embedded server and a team's real Toxiproxy. Dead-man toxics are
honoured only by drillkit's embedded server (`drillkit.proxy.dead_man`): `GET /heartbeat` is asked
once, and a 404 means toxics are injected without the dead-man fields (see
`drillkit.faults.backends`). `down` (a disabled proxy) is never dead-man.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from drillkit.config.scenario import L4_TYPES
from drillkit.errors import InputError, ServiceError
from drillkit.faults.backends_base import CALL_TIMEOUT_S, ActiveFault, FaultBackend, FaultRequest

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


__all__ = ["DOWN", "ToxiproxyBackend"]
