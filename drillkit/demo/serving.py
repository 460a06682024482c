"""Hosting ASGI apps on loopback sockets: several uvicorn servers in one event loop.

Sockets are bound before any server starts, so callers learn the real ports (port 0 picks a
free one) before traffic flows.  `ServerThread` runs the same thing in a background thread for
tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn

LOOPBACK = "127.0.0.1"


def bind_socket(host: str = LOOPBACK, port: int = 0, *, fallback_to_ephemeral: bool = False) -> socket.socket:
    """Bind a listening TCP socket; with `fallback_to_ephemeral`, a busy port yields a free one."""
    try:
        return _bind(host, port)
    except OSError:
        if not fallback_to_ephemeral or port == 0:
            raise
        return _bind(host, 0)


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted connections whose
    # listening socket says so, and without it keep-alive requests stall ~40 ms on Nagle.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@dataclass
class HostedApp:
    """One ASGI app on one bound socket."""

    name: str
    app: Callable
    sock: socket.socket
    server: uvicorn.Server | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return socket_url(self.sock)


def _make_server(app: Callable) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    # We own signal handling (the caller decides what SIGTERM means).
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


async def serve_all(hosted: list[HostedApp], stop: asyncio.Event) -> None:
    """Serve every app until `stop` is set, then shut all servers down gracefully."""
    for h in hosted:
        h.server = _make_server(h.app)
    tasks = [asyncio.create_task(h.server.serve(sockets=[h.sock])) for h in hosted]
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
    for h in hosted:
        h.server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    waiter.cancel()
    for t in done:
        if t is not waiter and t.exception() is not None:
            raise t.exception()


async def wait_started(hosted: list[HostedApp], timeout: float = 10.0) -> None:
    """Return once every server reports started (raise TimeoutError otherwise)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not all(h.server is not None and h.server.started for h in hosted):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("servers did not start in time")
        await asyncio.sleep(0.01)


class ServerThread:
    """Run ASGI apps on ephemeral loopback ports in a background thread (tests, benchmarks).

    >>> with ServerThread({"sim": app}) as urls:
    ...     httpx.get(urls["sim"] + "/v1/models")
    """

    def __init__(self, apps: dict[str, Callable], host: str = LOOPBACK) -> None:
        self._hosted = [HostedApp(name, app, bind_socket(host, 0)) for name, app in apps.items()]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def urls(self) -> dict[str, str]:
        return {h.name: h.url for h in self._hosted}

    def __enter__(self) -> dict[str, str]:
        self._thread = threading.Thread(target=self._run, name="drillkit-servers", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise TimeoutError("servers did not start in time")
        if self._error is not None:
            raise self._error
        return self.urls

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            serving = asyncio.create_task(serve_all(self._hosted, self._stop))
            try:
                await wait_started(self._hosted)
            except BaseException as exc:  # surfaced to the caller's thread
                self._error = exc
            self._ready.set()
            await serving

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        for h in self._hosted:
            h.sock.close()
