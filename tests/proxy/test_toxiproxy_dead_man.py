"""Dead-man toxics on the embedded Toxiproxy server: gone when the heartbeats stop.

The reaper's arithmetic is checked with a fake clock (no sleeping); the rest runs against a real
server on an ephemeral port, through `ToxiproxyBackend` as a game-day drives it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from drillkit.faults.backends import FaultRequest, ToxiproxyBackend
from drillkit.gameday import leftovers
from drillkit.net.serving import ServerThread
from drillkit.proxy import ToxiproxyServer, create_toxiproxy_app
from drillkit.proxy.dead_man import REAP_INTERVAL_S

_names = itertools.count()
PLAIN_KEYS = {"name", "type", "stream", "toxicity", "attributes"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_reaper_counts_from_the_later_of_arming_and_the_last_heartbeat() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        server = ToxiproxyServer(clock=clock)  # not started: this test calls reap() itself
        switch = server.dead_man
        proxy = await server.create({"name": "p", "upstream": "127.0.0.1:9", "enabled": False})
        await proxy.add_toxic({"type": "latency", "name": "watched", "dead_man": True, "heartbeat_interval": 0.5})
        await proxy.add_toxic({"type": "latency", "name": "plain", "stream": "upstream"})

        assert await switch.reap() == []  # armed at 1000.0
        clock.now = 1000.4
        assert await switch.reap() == []
        state = switch.heartbeat()  # deadline moves to 1000.9
        assert state["last_heartbeat"] is not None
        assert [(t["proxy"], t["toxic"], t["heartbeat_interval"]) for t in state["dead_man_toxics"]] == [
            ("p", "watched", 0.5)
        ]
        clock.now = 1000.85
        assert await switch.reap() == []
        clock.now = 1000.9
        assert await switch.reap() == [("p", "watched")]
        assert list(proxy.toxics) == ["plain"]  # a toxic without dead_man is never touched
        assert switch.state()["dead_man_toxics"] == []

        # An update restarts the toxic's clock; disarming it takes it off the switch.
        await proxy.add_toxic({"type": "latency", "name": "again", "dead_man": True, "heartbeat_interval": 1})
        assert await switch.reap() == []  # armed at 1000.9
        clock.now = 1001.8
        await proxy.update_toxic("again", {"toxicity": 0.5})
        clock.now = 1002.7
        assert await switch.reap() == []  # re-armed at 1002.7 (seen changed), not 1001.9
        clock.now = 1003.6
        await proxy.update_toxic("again", {"dead_man": False})
        clock.now = 1010.0
        assert await switch.reap() == []
        assert sorted(proxy.toxics) == ["again", "plain"]

    asyncio.run(scenario())


# -- a real server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toxiproxy_url() -> Iterator[str]:
    with ServerThread({"toxiproxy": create_toxiproxy_app(ToxiproxyServer())}) as urls:
        yield urls["toxiproxy"]


@pytest.fixture
def proxy_name(toxiproxy_url: str) -> Iterator[str]:
    """A proxy (no traffic needed here), deleted after the test."""
    name = f"dm{next(_names)}"
    r = httpx.post(f"{toxiproxy_url}/proxies", json={"name": name, "upstream": "127.0.0.1:9"})
    assert r.status_code == 201, r.text
    yield name
    httpx.delete(f"{toxiproxy_url}/proxies/{name}")


def test_the_api_speaks_toxiproxy_plus_two_envelope_fields(toxiproxy_url: str, proxy_name: str) -> None:
    toxics = f"{toxiproxy_url}/proxies/{proxy_name}/toxics"
    plain = httpx.post(toxics, json={"type": "latency", "name": "plain"}).json()
    assert set(plain) == PLAIN_KEYS  # untouched Toxiproxy shape
    body = {"type": "latency", "name": "watched", "dead_man": True, "heartbeat_interval": 30}
    watched = httpx.post(toxics, json=body).json()
    assert set(watched) == PLAIN_KEYS | {"dead_man", "heartbeat_interval"}
    assert (watched["dead_man"], watched["heartbeat_interval"]) == (True, 30.0)
    for bad in ({"heartbeat_interval": 0}, {"heartbeat_interval": "5s"}, {"dead_man": "yes"}):
        r = httpx.post(toxics, json={"type": "latency", "name": "bad", **bad})
        assert r.status_code == 400 and next(iter(bad)) in r.json()["error"], r.text

    state = httpx.get(f"{toxiproxy_url}/heartbeat").json()
    assert [t["toxic"] for t in state["dead_man_toxics"]] == ["watched"]
    assert httpx.post(f"{toxiproxy_url}/heartbeat").json()["last_heartbeat"] is not None

    # The official client parses a dead-man toxic (extra fields are ignored).
    url = urlsplit(toxiproxy_url)
    APIConsumer.host, APIConsumer.port = url.hostname, url.port
    assert sorted(Toxiproxy().get_proxy(proxy_name).toxics()) == ["plain", "watched"]

    # A PATCH that sends the whole toxic back is fine; dead_man false disarms it.
    r = httpx.patch(f"{toxics}/watched", json={**watched, "dead_man": False})
    assert r.status_code == 200 and set(r.json()) == PLAIN_KEYS, r.text
    assert httpx.get(f"{toxiproxy_url}/heartbeat").json()["dead_man_toxics"] == []


async def _names_on(backend: ToxiproxyBackend, proxy: str) -> list[str]:
    return [f.name for f in await backend.list() if f.target == proxy]


async def _gone_within(backend: ToxiproxyBackend, proxy: str, seconds: float) -> float:
    """Poll until `proxy` has no toxic; return how long that took (fails after `seconds`)."""
    start = time.monotonic()
    while await _names_on(backend, proxy):
        assert time.monotonic() - start < seconds, "the dead-man toxic outlived its heartbeat"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def test_a_dead_man_toxic_goes_by_itself_when_no_heartbeat_comes(toxiproxy_url: str, proxy_name: str) -> None:
    async def scenario() -> float:
        backend = ToxiproxyBackend(toxiproxy_url)
        request = FaultRequest(type="latency", target=proxy_name, attributes={"latency": 50}, dead_man=True,
                               heartbeat_interval=0.3)  # fmt: skip
        active = await backend.inject(request)
        assert active.dead_man
        assert [f.dead_man for f in await backend.list() if f.target == proxy_name] == [True]
        return await _gone_within(backend, proxy_name, 5.0)

    elapsed = asyncio.run(scenario())
    assert elapsed >= 0.3 - 0.1  # never early (the polls started just after the injection)


def test_heartbeats_keep_a_dead_man_toxic_alive(toxiproxy_url: str, proxy_name: str) -> None:
    async def scenario() -> None:
        backend = ToxiproxyBackend(toxiproxy_url)
        request = FaultRequest(type="latency", target=proxy_name, dead_man=True, heartbeat_interval=0.3)
        await backend.inject(request)
        until = time.monotonic() + 3 * 0.3
        while time.monotonic() < until:
            await backend.heartbeat()
            await asyncio.sleep(0.1)
        assert await _names_on(backend, proxy_name) == ["latency_downstream"]  # past 3 intervals
        await _gone_within(backend, proxy_name, 0.3 + 10 * REAP_INTERVAL_S + 2.0)  # heartbeats stopped

    asyncio.run(scenario())


def _without_heartbeat(app: ASGIApp) -> ASGIApp:
    """The embedded server as Go Toxiproxy looks to a client: no /heartbeat."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/heartbeat":
            await PlainTextResponse("404 page not found\n", status_code=404)(scope, receive, send)
            return
        await app(scope, receive, send)

    return wrapped


