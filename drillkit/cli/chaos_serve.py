"""`drillkit chaos serve` (host the embedded fault servers) and `drillkit chaos apply` (make running
fault servers match the manifest's `chaos` section: `drillkit.faults.topology`)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import click
from rich.markup import escape

from drillkit import signals
from drillkit.cli.options import Env, allow_host_option, pass_env
from drillkit.config.chaos import DEFAULT_SERVER
from drillkit.config.system import System, load_system
from drillkit.errors import CheckFailed, InputError
from drillkit.faults.fleet import TOKEN_ENV, Fleet, connect
from drillkit.faults.targets import open_backends
from drillkit.faults.topology import Applied, TopologyReport, apply_topology

DEFAULT_TOXIPROXY_LISTEN = "127.0.0.1:8474"
DEFAULT_LLM_LISTEN = "127.0.0.1:8475"


def _split_listen(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535 or not host:
        raise InputError(f"{option}: expected host:port such as 127.0.0.1:8474 (got {value!r})")
    return host.strip("[]"), int(port)


def _netloc(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


@dataclass(frozen=True)
class ServePlan:
    """What one `chaos serve` process hosts: listen addresses, and with `--system` which of the
    manifest's servers it is (its proxies and, unless `--no-llm-proxy`, the routes are created)."""

    toxiproxy: str
    llm: str | None  # None: no LLM fault proxy in this process
    system: System | None = None
    server: str | None = None  # the manifest's Toxiproxy server this process is


def plan_serve(
    system: System | None, server: str | None, toxiproxy: str | None, llm: str | None, no_llm: bool
) -> ServePlan:
    """Addresses default to the manifest's URLs of the servers this process is (else the
    embedded defaults); a fleet of several servers needs `--server`, or a `--toxiproxy` address
    that one of them has."""
    if system is None:
        if server is not None:
            raise InputError("--server names a server of the manifest: give --system FILE too")
        return ServePlan(toxiproxy or DEFAULT_TOXIPROXY_LISTEN, None if no_llm else llm or DEFAULT_LLM_LISTEN)
    servers = system.chaos.servers()
    if server is None and len(servers) == 1:
        server = next(iter(servers))
    if server is None and toxiproxy is not None:
        server = next((n for n, s in servers.items() if _netloc(s.url) == toxiproxy), None)
    if server is None or server not in servers:
        names = ", ".join(servers)
        said = f"no server named {server!r}" if server is not None else "several servers"
        raise InputError(f"--server: chaos.toxiproxy of {system.path} has {said} ({names}); say which this process is")
    llm_url = system.chaos.llm_server().url
    return ServePlan(
        toxiproxy=toxiproxy or _netloc(servers[server].url),
        llm=None if no_llm else llm or _netloc(llm_url),
        system=system,
        server=server,
    )


def describe(item: Applied) -> str:
    """One line for one proxy or route `chaos apply` (or `chaos serve --system`) looked at."""
    kind = "proxy" if item.layer == "l4" else "route"
    where = f"{item.server} ({item.url})"
    head = f"{item.action} {kind} {item.name!r} for {item.target} on {where}"
    if item.action == "failed":
        return f"{head}: {item.error}"
    changes = ", ".join(f"{k} {was} → {now}" for k, (was, now) in item.changes.items())
    return head + (f": {changes}" if changes else "") + (f" (listens on {item.listen})" if item.listen else "")


def print_report(env: Env, report: TopologyReport, *, to_err: bool = False) -> None:
    console = env.err if to_err else env.out
    for item in report.applied:
        colour = {"failed": "red", "unchanged": "dim"}.get(item.action)
        line = escape(describe(item))
        console.print(f"[{colour}]{line}[/]" if colour else line)
    console.print(f"{len(report.changed)} change(s)" + ("" if report.ok else ", some failed"))


@click.command("apply")
@pass_env(system=True, json=True)
def apply(env: Env) -> None:
    """Make the running fault servers match the manifest's `chaos` section.

    Like Toxiproxy's /populate: every proxy of `chaos.proxies` and route of `chaos.routes` declared
    with an upstream is created where missing and has its listen/upstream fixed where they differ
    (its faults stay); what matches is left as is, so applying twice changes nothing. A declared
    port 0 accepts whatever port the server picked. Exit 1 when a server refused or was unreachable.

    \b
    Example:
      drillkit chaos apply --system drillkit.yaml --json
    """
    system = env.load_system()

    async def run() -> TopologyReport:
        async with open_backends(system) as fleet:
            return await apply_topology(fleet)

    report = asyncio.run(run())
    if env.json:
        env.emit_json(report.to_dict())
    else:
        print_report(env, report)
    if not report.ok:
        raise CheckFailed("some proxies or routes could not be applied (see above)")


