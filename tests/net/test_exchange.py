"""The one exchange loop (`drillkit.net.exchange`) against hand-written loopback servers.

The LLM fault proxy and the load generator both send through it; their own tests cover it end to
end (`tests/proxy`, `tests/traffic/test_transport.py`). Here: the rules themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from drillkit.net.exchange import NoResponse, UpstreamUnreachable, fetch, finish, send
from drillkit.net.http11 import UpstreamPool, encode_head, iter_body, read_body, read_head
from drillkit.net.jsonio import dumps, loads_or_none
from drillkit.net.serving import bind_socket, socket_url

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def server(handle: Handler) -> AsyncIterator[str]:
    tasks: set[asyncio.Task[Any]] = set()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handle(reader, writer)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    sock = bind_socket()
    srv = await asyncio.start_server(handler, sock=sock)
    try:
        yield socket_url(sock)
    finally:
        srv.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await srv.wait_closed()
        await asyncio.sleep(0)


def request(method: str = "POST", target: str = "/", body: bytes = b"") -> bytes:
    headers = [("host", "x"), ("content-length", str(len(body)))]
    return encode_head(f"{method} {target} HTTP/1.1", headers) + body


async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: bytes) -> None:
    """Answer every request on the connection with `reply`."""
    while (req := await read_head(reader, request=True)) is not None:
        await read_body(reader, req)
        writer.write(reply)
        await writer.drain()


OK = encode_head("HTTP/1.1 200 OK", [("content-length", "2")]) + b"{}"


def test_fetch_reuses_the_connection_and_skips_interim_responses() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"

    async def main() -> tuple[list[bytes], int]:
        async with server(lambda r, w: answer_each(r, w, interim + OK)) as url:
            pool = UpstreamPool(url)
            bodies = [(await fetch(pool, request(), method="POST"))[1] for _ in range(3)]
            pool.close()
            return bodies, pool.opened

    assert asyncio.run(main()) == ([b"{}"] * 3, 1)


def test_a_stale_pooled_connection_is_replaced_but_a_fresh_silent_one_is_no_response() -> None:
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = await read_head(reader, request=True)
        if req is not None and req.first[1] == "/answer":
            await read_body(reader, req)
            writer.write(OK)
            await writer.drain()
            await read_head(reader, request=True)  # the next request on it: closed unanswered

    async def main() -> tuple[int, int, BaseException]:
        async with server(once_then_close) as url:
            pool = UpstreamPool(url)
            await fetch(pool, request(target="/answer"), method="POST")
            resp, _ = await fetch(pool, request(target="/answer"), method="POST")  # stale: sent again
            with pytest.raises(NoResponse) as info:
                await fetch(pool, request(target="/silent"), method="POST")  # fresh: nothing came
            pool.close()
            return int(resp.first[1]), pool.opened, info.value

    status, opened, error = asyncio.run(main())
    assert status == 200 and opened == 3 and "without a response" in str(error)


def test_no_body_after_head_204_and_304_whatever_the_head_says() -> None:
    async def lying(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await read_head(reader, request=True)) is not None:
            status = "204 No Content" if req.first[1] == "/204" else "200 OK"
            writer.write(encode_head(f"HTTP/1.1 {status}", [("content-length", "5")]))
            await writer.drain()

    async def main() -> list[tuple[int, bytes]]:
        async with server(lying) as url:
            pool = UpstreamPool(url)
            out = []
            for method, target in (("HEAD", "/"), ("GET", "/204"), ("HEAD", "/")):
                resp, data = await fetch(pool, request(method, target), method=method)
                out.append((int(resp.first[1]), data))
            pool.close()
            return out

    assert asyncio.run(main()) == [(200, b""), (204, b""), (200, b"")]


def test_send_leaves_the_body_to_the_caller_and_finish_pools_or_closes() -> None:
    close = encode_head("HTTP/1.1 200 OK", [("content-length", "2"), ("connection", "close")]) + b"{}"

    async def twice(url: str) -> tuple[list[bytes], int]:
        pool, bodies = UpstreamPool(url), []
        for _ in range(2):
            reader, writer, resp = await send(pool, request(), method="POST", timeout=5)
            bodies.append(b"".join([part async for part in iter_body(reader, resp.framing, resp.length)]))
            finish(pool, reader, writer, resp)
        pool.close()
        return bodies, pool.opened

    async def main() -> list[tuple[list[bytes], int]]:
        async with server(lambda r, w: answer_each(r, w, OK)) as keeping:
            kept = await twice(keeping)
        async with server(lambda r, w: answer_each(r, w, close)) as closing:
            return [kept, await twice(closing)]

    kept, closed = asyncio.run(main())
    assert kept == ([b"{}"] * 2, 1) and closed == ([b"{}"] * 2, 2)  # connection: close is never pooled


def test_a_closed_pool_closes_what_is_released_until_it_is_used_again() -> None:
    async def main() -> list[int]:
        async with server(lambda r, w: answer_each(r, w, OK)) as url:
            pool = UpstreamPool(url)
            reader, writer, resp = await send(pool, request(), method="POST")
            await read_body(reader, resp)
            pool.close()  # e.g. the route stopped while this exchange was in flight
            finish(pool, reader, writer, resp)
            counts = [pool.opened]
            for _ in range(2):
                await fetch(pool, request(), method="POST")  # used again: pools as before
                counts.append(pool.opened)
            pool.close()
            return counts

    assert asyncio.run(main()) == [1, 2, 2]


def test_errors_and_timeouts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def main() -> tuple[BaseException, int]:
        with pytest.raises(UpstreamUnreachable) as info:
            await fetch(UpstreamPool(f"http://127.0.0.1:{port}"), request(), method="POST")
        async with server(hang) as url:
            pool = UpstreamPool(url)
            with pytest.raises(TimeoutError):
                await fetch(pool, request(), method="POST", timeout=0.1)
            with pytest.raises(TimeoutError):
                await send(pool, request(), method="POST", timeout=0.1)
            pool.close()
            return info.value, pool.opened  # each timed-out connection was closed, not pooled

    error, opened = asyncio.run(main())
    assert isinstance(error, OSError) and error.errno is not None and opened == 2


def test_compact_json() -> None:
    assert dumps({"a": [1, "ü"]}) == '{"a":[1,"ü"]}'.encode()
    assert loads_or_none(b'{"a":1}') == {"a": 1} and loads_or_none(b"<html>") is None
