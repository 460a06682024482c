"""`AdminGuard` in front of every admin surface: real servers on ephemeral loopback ports.

The surfaces: the embedded Toxiproxy API, the LLM fault proxy's admin API and the demo service's
`/admin` levers.  What a web page can send (a "simple" cross-origin POST, `Origin: null`, a
rebound `Host`) is refused before anything changes; what clients send (no `Origin`, whatever
the Content-Type) works as before.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

import drillkit.net
from drillkit.cli import cli
from drillkit.demo.service import create_service_app
from drillkit.demo.workdir import prepare_workdir, write_manifest
from drillkit.net import AdminGuard, allowed_host, is_loopback_host, listen_refusal
from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app
from drillkit.proxy.toxiproxy_api import ToxiproxyServer, create_toxiproxy_app

TOKEN = "s3cret"
EVIL = "http://evil.example"
_names = itertools.count()


@dataclass
class Surface:
    """One admin app: how to change something through it, and how to read that change back."""

    name: str
    change: tuple[str, str, Any]  # method, path, JSON body
    changed: tuple[str, Any]  # GET path, the answer while nothing has changed
    listing: str  # a GET that answers 200
    reset: str  # the POST that undoes every change


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A listening socket: enough for proxies and routes to point at."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[dict[str, str]]:
    workdir = tmp_path_factory.mktemp("guard") / "demo"
    prepare_workdir(workdir)
    dead = "http://127.0.0.1:9"  # the levers never call the providers
    write_manifest(workdir, {"service": dead, "primary": dead, "fallback": dead, "tool": dead})
    apps = {
        "toxiproxy": create_toxiproxy_app(ToxiproxyServer()),
        "llm": create_admin_app(LlmProxyServer()),
        "service": create_service_app(workdir, corpus_check_interval=0),
        "toxiproxy_token": create_toxiproxy_app(ToxiproxyServer(), token=TOKEN),
        "llm_token": create_admin_app(LlmProxyServer(), token=TOKEN),
        "toxiproxy_allowed": create_toxiproxy_app(ToxiproxyServer(), allowed_hosts=["chaos.internal"]),
    }
    with ServerThread(apps) as found:
        with httpx.Client(base_url=found["toxiproxy"]) as tp:
            assert tp.post("/proxies", json={"name": "p", "upstream": upstream}).status_code == 201
        with httpx.Client(base_url=found["llm"]) as llm:
            assert llm.post("/routes", json={"name": "r", "upstream": f"http://{upstream}"}).status_code == 201
        yield found


SURFACES = [
    Surface(
        "toxiproxy",
        ("POST", "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 1000}}),
        ("/proxies/p/toxics", []),
        "/proxies",
        "/reset",
    ),
    Surface(
        "llm",
        ("POST", "/routes/r/faults", {"type": "http_error", "attributes": {"status": 503}}),
        ("/routes/r/faults", []),
        "/routes",
        "/reset",
    ),
    Surface(
        "service",
        ("POST", "/admin/pin", {"model": "sim-pro-2025-11"}),
        ("/admin/state", None),
        "/admin/state",
        "/admin/reset",
    ),
]


def unchanged(client: httpx.Client, surface: Surface) -> bool:
    path, expected = surface.changed
    body = client.get(path).json()
    return (body["pinned_model"] if surface.name == "service" else body) == expected


def assert_refused(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and isinstance(body["error"], str)
    for word in words:
        assert word in body["error"]


@pytest.fixture(params=SURFACES, ids=lambda s: s.name)
def surface(request: pytest.FixtureRequest) -> Surface:
    return request.param


@pytest.fixture
def client(urls: dict[str, str], surface: Surface) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=urls[surface.name], timeout=10) as c:
        yield c


# -- what a web page can send ---------------------------------------------------------------------


def test_a_cross_origin_simple_post_is_refused_and_changes_nothing(client: httpx.Client, surface: Surface) -> None:
    method, path, body = surface.change
    headers = {"origin": EVIL, "content-type": "text/plain"}
    r = client.request(method, path, content=json.dumps(body), headers=headers)
    assert_refused(r, 403, "evil.example")
    assert_refused(client.post(surface.reset, headers=headers), 403)
    assert unchanged(client, surface)


def test_origin_null_is_refused(client: httpx.Client, surface: Surface) -> None:
    assert_refused(client.get(surface.listing, headers={"origin": "null"}), 403, "null")
    method, path, body = surface.change
    assert_refused(client.request(method, path, json=body, headers={"origin": "null"}), 403)
    assert unchanged(client, surface)


def test_a_foreign_host_is_refused(client: httpx.Client, surface: Surface) -> None:
    port = httpx.URL(str(client.base_url)).port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "[::2]", "localhost:x"):
        assert_refused(client.get(surface.listing, headers={"host": host}), 403, "Host")
    for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", "127.0.0.2", f"[::1]:{port}", "LOCALHOST."):
        assert client.get(surface.listing, headers={"host": host}).status_code == 200, host


def test_loopback_origins_and_clients_without_origin_work(client: httpx.Client, surface: Surface) -> None:
    for origin in ("http://localhost:3000", "http://127.0.0.1:8710", "http://[::1]:8475", None):
        headers = {"origin": origin} if origin else {}
        assert client.get(surface.listing, headers=headers).status_code == 200, origin


def test_an_allowed_host_is_answered_in_host_and_origin(urls: dict[str, str]) -> None:
    with httpx.Client(base_url=urls["toxiproxy_allowed"]) as c:
        assert c.get("/proxies", headers={"host": "chaos.internal:8474"}).status_code == 200
        assert (
            c.get("/proxies", headers={"host": "CHAOS.internal", "origin": "https://chaos.internal"}).status_code == 200
        )
        assert_refused(c.get("/proxies", headers={"host": "other.internal"}), 403, "--allow-host other.internal")


# -- what clients send ----------------------------------------------------------------------------


def test_toxiproxy_python_creates_a_proxy_and_a_toxic(urls: dict[str, str], upstream: str) -> None:
    url = urlsplit(urls["toxiproxy"])
    saved = APIConsumer.host, APIConsumer.port
    APIConsumer.host, APIConsumer.port = url.hostname, url.port
    try:
        proxy = Toxiproxy().create(upstream=upstream, name="py", listen="127.0.0.1:0")
        try:
            proxy.add_toxic(type="latency", attributes={"latency": 100})
            assert [t.type for t in proxy.toxics().values()] == ["latency"]
        finally:
            proxy.destroy()
    finally:
        APIConsumer.host, APIConsumer.port = saved


def test_curl_shaped_requests_work(urls: dict[str, str], upstream: str) -> None:
    """`curl -XPOST -d '{...}'`, as Toxiproxy's README writes it: a JSON body sent as a form."""
    form = {"content-type": "application/x-www-form-urlencoded", "user-agent": "curl/8.5.0"}
    name = f"curl{next(_names)}"
    with httpx.Client(base_url=urls["toxiproxy"], headers=form) as tp:
        r = tp.post("/proxies", content=json.dumps({"name": name, "upstream": upstream}))
        assert r.status_code == 201, r.text
        r = tp.post(f"/proxies/{name}/toxics", content=json.dumps({"type": "latency", "attributes": {"latency": 5}}))
        assert r.status_code == 200, r.text
        assert tp.delete(f"/proxies/{name}").status_code == 204
    with httpx.Client(base_url=urls["llm"], headers=form) as llm:
        r = llm.post("/routes/r/faults", content=json.dumps({"name": name, "type": "http_error"}))
        assert r.status_code == 200, r.text
        assert llm.delete(f"/routes/r/faults/{name}").status_code == 204


