"""The LLM fault proxy's request-duration histogram, over real sockets.

``drillkit_llm_proxy_request_duration_seconds{route, outcome}`` on the admin API's `/metrics`:
every outcome of a route starts at zero when the route is created; a request is observed once,
from its head read to its answer's last byte written. Timing checks are lower bounds only (a
shared, noisy machine can be slow, never fast).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app
from drillkit.proxy.http import RouteMetrics

HISTOGRAM = "drillkit_llm_proxy_request_duration_seconds"
SLOW_S = 0.3
_names = itertools.count()


async def _fast(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def _slow(request: Request) -> Response:
    await asyncio.sleep(SLOW_S)
    return JSONResponse({"ok": True})


async def _missing(request: Request) -> Response:
    return JSONResponse({"error": {"message": "no such thing"}}, status_code=404)


async def _stream(request: Request) -> Response:
    async def events() -> AsyncIterator[bytes]:
        for i in range(int(request.query_params.get("events", 3))):
            yield b'data: {"i": %d}\n\n' % i
            await asyncio.sleep(0.01)

    return StreamingResponse(events(), media_type="text/event-stream")


def upstream_app() -> Starlette:
    paths = {"/fast": _fast, "/slow": _slow, "/missing": _missing, "/stream": _stream}
    return Starlette(routes=[Route(path, handler) for path, handler in paths.items()])


class Env:
    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.admin = httpx.Client(base_url=urls["admin"], timeout=10)

    def route(self, upstream: str | None = None) -> tuple[str, str]:
        """A new route (to the test upstream unless told); returns its name and URL."""
        name = f"r{next(_names)}"
        r = self.admin.post("/routes", json={"name": name, "upstream": upstream or self.urls["up"], "api": "json"})
        assert r.status_code == 201, r.text
        return name, f"http://{r.json()['listen']}"

    def histogram(self, route: str) -> dict[str, dict[str, float]]:
        """outcome → {"count", "sum", "le=<bound>"...} for one route."""
        r = self.admin.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        found: dict[str, dict[str, float]] = {}
        for family in text_string_to_metric_families(r.text):
            if family.name != HISTOGRAM:
                continue
            for s in family.samples:
                if s.labels["route"] == route:
                    key = s.name.removeprefix(HISTOGRAM + "_")
                    key = f"le={s.labels['le']}" if key == "bucket" else key
                    found.setdefault(s.labels["outcome"], {})[key] = s.value
        return found

    def counts(self, route: str, *, expect: int, timeout: float = 5.0) -> dict[str, float]:
        """outcome → count, once ``expect`` requests are observed (observation follows the last
        byte written, so the client may be a moment ahead of it)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = {outcome: series["count"] for outcome, series in self.histogram(route).items()}
            if sum(counts.values()) >= expect or time.monotonic() > deadline:
                return counts
            time.sleep(0.02)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with ServerThread({"up": upstream_app(), "admin": create_admin_app(LlmProxyServer())}) as urls:
        e = Env(urls)
        yield e
        e.admin.close()


def zero(**counts: float) -> dict[str, float]:
    return {outcome: counts.get(outcome, 0.0) for outcome in RouteMetrics.OUTCOMES}


def test_every_outcome_of_a_new_route_starts_at_zero(env: Env) -> None:
    name, _ = env.route()
    series = env.histogram(name)
    assert set(series) == {"ok", "client_error", "server_error", "aborted"} == set(RouteMetrics.OUTCOMES)
    for outcome in series.values():
        assert outcome["count"] == 0.0 and outcome["sum"] == 0.0
        assert outcome["le=+Inf"] == 0.0 and "le=0.005" in outcome and "le=300.0" in outcome


def test_answers_are_observed_by_outcome_with_their_duration(env: Env) -> None:
    name, url = env.route()
    assert httpx.get(url + "/fast").status_code == 200
    assert httpx.get(url + "/slow").status_code == 200
    assert httpx.get(url + "/missing").status_code == 404
    stream = httpx.get(url + "/stream")
    assert stream.status_code == 200 and stream.text.count("data:") == 3
    assert env.counts(name, expect=4) == zero(ok=3, client_error=1)
    ok = env.histogram(name)["ok"]
    assert ok["sum"] >= SLOW_S * 0.95  # the slow answer's wait is in it
    assert ok["le=0.25"] <= 2.0  # ...and it is above 0.25 s
    assert env.admin.post(f"/routes/{name}/faults", json={"type": "http_error", "attributes": {"status": 503}})
    assert httpx.get(url + "/fast").status_code == 503  # answered by the fault
    assert env.counts(name, expect=5) == zero(ok=3, client_error=1, server_error=1)


def test_unreachable_upstream_and_malformed_requests(env: Env) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    name, url = env.route(dead)
    assert httpx.get(url + "/fast").status_code == 502
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /fast HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n")
        assert sock.recv(1 << 16).startswith(b"HTTP/1.1 400 ")
    assert env.counts(name, expect=2) == zero(server_error=1, client_error=1)


def test_cut_and_abandoned_responses_are_aborted(env: Env) -> None:
    name, url = env.route()
    fault = {"type": "stream_cut", "attributes": {"after_chunks": 1}}
    assert env.admin.post(f"/routes/{name}/faults", json=fault).status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/stream").read()  # one event, then the connection drops
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/fast")  # half the body, then the connection drops
    assert env.counts(name, expect=2) == zero(aborted=2)
    assert env.admin.delete(f"/routes/{name}/faults/stream_cut").status_code == 204
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:  # the client leaves mid-stream
        sock.sendall(b"GET /stream?events=100 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert b"data:" in sock.recv(1 << 16) or b"data:" in sock.recv(1 << 16)
    assert env.counts(name, expect=3) == zero(aborted=3)  # found out at its next writes
