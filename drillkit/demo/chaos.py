"""The demo's fault layers: every provider and tool reached through an L7 route and an L4 proxy.

    service ──▶ LLM fault proxy route "primary" ──▶ Toxiproxy proxy "primary" ──▶ sim provider
            ──▶ route "fallback"               ──▶ proxy "fallback"            ──▶ sim provider
            ──▶ route "order_status"           ──▶ proxy "order_status"        ──▶ tool API

Routes and proxies are named after what they front, so a scenario's `provider:primary` or
`tool:order_status` target resolves to the same name on both layers. Both fault servers run in
the demo's process; their admin APIs are the manifest's `chaos.toxiproxy` and `chaos.llm_proxy`.
Route and proxy listeners take ephemeral ports (the manifest holds the URLs).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from drillkit.demo.context import ORDER_TOOL
from drillkit.proxy.admin import LlmProxyServer
from drillkit.proxy.toxiproxy_api import ToxiproxyServer

#: name on both layers → (demo server it fronts, the route's API for error shapes)
FRONTED: dict[str, tuple[str, str]] = {
    "primary": ("primary", "openai"),
    "fallback": ("fallback", "openai"),
    ORDER_TOOL: ("tool", "json"),
}


class DemoChaos:
    """The demo's embedded Toxiproxy server and LLM fault proxy, and what they front."""

    def __init__(self) -> None:
        self.toxiproxy = ToxiproxyServer()
        self.llm_proxy = LlmProxyServer()

    async def front(self, urls: dict[str, str]) -> dict[str, str]:
        """Create a proxy and a route for each of `FRONTED`; return name → the route's base URL.

        `urls` are the demo servers' bound URLs (they need not be serving yet: proxies connect
        upstream per connection).
        """
        await self.toxiproxy.start()
        await self.llm_proxy.start()
        fronted: dict[str, str] = {}
        for name, (server, api) in FRONTED.items():
            upstream = urlsplit(urls[server]).netloc
            proxy = await self.toxiproxy.create({"name": name, "listen": "127.0.0.1:0", "upstream": upstream})
            l4 = proxy.to_json()["listen"]
            route = await self.llm_proxy.add_route(
                {"name": name, "listen": "127.0.0.1:0", "upstream": f"http://{l4}", "api": api}
            )
            fronted[name] = f"http://{route['listen']}"
        return fronted

    async def close(self) -> None:
        await self.llm_proxy.stop()
        await self.toxiproxy.stop()
