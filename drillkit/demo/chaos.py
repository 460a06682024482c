"""The demo's fault layers: every provider and tool reached through an L7 route and an L4 proxy.

    service ──▶ LLM fault proxy route "primary" ──▶ Toxiproxy proxy "primary" ──▶ sim provider
            ──▶ route "fallback"               ──▶ proxy "fallback"            ──▶ sim provider
            ──▶ route "order_status"           ──▶ proxy "order_status"        ──▶ tool API

Routes and proxies are named after what they front, so a scenario's `provider:primary` or
`tool:order_status` target resolves to the same name on both layers. Both fault servers run in
the demo's process; their admin APIs are the manifest's `chaos.toxiproxy` and `chaos.llm_proxy`.
With the default base port (8710) the routes listen on 8721-8723 and the proxies on 8731-8733
(primary, fallback, order_status), so files written for a demo on its default ports, such as
examples/litellm/, can name them; a busy port, or base port 0, gives an ephemeral one (the
manifest always holds the URLs).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from drillkit.demo.context import ORDER_TOOL
from drillkit.net.serving import LOOPBACK, bind_socket
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

    async def front(self, urls: dict[str, str], base_port: int = 0) -> dict[str, str]:
        """Create a proxy and a route for each of `FRONTED`; return name → the route's base URL.

        `urls` are the demo servers' bound URLs (they need not be serving yet: proxies connect
        upstream per connection). Routes listen on `base_port + 11 + i`, proxies on `+ 21 + i`
        (a busy port, or base 0: an ephemeral one).
        """
        await self.toxiproxy.start()
        await self.llm_proxy.start()
        fronted: dict[str, str] = {}
        for i, (name, (server, api)) in enumerate(FRONTED.items()):
            upstream = urlsplit(urls[server]).netloc
            listen = _free_or_ephemeral(base_port + 21 + i if base_port else 0)
            proxy = await self.toxiproxy.create({"name": name, "listen": listen, "upstream": upstream})
            l4 = proxy.to_json()["listen"]
            listen = _free_or_ephemeral(base_port + 11 + i if base_port else 0)
            route = await self.llm_proxy.add_route(
                {"name": name, "listen": listen, "upstream": f"http://{l4}", "api": api}
            )
            fronted[name] = f"http://{route['listen']}"
        return fronted

    async def close(self) -> None:
        await self.llm_proxy.stop()
        await self.toxiproxy.stop()


def _free_or_ephemeral(port: int) -> str:
    """`127.0.0.1:port` if that port can be bound now, else `127.0.0.1:0` (the server picks one)."""
    if port:
        try:
            bind_socket(LOOPBACK, port).close()
        except OSError:
            port = 0
    return f"{LOOPBACK}:{port}"
