"""The demo process: its loopback servers in one event loop, listed once in `SERVERS`.

`run_demo` is what `drillkit demo up --foreground` runs (and what `drillkit demo up` starts in the
background, see `drillkit.demo.control`). It binds one socket per entry of `SERVERS` (port
`base_port + index`; a busy port falls back to a free one; base 0 makes them all free ports),
writes the workdir's manifest with the bound URLs, creates each app from its factory, serves
them all, and writes `run/demo.json` once every server has started (`drillkit.demo.process`
describes the files under `run/`).

SIGTERM and SIGINT stop the runner gracefully (servers drain for up to 2 s, then `demo.json` is
removed). To host another server (a fault proxy in front of a provider, say), add an entry to
`SERVERS`: its factory gets every server's URL, and `drillkit.demo.workdir.manifest_data` decides
which URL the manifest gives to whom.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from drillkit import __version__, signals
from drillkit.demo.process import RunInfo, hold_lock, remove_run_info, write_run_info
from drillkit.demo.workdir import write_manifest
from drillkit.errors import InputError, ServiceError
from drillkit.net.serving import HostedApp, bind_socket, socket_url, start_all

if TYPE_CHECKING:  # the fault servers are imported where they start: `demo ctl` does not pay for them
    from drillkit.demo.chaos import DemoChaos

DEFAULT_BASE_PORT = 8710
#: Base port for a demo started without `--port` (`demo up`, or a game-day on `system: demo`);
#: 0 gives free ports, so demos of several homes (a parallel test run) never meet on 8710-8733.
BASE_PORT_ENV = "DRILLKIT_DEMO_PORT"
HOST = "127.0.0.1"
PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class AppContext:
    """What an app factory gets: the prepared workdir, every server's URL, the sim latency scale,
    the fault servers (which front the providers and the tool) and the Host names every app
    answers besides loopback ones (`--allow-host`)."""

    workdir: Path
    urls: dict[str, str]
    latency_scale: float
    chaos: DemoChaos
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoServer:
    """One server of the demo: how to build its app, how to tell it is healthy, what it is for.

    `health` is a path answering 2xx once the server is up; `endpoint` is the suffix of the URL
    its clients use (`/v1` for an OpenAI base URL).
    """

    name: str
    what: str
    health: str
    endpoint: str
    create: Callable[[AppContext], Any]


# App modules are imported inside the factories, so `drillkit demo down/status` work even if an
# app module fails to import.


def _service(ctx: AppContext) -> Any:
    from drillkit.demo.service import create_service_app

    return create_service_app(ctx.workdir, allowed_hosts=ctx.allowed_hosts)


def _sim(name: str) -> Callable[[AppContext], Any]:
    def create(ctx: AppContext) -> Any:
        from drillkit.demo.sim.app import create_sim_app

        return create_sim_app(name, latency_scale=ctx.latency_scale, allowed_hosts=ctx.allowed_hosts)

    return create


def _tool(ctx: AppContext) -> Any:
    from drillkit.demo.tool_api import create_tool_app

    return create_tool_app(ctx.workdir / "orders.json", allowed_hosts=ctx.allowed_hosts)


def _toxiproxy(ctx: AppContext) -> Any:
    from drillkit.proxy.toxiproxy_api import create_toxiproxy_app

    return create_toxiproxy_app(ctx.chaos.toxiproxy, allowed_hosts=ctx.allowed_hosts)


def _llm_proxy(ctx: AppContext) -> Any:
    from drillkit.proxy.admin import create_admin_app

    return create_admin_app(ctx.chaos.llm_proxy, allowed_hosts=ctx.allowed_hosts)


#: The demo's servers, in port order: `service` on the base port, `primary` on base + 1, ...
SERVERS: tuple[DemoServer, ...] = (
    DemoServer("service", "the support assistant (+ /admin)", "/healthz", "/v1/answer", _service),
    DemoServer("primary", "sim LLM, OpenAI/Anthropic API", "/v1/models", "/v1", _sim("primary")),
    DemoServer("fallback", "sim LLM, the fallback route", "/v1/models", "/v1", _sim("fallback")),
    DemoServer("tool", "order_status: GET /orders/{id}", "/healthz", "", _tool),
    DemoServer("toxiproxy", "Toxiproxy API: network faults (L4)", "/version", "", _toxiproxy),
    DemoServer("llm_proxy", "LLM fault proxy admin API (L7)", "/version", "", _llm_proxy),
)
SERVER_BY_NAME = {s.name: s for s in SERVERS}


@dataclass
class Health:
    ok: bool
    detail: str
    latency_ms: float


def endpoints(urls: dict[str, str]) -> dict[str, str]:
    """The URL clients use for each server (the service's /v1/answer, the providers' /v1)."""
    return {name: url + (SERVER_BY_NAME[name].endpoint if name in SERVER_BY_NAME else "") for name, url in urls.items()}


def probe_all(urls: dict[str, str], client: httpx.Client | None = None) -> dict[str, Health]:
    """Ask each server its health URL; 2xx within a second is healthy."""
    own = client is None
    client = client or httpx.Client(timeout=PROBE_TIMEOUT_S, trust_env=False)
    try:
        return {name: _probe(client, url + _health_path(name)) for name, url in urls.items()}
    finally:
        if own:
            client.close()


def _health_path(name: str) -> str:
    server = SERVER_BY_NAME.get(name)
    return server.health if server is not None else "/healthz"


def _probe(client: httpx.Client, url: str) -> Health:
    t0 = time.perf_counter()
    try:
        r = client.get(url)
    except httpx.HTTPError as exc:
        return Health(False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 0.0)
    ms = (time.perf_counter() - t0) * 1000
    return Health(r.is_success, f"HTTP {r.status_code}", round(ms, 1))


def failures(health: dict[str, Health]) -> str:
    """`name detail` of every unhealthy server, comma-separated."""
    return ", ".join(f"{name} {h.detail}" for name, h in health.items() if not h.ok)


def default_base_port() -> int:
    """`DRILLKIT_DEMO_PORT` when set (0-65532), else `DEFAULT_BASE_PORT`; raises InputError."""
    raw = os.environ.get(BASE_PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_BASE_PORT
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65532:
        raise InputError(f"{BASE_PORT_ENV}={raw!r}: expected a base port from 0 to 65532 (0 = free ports)")
    return port


def bind_sockets(base_port: int) -> dict[str, socket.socket]:
    """One listening socket per server: `base_port + i`, a busy one → ephemeral; base 0 → all ephemeral."""
    socks: dict[str, socket.socket] = {}
    try:
        for i, server in enumerate(SERVERS):
            port = base_port + i if base_port else 0
            socks[server.name] = bind_socket(HOST, port, fallback_to_ephemeral=True)
    except BaseException:
        for s in socks.values():
            s.close()
        raise
    return socks


async def run_demo(
    workdir: Path,
    *,
    base_port: int = DEFAULT_BASE_PORT,
    latency_scale: float | None = None,
    on_started: Callable[[RunInfo], None] | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> None:
    """Serve the demo from a prepared `workdir` until SIGTERM or SIGINT.

    `latency_scale` None means the sim's own rule (DRILLKIT_SIM_LATENCY_SCALE, else 1); the value
    used is recorded in `demo.json`. `allowed_hosts`: Host names every app answers besides
    loopback ones (`drillkit.net.AdminGuard`). Raises DrillkitError when another runner holds
    the workdir or a server does not start (ServiceError). Always removes `demo.json` and closes
    the sockets on the way out.
    """
    from drillkit.demo import logs
    from drillkit.demo.chaos import DemoChaos
    from drillkit.demo.sim.app import latency_scale_from_env

    logs.install()
    workdir = Path(workdir).absolute()
    with hold_lock(workdir):
        remove_run_info(workdir)  # whatever is there is stale: we hold the lock
        socks = bind_sockets(base_port)
        chaos = DemoChaos()
        try:
            urls = {name: socket_url(sock) for name, sock in socks.items()}
            fronted = await chaos.front(urls, base_port)
            manifest = write_manifest(workdir, urls, fronted)
            scale = latency_scale_from_env() if latency_scale is None else latency_scale
            ctx = AppContext(workdir, urls, scale, chaos, tuple(allowed_hosts))
            hosted = [HostedApp(s.name, s.create(ctx), socks[s.name]) for s in SERVERS]
            info = RunInfo(
                pid=os.getpid(),
                started_at=datetime.now(UTC),
                urls=urls,
                workdir=str(workdir),
                version=__version__,
                latency_scale=scale,
                manifest=str(manifest),
            )
            await _serve(workdir, hosted, info, on_started)
        finally:
            await chaos.close()  # the admin apps' lifespans stop them too; stopping twice is harmless
            remove_run_info(workdir, os.getpid())
            for sock in socks.values():
                sock.close()


async def _serve(
    workdir: Path, hosted: list[HostedApp], info: RunInfo, on_started: Callable[[RunInfo], None] | None
) -> None:
    stop = asyncio.Event()
    serving: asyncio.Task[None] | None = None
    with signals.routed(asyncio.get_running_loop(), lambda sig: stop.set()):
        try:
            try:
                serving = await start_all(hosted, stop)
            except TimeoutError as exc:
                raise ServiceError(f"the demo's servers did not all start: {exc}") from None
            if serving is None:
                return  # a signal came before every server had started
            info = info.model_copy(update={"started_at": datetime.now(UTC)})
            write_run_info(workdir, info)
            if on_started is not None:
                on_started(info)
            await serving
        finally:
            stop.set()
            if serving is not None and not serving.done():
                await asyncio.gather(serving, return_exceptions=True)


__all__ = [
    "DEFAULT_BASE_PORT",
    "SERVERS",
    "AppContext",
    "DemoServer",
    "Health",
    "bind_sockets",
    "endpoints",
    "failures",
    "probe_all",
    "run_demo",
]
