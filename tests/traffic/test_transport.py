"""The load generator's transports against real loopback servers, and the load benchmark's plumbing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from drillkit.bench import load as bench
from drillkit.cli import cli
from drillkit.net.http11 import encode_head, read_body, read_head
from drillkit.net.serving import ServerThread, bind_socket, socket_url
from drillkit.traffic import LoadGenerator, Sample
from drillkit.traffic.transport import (
    USER_AGENT,
    ConnectFailed,
    ConnectionLost,
    Http11Transport,
    HttpxTransport,
    JsonTransport,
    RequestTimeout,
    TransportError,
    transport_for,
)


async def echo(request: Request) -> JSONResponse:
    """The body back, with what the server saw of the request and the connection it came on."""
    assert request.client is not None
    seen = {
        "body": await request.json(),
        "path": request.url.path,
        "query": request.url.query,
        "port": request.client.port,
        "content_type": request.headers.get("content-type"),
        "user_agent": request.headers.get("user-agent"),
        "host": request.headers.get("host"),
    }
    close = {"connection": "close"} if request.query_params.get("close") else {}
    return JSONResponse(seen, headers={"x-trace-id": "t-1", **close})


async def slow(request: Request) -> JSONResponse:
    await asyncio.sleep(float(request.query_params.get("s", "1")))
    assert request.client is not None
    return JSONResponse({"port": request.client.port})


async def text(request: Request) -> Response:
    return PlainTextResponse("not json", status_code=int(request.query_params.get("status", "200")))


async def empty(request: Request) -> Response:
    return Response(status_code=204)


async def chunked(request: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        yield b'{"answer": "'
        yield b"x" * 100_000
        yield b'"}'

    return StreamingResponse(parts(), media_type="application/json")  # no length: chunked framing


APP = Starlette(
    routes=[
        Route("/v1/echo", echo, methods=["POST"]),
        Route("/v1/slow", slow, methods=["POST"]),
        Route("/v1/text", text, methods=["POST"]),
        Route("/v1/empty", empty, methods=["POST"]),
        Route("/v1/chunked", chunked, methods=["POST"]),
    ]
)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with ServerThread({"app": APP}) as urls:
        yield urls["app"]


def run(make: Callable[[], JsonTransport], body: Callable[[JsonTransport], Awaitable[Any]]) -> Any:
    """Run `body` with a fresh transport, closing it afterwards."""

    async def main() -> Any:
        transport = make()
        try:
            return await body(transport)
        finally:
            await transport.aclose()

    return asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- Http11Transport ----------------------------------------------------------------------------


def test_json_round_trip(base: str) -> None:
    body = {"question": "Wie lange habe ich Zeit? ünïcödé", "n": [1, 2.5, None, True]}

    async def main(t: JsonTransport) -> list[Any]:
        return [
            await t.post_json("/v1/echo?x=1", body),
            await t.post_json("/v1/text", {}),
            await t.post_json("/v1/text?status=503", {}),
            await t.post_json("/v1/empty", {}),
            await t.post_json("/v1/chunked", {}),
            await t.post_json("/v1/echo", {}),  # the connection is still good after each of those
        ]

    echoed, plain, failed, nothing, streamed, after = run(lambda: Http11Transport(base, timeout=5), main)
    status, headers, data = echoed
    assert status == 200 and headers["x-trace-id"] == "t-1" and headers["content-type"] == "application/json"
    assert data["body"] == body and data["path"] == "/v1/echo" and data["query"] == "x=1"
    assert data["content_type"] == "application/json" and data["user_agent"] == USER_AGENT
    assert data["host"] == base.removeprefix("http://")
    assert plain[0] == 200 and plain[2] is None  # not JSON: no data, no error
    assert failed[0] == 503 and failed[2] is None
    assert nothing == (204, nothing[1], None)
    assert streamed[1]["transfer-encoding"] == "chunked" and streamed[2] == {"answer": "x" * 100_000}
    assert after[2]["port"] == echoed[2]["port"]


def test_a_base_url_path_is_a_prefix(base: str) -> None:
    status, _, data = run(lambda: Http11Transport(base + "/v1", timeout=5), lambda t: t.post_json("/echo", {"a": 1}))
    assert status == 200 and data["path"] == "/v1/echo"


def test_connections_are_kept_alive_and_reused(base: str) -> None:
    async def main(t: Http11Transport) -> tuple[list[int], list[int], list[int]]:
        sequential = [(await t.post_json("/v1/echo", {"i": i}))[2]["port"] for i in range(5)]
        opened_after_sequential = t.connections_opened
        concurrent = await asyncio.gather(*(t.post_json("/v1/slow?s=0.05", {}) for _ in range(4)))
        again = [(await t.post_json("/v1/echo", {}))[2]["port"] for _ in range(3)]
        return sequential, [opened_after_sequential, t.connections_opened], [r[2]["port"] for r in concurrent] + again

    sequential, opened, later = run(lambda: Http11Transport(base, timeout=5), main)
    assert len(set(sequential)) == 1 and opened[0] == 1
    assert opened[1] == 4  # 4 at once: the idle one plus 3 new
    assert set(later[4:]) <= set(later[:4])  # afterwards, pooled connections carry the traffic


def test_a_server_closing_the_connection_is_not_reused(base: str) -> None:
    async def main(t: Http11Transport) -> tuple[list[int], int]:
        first = (await t.post_json("/v1/echo?close=1", {}))[2]["port"]  # answered with connection: close
        second = (await t.post_json("/v1/echo", {}))[2]["port"]
        third = (await t.post_json("/v1/echo", {}))[2]["port"]
        return [first, second, third], t.connections_opened

    ports, opened = run(lambda: Http11Transport(base, timeout=5), main)
    assert ports[0] != ports[1] == ports[2] and opened == 2


@contextlib.asynccontextmanager
async def raw_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A hand-written HTTP server for what uvicorn will not do on demand (close idle connections, break)."""
    handlers: set[asyncio.Task[Any]] = set()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handle(reader, writer)
        except asyncio.CancelledError:
            pass  # stopping: asyncio's stream callback must not see a cancelled handler (3.11)
        finally:
            writer.close()
            handlers.discard(task)

    sock = bind_socket()
    server = await asyncio.start_server(handler, sock=sock)
    try:
        yield socket_url(sock)
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
        await asyncio.sleep(0)  # let the closed transports finish closing


