"""Hosting apps on loopback: sockets, startup failures, cleanup."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from drillkit.errors import ServiceError
from drillkit.net.serving import ServerThread, bind_socket


def ok_app() -> Starlette:
    return Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])


def failing_app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    return Starlette(lifespan=lifespan)


def test_listening_sockets_are_not_inherited() -> None:
    sock = bind_socket()
    try:
        assert sock.get_inheritable() is False  # a child process must never hold the demo's ports
    finally:
        sock.close()


def test_a_failed_startup_is_a_service_error_and_leaves_nothing_behind() -> None:
    servers = ServerThread({"fine": ok_app(), "broken": failing_app()})
    ports = [u.rsplit(":", 1)[1] for u in servers.urls.values()]
    with pytest.raises(ServiceError, match="broken server did not start"), servers:
        pytest.fail("__enter__ must raise")
    assert not [t for t in threading.enumerate() if t.name == "drillkit-servers" and t.is_alive()]
    for port in ports:  # closed: the ports can be bound again
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", int(port)))
        finally:
            probe.close()


def test_servers_serve_and_stop() -> None:
    with ServerThread({"a": ok_app(), "b": ok_app()}) as urls:
        assert [httpx.get(u).text for u in urls.values()] == ["ok", "ok"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(urls["a"])
