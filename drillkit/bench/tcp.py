"""What the embedded TCP proxy adds, measured here: direct, through a proxy, through one with toxics.

`bench_tcp` starts two child processes — the upstream (an echo server and a sink server) and
the proxies (`Proxy` objects, no HTTP API) — so that neither shares the client's interpreter
lock, then measures from blocking client sockets:

* ``echo``: sequential round trips of ``payload`` bytes over one connection (p50/p99, ms);
* ``connect``: connect + one 1-byte round trip + close, sequentially (p50/p99, ms);
* ``throughput``: ``megabytes`` MB sent client → sink in 1 MiB writes, until the sink acks.

each on three sides: direct, through a proxy with no toxic (the fast path), and through one
with ``toxics`` (by default ``latency`` 0 both ways: what having a toxic chain costs). The
sides alternate (``rounds`` times, medians kept) so drift on a shared machine hits them alike.
Then ``latency_accuracy``: `LATENCY_CLIENTS` connections echo in parallel for
``latency_seconds`` each through a proxy with a ``latency`` toxic of `LATENCY_MS` ±
`JITTER_MS`, then of `LATENCY_MS` exactly; what each round trip took beyond the toxic-free
proxy's echo p50 is compared with what was asked. The children are killed whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

MB = 1_000_000
_WRITE = 1 << 20

#: The toxics of the toxic side by default: a chain that does nothing, both ways.
ZERO_LATENCY = [
    {"name": f"zero_{stream}", "type": "latency", "stream": stream, "attributes": {"latency": 0}}
    for stream in ("upstream", "downstream")
]
#: The latency toxic whose accuracy is measured (ms), and the parallel connections measuring it.
LATENCY_MS = 100
JITTER_MS = 10
LATENCY_CLIENTS = 16


# -- child processes -------------------------------------------------------------------------


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class _Sink(asyncio.BufferedProtocol):
    """Reads an 8-byte big-endian length, discards that many bytes, answers b"K"."""

    def __init__(self) -> None:
        self._buf = memoryview(bytearray(1 << 20))
        self._header = b""
        self._left = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buf

    def buffer_updated(self, nbytes: int) -> None:
        data = self._buf[:nbytes]
        if self._left < 0:
            need = 8 - len(self._header)
            self._header += bytes(data[:need])
            data = data[need:]
            if len(self._header) < 8:
                return
            self._left = struct.unpack(">Q", self._header)[0]
        self._left -= len(data)
        if self._left <= 0:
            self.transport.write(b"K")
            self._header, self._left = b"", -1


async def _serve_upstream() -> None:
    loop = asyncio.get_running_loop()
    echo = await loop.create_server(_Echo, "127.0.0.1", 0)
    sink = await loop.create_server(_Sink, "127.0.0.1", 0)
    print(echo.sockets[0].getsockname()[1], sink.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


async def _serve_proxies(plan: list[tuple[int, list[dict[str, Any]]]]) -> None:
    """One proxy per ``(upstream port, toxics)``; prints their ports in that order."""
    from drillkit.proxy.tcp import Proxy

    ports = []
    for i, (port, toxics) in enumerate(plan):
        proxy = Proxy(f"bench{i}", "127.0.0.1:0", f"127.0.0.1:{port}")
        await proxy.start()
        for toxic in toxics:
            await proxy.add_toxic(toxic)
        ports.append(proxy.listen.rsplit(":", 1)[1])
    print(*ports, flush=True)
    await asyncio.Event().wait()


# -- client side -------------------------------------------------------------------------------


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_exactly(sock: socket.socket, n: int) -> None:
    while n > 0:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("closed early")
        n -= len(chunk)


def _echo_round(port: int, count: int, payload: int) -> list[float]:
    data = b"x" * payload
    samples = []
    with _connect(port) as sock:
        for _ in range(20):  # warm up
            sock.sendall(data)
            _recv_exactly(sock, payload)
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(data)
            _recv_exactly(sock, payload)
            samples.append(time.perf_counter() - start)
    return samples


def _connect_round(port: int, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        with _connect(port) as sock:
            sock.sendall(b"x")
            _recv_exactly(sock, 1)
        samples.append(time.perf_counter() - start)
    return samples


def _throughput_round(port: int, total: int) -> float:
    block = b"\0" * _WRITE
    with _connect(port) as sock:
        start = time.perf_counter()
        sock.sendall(struct.pack(">Q", total))
        left = total
        while left > 0:
            n = min(left, _WRITE)
            sock.sendall(block if n == _WRITE else block[:n])
            left -= n
        _recv_exactly(sock, 1)
        return total / MB / (time.perf_counter() - start)


async def _spawn(*args: str) -> tuple[asyncio.subprocess.Process, list[int]]:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drillkit.bench.tcp", *args, stdout=asyncio.subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        return proc, [int(p) for p in line.split()]
    except BaseException:
        await _kill(proc)
        raise


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 4)


async def bench_tcp(
    *,
    echoes: int = 2000,
    payload: int = 100,
    connects: int = 300,
    megabytes: int = 256,
    rounds: int = 3,
    toxics: list[dict[str, Any]] | None = None,
    latency_seconds: float | None = None,
) -> dict[str, Any]:
    """Measure direct vs proxied on loopback; returns times in ms and throughput in MB/s (10^6).

    ``added_*`` = proxied − direct for the same percentile (negative values are noise); the
    top level is the proxy without toxics, ``with_toxic`` the same measures through a proxy
    with ``toxics`` (Toxiproxy toxic bodies, default `ZERO_LATENCY`) against the same direct
    rounds. ``latency_seconds`` is how long each phase of ``latency_accuracy`` runs (default: a
    second per round, at most 3, less for under 1,500 ``echoes``; 0 skips it). Blocking socket
    work runs in a worker thread, so the caller's loop stays responsive.
    """
    toxics = ZERO_LATENCY if toxics is None else toxics
    if latency_seconds is None:
        latency_seconds = min(3.0, float(rounds), echoes / 500)
    upstream, (echo_port, sink_port) = await _spawn("--upstream")
    try:
        jittered = _latency_toxic(LATENCY_MS, JITTER_MS)
        plan = [(echo_port, []), (sink_port, []), (echo_port, toxics), (sink_port, toxics)]
        plan += [(echo_port, jittered), (echo_port, _latency_toxic(LATENCY_MS, 0))]
        proxies, ports = await _spawn("--proxies", json.dumps(plan))
        try:
            sides = {"direct": (echo_port, sink_port), "proxy": (ports[0], ports[1]), "toxic": (ports[2], ports[3])}
            result = await asyncio.to_thread(_measure, sides, echoes, payload, connects, megabytes, rounds)
            result["with_toxic"]["toxics"] = toxics
            result["with_toxic"]["label"] = "latency 0 both ways" if toxics == ZERO_LATENCY else f"{len(toxics)} toxics"
            if latency_seconds > 0:
                result["latency_accuracy"] = await asyncio.to_thread(
                    _latency_accuracy, ports[0], {JITTER_MS: ports[4], 0: ports[5]}, latency_seconds
                )
            return result
        finally:
            await _kill(proxies)
    finally:
        await _kill(upstream)


def _latency_toxic(latency: int, jitter: int) -> list[dict[str, Any]]:
    return [{"name": "latency", "type": "latency", "attributes": {"latency": latency, "jitter": jitter}}]


def _measure(
    sides: dict[str, tuple[int, int]],
    echoes: int,
    payload: int,
    connects: int,
    megabytes: int,
    rounds: int,
) -> dict[str, Any]:
    results: dict[str, dict[str, list[float]]] = {"echo": {}, "connect": {}, "throughput": {}}
    for _ in range(rounds):
        for side, (echo_port, sink_port) in sides.items():
            p50, p99 = _percentiles(_echo_round(echo_port, echoes, payload))
            results["echo"].setdefault(f"{side}_p50", []).append(p50)
            results["echo"].setdefault(f"{side}_p99", []).append(p99)
            p50, p99 = _percentiles(_connect_round(echo_port, connects))
            results["connect"].setdefault(f"{side}_p50", []).append(p50)
            results["connect"].setdefault(f"{side}_p99", []).append(p99)
            rate = _throughput_round(sink_port, megabytes * MB)
            results["throughput"].setdefault(side, []).append(rate)

    def timing(kind: str, side: str) -> dict[str, float]:
        med = {k: statistics.median(v) for k, v in results[kind].items()}
        out = {f"{k}_ms": _ms(med[k]) for k in ("direct_p50", "direct_p99")}
        out |= {f"proxy_{q}_ms": _ms(med[f"{side}_{q}"]) for q in ("p50", "p99")}
        out |= {f"added_{q}_ms": _ms(med[f"{side}_{q}"] - med[f"direct_{q}"]) for q in ("p50", "p99")}
        return out

    def throughput(side: str) -> dict[str, float]:
        rates = results["throughput"]
        return {
            "direct_mb_s": round(statistics.median(rates["direct"]), 1),
            "proxy_mb_s": round(statistics.median(rates[side]), 1),
            "megabytes": megabytes,
        }

    def measures(side: str) -> dict[str, Any]:
        return {
            "echo": {**timing("echo", side), "round_trips": echoes, "payload_bytes": payload},
            "connect": {**timing("connect", side), "connections": connects},
            "throughput": throughput(side),
        }

    return {
        **measures("proxy"),
        "with_toxic": measures("toxic"),
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }


def _latency_accuracy(plain: int, ports: dict[int, int], seconds: float) -> dict[str, Any]:
    """What a latency toxic adds per round trip, in ms, next to what was asked. ``ports``: jitter
    (ms) → a proxy with that toxic. The base is the median round trip of the same clients through
    the ``plain`` proxy, each pausing one delay between round trips (both sides wake from the same
    idle); a median, so that one stall of a shared machine does not shift every sample."""
    base = statistics.median(_parallel_echoes(plain, seconds, pause=LATENCY_MS / 1000))
    out: dict[str, Any] = {
        "asked_ms": LATENCY_MS,
        "connections": LATENCY_CLIENTS,
        "seconds": seconds,
        "base_ms": _ms(base),
    }
    for jitter, port in ports.items():
        added = sorted((t - base) * 1000 for t in _parallel_echoes(port, seconds))
        low, high = LATENCY_MS - jitter, LATENCY_MS + jitter
        out[f"jitter_{jitter}"] = {
            "jitter_ms": jitter,
            "samples": len(added),
            "mean_ms": round(statistics.fmean(added), 3),
            "mean_error_ms": round(statistics.fmean(added) - LATENCY_MS, 3),
            "p50_ms": round(added[len(added) // 2], 3),
            "p50_error_ms": round(added[len(added) // 2] - LATENCY_MS, 3),
            "min_ms": round(added[0], 3),
            "max_ms": round(added[-1], 3),
            "in_band": round(sum(low <= a <= high for a in added) / len(added), 4) if jitter else None,
        }
    return out


def _parallel_echoes(port: int, seconds: float, *, pause: float = 0.0) -> list[float]:
    """1-byte round trips, sequential on each of `LATENCY_CLIENTS` connections, for ``seconds``,
    ``pause`` seconds apart."""
    samples: list[float] = []
    begin = time.perf_counter()

    def client(i: int) -> None:
        # Staggered evenly over one delay, so the connections' chunks do not queue behind each
        # other in the proxy (a burst of 16 would add its own wait to the last ones).
        start = begin + i * LATENCY_MS / 1000 / LATENCY_CLIENTS
        deadline = start + seconds
        time.sleep(max(0.0, start - time.perf_counter()))
        with _connect(port) as sock:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                sock.sendall(b"x")
                _recv_exactly(sock, 1)
                samples.append(time.perf_counter() - start)  # list.append is atomic
                time.sleep(pause)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(LATENCY_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", action="store_true", help="(child) serve echo and sink")
    parser.add_argument("--proxies", help="(child) JSON list of [upstream port, toxic bodies]: proxy them")
    parser.add_argument("--toxics", help="JSON list of toxic bodies for the toxic side")
    parser.add_argument("--megabytes", type=int, default=256)
    args = parser.parse_args()
    if args.upstream:
        asyncio.run(_serve_upstream())
    elif args.proxies:
        asyncio.run(_serve_proxies(json.loads(args.proxies)))
    else:
        toxics = json.loads(args.toxics) if args.toxics else None
        print(json.dumps(asyncio.run(bench_tcp(megabytes=args.megabytes, toxics=toxics)), indent=2))


if __name__ == "__main__":
    _main()


__all__ = ["JITTER_MS", "LATENCY_MS", "ZERO_LATENCY", "bench_tcp"]