def test_servers_without_heartbeat_get_plain_toxics_and_rely_on_the_leftovers_file(tmp_path: Path) -> None:
    with ServerThread({"go-like": _without_heartbeat(create_toxiproxy_app(ToxiproxyServer()))}) as urls:
        url = urls["go-like"]
        assert httpx.post(f"{url}/proxies", json={"name": "p", "upstream": "127.0.0.1:9"}).status_code == 201
        backend = ToxiproxyBackend(url)
        active = asyncio.run(backend.inject(FaultRequest(type="latency", target="p", dead_man=True)))
        assert not active.dead_man
        (toxic,) = httpx.get(f"{url}/proxies/p/toxics").json()
        assert set(toxic) == PLAIN_KEYS  # no dead-man fields sent (an older drillkit would refuse them)
        asyncio.run(backend.heartbeat())  # a no-op here, not an error

        # What a SIGKILLed run leaves: the record, acted on by the next preflight / `chaos reset`.
        leftovers.record(tmp_path, "run-1", active)
        removed, problems = asyncio.run(leftovers.clean(tmp_path))
        assert ([e["name"] for e in removed], problems) == (["latency_downstream"], [])
        assert httpx.get(f"{url}/proxies/p/toxics").json() == []
        assert leftovers.read(tmp_path) == []
