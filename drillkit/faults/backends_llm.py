"""The L7 backend: LLM faults through the LLM fault proxy's admin API (httpx).

The proxy honours `dead_man` for every fault; `heartbeat()` keeps them alive. The manifest's
`chaos.llm_proxy.headers` (expanded: secrets, never stored) and `timeout` go with every request.
Beyond faults it reads and changes the proxy's routes (`routes`, `create_route`, `update_route`),
for `drillkit chaos apply` (`drillkit.faults.topology`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from drillkit.config.scenario import L7_TYPES
from drillkit.errors import InputError, ServiceError
from drillkit.faults.backends_base import CALL_TIMEOUT_S, ActiveFault, FaultBackend, FaultRequest, tls_context


class LlmProxyBackend(FaultBackend):
    layer = "l7"
    types = L7_TYPES

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = CALL_TIMEOUT_S,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """`token`: a bearer token, unless `headers` carry their own `Authorization`."""
        super().__init__(url)
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        sent.update(headers or {})
        self._client = client or httpx.AsyncClient(
            base_url=self.url, timeout=timeout, headers=sent, verify=tls_context()
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(self, what: str, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self._client.request(method, path, json=body)
        except httpx.TimeoutException:
            raise ServiceError(f"the LLM fault proxy at {self.url} did not answer in time ({what})") from None
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

    async def routes(self) -> dict[str, dict[str, Any]]:
        """Every route as the proxy reports it: name → {name, listen, upstream, api, enabled, faults}."""
        found = (await self._request("list routes", "GET", "/routes")).json()
        if not isinstance(found, dict):
            raise ServiceError(f"LLM fault proxy at {self.url}: list routes: expected a JSON object")
        return found

    async def create_route(self, name: str, listen: str, upstream: str, api: str) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream, "api": api}
        return (await self._request(f"create route {name!r}", "POST", "/routes", body)).json()

    async def update_route(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        path = f"/routes/{quote(name, safe='')}"
        return (await self._request(f"update route {name!r}", "PATCH", path, changes)).json()

    async def version(self) -> dict[str, Any]:
        body = (await self._request("version", "GET", "/version")).json()
        return body if isinstance(body, dict) else {"version": body}

    async def heartbeat(self) -> None:
        await self._request("heartbeat", "POST", "/heartbeat")


__all__ = ["LlmProxyBackend"]
