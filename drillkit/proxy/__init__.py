"""drillkit's fault proxies.

L4: `ToxiproxyServer` + `create_toxiproxy_app` — an embedded server speaking the Toxiproxy HTTP
API (modules `tcp`, `link`, `toxiproxy_api`; toxics live in `drillkit.faults.toxics`).
"""

from drillkit.proxy.toxiproxy_api import ToxiproxyServer, create_toxiproxy_app

__all__ = ["ToxiproxyServer", "create_toxiproxy_app"]
