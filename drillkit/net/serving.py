"""Hosting ASGI apps on loopback sockets: several uvicorn servers in one event loop.

Sockets are bound before any server starts, so callers learn the real ports (port 0 picks a
free one) before traffic flows.  `start_all` starts them and returns once every one serves;
`ServerThread` runs the same thing in a background thread for tests and benchmarks.

An app whose startup (ASGI lifespan) fails makes uvicorn call `sys.exit(3)`; `serve_all` turns
that into a `ServiceError` naming the app, and shuts the other servers down.

`loopback_only()` is the middleware every demo app carries, `drillkit.net.AdminGuard`: a `Host`
that is not a loopback name (or an `--allow-host` name) and a foreign or `null` `Origin` are
refused (403), so neither DNS rebinding nor a cross-site request from a web page reaches the
demo's levers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import uvicorn
from starlette.middleware import Middleware

from drillkit.errors import ServiceError
from drillkit.net.admin_guard import AdminGuard

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 10.0


def loopback_only(allowed_hosts: Iterable[str] = ()) -> list[Middleware]:
    """The demo apps' middleware: `AdminGuard` answering loopback Hosts and `allowed_hosts`."""
    return [Middleware(AdminGuard, allowed_hosts=tuple(allowed_hosts))]


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
        log_config=None,  # records go to the root logger: redacted by the runner (drillkit.demo.logs)
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    # We own signal handling (the caller decides what SIGTERM means): no uvicorn handlers, old
    # API (install_signal_handlers) or new (capture_signals).
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    return server


async def _serve_one(h: HostedApp) -> None:
    assert h.server is not None
    try:
        await h.server.serve(sockets=[h.sock])
    except SystemExit as exc:  # uvicorn's way of saying "the app's startup failed"
        raise ServiceError(
            f"the {h.name} server did not start: its app's startup failed (uvicorn exit {exc.code}; "
            "the error is logged above)"
        ) from None


async def serve_all(hosted: list[HostedApp], stop: asyncio.Event) -> None:
    """Serve every app until `stop` is set, then shut all servers down gracefully.

    If one server stops on its own (an app whose startup failed: `ServiceError`), the others
    are shut down too and its error is raised.
    """
    for h in hosted:
        h.server = _make_server(h.app)
    tasks = [asyncio.create_task(_serve_one(h)) for h in hosted]
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
    for h in hosted:
        h.server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    waiter.cancel()
    for t in done:
        if t is not waiter and t.exception() is not None:
            raise t.exception()


async def wait_started(hosted: list[HostedApp], timeout: float = START_TIMEOUT_S) -> None:
    """Return once every server reports started (raise TimeoutError otherwise)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not all(h.server is not None and h.server.started for h in hosted):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"servers did not start within {timeout:g} s")
        await asyncio.sleep(0.01)


async def start_all(
    hosted: list[HostedApp], stop: asyncio.Event, timeout: float = START_TIMEOUT_S
) -> asyncio.Task[None] | None:
    """Serve every app (`serve_all`); return the serving task once every server has started.

    Returns None when `stop` is set before that (every server is then shut down).  When a server
    fails to start, or they do not all start within `timeout` s, every server is shut down and
    this raises: the server's error (`ServiceError`), or TimeoutError.
    """
    serving = asyncio.create_task(serve_all(hosted, stop))
    started = asyncio.create_task(wait_started(hosted, timeout))
    await asyncio.wait([started, serving], return_when=asyncio.FIRST_COMPLETED)
    failure = started.exception() if started.done() else None
    if started.done() and failure is None and not serving.done():
        return serving
    started.cancel()
    stop.set()
    await serving  # raises what broke a server, if one broke
    if failure is not None:
        raise failure
    return None


class ServerThread:
    """Run ASGI apps on ephemeral loopback ports in a background thread (tests, benchmarks).

    >>> with ServerThread({"sim": app}) as urls:
    ...     httpx.get(urls["sim"] + "/v1/models")
    """

    def __init__(self, apps: dict[str, Callable], host: str = LOOPBACK) -> None:
        self._hosted: list[HostedApp] = []
        try:
            for name, app in apps.items():
                self._hosted.append(HostedApp(name, app, bind_socket(host, 0)))
        except BaseException:
            self._close_sockets()
            raise
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def urls(self) -> dict[str, str]:
        return {h.name: h.url for h in self._hosted}

    def __enter__(self) -> dict[str, str]:
        """Start the servers; on any failure stop what started, close the sockets, then raise."""
        self._thread = threading.Thread(target=self._run, name="drillkit-servers", daemon=True)
        self._thread.start()
        error: BaseException | None = None
        if not self._ready.wait(START_TIMEOUT_S + 5):
            error = TimeoutError("servers did not start in time")
        elif self._error is not None:
            error = self._error
        if error is not None:
            self.__exit__(None, None, None)
            raise error
        return self.urls

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                serving = await start_all(self._hosted, self._stop)
            except BaseException as exc:  # set before `_ready`: __enter__ reads it once woken
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            if serving is not None:
                await serving

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the caller's thread by __enter__
            self._error = exc
            self._ready.set()

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for h in self._hosted:
            h.sock.close()