# -- listeners beyond loopback --------------------------------------------------------------------


def test_listening_beyond_loopback_needs_a_token(urls: dict[str, str], upstream: str) -> None:
    admin = f"127.0.0.1:{httpx.URL(urls['toxiproxy']).port}"
    exposed = {"name": "out", "listen": "0.0.0.0:0", "upstream": admin}
    with httpx.Client(base_url=urls["toxiproxy"]) as tp:
        assert_refused(tp.post("/proxies", json=exposed), 403, "listen 0.0.0.0:0", "--token")
        r = tp.post("/populate", json=[{"name": "fine", "upstream": upstream}, exposed])
        assert_refused(r, 403, "beyond loopback")
        assert_refused(tp.patch("/proxies/p", json={"listen": "[::]:0"}), 403, "beyond loopback")
        assert set(tp.get("/proxies").json()) == {"p"}  # populate changed nothing either
    with httpx.Client(base_url=urls["llm"]) as llm:
        route = {"name": "out", "listen": "0.0.0.0:0", "upstream": f"http://{upstream}"}
        assert_refused(llm.post("/routes", json=route), 403, "listen 0.0.0.0:0", "--token")
        assert_refused(llm.patch("/routes/r", json={"listen": "0.0.0.0:0"}), 403, "beyond loopback")
        assert set(llm.get("/routes").json()) == {"r"}


