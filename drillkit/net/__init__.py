"""drillkit's shared networking pieces.

`AdminGuard` is the ASGI middleware every admin surface carries (Host, Origin and bearer-token
checks, see `drillkit.net.admin_guard`); `listen_refusal` is the rule for listeners a request
asks a server to open; `allowed_host` checks an ``--allow-host`` value. `drillkit.net.serving`
hosts ASGI apps on loopback sockets (`bind_socket`, `HostedApp`, `serve_all`, `ServerThread`).
"""

from drillkit.net.admin_guard import AdminGuard, ErrorFactory, allowed_host, is_loopback_host, listen_refusal

__all__ = ["AdminGuard", "ErrorFactory", "allowed_host", "is_loopback_host", "listen_refusal"]
