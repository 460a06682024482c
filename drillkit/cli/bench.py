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
        connections, and bulk throughput over loopback, without toxics and with a latency 0
        toxic both ways; then a latency toxic's accuracy. Targets: adds ≤ 0.3 ms p50 on small
        requests; moves ≥ 300 MB/s; with the toxics, ≤ 0.5 ms p99 on small requests and
        ≤ 0.3 ms p50 on a new connection; a latency toxic within ±0.3 ms of what was asked.

    Servers, proxies and the load generator run in separate processes, as in a deployment. The
    machine is shared: run it more than once and compare the ratios.

    \b
    Example:
      drillkit bench proxy --json > bench.json
    """
    from drillkit.bench.http import bench_http
    from drillkit.bench.tcp import bench_tcp

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
    env.out.print(_proxy_table(results))


def _proxy_table(results: dict[str, Any]) -> Table:
    """`bench proxy`'s results, one row per measure: direct, through the proxy, what it adds."""
    table = Table("layer", "measure", "direct", "through proxy", "added / ratio", title="drillkit bench proxy")
    if "l7" in results:
        for row in _l7_rows(results["l7"]):
            table.add_row("L7 LLM proxy", *row)
    if "l4" in results:
        for row in _l4_rows(results["l4"]):
            table.add_row("L4 Toxiproxy", *row)
    return table


def _l7_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = [
        (
            f"latency {q} at {r['rate']}/s",
            f"{r['direct'][f'{q}_ms']:.3f} ms",
            f"{r['proxy'][f'{q}_ms']:.3f} ms",
            f"+{r['added'][f'{q}_ms']:.3f} ms",
        )
        for q in ("p50", "p99")
    ]
    rows.append(
        (
            "achieved rate (errors)",
            f"{r['direct']['achieved_rps']:.1f}/s ({r['direct']['errors']})",
            f"{r['proxy']['achieved_rps']:.1f}/s ({r['proxy']['errors']})",
            "",
        )
    )
    return rows


def _l4_rows(r: dict[str, Any], toxic: str = "") -> list[tuple[str, str, str, str]]:
    rows = [
        (
            f"{label} {q}{toxic}",
            f"{r[kind][f'direct_{q}_ms']:.3f} ms",
            f"{r[kind][f'proxy_{q}_ms']:.3f} ms",
            f"+{r[kind][f'added_{q}_ms']:.3f} ms",
        )
        for kind, label in (("echo", f"{r['echo']['payload_bytes']} B echo"), ("connect", "new connection"))
        for q in ("p50", "p99")
    ]
    t = r["throughput"]
    rows.append(
        (
            f"throughput ({t['megabytes']} MB){toxic}",
            f"{t['direct_mb_s']:.0f} MB/s",
            f"{t['proxy_mb_s']:.0f} MB/s",
            f"{t['proxy_mb_s'] / t['direct_mb_s']:.2f}×",
        )
    )
    if "with_toxic" in r:
        rows += _l4_rows(r["with_toxic"], f", {r['with_toxic']['label']}")
    if "latency_accuracy" in r:
        rows += _latency_rows(r["latency_accuracy"])
    return rows


def _latency_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """A latency toxic: what it added per round trip (beyond ``base``), next to what was asked."""
    rows = []
    for a in (v for k, v in r.items() if k.startswith("jitter_")):
        asked = f"{r['asked_ms']} ± {a['jitter_ms']} ms" if a["jitter_ms"] else f"{r['asked_ms']} ms"
        band = f", {a['in_band']:.1%} in band" if a["in_band"] is not None else ""
        rows.append(
            (
                f"latency toxic {asked}: added mean / p50",
                f"base {r['base_ms']:.3f} ms",
                f"{a['mean_ms']:.2f} / {a['p50_ms']:.2f} ms{band}",
                f"{a['mean_error_ms']:+.2f} / {a['p50_error_ms']:+.2f} ms vs asked",
            )
        )
    return rows


@bench.command("load")
@click.option("--rate", type=click.IntRange(1, 50_000), default=2000, show_default=True, help="Requests/s offered.")
@click.option("--seconds", type=click.FloatRange(0.5, 120), default=5, show_default=True, help="Measured time.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    multiple=True,
    help="Processes that send the load (default: one per core above 2,000/s, else one). Repeat it to "
    "compare settings in one run, e.g. --workers 1 --workers 2.",
)
@pass_env(json=True)
def load(env: Env, rate: int, seconds: float, workers: tuple[int, ...]) -> None:
    """How fast the game-day load generator sends, open loop, next to wrk on the same endpoint.

    \b
    The load generator: POSTs to a trivial loopback endpoint (a process of its own answering
        one fixed JSON object) at --rate, at most 256 in flight, for a 1 s warm-up and then
        --seconds measured: the rate actually sent; schedule slip (send time minus scheduled
        time) p50/p99/max; latency from the scheduled time; errors; the CPU each side used.
        With several --workers (processes, each sending a share of the one schedule) the same
        per worker. Target on 2 cores: ≥ 8,000 requests/s with p99 slip ≤ 5 ms.
    wrk, if installed (apt-get install wrk): the same endpoint for --seconds, 1 thread and 16
        connections, plain GET, closed loop as fast as it goes: what the endpoint can take.

    The machine is shared: run it more than once, and compare settings within one run (several
    --workers run one after the other, each on a fresh endpoint; wrk runs after the last).

    \b
    Examples:
      drillkit bench load --rate 8000 --json > load.json
      drillkit bench load --rate 8000 --workers 1 --workers 2
    """
    from drillkit.bench.load import bench_load

    settings: list[int | None] = list(workers) or [None]
    runs = []
    for i, count in enumerate(settings):
        who = "" if count is None else f" with {count} process{'es' if count > 1 else ''}"
        env.err.print(f"measuring{who}: 1 s warm-up + {seconds:g} s at {rate}/s…")
        last = i == len(settings) - 1
        runs.append(asyncio.run(bench_load(rate=rate, seconds=seconds, workers=count, wrk=last)))
    if env.json:
        env.emit_json(runs[0] if len(runs) == 1 else {"runs": runs})
        return
    env.out.print(_load_table(runs[0]) if len(runs) == 1 else _compare_table(runs))


