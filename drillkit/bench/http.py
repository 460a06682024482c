"""What the LLM fault proxy adds to latency, here: direct vs through the proxy, one run.

`bench_http` drives a sim provider (latency scale 0, so the provider itself answers at once) with
non-streaming chat completions at a fixed open-loop rate, alternating rounds straight to the
provider and through an LLM fault proxy route to it, and reports p50/p99 of each, the added
latency and the achieved throughput.  Latency is measured from each request's *scheduled* send
time, so a stalled client or server cannot hide queueing (no coordinated omission).

With `isolate=True` (the default, what `drillkit bench proxy` should use) the provider and the
proxy each run in a subprocess of their own, as they would in a deployment, and the load
generator in this one; `isolate=False` runs all in this process (threads), which is only good
for smoke tests.  `direct_url` / `proxy_url` measure servers someone else started.

Measured on the 2-core development VM (rate 300/s, 3 rounds of 5 s each side, isolated): direct
p50 1.7–1.9 ms / p99 3–5 ms; through the proxy with no fault p50 2.1–2.2 ms / p99 4.1–6.1 ms;
added p50 0.30–0.43 ms, p99 0.1–1.4 ms; 299.7–299.8 req/s achieved both ways, no errors.  With a
`model_swap` fault acting on every request (JSON parsed and re-encoded both ways) the added p50
was 0.48 ms.  The VM has steal time: single runs occasionally show a p99 spike of tens of ms on
either side, so compare several runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

from drillkit.net.http11 import encode_head, read_body, read_head

PATH = "/v1/chat/completions"
BODY = json.dumps(
    {
        "model": "sim-pro-2025-06",
        "messages": [{"role": "user", "content": "How many days do I have to return an item?"}],
        "max_tokens": 64,
    }
).encode()


class _Client:
    """A minimal keep-alive HTTP/1.1 client (the load generator must cost less than what it measures)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        head = [("host", f"{self.host}:{self.port}"), ("content-type", "application/json")]
        self._request = encode_head(f"POST {PATH} HTTP/1.1", [*head, ("content-length", str(len(BODY)))]) + BODY

    async def post(self) -> int:
        reader, writer = self._idle.pop() if self._idle else await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(self._request)
            resp = await read_head(reader, request=False)
            if resp is None:
                raise ConnectionError("server closed the connection")
            await read_body(reader, resp)
        except BaseException:
            writer.close()
            raise
        self._idle.append((reader, writer))
        return int(resp.first[1])

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()


async def _round(url: str, rate: float, seconds: float) -> dict[str, Any]:
    client = _Client(url)
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()

    async def one(scheduled: float) -> None:
        nonlocal errors
        try:
            status = await client.post()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            return
        if status == 200:
            latencies.append(loop.time() - scheduled)
        else:
            errors += 1

    n = max(1, int(rate * seconds))
    start = loop.time() + 0.01
    tasks = []
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    client.close()
    return {"latencies": latencies, "sent": n, "errors": errors, "elapsed": elapsed}


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    lat = sorted(x for r in rounds for x in r["latencies"])
    sent, errors = sum(r["sent"] for r in rounds), sum(r["errors"] for r in rounds)
    elapsed = sum(r["elapsed"] for r in rounds)

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 3) if lat else None

    return {
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(lat) * 1000, 3) if lat else None,
        "sent": sent,
        "ok": len(lat),
        "errors": errors,
        "achieved_rps": round(len(lat) / elapsed, 1) if elapsed else 0.0,
    }


