"""Raw shapes and status codes of the Toxiproxy HTTP API (httpx against a real server)."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Iterator

import httpx
import pytest

import drillkit.faults.toxics as toxics
import drillkit.proxy
from drillkit.bench.tcp import bench_tcp
from drillkit.net.serving import ServerThread
from drillkit.proxy import ToxiproxyServer, create_toxiproxy_app

_names = itertools.count()


@pytest.fixture
def api(toxiproxy_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=toxiproxy_url, timeout=10) as client:
        yield client
        for name in client.get("/proxies").json():
            client.delete(f"/proxies/{name}")


@pytest.fixture(scope="module")
def toxiproxy_url() -> Iterator[str]:
    with ServerThread({"toxiproxy": create_toxiproxy_app(ToxiproxyServer())}) as urls:
        yield urls["toxiproxy"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A listening socket: enough for proxies to point at (no traffic in this module)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def new_proxy(api: httpx.Client, upstream: str, **extra: object) -> dict:
    r = api.post("/proxies", json={"name": f"p{next(_names)}", "upstream": upstream, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def assert_error(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "status"}
    assert body["status"] == status
    for word in words:
        assert word in body["error"]


def test_public_surface() -> None:
    assert drillkit.proxy.__all__ == ["ToxiproxyServer", "create_toxiproxy_app"]
    assert set(toxics.TOXIC_TYPES) == {
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "noop",
    }


def test_version_and_empty_index(api: httpx.Client) -> None:
    r = api.get("/version")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["version"]
    assert api.get("/proxies").json() == {}


def test_proxy_create_show_and_delete(api: httpx.Client, upstream: str) -> None:
    created = new_proxy(api, upstream, listen="127.0.0.1:0")
    assert set(created) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert created["enabled"] is True and created["toxics"] == []
    assert not created["listen"].endswith(":0")
    name = created["name"]
    assert api.get(f"/proxies/{name}").json() == created
    assert api.get("/proxies").json() == {name: created}
    r = api.delete(f"/proxies/{name}")
    assert r.status_code == 204 and r.content == b""
    assert_error(api.delete(f"/proxies/{name}"), 404, "proxy not found")
    assert_error(api.get(f"/proxies/{name}"), 404, "proxy not found")


def test_proxy_create_errors(api: httpx.Client, upstream: str) -> None:
    assert_error(api.post("/proxies", json={"upstream": upstream}), 400, "missing required field: name")
    assert_error(api.post("/proxies", json={"name": "x"}), 400, "missing required field: upstream")
    assert_error(api.post("/proxies", content=b"{not json"), 400, "bad request body")
    assert_error(api.post("/proxies", json={"name": "x", "upstream": "nowhere"}), 400, "upstream")
    assert_error(api.post("/proxies", json={"name": "x", "upstream": upstream, "colour": 1}), 400, "colour")
    name = new_proxy(api, upstream)["name"]
    assert_error(api.post("/proxies", json={"name": name, "upstream": upstream}), 409, "proxy already exists")
    with socket.create_server(("127.0.0.1", 0)) as busy:
        taken = f"127.0.0.1:{busy.getsockname()[1]}"
        assert_error(api.post("/proxies", json={"name": "y", "upstream": upstream, "listen": taken}), 500, "listen")


def test_disabled_at_creation_then_patched(api: httpx.Client, upstream: str) -> None:
    created = new_proxy(api, upstream, enabled=False, listen="127.0.0.1:0")
    assert created["enabled"] is False
    name = created["name"]
    enabled = api.patch(f"/proxies/{name}", json={"enabled": True}).json()
    assert enabled["enabled"] is True and not enabled["listen"].endswith(":0")
    disabled = api.post(f"/proxies/{name}", json={"enabled": False})  # the deprecated form
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert disabled.json()["listen"] == enabled["listen"]
    assert_error(api.patch(f"/proxies/{name}", content=b"[1,"), 400, "bad request body")
    assert_error(api.patch("/proxies/missing", json={"enabled": True}), 404, "proxy not found")


def test_populate(api: httpx.Client, upstream: str) -> None:
    body = [{"name": "pop-a", "upstream": upstream}, {"name": "pop-b", "upstream": upstream, "enabled": False}]
    r = api.post("/populate", json=body)
    assert r.status_code == 201
    proxies = r.json()["proxies"]
    assert [p["name"] for p in proxies] == ["pop-a", "pop-b"]
    assert [p["enabled"] for p in proxies] == [True, False]
    # A bad entry: nothing changes, the error names the entry.
    r = api.post("/populate", json=[{"name": "pop-c", "upstream": upstream}, {"name": "pop-d"}])
    assert_error(r, 400, "upstream at proxy 2")
    assert r.json()["proxies"] == []
    assert "pop-c" not in api.get("/proxies").json()
    assert_error(api.post("/populate", json={"name": "x"}), 400, "array")
    assert_error(api.post("/populate", json=[{"name": "x", "upstream": upstream}] * 2), 400, "duplicate")


def test_toxic_crud(api: httpx.Client, upstream: str) -> None:
    name = new_proxy(api, upstream)["name"]
    base = f"/proxies/{name}/toxics"
    r = api.post(base, json={"type": "latency", "attributes": {"latency": 100}})
    assert r.status_code == 200
    assert r.json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 100, "jitter": 0},  # omitted attributes are 0
    }
    up = api.post(base, json={"name": "cut", "type": "limit_data", "stream": "upstream", "toxicity": 0.5}).json()
    assert up["attributes"] == {"bytes": 0} and up["toxicity"] == 0.5
    # Upstream toxics are listed first, like the original.
    assert [t["name"] for t in api.get(base).json()] == ["cut", "latency_downstream"]
    assert [t["name"] for t in api.get(f"/proxies/{name}").json()["toxics"]] == ["cut", "latency_downstream"]
    assert api.get(f"{base}/cut").json() == up

    patched = api.patch(f"{base}/latency_downstream", json={"attributes": {"jitter": 5}, "toxicity": 0.25})
    assert patched.status_code == 200
    assert patched.json()["attributes"] == {"latency": 100, "jitter": 5}  # merged
    assert patched.json()["toxicity"] == 0.25
    assert api.post(f"{base}/latency_downstream", json={"toxicity": 1}).json()["toxicity"] == 1.0
    assert_error(api.patch(f"{base}/latency_downstream", json={"stream": "upstream"}), 400, "stream")
    assert_error(api.patch(f"{base}/latency_downstream", json={"attributes": {"latncy": 1}}), 400, "latncy")
    assert_error(api.patch(f"{base}/latency_downstream", json={"attributes": {"jitter": -1}}), 400, "jitter")
    assert_error(api.patch(f"{base}/nope", json={"toxicity": 1}), 404, "toxic not found")

    r = api.delete(f"{base}/cut")
    assert r.status_code == 204 and r.content == b""
    assert_error(api.delete(f"{base}/cut"), 404, "toxic not found")
    assert_error(api.get(f"{base}/cut"), 404, "toxic not found")
    assert_error(api.get("/proxies/nope/toxics"), 404, "proxy not found")


def test_toxic_errors(api: httpx.Client, upstream: str) -> None:
    name = new_proxy(api, upstream)["name"]
    base = f"/proxies/{name}/toxics"
    assert_error(api.post(base, json={"type": "lightning"}), 400, "invalid toxic type", "lightning")
    assert_error(api.post(base, json={"type": "latency", "stream": "sideways"}), 400, "stream was invalid")
    assert_error(api.post(base, json={"type": "latency", "attributes": {"delay": 1}}), 400, "delay")
    assert_error(api.post(base, json={"type": "slicer", "attributes": {"average_size": -1}}), 400, "average_size")
    assert_error(api.post(base, json={"type": "latency", "toxicity": 1.5}), 400, "toxicity")
    assert_error(api.post(base, content=b"nope"), 400, "bad request body")
    assert_error(api.post(base, json={"attributes": {}}), 400, "type")
    api.post(base, json={"type": "noop"})
    assert_error(api.post(base, json={"type": "noop"}), 409, "toxic already exists")
    assert_error(api.post("/proxies/nope/toxics", json={"type": "noop"}), 404, "proxy not found")


def test_reset(api: httpx.Client, upstream: str) -> None:
    name = new_proxy(api, upstream)["name"]
    api.post(f"/proxies/{name}/toxics", json={"type": "timeout"})
    api.patch(f"/proxies/{name}", json={"enabled": False})
    r = api.post("/reset")
    assert r.status_code == 204
    proxy = api.get(f"/proxies/{name}").json()
    assert proxy["enabled"] is True and proxy["toxics"] == []


def test_unknown_routes_and_methods_answer_json(api: httpx.Client) -> None:
    assert_error(api.get("/nowhere"), 404)
    assert_error(api.put("/proxies"), 405)


def test_bearer_token() -> None:
    app = create_toxiproxy_app(ToxiproxyServer(), token="s3cret")
    with ServerThread({"tp": app}) as urls:
        assert_error(httpx.get(urls["tp"] + "/proxies"), 401, "missing")
        assert_error(httpx.get(urls["tp"] + "/proxies", headers={"Authorization": "Bearer nope"}), 403, "invalid")
        ok = httpx.get(urls["tp"] + "/proxies", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json() == {}


def test_bench_tcp_smoke() -> None:
    result = asyncio.run(bench_tcp(echoes=20, connects=5, megabytes=1, rounds=1))
    assert set(result) >= {"echo", "connect", "throughput", "cpus"}
    for kind in ("echo", "connect"):
        assert {"direct_p50_ms", "proxy_p50_ms", "direct_p99_ms", "proxy_p99_ms", "added_p50_ms"} <= set(result[kind])
        assert result[kind]["direct_p50_ms"] > 0 and result[kind]["proxy_p50_ms"] > 0
    assert result["throughput"]["direct_mb_s"] > 0 and result["throughput"]["proxy_mb_s"] > 0


def test_a_disabled_proxy_keeps_its_port(api: httpx.Client, upstream: str) -> None:
    # "down" refuses connections as Go does, but the port stays ours: another process binding it
    # (as a second demo probing its default ports would) fails, so re-enabling cannot.
    proxy = new_proxy(api, upstream, listen="127.0.0.1:0")
    host, port = proxy["listen"].rsplit(":", 1)
    assert api.patch(f"/proxies/{proxy['name']}", json={"enabled": False}).json()["enabled"] is False
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()
    thief = socket.socket()
    thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with thief, pytest.raises(OSError):
        thief.bind((host, int(port)))
        thief.listen()
    enabled = api.patch(f"/proxies/{proxy['name']}", json={"enabled": True})
    assert enabled.status_code == 200 and enabled.json()["listen"] == proxy["listen"]
    socket.create_connection((host, int(port)), timeout=2).close()
    # Deleted, the port is free again.
    api.patch(f"/proxies/{proxy['name']}", json={"enabled": False})
    assert api.delete(f"/proxies/{proxy['name']}").status_code == 204
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((host, int(port)))
