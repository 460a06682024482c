"""drillkit's shared plumbing, below everything that serves or sends traffic.

- `drillkit.net.http11`: HTTP/1.1 framing, the strict parser and upstream pools (the LLM fault
  proxy and the load generator).
- `drillkit.net.exchange`: the one exchange loop with an upstream both of them send through
  (`send`: up to the response head; `fetch`: the whole response; `finish`: pool or close).
- `drillkit.net.jsonio`: compact JSON on the wire (`dumps`, `loads_or_none`).
- `drillkit.net.admin_guard`: `AdminGuard`, the ASGI middleware every admin surface carries
  (Host, Origin and bearer-token checks); `listen_refusal`, the rule for listeners a request asks
  a server to open; `allowed_host`, the check of an ``--allow-host`` value.
- `drillkit.net.serving`: ASGI apps hosted on loopback sockets (`bind_socket`, `HostedApp`,
  `serve_all`, `ServerThread`).
- `drillkit.net.filelock`: `FileLock` and `lock_fd`.

The names below come from `admin_guard`, loaded on first use: the journal's file locks need no
web framework (starlette costs ~80 ms to import).
"""

from __future__ import annotations

from typing import Any

__all__ = ["AdminGuard", "ErrorFactory", "allowed_host", "is_loopback_host", "listen_refusal"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from drillkit.net import admin_guard

        return getattr(admin_guard, name)
    raise AttributeError(f"module 'drillkit.net' has no attribute {name!r}")
