"""What Go Toxiproxy accepts from real clients, and its `/metrics`, on the embedded server.

Go decodes bodies with ``encoding/json``, which leaves a field untouched when it is ``null``:
``chaostoolkit-toxiproxy``'s generic ``create_toxic`` sends ``"attributes": null`` and Go creates
the toxic with its defaults. Values of the wrong type stay 400s, as in Go. `/metrics` carries
Go's ``-proxy-metrics`` counters (``collectors/proxy.go``), checked here with real traffic.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from drillkit.net.serving import ServerThread
from drillkit.proxy import ToxiproxyServer, create_toxiproxy_app

_names = itertools.count()
RECEIVED, SENT = "toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total"


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    """A threaded TCP echo server on 127.0.0.1:0."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
def toxiproxy_url() -> Iterator[str]:
    with ServerThread({"toxiproxy": create_toxiproxy_app(ToxiproxyServer())}) as urls:
        yield urls["toxiproxy"]


@pytest.fixture
def api(toxiproxy_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=toxiproxy_url, timeout=10) as client:
        yield client
        for name in client.get("/proxies").json():
            client.delete(f"/proxies/{name}")


def new_proxy(api: httpx.Client, port: int, **extra: object) -> dict:
    r = api.post("/proxies", json={"name": f"c{next(_names)}", "upstream": f"127.0.0.1:{port}", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def assert_400(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400
    for word in words:
        assert word in r.json()["error"]


def test_null_attributes_as_chaostoolkit_sends_them_are_the_defaults(api: httpx.Client, echo_port: int) -> None:
    name = new_proxy(api, echo_port)["name"]
    body = {"name": "ctk", "type": "latency", "stream": "downstream", "toxicity": 1.0, "attributes": None}
    r = api.post(f"/proxies/{name}/toxics", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {**body, "attributes": {"latency": 0, "jitter": 0}}
    # Every envelope field sent as null keeps its default; so does a null attribute.
    r = api.post(
        f"/proxies/{name}/toxics",
        json={"name": None, "type": "latency", "stream": None, "toxicity": None, "attributes": {"jitter": None}},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 0, "jitter": 0},
    }


def test_null_in_an_update_keeps_the_current_value(api: httpx.Client, echo_port: int) -> None:
    proxy = new_proxy(api, echo_port)
    base = f"/proxies/{proxy['name']}/toxics"
    api.post(base, json={"name": "lat", "type": "latency", "toxicity": 0.5, "attributes": {"latency": 40}})
    r = api.patch(f"{base}/lat", json={"toxicity": None, "attributes": None})
    assert r.status_code == 200, r.text
    assert (r.json()["toxicity"], r.json()["attributes"]) == (0.5, {"latency": 40, "jitter": 0})
    r = api.patch(f"{base}/lat", json={"attributes": {"latency": None, "jitter": 5}})
    assert r.json()["attributes"] == {"latency": 40, "jitter": 5}
    r = api.patch(f"{base}/lat", content=b"null")  # Go decodes a null body into nothing: no change
    assert r.status_code == 200 and r.json()["attributes"] == {"latency": 40, "jitter": 5}
    r = api.patch(f"/proxies/{proxy['name']}", json={"enabled": None, "upstream": None, "listen": None})
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("enabled", "upstream", "listen")} == {
        k: proxy[k] for k in ("enabled", "upstream", "listen")
    }


def test_null_proxy_fields_and_populate_bodies(api: httpx.Client, echo_port: int) -> None:
    proxy = new_proxy(api, echo_port, listen=None, enabled=None)
    assert proxy["enabled"] is True and proxy["listen"].startswith("127.0.0.1:")
    assert not proxy["listen"].endswith(":0")
    r = api.post("/populate", content=b"null")
    assert (r.status_code, r.json()) == (201, {"proxies": []})
    r = api.post("/populate", json=[{"name": "pop", "upstream": f"127.0.0.1:{echo_port}", "enabled": None}])
    assert r.status_code == 201 and r.json()["proxies"][0]["enabled"] is True
    r = api.post("/populate", json=[None])
    assert r.status_code == 400 and "name at proxy 1" in r.json()["error"]


def test_wrong_types_are_still_400(api: httpx.Client, echo_port: int) -> None:
    name = new_proxy(api, echo_port)["name"]
    base = f"/proxies/{name}/toxics"
    assert_400(api.post(base, json={"type": None}), "type")
    assert_400(api.post(base, content=b"null"), "type")
    assert_400(api.post(base, json={"type": "latency", "attributes": "slow"}), "attributes")
    assert_400(api.post(base, json={"type": "latency", "attributes": [1]}), "attributes")
    assert_400(api.post(base, json={"type": "latency", "attributes": {"latency": "100"}}), "latency")
    assert_400(api.post(base, json={"type": "latency", "toxicity": "1"}), "toxicity")
    assert_400(api.post(base, json={"type": "latency", "stream": 1}), "stream")
    api.post(base, json={"name": "lat", "type": "latency"})
    assert_400(api.patch(f"{base}/lat", json={"attributes": "x"}), "attributes")
    assert_400(api.patch(f"{base}/lat", json={"toxicity": "x"}), "toxicity")
    assert_400(api.post("/proxies", json={"name": None, "upstream": f"127.0.0.1:{echo_port}"}), "name")
    assert_400(api.post("/proxies", json={"name": "x", "upstream": None}), "upstream")
    assert_400(api.post("/proxies", content=b"null"), "name")
    assert_400(api.post("/populate", json={"name": "x"}), "array")
    assert api.get(f"{base}").json()[0]["name"] == "lat"  # nothing else was created


# -- /metrics ------------------------------------------------------------------------------------


def samples(api: httpx.Client, proxy: str) -> dict[tuple[str, str], float]:
    """(metric, direction) → value, for one proxy's series."""
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")  # Prometheus text format
    found = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.labels.get("proxy") == proxy:
                found[(s.name, s.labels["direction"])] = s.value
    return found


def labels_of(api: httpx.Client, proxy: str) -> list[dict[str, str]]:
    return [
        s.labels
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for s in family.samples
        if s.labels.get("proxy") == proxy
    ]


def echo_through(listen: str, payload: bytes) -> socket.socket:
    """Send ``payload`` through the proxy, read its echo; the connection is left open."""
    host, port = listen.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(1 << 16)
        assert chunk, "connection closed early"
        got += chunk
    assert got == payload
    return sock


def test_metrics_start_at_zero_with_gos_names_and_labels(api: httpx.Client, echo_port: int) -> None:
    proxy = new_proxy(api, echo_port)
    assert samples(api, proxy["name"]) == {(m, d): 0.0 for m in (RECEIVED, SENT) for d in ("upstream", "downstream")}
    expected = {"listener": proxy["listen"], "proxy": proxy["name"], "upstream": proxy["upstream"]}
    assert all(labels == {**expected, "direction": labels["direction"]} for labels in labels_of(api, proxy["name"]))
    text = api.get("/metrics").text
    assert f"# TYPE {RECEIVED} counter" in text and f"# TYPE {SENT} counter" in text


def test_metrics_count_bytes_live_on_the_fast_path_and_through_toxics(api: httpx.Client, echo_port: int) -> None:
    proxy = new_proxy(api, echo_port)
    name = proxy["name"]
    with echo_through(proxy["listen"], b"x" * 5000):
        # Counted as the bytes move: the connection is still open (Go adds them at its end).
        assert samples(api, name) == {(m, d): 5000.0 for m in (RECEIVED, SENT) for d in ("upstream", "downstream")}
    api.post(f"/proxies/{name}/toxics", json={"type": "latency", "stream": "upstream", "attributes": {"latency": 1}})
    api.post(f"/proxies/{name}/toxics", json={"type": "noop"})
    with echo_through(proxy["listen"], b"y" * 70000):
        assert samples(api, name) == {(m, d): 75000.0 for m in (RECEIVED, SENT) for d in ("upstream", "downstream")}


def test_metrics_follow_the_listener_and_outlive_the_proxy(api: httpx.Client, echo_port: int) -> None:
    proxy = new_proxy(api, echo_port, enabled=False)  # port 0, not listening: no address to label yet
    assert samples(api, proxy["name"]) == {}
    listen = api.patch(f"/proxies/{proxy['name']}", json={"enabled": True}).json()["listen"]
    assert {labels["listener"] for labels in labels_of(api, proxy["name"])} == {listen}
    with echo_through(listen, b"z" * 10):
        pass
    assert api.delete(f"/proxies/{proxy['name']}").status_code == 204
    assert samples(api, proxy["name"])[(SENT, "downstream")] == 10.0  # as Go's counters: kept


def test_each_server_has_its_own_registry(api: httpx.Client, echo_port: int) -> None:
    new_proxy(api, echo_port)
    assert b"toxiproxy_proxy" not in generate_latest(REGISTRY)
    other = ToxiproxyServer()
    assert b'proxy="' not in generate_latest(other.registry)