ANSWER = encode_head("HTTP/1.1 200 OK", [("content-type", "application/json"), ("content-length", "2")]) + b"{}"


@pytest.mark.parametrize("close_when", ["idle", "on_next_request"])
def test_a_pooled_connection_the_server_closed_is_replaced_transparently(close_when: str) -> None:
    """Servers close idle keep-alive connections; the close may cross our next request on the wire."""

    async def one_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = await read_head(reader, request=True)
        assert req is not None
        await read_body(reader, req)
        writer.write(ANSWER)  # keep-alive, as HTTP/1.1 is by default
        await writer.drain()
        if close_when == "on_next_request":
            await read_head(reader, request=True)  # unanswered: as if the idle timeout had just fired
        writer.close()

    async def main() -> tuple[list[int], int]:
        async with raw_server(one_per_connection) as url:
            t = Http11Transport(url, timeout=5)
            try:
                statuses = []
                for _ in range(3):
                    statuses.append((await t.post_json("/", {}))[0])
                    if close_when == "idle":
                        await asyncio.sleep(0.05)  # the close reaches us while the connection is pooled
                return statuses, t.connections_opened
            finally:
                await t.aclose()

    statuses, opened = asyncio.run(main())
    assert statuses == [200, 200, 200] and opened == 3


def test_broken_responses_raise_connection_lost() -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = await read_head(reader, request=True)
        assert req is not None
        await read_body(reader, req)
        target = req.first[1]
        if target == "/cut":  # promises 100 bytes, sends 10
            writer.write(encode_head("HTTP/1.1 200 OK", [("content-length", "100")]) + b"0123456789")
        elif target == "/garbage":
            writer.write(b"HTTP/1.1 OK\r\n\r\n")
        await writer.drain()
        writer.close()  # "/silent": closed without a word

    async def main() -> dict[str, str]:
        out = {}
        async with raw_server(broken) as url:
            t = Http11Transport(url, timeout=5)
            for path in ("/cut", "/garbage", "/silent"):
                with pytest.raises(ConnectionLost) as info:
                    await t.post_json(path, {})
                out[path] = str(info.value)
            await t.aclose()
        return out

    errors = asyncio.run(main())
    assert "mid-response" in errors["/cut"]
    assert "malformed" in errors["/garbage"]
    assert "without a response" in errors["/silent"]