def test_with_a_token_a_listener_may_go_beyond_loopback(urls: dict[str, str], upstream: str) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=urls["toxiproxy_token"], headers=auth) as tp:
        r = tp.post("/proxies", json={"name": "wide", "listen": "0.0.0.0:0", "upstream": upstream})
        assert r.status_code == 201, r.text
        assert tp.delete("/proxies/wide").status_code == 204
    with httpx.Client(base_url=urls["llm_token"], headers=auth) as llm:
        r = llm.post("/routes", json={"name": "wide", "listen": "0.0.0.0:0", "upstream": f"http://{upstream}"})
        assert r.status_code == 201, r.text
        assert llm.delete("/routes/wide").status_code == 204


# -- the bearer token -----------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["toxiproxy_token", "llm_token"])
def test_the_token_is_checked_the_same_in_every_app(urls: dict[str, str], app: str) -> None:
    path = "/proxies" if app.startswith("toxiproxy") else "/routes"
    with httpx.Client(base_url=urls[app]) as c:
        missing = c.get(path)
        assert_refused(missing, 401, "missing")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_refused(c.get(path, headers={"authorization": "Bearer nope"}), 403, "invalid")
        assert_refused(c.get(path, headers={"authorization": TOKEN}), 403, "invalid")
        assert c.get(path, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        # Host, then Origin, then the token: a page learns nothing about the token.
        assert_refused(c.get(path, headers={"host": "evil.example"}), 403, "Host")
        assert_refused(c.get(path, headers={"origin": EVIL, "authorization": f"Bearer {TOKEN}"}), 403, "origin")


# -- the pieces -----------------------------------------------------------------------------------


def test_public_surface() -> None:
    assert drillkit.net.__all__ == ["AdminGuard", "ErrorFactory", "allowed_host", "is_loopback_host", "listen_refusal"]


def test_loopback_names_and_listen_rule() -> None:
    for host in ("localhost", "LocalHost.", "127.0.0.1", "127.1.2.3", "::1", "[::1]"):
        assert is_loopback_host(host), host
    for host in ("", "0.0.0.0", "::", "10.0.0.1", "localhost.evil.example", "127.0.0.1.nip.io"):
        assert not is_loopback_host(host), host
    assert listen_refusal("127.0.0.1:0", has_token=False) is None
    assert listen_refusal("localhost:8080", has_token=False) is None
    assert listen_refusal("[::1]:0", has_token=False) is None
    for listen in ("0.0.0.0:0", ":8080", "[::]:0", "192.168.1.5:80", "example.com:80"):
        assert listen_refusal(listen, has_token=False) is not None, listen
        assert listen_refusal(listen, has_token=True) is None


def test_allow_host_values() -> None:
    assert allowed_host("Chaos.Internal.") == "chaos.internal"
    assert allowed_host("[::2]") == "::2" and allowed_host("10.0.0.5") == "10.0.0.5"
    for bad in ("chaos.internal:8474", "http://chaos.internal", "a/b", "", "*"):
        with pytest.raises(ValueError, match="without a port"):
            allowed_host(bad)
    with pytest.raises(ValueError, match="empty token"):
        AdminGuard(Starlette(), token="")


@pytest.mark.parametrize("command", [["chaos", "serve"], ["demo", "up"]])
def test_allow_host_is_checked_on_the_command_line(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--allow-host", "chaos.internal:8474"])
    assert result.exit_code == 2
    assert "--allow-host" in result.output and "without a port" in result.output


def test_websocket_handshakes_are_checked_too() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not be reached")

    scope = {"type": "websocket", "headers": [(b"host", b"localhost"), (b"origin", EVIL.encode())]}
    asyncio.run(AdminGuard(never)(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_the_demo_levers_keep_their_415_for_non_json_posts(urls: dict[str, str]) -> None:
    with httpx.Client(base_url=urls["service"]) as c:
        r = c.post("/admin/pin", content=b'{"model": "sim-pro-2025-11"}', headers={"content-type": "text/plain"})
        assert r.status_code == 415
        assert c.get("/admin/state").json()["pinned_model"] is None