async def bench_http(
    rate: float = 300.0,
    seconds: float = 5.0,
    *,
    rounds: int = 3,
    warmup_s: float = 1.0,
    isolate: bool = True,
    direct_url: str | None = None,
    proxy_url: str | None = None,
    faults: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Measure direct vs proxied latency at `rate` req/s for `rounds` × `seconds` each side.

    `faults` (fault specs) are put on the proxy route first, to see what acting faults cost.
    Returns `{rate, seconds, rounds, isolated, direct: {...}, proxy: {...}, added: {p50_ms,
    p99_ms}}` where each side has p50/p99/mean in ms, sent/ok/errors and `achieved_rps`.
    """
    with contextlib.ExitStack() as stack:
        if direct_url is None or proxy_url is None:
            direct_url, proxy_url = stack.enter_context(_servers(isolate, faults or []))
        for url in (direct_url, proxy_url):  # warm connections and caches on both paths
            await _round(url, rate, warmup_s)
        by_side: dict[str, list[dict[str, Any]]] = {"direct": [], "proxy": []}
        for _ in range(rounds):
            by_side["direct"].append(await _round(direct_url, rate, seconds))
            by_side["proxy"].append(await _round(proxy_url, rate, seconds))
    direct, proxy = _summary(by_side["direct"]), _summary(by_side["proxy"])

    def added(key: str) -> float | None:
        return round(proxy[key] - direct[key], 3) if proxy[key] is not None and direct[key] is not None else None

    return {
        "rate": rate,
        "seconds": seconds,
        "rounds": rounds,
        "isolated": isolate,
        "faults": [f.get("type") for f in faults or []],
        "direct": direct,
        "proxy": proxy,
        "added": {"p50_ms": added("p50_ms"), "p99_ms": added("p99_ms")},
    }


@contextlib.contextmanager
def _servers(isolate: bool, faults: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(direct URL, proxy route URL) of a sim provider and a proxy route in front of it."""
    if isolate:
        with _subprocess("sim") as sim_url, _subprocess("proxy", sim_url, json.dumps(faults)) as proxy_url:
            yield sim_url, proxy_url
        return
    from drillkit.demo.sim import create_sim_app
    from drillkit.net.serving import ServerThread

    sim = create_sim_app(latency_scale=0)
    with ServerThread({"sim": sim}) as urls, _proxy_thread(urls["sim"], faults) as proxy_url:
        yield urls["sim"], proxy_url


@contextlib.contextmanager
def _subprocess(*args: str) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "drillkit.bench.http", *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"bench server {args[0]} did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.asynccontextmanager
async def _proxy(upstream: str, faults: list[dict[str, Any]]) -> AsyncIterator[str]:
    from drillkit.proxy.admin import LlmProxyServer

    server = LlmProxyServer()
    await server.start()
    try:
        route = await server.add_route({"name": "bench", "upstream": upstream})
        for spec in faults:
            server.add_fault("bench", spec)
        yield f"http://{route['listen']}"
    finally:
        await server.stop()


@contextlib.contextmanager
def _proxy_thread(upstream: str, faults: list[dict[str, Any]]) -> Iterator[str]:
    ready: list[str] = []
    started, stop = threading.Event(), threading.Event()

    async def main() -> None:
        async with _proxy(upstream, faults) as url:
            ready.append(url)
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield ready[0]
    finally:
        stop.set()
        thread.join(10)


def _serve(kind: str, upstream: str | None, faults: list[dict[str, Any]]) -> None:
    """Subprocess entry: serve the sim or a proxy route, print the URL, run until terminated."""

    async def main() -> None:
        if kind == "sim":
            from drillkit.demo.sim import create_sim_app
            from drillkit.net.serving import HostedApp, bind_socket, serve_all, wait_started

            hosted = [HostedApp("sim", create_sim_app(latency_scale=0), bind_socket())]
            serving = asyncio.create_task(serve_all(hosted, asyncio.Event()))
            await wait_started(hosted)
            print(hosted[0].url, flush=True)
            await serving
        else:
            assert upstream is not None
            async with _proxy(upstream, faults) as url:
                print(url, flush=True)
                await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("sim", "proxy"):
        upstream = sys.argv[2] if len(sys.argv) > 2 else None
        _serve(sys.argv[1], upstream, json.loads(sys.argv[3]) if len(sys.argv) > 3 else [])
    else:  # python -m drillkit.bench.http [fault-spec-json ...]
        started_at = time.perf_counter()
        result = asyncio.run(bench_http(faults=[json.loads(arg) for arg in sys.argv[1:]]))
        print(json.dumps({**result, "wall_s": round(time.perf_counter() - started_at, 1)}, indent=2))