def test_connection_refused_raises_connect_failed() -> None:
    port = free_port()
    with pytest.raises(ConnectFailed, match=f"127.0.0.1:{port}"):
        run(lambda: Http11Transport(f"http://127.0.0.1:{port}", timeout=5), lambda t: t.post_json("/", {}))


def test_timeout_bounds_the_whole_request_and_drops_the_connection(base: str) -> None:
    async def main(t: Http11Transport) -> tuple[BaseException, int, int]:
        with pytest.raises(RequestTimeout) as info:
            await t.post_json("/v1/slow?s=1", {})
        t.timeout = 10  # the next request only checks the connection was replaced: a busy machine may be slow
        status = (await t.post_json("/v1/echo", {}))[0]
        return info.value, status, t.connections_opened

    error, status, opened = run(lambda: Http11Transport(base, timeout=0.2), main)
    assert isinstance(error, TimeoutError) and isinstance(error, TransportError) and "0.2 s" in str(error)
    assert status == 200 and opened == 2  # the timed-out connection was closed, not pooled


def test_only_plain_http_is_spoken() -> None:
    with pytest.raises(ValueError, match="http://"):
        Http11Transport("https://example.com")


# -- HttpxTransport: the same contract ----------------------------------------------------------


def test_httpx_transport_keeps_the_contract(base: str) -> None:
    async def main(t: JsonTransport) -> tuple[Any, ...]:
        status, headers, data = await t.post_json("/v1/echo", {"q": 1})
        plain = await t.post_json("/v1/text", {})
        with pytest.raises(RequestTimeout):
            await t.post_json("/v1/slow?s=1", {})
        return status, headers["x-trace-id"], data["body"], plain[2]

    assert run(lambda: HttpxTransport(base, timeout=0.2), main) == (200, "t-1", {"q": 1}, None)
    port = free_port()
    with pytest.raises(ConnectFailed):
        run(lambda: HttpxTransport(f"http://127.0.0.1:{port}", timeout=5), lambda t: t.post_json("/", {}))


# -- the load generator on either transport -----------------------------------------------------


def samples_of(url: str, client: httpx.AsyncClient | None = None, n: int = 6) -> list[Sample]:
    samples: list[Sample] = []

    async def main() -> None:
        load = LoadGenerator(url, [{"q": 1}], rate=200, timeout=2, on_sample=samples.append, client=client)
        await load.start()
        while len(samples) < n:
            await asyncio.sleep(0.01)
        await load.stop()
        if client is not None:
            await client.aclose()

    asyncio.run(main())
    return samples


def fields(s: Sample) -> tuple[Any, ...]:
    return s.status, s.ok, s.error, s.trace_id, s.provider


