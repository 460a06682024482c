"""The one HTTP/1.1 exchange loop with an upstream: the LLM fault proxy and the load generator both send through it.

    reader, writer, resp = await send(pool, request, method="POST", timeout=600)  # head read
    ...                                                       # the body streamed on by the caller
    finish(pool, reader, writer, resp)                        # pooled again, or closed

    resp, body = await fetch(pool, request, method="POST", timeout=30)  # the whole response

`request` is a whole request, head and body, framed by the caller (`encode_head`).  The rules:

- **Stale pooled connections.** A pooled connection the upstream closed while it sat idle (end
  of stream, or a reset, before any response byte) is not an error: the request is sent again on
  another connection, as browsers and proxies do, since the upstream answered nothing on it.  A
  fresh connection that ends without a response raises `NoResponse` (a `BadMessage`).
- **Interim responses.** 1xx heads are skipped.  A response to HEAD, a 204 and a 304 have no
  body, whatever their head says (`resp.framing` is then a length of 0).
- **Errors.** No connection at all raises `UpstreamUnreachable` (an `OSError`; a kernel connect
  timeout is `UpstreamConnectTimeout`, also a `TimeoutError`).  A connection that broke raises
  what broke it (`OSError`, `asyncio.IncompleteReadError`, `BadMessage` for malformed HTTP).
- **Timeouts.** `timeout` (seconds, None for none) bounds what the call does: `send` connecting,
  writing and reading the head; `fetch` all of that and the body.  It raises `TimeoutError`.
- **Connections.** A connection that failed, timed out or was cancelled mid-exchange is closed,
  never pooled.  `finish` pools a connection again only after a complete response that allows
  it (framing not "until close", no `connection: close`) and while the pool is open.
"""

from __future__ import annotations

import asyncio

from drillkit.net.http11 import BadMessage, Message, UpstreamPool, read_body, read_head

_NO_BODY = ("204", "304")


class UpstreamUnreachable(OSError):
    """No connection to the upstream could be opened (refused, unreachable, name not resolved)."""


class UpstreamConnectTimeout(UpstreamUnreachable, TimeoutError):
    """Opening the connection timed out in the kernel (ETIMEDOUT): unreachable, and a timeout."""


class NoResponse(BadMessage):
    """A fresh connection ended before any response byte."""


async def send(
    pool: UpstreamPool, request: bytes, *, method: str, timeout: float | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Message]:
    """Write `request` on a pooled (or new) connection and read the response head.

    The caller owns the connection: read the body (`iter_body`, `read_body`), then `finish`,
    or close the writer.
    """
    if timeout is None:
        return await _send(pool, request, method)
    async with asyncio.timeout(timeout):
        return await _send(pool, request, method)


async def fetch(
    pool: UpstreamPool, request: bytes, *, method: str, timeout: float | None = None
) -> tuple[Message, bytes]:
    """Send `request` and read the whole response; the connection goes back to the pool when it may."""
    if timeout is not None:
        async with asyncio.timeout(timeout):
            return await fetch(pool, request, method=method)
    reader, writer, resp = await _send(pool, request, method)
    try:
        data = await read_body(reader, resp)
    except BaseException:  # broke, malformed, cancelled or timed out: the connection is unusable
        writer.close()
        raise
    finish(pool, reader, writer, resp)
    return resp, data


def finish(
    pool: UpstreamPool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, resp: Message, *,
    reusable: bool = True,
) -> None:  # fmt: skip
    """Pool the connection again after a complete response that allows it (and `reusable`), else close it."""
    if reusable and resp.framing != "close" and not resp.wants_close():
        pool.release(reader, writer)
    else:
        writer.close()


async def _send(
    pool: UpstreamPool, request: bytes, method: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Message]:
    while True:
        try:
            reader, writer, reused = await pool.acquire()
        except OSError as exc:
            kind = UpstreamConnectTimeout if isinstance(exc, TimeoutError) else UpstreamUnreachable
            raise kind(*exc.args) from exc
        try:
            writer.write(request)
            resp = await read_head(reader, request=False)
            while resp is not None and resp.first[1].startswith("1"):  # interim 1xx: skip
                resp = await read_head(reader, request=False)
        except BaseException as exc:
            writer.close()
            if reused and isinstance(exc, ConnectionError):
                continue  # reset while it sat idle: the upstream saw nothing of ours
            raise
        if resp is None:
            writer.close()
            if reused:  # closed by the upstream while it sat idle in the pool
                continue
            raise NoResponse("upstream closed the connection without a response")
        if method == "HEAD" or resp.first[1] in _NO_BODY:
            resp.framing, resp.length = "length", 0
        return reader, writer, resp


__all__ = ["NoResponse", "UpstreamConnectTimeout", "UpstreamUnreachable", "fetch", "finish", "send"]
