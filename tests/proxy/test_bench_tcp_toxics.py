"""`drillkit bench proxy`'s L4 rows with a toxic present and a latency toxic's accuracy: the
result's shape and the table rows, on a short real run (numbers are not judged here)."""

from __future__ import annotations

import asyncio

from rich.console import Console

from drillkit.bench.tcp import JITTER_MS, LATENCY_MS, ZERO_LATENCY, bench_tcp
from drillkit.cli.bench import _proxy_table


def test_the_toxic_side_and_the_latency_accuracy_are_measured_and_shown() -> None:
    result = asyncio.run(bench_tcp(echoes=20, connects=5, megabytes=1, rounds=1, latency_seconds=0.3))
    toxic = result["with_toxic"]
    assert toxic["toxics"] == ZERO_LATENCY and toxic["label"] == "latency 0 both ways"
    for kind in ("echo", "connect"):
        assert toxic[kind]["direct_p50_ms"] == result[kind]["direct_p50_ms"]  # the same direct rounds
        assert toxic[kind]["proxy_p50_ms"] > 0
    assert toxic["throughput"]["proxy_mb_s"] > 0
    accuracy = result["latency_accuracy"]
    assert accuracy["asked_ms"] == LATENCY_MS and accuracy["base_ms"] > 0
    jittered, exact = accuracy[f"jitter_{JITTER_MS}"], accuracy["jitter_0"]
    assert jittered["samples"] > 0 and 0 <= jittered["in_band"] <= 1
    assert exact["in_band"] is None
    # A latency toxic never lets a chunk out early: no round trip is shorter than what was asked.
    assert exact["min_ms"] + accuracy["base_ms"] >= LATENCY_MS - 0.01

    console = Console(width=250, record=True)
    console.print(_proxy_table({"l4": result}))
    text = console.export_text()
    for row in (
        "100 B echo p99, latency 0 both ways",
        "new connection p50, latency 0 both ways",
        f"latency toxic {LATENCY_MS} ± {JITTER_MS} ms: added mean / p50",
        f"latency toxic {LATENCY_MS} ms: added mean / p50",
    ):
        assert row in text
    assert "in band" in text
