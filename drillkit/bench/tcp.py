"""What the embedded TCP proxy adds, measured here: direct vs through a proxy with no toxics.

`bench_tcp` starts two child processes — the upstream (an echo server and a sink server) and
the proxy (one `Proxy` per upstream, no toxics, no HTTP API) — so that neither shares the
client's interpreter lock, then measures from blocking client sockets:

* ``echo``: sequential round trips of ``payload`` bytes over one connection (p50/p99, ms);
* ``connect``: connect + one 1-byte round trip + close, sequentially (p50/p99, ms);
* ``throughput``: ``megabytes`` MB sent client → sink in 1 MiB writes, until the sink acks.

Direct and proxied rounds alternate (``rounds`` times, medians kept) so drift on a shared
machine hits both sides alike. The children are killed whatever happens.
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
import time
from pathlib import Path
from typing import Any

MB = 1_000_000
_WRITE = 1 << 20


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


async def _serve_proxies(upstream_ports: list[int], toxics: list[dict[str, Any]]) -> None:
    from drillkit.proxy.tcp import Proxy

    ports = []
    for i, port in enumerate(upstream_ports):
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
) -> dict[str, Any]:
    """Measure direct vs proxied on loopback; returns times in ms and throughput in MB/s (10^6).

    ``added_*`` = proxied − direct for the same percentile (negative values are noise).
    ``toxics`` (Toxiproxy toxic bodies) are put on the proxies, to see what a chain costs; none
    by default (the fast path). Blocking socket work runs in a worker thread, so the caller's
    loop stays responsive.
    """
    toxics = toxics or []
    upstream, (echo_port, sink_port) = await _spawn("--upstream")
    try:
        proxies, (echo_proxy, sink_proxy) = await _spawn(
            "--proxy", str(echo_port), str(sink_port), "--toxics", json.dumps(toxics)
        )
        try:
            result = await asyncio.to_thread(
                _measure, (echo_port, sink_port), (echo_proxy, sink_proxy), echoes, payload, connects, megabytes, rounds
            )
            return {**result, "toxics": toxics}
        finally:
            await _kill(proxies)
    finally:
        await _kill(upstream)


def _measure(
    direct: tuple[int, int],
    proxied: tuple[int, int],
    echoes: int,
    payload: int,
    connects: int,
    megabytes: int,
    rounds: int,
) -> dict[str, Any]:
    results: dict[str, dict[str, list[float]]] = {"echo": {}, "connect": {}, "throughput": {}}
    for _ in range(rounds):
        for side, (echo_port, sink_port) in (("direct", direct), ("proxy", proxied)):
            p50, p99 = _percentiles(_echo_round(echo_port, echoes, payload))
            results["echo"].setdefault(f"{side}_p50", []).append(p50)
            results["echo"].setdefault(f"{side}_p99", []).append(p99)
            p50, p99 = _percentiles(_connect_round(echo_port, connects))
            results["connect"].setdefault(f"{side}_p50", []).append(p50)
            results["connect"].setdefault(f"{side}_p99", []).append(p99)
            rate = _throughput_round(sink_port, megabytes * MB)
            results["throughput"].setdefault(side, []).append(rate)

    def timing(kind: str) -> dict[str, float]:
        med = {k: statistics.median(v) for k, v in results[kind].items()}
        out = {f"{k}_ms": _ms(v) for k, v in med.items()}
        out["added_p50_ms"] = _ms(med["proxy_p50"] - med["direct_p50"])
        out["added_p99_ms"] = _ms(med["proxy_p99"] - med["direct_p99"])
        return out

    return {
        "echo": {**timing("echo"), "round_trips": echoes, "payload_bytes": payload},
        "connect": {**timing("connect"), "connections": connects},
        "throughput": {
            "direct_mb_s": round(statistics.median(results["throughput"]["direct"]), 1),
            "proxy_mb_s": round(statistics.median(results["throughput"]["proxy"]), 1),
            "megabytes": megabytes,
        },
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", action="store_true", help="(child) serve echo and sink")
    parser.add_argument("--proxy", nargs="+", type=int, metavar="PORT", help="(child) proxy these ports")
    parser.add_argument("--toxics", default="[]", help="JSON list of toxic bodies to put on the proxy")
    parser.add_argument("--megabytes", type=int, default=256)
    args = parser.parse_args()
    if args.upstream:
        asyncio.run(_serve_upstream())
    elif args.proxy:
        asyncio.run(_serve_proxies(args.proxy, json.loads(args.toxics)))
    else:
        result = bench_tcp(megabytes=args.megabytes, toxics=json.loads(args.toxics))
        print(json.dumps(asyncio.run(result), indent=2))


if __name__ == "__main__":
    _main()


__all__ = ["bench_tcp"]