@click.command("serve")
@click.option(
    "--toxiproxy",
    "toxiproxy_listen",
    metavar="HOST:PORT",
    help=f"Toxiproxy API address [default: the --server's URL, else {DEFAULT_TOXIPROXY_LISTEN}].",
)
@click.option(
    "--llm-proxy",
    "llm_listen",
    metavar="HOST:PORT",
    help=f"LLM fault proxy admin address [default: the manifest's, else {DEFAULT_LLM_LISTEN}].",
)
@click.option("--no-llm-proxy", is_flag=True, help="Host the Toxiproxy API only (a fleet's other servers).")
@click.option("--server", metavar="NAME", help="With --system: which of the manifest's Toxiproxy servers this is.")
@click.option("--token", envvar=TOKEN_ENV, help=f"Bearer token the admin APIs require [env {TOKEN_ENV}].")
@click.option(
    "--system",
    "system_file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="The manifest whose servers this process is (only when given: DRILLKIT_SYSTEM is not read here).",
)
@allow_host_option
@pass_env()
def serve(
    env: Env,
    toxiproxy_listen: str | None,
    llm_listen: str | None,
    no_llm_proxy: bool,
    server: str | None,
    token: str | None,
    system_file: str | None,
    allowed_hosts: tuple[str, ...],
) -> None:
    """Run the embedded fault servers in the foreground until Ctrl-C or SIGTERM.

    The Toxiproxy-compatible API (proxies and toxics; works with toxiproxy-python and any
    Toxiproxy client) and the LLM fault proxy's admin API (routes and faults). Both bind loopback
    by default; binding any other address requires --token, which every admin request must then
    carry as `Authorization: Bearer <token>`. The same rule holds for the proxies and routes
    they open: beyond loopback only with --token.

    With --system FILE this process is one of the manifest's servers: the Toxiproxy server named
    by --server (or its only one) and, unless --no-llm-proxy, its LLM fault proxy. It listens
    where the manifest says (unless told otherwise) and creates the proxies declared on that
    server and the routes (`chaos.proxies`, `chaos.routes`; see `drillkit chaos apply`).

    Requests must name a loopback Host (or one given with --allow-host, e.g. the name clients
    use to reach a server bound beyond loopback); requests from web pages (a foreign `Origin`)
    are refused.

    \b
    Examples:
      drillkit chaos serve &
      toxiproxy-cli -h 127.0.0.1:8474 list        # or the toxiproxy-python client
      curl -s 127.0.0.1:8475/routes
      drillkit chaos serve --system drillkit.yaml --server edge-b --no-llm-proxy
    """
    signals.serving = True  # SIGTERM is a service manager's stop: exit 0, even while starting
    system = load_system(system_file) if system_file is not None else None
    plan = plan_serve(system, server, toxiproxy_listen, llm_listen, no_llm_proxy)
    asyncio.run(_serve(env, plan, token or None, allowed_hosts))


async def _serve(env: Env, plan: ServePlan, token: str | None, allowed_hosts: tuple[str, ...]) -> None:
    from drillkit.net import is_loopback_host
    from drillkit.net.serving import HostedApp, bind_socket, serve_all, wait_started
    from drillkit.proxy.admin import LlmProxyServer, create_admin_app
    from drillkit.proxy.toxiproxy_api import ToxiproxyServer, create_toxiproxy_app

    addresses = {"toxiproxy": _split_listen(plan.toxiproxy, "--toxiproxy")}
    if plan.llm is not None:
        addresses["llm"] = _split_listen(plan.llm, "--llm-proxy")
    exposed = [f"{h}:{p}" for h, p in addresses.values() if not is_loopback_host(h)]
    if exposed and not token:
        raise InputError(f"binding {', '.join(exposed)} beyond loopback needs --token (or {TOKEN_ENV})")
    try:
        sockets = {key: bind_socket(host, port) for key, (host, port) in addresses.items()}
    except OSError as exc:
        raise InputError(f"cannot listen: {exc.strerror} (is another fault server running?)") from None
    hosted = [
        HostedApp(
            "toxiproxy",
            create_toxiproxy_app(ToxiproxyServer(), token=token, allowed_hosts=allowed_hosts),
            sockets["toxiproxy"],
        )
    ]
    if "llm" in sockets:
        app = create_admin_app(LlmProxyServer(), token=token, allowed_hosts=allowed_hosts)
        hosted.append(HostedApp("llm_proxy", app, sockets["llm"]))
    fleet = _own_fleet(plan, hosted[0].url, hosted[1].url if len(hosted) > 1 else None, token)
    stop = asyncio.Event()
    with signals.routed(asyncio.get_running_loop(), lambda sig: stop.set()):
        serving = asyncio.create_task(serve_all(hosted, stop))
        await wait_started(hosted)
        if fleet is not None:  # what the manifest declares on this process's servers, before saying it is up
            try:
                report = await apply_topology(fleet, servers=[plan.server or DEFAULT_SERVER], routes=len(hosted) > 1)
                print_report(env, report, to_err=True)
            finally:
                await fleet.aclose()
        names = {"toxiproxy": "Toxiproxy API  ", "llm_proxy": "LLM proxy admin"}
        lines = [f"{names[h.name]} {h.url}" for h in hosted]
        env.err.print("\n".join(lines) + f"\n(pid {os.getpid()}; Ctrl-C stops)")
        await serving


def _own_fleet(plan: ServePlan, toxiproxy_url: str, llm_url: str | None, token: str | None) -> Fleet | None:
    """The manifest's fleet, the servers this process is reached where it bound them (their
    headers expanded now: an unset `${VAR}` is bad input before anything is served)."""
    if plan.system is None:
        return None
    urls = {plan.server or DEFAULT_SERVER: toxiproxy_url}
    if llm_url is not None:
        urls["llm_proxy"] = llm_url
    environ = {**os.environ, TOKEN_ENV: token} if token else None
    return connect(plan.system, urls=urls, env=environ)


__all__ = ["ServePlan", "apply", "plan_serve", "serve"]
