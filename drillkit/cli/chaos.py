"""`drillkit chaos …`: inject and remove faults on both layers, and host the embedded fault servers."""

from __future__ import annotations

import asyncio
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from drillkit.cli.chaos_serve import apply, serve
from drillkit.cli.options import Env, pass_env
from drillkit.config.safe_yaml import parse_yaml
from drillkit.config.scenario import L4_TYPES, L7_TYPES
from drillkit.config.types import parse_duration
from drillkit.errors import CheckFailed, DrillkitError, InputError
from drillkit.faults.backends import ActiveFault, FaultBackend, FaultRequest
from drillkit.faults.targets import open_backends, parse_target


@click.group()
def chaos() -> None:
    """Faults on both layers: network toxics (Toxiproxy) and LLM faults (the LLM fault proxy).

    \b
    Fault types (a type's name picks its layer):
      network (L4): latency bandwidth slow_close timeout reset_peer slicer limit_data down
      LLM (L7):     http_error rate_limited quota_exhausted model_swap token_latency
                    stream_cut stream_stall malformed empty_completion truncate json_mutate

    \b
    Examples, against the running demo:
      drillkit chaos inject provider:primary model_swap --set serve_model=sim-pro-2025-11
      drillkit chaos inject provider:primary latency --set latency=500 --set jitter=50
      drillkit chaos inject tool:order_status json_mutate --set rename.status=state --ttl 60s
      drillkit chaos status
      drillkit chaos reset
    """