def test_the_load_generator_records_the_same_on_either_transport(base: str) -> None:
    fast = samples_of(base + "/v1/echo")
    via_httpx = samples_of(base + "/v1/echo", client=httpx.AsyncClient())
    assert {fields(s) for s in fast} == {fields(s) for s in via_httpx} == {(200, True, None, "t-1", None)}
    text_fast = samples_of(base + "/v1/text?status=503", n=2)
    text_httpx = samples_of(base + "/v1/text?status=503", client=httpx.AsyncClient(), n=2)
    assert {fields(s) for s in text_fast} == {fields(s) for s in text_httpx} == {(503, False, "HTTP 503", None, None)}


def test_the_load_generator_records_connection_failures() -> None:
    samples = samples_of(f"http://127.0.0.1:{free_port()}/v1/answer", n=3)
    assert all(not s.ok and s.status is None and s.error.startswith("connect: ") for s in samples)


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("http://127.0.0.1:9/x", {}, Http11Transport),
        ("http://svc.internal:9/x", {}, Http11Transport),
        ("http://svc.internal:9/x", {"HTTP_PROXY": "http://proxy:3128"}, HttpxTransport),
        ("http://svc.internal:9/x", {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "svc.internal"}, Http11Transport),
        ("http://127.0.0.1:9/x", {"HTTP_PROXY": "http://proxy:3128"}, Http11Transport),  # loopback: never proxied
        ("http://user:pw@svc.internal:9/x", {}, HttpxTransport),
        ("https://svc.internal/x", {}, HttpxTransport),
    ],
)
def test_the_transport_follows_the_url(
    url: str, env: dict[str, str], expected: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    transport = transport_for(url, timeout=30, concurrency=64)  # what LoadGenerator.start() picks
    asyncio.run(transport.aclose())
    assert type(transport) is expected


# -- the benchmark ------------------------------------------------------------------------------


def test_bench_load_smoke() -> None:
    result = asyncio.run(bench.bench_load(rate=40, seconds=0.5, warmup_s=0.1, wrk=False))
    load = result["load"]
    assert result["transport"] == "http11" and result["wrk"]["skipped"]
    assert load["scheduled"] >= 15 and load["ok"] == load["sent"] == load["scheduled"]
    assert load["errors"] == load["dropped"] == 0
    assert load["slip_p99_ms"] is not None and load["latency_p50_ms"] is not None
    assert load["endpoint_cpu"] is not None and load["generator_cpu"] >= 0
    assert set(result["targets"]) == {"rate", "slip_p99_ms", "met"}


WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:41234/v1/answer
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.51us    1.02ms  20.11ms   95.12%
    Req/Sec    19.61k     1.20k   21.50k    78.00%
  Latency Distribution
     50%  650.00us
     75%  810.00us
     90%    1.10ms
     99%    4.35ms
  97695 requests in 5.00s, 14.72MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  19512.75
Transfer/sec:      2.94MB
"""


def test_wrk_output_is_parsed() -> None:
    assert bench.parse_wrk(WRK_OUTPUT) == {
        "requests_per_s": 19512.75,
        "requests": 97695,
        "latency_p50_ms": 0.65,
        "latency_p75_ms": 0.81,
        "latency_p90_ms": 1.1,
        "latency_p99_ms": 4.35,
        "socket_errors": 3,
        "non_2xx": 4,
    }
    assert bench.parse_wrk("") == {"requests_per_s": None}


def test_wrk_not_installed_is_reported_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)
    assert bench._run_wrk("http://127.0.0.1:9/", 1, 4) == {"installed": False}


def test_bench_load_command_prints_a_table_and_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)  # the same with or without wrk here
    runner = CliRunner()
    args = ["bench", "load", "--rate", "20", "--seconds", "0.5", "--home", str(tmp_path)]
    table = runner.invoke(cli, args, env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "schedule slip p50 / p99 / max" in table.output and "not installed" in table.output
    as_json = runner.invoke(cli, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.stdout)
    assert result["rate"] == 20 and result["wrk"] == {"installed": False} and result["load"]["ok"] >= 5
