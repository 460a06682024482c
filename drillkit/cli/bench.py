"""`drillkit bench …`: what drillkit's fault proxies add, measured on this machine."""

from __future__ import annotations

import asyncio
from typing import Any

import click
from rich.table import Table

from drillkit.cli.options import Env, pass_env


@click.group()
def bench() -> None:
    """Benchmarks that print numbers (compare ratios measured in one run, not absolute times)."""


@bench.command("proxy")
@click.option("--rate", type=click.IntRange(1, 5000), default=300, show_default=True, help="LLM proxy: requests/s.")
@click.option("--seconds", type=click.FloatRange(0.5, 120), default=5, show_default=True, help="Length of a round.")
@click.option("--rounds", type=click.IntRange(1, 20), default=3, show_default=True, help="Alternating rounds per side.")
@click.option("--megabytes", type=click.IntRange(1, 4096), default=256, show_default=True, help="Toxiproxy throughput.")
@click.option("--layer", type=click.Choice(["all", "l7", "l4"]), default="all", show_default=True)
@pass_env(json=True)
def proxy(env: Env, rate: int, seconds: float, rounds: int, megabytes: int, layer: str) -> None:
    """Added latency and throughput of each fault layer: direct vs through the proxy, one run.

    \b
    L7, the LLM fault proxy: non-streaming chat completions to a sim provider (answering at
        once) at a fixed open-loop rate, alternating rounds direct and through a proxy route;
        p50/p99 of each side, what the proxy adds, the rate achieved. Targets on 2 cores: adds
        ≤ 1 ms p50 and ≤ 3 ms p99 at 300 requests/s.
    L4, the embedded Toxiproxy server: 100-byte echo round trips on one connection, new
        connections, and bulk throughput over loopback. Targets: adds ≤ 0.3 ms p50 on small
        requests; moves ≥ 300 MB/s.

    Servers, proxies and the load generator run in separate processes, as in a deployment. The
    machine is shared: run it more than once and compare the ratios.

    \b
    Example:
      drillkit bench proxy --json > bench.json
    """
    from drillkit.proxy.bench_http import bench_http
    from drillkit.proxy.bench_tcp import bench_tcp

    results: dict[str, Any] = {}
    with env.err.status("measuring…") as status:
        if layer in ("all", "l7"):
            status.update(f"LLM proxy: {rounds} × {seconds:g} s each side at {rate} req/s…")
            results["l7"] = asyncio.run(bench_http(rate=rate, seconds=seconds, rounds=rounds))
        if layer in ("all", "l4"):
            status.update(f"Toxiproxy: echoes, connections, {megabytes} MB × {rounds} each side…")
            results["l4"] = asyncio.run(bench_tcp(megabytes=megabytes, rounds=rounds))
    if env.json:
        env.emit_json(results)
        return
    table = Table("layer", "measure", "direct", "through proxy", "added / ratio", title="drillkit bench proxy")
    if "l7" in results:
        r = results["l7"]
        for q in ("p50", "p99"):
            table.add_row(
                "L7 LLM proxy",
                f"latency {q} at {r['rate']}/s",
                f"{r['direct'][f'{q}_ms']:.3f} ms",
                f"{r['proxy'][f'{q}_ms']:.3f} ms",
                f"+{r['added'][f'{q}_ms']:.3f} ms",
            )
        table.add_row(
            "L7 LLM proxy",
            "achieved rate (errors)",
            f"{r['direct']['achieved_rps']:.1f}/s ({r['direct']['errors']})",
            f"{r['proxy']['achieved_rps']:.1f}/s ({r['proxy']['errors']})",
            "",
        )
    if "l4" in results:
        r = results["l4"]
        for kind, label in (("echo", f"{r['echo']['payload_bytes']} B echo"), ("connect", "new connection")):
            for q in ("p50", "p99"):
                table.add_row(
                    "L4 Toxiproxy",
                    f"{label} {q}",
                    f"{r[kind][f'direct_{q}_ms']:.3f} ms",
                    f"{r[kind][f'proxy_{q}_ms']:.3f} ms",
                    f"+{r[kind][f'added_{q}_ms']:.3f} ms",
                )
        t = r["throughput"]
        table.add_row(
            "L4 Toxiproxy",
            f"throughput ({t['megabytes']} MB)",
            f"{t['direct_mb_s']:.0f} MB/s",
            f"{t['proxy_mb_s']:.0f} MB/s",
            f"{t['proxy_mb_s'] / t['direct_mb_s']:.2f}×",
        )
    env.out.print(table)


COMMANDS = [bench]