def parse_settings(settings: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` pairs → attributes; values are YAML scalars or flow collections, dotted keys nest.

    `latency=500` → {"latency": 500}; `rename.status=state` → {"rename": {"status": "state"}};
    `drop=[a.b, c]` → {"drop": ["a.b", "c"]}.
    """
    attributes: dict[str, Any] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects key=value (got {item!r})")
        try:
            value = parse_yaml(raw, f"--set {key}")[0] if raw else ""
        except InputError:
            value = raw  # not YAML: the text as typed
        node = attributes
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InputError(f"--set {item!r}: {part!r} is already set to a value")
            node = child
        node[parts[-1]] = value
    return attributes


@chaos.command("inject")
@click.argument("target")
@click.argument("fault_type", metavar="TYPE", type=click.Choice([*L4_TYPES, *L7_TYPES]))
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="A fault attribute (repeatable).")
@click.option("--toxicity", type=click.FloatRange(0, 1), default=1.0, show_default=True, help="Share affected.")
@click.option("--ttl", metavar="DURATION", help="Remove the fault by itself after this long (LLM faults), e.g. 30s.")
@click.option("--stream", type=click.Choice(["downstream", "upstream"]), help="Direction of a network toxic.")
@click.option("--name", help="Fault name (default: the type, or <type>_<stream> for toxics).")
@click.option(
    "--match",
    "matches",
    multiple=True,
    metavar="KEY=GLOB",
    help="LLM faults: only requests whose method, path or model matches, e.g. model=sim-pro.",
)
@pass_env(system=True, json=True)
def inject(
    env: Env,
    target: str,
    fault_type: str,
    settings: tuple[str, ...],
    toxicity: float,
    ttl: str | None,
    stream: str | None,
    name: str | None,
    matches: tuple[str, ...],
) -> None:
    """Inject a fault into TARGET (provider:<name> or tool:<name> from the system manifest).

    Network toxics go to the Toxiproxy server and proxy the manifest's `chaos.proxies` declares for
    the target (default: the proxy named after it on the only server); LLM faults to its
    `chaos.routes` route (default: the route named after it). Toxicity is the probability per
    connection (toxics) or per request (LLM faults). Remove it with `drillkit chaos remove`, or all
    faults with `drillkit chaos reset`.

    \b
    Examples:
      drillkit chaos inject provider:primary rate_limited --set retry_after=2 --toxicity 0.5
      drillkit chaos inject provider:primary quota_exhausted --ttl 2m
      drillkit chaos inject provider:fallback down
      drillkit chaos inject provider:primary model_swap --set serve_model=sim-pro-2025-11 --match model=sim-pro
    """
    system = env.load_system()
    tgt = parse_target(target, system)
    try:
        ttl_s = parse_duration(ttl) if ttl is not None else None
    except ValueError as exc:
        raise InputError(f"--ttl: {exc}") from None
    request = FaultRequest(
        type=fault_type,
        target="",  # the proxy or route carrying the target: the manifest says (below)
        name=name,
        toxicity=toxicity,
        stream=stream,
        attributes=parse_settings(settings),
        ttl=ttl_s,
        match={k: str(v) for k, v in parse_settings(matches).items()} or None,
    )

    async def run() -> ActiveFault:
        async with open_backends(system) as fleet:
            backend, request.target = fleet.place(str(tgt), fault_type)
            return await backend.inject(request)

    fault = asyncio.run(run())
    if env.json:
        env.emit_json(fault.to_dict())
        return
    extra = f", expires {fault.expires_at}" if fault.expires_at else ""
    env.out.print(
        f"injected [bold]{escape(fault.name)}[/] ({fault.type}, toxicity {fault.toxicity:g}{extra}) "
        f"on {escape(str(tgt))} via {escape(fault.server)}"
    )


@chaos.command("remove")
@click.argument("target")
@click.argument("name", required=False)
@pass_env(system=True, json=True)
def remove(env: Env, target: str, name: str | None) -> None:
    """Remove the fault NAME from TARGET, or every fault on TARGET when NAME is omitted.

    \b
    Examples:
      drillkit chaos remove provider:primary model_swap
      drillkit chaos remove provider:primary
    """
    system = env.load_system()
    tgt = parse_target(target, system)

    async def run() -> list[dict[str, Any]]:
        removed = []
        async with open_backends(system) as fleet:
            for backend, carrier in fleet.placements(str(tgt)):
                on_it = [f.name for f in await backend.list() if f.target == carrier]
                for victim in on_it if name is None else [n for n in on_it if n == name]:
                    if await backend.remove(carrier, victim):
                        removed.append({"layer": backend.layer, "target": str(tgt), "name": victim})
        return removed

    removed = asyncio.run(run())
    if name is not None and not removed:
        raise InputError(f"no fault named {name!r} on {tgt} (see 'drillkit chaos status')")
    if env.json:
        env.emit_json({"removed": removed})
        return
    if not removed:
        env.out.print(f"no faults on {escape(str(tgt))}")
    for r in removed:
        env.out.print(f"removed {escape(r['name'])} ({r['layer']}) from {escape(r['target'])}")


def label(key: str) -> str:
    """A fault server's key as people read it: `L4`, `L4 edge-a` (a fleet's server), `L7`."""
    layer, _, server = key.partition(":")
    return f"{layer.upper()} {server}".rstrip()


async def _collect(system: Any) -> dict[str, Any]:
    """Every active fault on every fault server (each Toxiproxy server of the fleet, the LLM fault
    proxy), asked at once; an unreachable server is reported, not fatal."""

    async def one(key: str, backend: FaultBackend, server: str | None) -> dict[str, Any]:
        named = {"layer": backend.layer, "server": server} if server is not None else {"layer": backend.layer}
        try:
            faults = await backend.list()
        except DrillkitError as exc:
            return {**named, "url": backend.url, "reachable": False, "error": str(exc), "faults": []}
        return {**named, "url": backend.url, "reachable": True, "faults": [f.to_dict() for f in faults]}

    async with open_backends(system) as fleet:
        found = await asyncio.gather(*(one(key, b, fleet.server_name(key)) for key, b in fleet.items()))
        return dict(zip(fleet.keys(), found, strict=True))


@chaos.command("status")
@pass_env(system=True, json=True)
def status(env: Env) -> None:
    """Show every active fault on every fault server (exit 1 when one is unreachable).

    Each Toxiproxy server of the manifest's fleet is listed as L4:<name>, the LLM fault proxy as L7.
    """
    from drillkit.gameday.lease import holder

    system = env.load_system()
    layers = asyncio.run(_collect(system))
    for layer in layers.values():  # a game-day holding the server (one drill at a time per server)
        layer["lease"] = holder(layer["url"])
    if env.json:
        env.emit_json({"layers": layers})
    else:
        table = Table("layer", "target", "fault", "type", "toxicity")
        table.add_column("attributes", overflow="fold")
        table.add_column("expires", overflow="fold")
        for key, layer in layers.items():
            for f in layer["faults"]:
                attrs = ", ".join(f"{k}={v}" for k, v in f["attributes"].items())
                table.add_row(
                    escape(label(key)),
                    escape(f["target"]),
                    escape(f["name"]),
                    f["type"] + (f" ({f['stream']})" if f.get("stream") else ""),
                    f"{f['toxicity']:g}",
                    escape(attrs),
                    escape(f.get("expires_at") or ("dead-man" if f.get("dead_man") else "")),
                )
        total = sum(len(layer["faults"]) for layer in layers.values())
        if total:
            env.out.print(table)
        for key, layer in layers.items():
            state = "reachable" if layer["reachable"] else f"[red]unreachable[/]: {escape(layer['error'])}"
            if layer["lease"]:
                lease = layer["lease"]
                state += f"; leased by the game-day of {escape(str(lease['scenario']))} (pid {lease['pid']})"
            env.out.print(f"{escape(label(key))} {escape(layer['url'])}: {state}")
        env.out.print(f"{total} active fault(s)")
    unreachable = [label(key) for key, layer in layers.items() if not layer["reachable"]]
    if unreachable:
        raise CheckFailed(f"{' and '.join(unreachable)} fault server unreachable")


@chaos.command("reset")
@click.option(
    "--forget",
    is_flag=True,
    help="Also drop the records of faults and restores a killed game-day left on servers that are gone.",
)
@pass_env(system=True, json=True)
def reset(env: Env, forget: bool) -> None:
    """Remove every fault on every fault server of the system (each Toxiproxy server of its fleet and
    the LLM fault proxy; proxies and routes stay, disabled proxies come back).

    Also removes faults a killed game-day left on other fault servers (recorded in
    <home>/chaos/leftovers.json as they were injected).
    """
    from drillkit.gameday.reset import reset_faults

    report = asyncio.run(reset_faults(env.home, env.load_system(), forget=forget))
    result = report.to_dict()
    if env.json:
        env.emit_json(result)
    else:
        if report.game_day_running:
            env.out.print(escape(result["note"]["text"]))
        if report.forgotten is not None:
            f = report.forgotten
            env.out.print(f"forgot {f.faults} fault record(s) and {f.restores} owed restore(s)")
        if "leftovers" in result:
            env.out.print(f"removed {len(result['leftovers']['removed'])} fault(s) left by killed runs")
            for problem in report.problems():
                env.out.print(f"[red]could not remove[/] {escape(problem)}")
        for key, layer in report.layers.items():
            state = "reset" if layer.reset else f"[red]not reset[/]: {escape(layer.error or '')}"
            env.out.print(f"{escape(label(key))} {escape(layer.url)}: {state}")
    failed = [label(key) for key, r in result.items() if not r["reset"]]
    if failed:
        raise CheckFailed(f"{' and '.join(failed)} faults were not reset")


chaos.add_command(apply)
chaos.add_command(serve)