def _load_table(r: dict[str, Any]) -> Table:
    """`bench load`'s results: the generator next to wrk, then one row per worker process."""
    lg, wrk, t = r["load"], r["wrk"], r["targets"]
    if wrk.get("requests_per_s") is not None:
        wrk_cells = [
            f"closed loop, GET, 1 thread × {wrk['connections']} connections",
            f"{wrk['requests_per_s']:,.1f}",
            f"{_ms(wrk.get('latency_p50_ms'))} / {_ms(wrk.get('latency_p99_ms'))}",
            "",
            f"{wrk.get('socket_errors', 0)} socket, {wrk.get('non_2xx', 0)} non-2xx of {wrk.get('requests', 0):,}",
        ]
    else:
        why = "not installed" if not wrk.get("installed") else wrk.get("error") or "not run"
        wrk_cells = [why, "", "", "", ""]
    endpoint_cpu = "–" if lg["endpoint_cpu"] is None else f"{lg['endpoint_cpu']:.0%}"
    verdict = "[green]met[/]" if t["met"] else "[red]missed[/]"
    processes = "1 process" if r["workers"] == 1 else f"{r['workers']} worker processes"
    rows = [
        ("mode", f"open loop, POST JSON, {r['rate']}/s offered, ≤ {r['concurrency']} in flight, {processes}"),
        ("requests/s", f"{lg['sent_rps']:,.1f} sent"),
        ("latency p50 / p99", f"{_ms(lg['latency_p50_ms'])} / {_ms(lg['latency_p99_ms'])}"),
        ("schedule slip p50 / p99 / max", " / ".join(_ms(lg[f"slip_{q}_ms"]) for q in ("p50", "p99", "max"))),
        ("errors", f"{lg['errors']} errors, {lg['dropped']} dropped of {lg['scheduled']:,}"),
    ]
    table = Table("measure", "drillkit load generator", "wrk", title=f"drillkit bench load ({r['cpus']} CPUs)")
    for (measure, ours), theirs in zip(rows, wrk_cells, strict=True):
        table.add_row(measure, ours, theirs)
    cpu = f"generator {lg['generator_cpu']:.0%}, endpoint {endpoint_cpu}"
    if lg["per_worker"]:
        cpu += f" (parent {lg['parent_cpu']:.0%})"
    table.add_row("CPU, share of one core", cpu, "")
    for w in lg["per_worker"]:
        slip = " / ".join(_ms(w[f"slip_{q}_ms"]) for q in ("p50", "p99", "max"))
        table.add_row(f"worker {w['worker']}", f"{w['sent_rps']:,.1f}/s, slip {slip}, CPU {w['cpu']:.0%}", "")
    table.add_row("target", f"≥ {t['rate']:,}/s with p99 slip ≤ {t['slip_p99_ms']:g} ms: {verdict}", "")
    return table


def _compare_table(runs: list[dict[str, Any]]) -> Table:
    """Several `bench load` runs side by side, one column per number of processes."""
    heads = ["1 process" if r["workers"] == 1 else f"{r['workers']} workers" for r in runs]
    table = Table("measure", *heads, title=f"drillkit bench load at {runs[0]['rate']:,}/s ({runs[0]['cpus']} CPUs)")
    cells: dict[str, list[str]] = {}
    for r in runs:
        lg, t = r["load"], r["targets"]
        per_worker = [
            f"{w['worker']}: {w['sent_rps']:,.1f}/s, slip p99 {_ms(w['slip_p99_ms'])}, CPU {w['cpu']:.0%}"
            for w in lg["per_worker"]
        ]
        endpoint = "–" if lg["endpoint_cpu"] is None else f"{lg['endpoint_cpu']:.0%}"
        for measure, value in (
            ("requests/s sent", f"{lg['sent_rps']:,.1f}"),
            ("schedule slip p50 / p99 / max", " / ".join(_ms(lg[f"slip_{q}_ms"]) for q in ("p50", "p99", "max"))),
            ("latency p50 / p99", f"{_ms(lg['latency_p50_ms'])} / {_ms(lg['latency_p99_ms'])}"),
            ("errors, dropped", f"{lg['errors']}, {lg['dropped']} of {lg['scheduled']:,}"),
            ("CPU: generator, endpoint", f"{lg['generator_cpu']:.0%}, {endpoint}"),
            ("per worker", "\n".join(per_worker) or "–"),
            ("target", "[green]met[/]" if t["met"] else "[red]missed[/]"),
        ):
            cells.setdefault(measure, []).append(value)
    for measure, values in cells.items():
        table.add_row(measure, *values)
    t = runs[0]["targets"]
    table.caption = f"target: ≥ {t['rate']:,}/s with p99 slip ≤ {t['slip_p99_ms']:g} ms"
    return table


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} ms"
