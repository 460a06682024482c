"""A fleet of fault servers over real sockets: `drillkit chaos apply` (idempotent, fixes drift in place),
each server's headers and timeout on every request, status/reset/leftovers over every server."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from drillkit.cli import cli
from drillkit.config.system import load_system
from drillkit.faults.backends import ActiveFault, FaultRequest
from drillkit.faults.fleet import connect
from drillkit.gameday import leftovers
from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app
from drillkit.proxy.toxiproxy_api import ToxiproxyServer, create_toxiproxy_app

EDGE_A_TOKEN = "edge-a-s3cret-8f2c"
L7_TOKEN = "l7-s3cret-41aa"
ENV = {"DK_TEST_EDGE_A": EDGE_A_TOKEN, "DK_TEST_L7": L7_TOKEN, "DRILLKIT_CHAOS_TOKEN": None}


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    """Two Toxiproxy servers (edge-a wants a bearer token) and an LLM fault proxy (token too)."""
    apps = {
        "edge-a": create_toxiproxy_app(ToxiproxyServer(), token=EDGE_A_TOKEN),
        "edge-b": create_toxiproxy_app(ToxiproxyServer()),
        "l7": create_admin_app(LlmProxyServer(), token=L7_TOKEN),
    }
    with ServerThread(apps) as urls:
        yield urls


def write_manifest(path: Path, urls: dict[str, str], *, fallback_upstream: str = "127.0.0.1:9") -> Path:
    path.write_text(f"""apiVersion: drillkit/v1
kind: System
name: fleet
service: {{url: 'http://127.0.0.1:1/v1/answer'}}
providers:
  primary: {{base_url: 'http://127.0.0.1:1/v1', model: m}}
  fallback: {{base_url: 'http://127.0.0.1:1/v1', model: m, api: anthropic}}
chaos:
  llm_proxy: {{url: '{urls["l7"]}', headers: {{Authorization: 'Bearer ${{DK_TEST_L7}}'}}}}
  toxiproxy:
    edge-a: {{url: '{urls["edge-a"]}', headers: {{Authorization: 'Bearer ${{DK_TEST_EDGE_A}}'}}}}
    edge-b: {{url: '{urls["edge-b"]}', timeout: 300ms}}
  proxies:
    provider:primary: {{server: edge-a, listen: '127.0.0.1:0', upstream: '127.0.0.1:9'}}
    provider:fallback: {{server: edge-b, proxy: fb, upstream: '{fallback_upstream}'}}
  routes:
    provider:primary: {{route: primary}}
    provider:fallback: {{upstream: 'http://127.0.0.1:9'}}
""")
    return path


@pytest.fixture
def manifest(tmp_path: Path, servers: dict[str, str]) -> Path:
    return write_manifest(tmp_path / "drillkit.yaml", servers)


def drillkit(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--home", str(tmp_path / "home")], env=ENV)


def chaos_json(tmp_path: Path, manifest: Path, command: str, *args: str) -> tuple[int, Any]:
    result = drillkit(tmp_path, "chaos", command, *args, "--system", str(manifest), "--json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else result.output


def get(urls: dict[str, str], server: str, path: str) -> Any:
    token = {"edge-a": EDGE_A_TOKEN, "l7": L7_TOKEN}.get(server)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(urls[server] + path, headers=headers, trust_env=False)
    assert response.status_code == 200, response.text
    return response.json()


def actions(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(a["server"], a["name"]): a["action"] for a in report["applied"]}


def test_apply_creates_what_is_declared_and_a_second_apply_changes_nothing(
    tmp_path: Path, manifest: Path, servers: dict[str, str]
) -> None:
    code, report = chaos_json(tmp_path, manifest, "apply")
    assert code == 0, report
    assert actions(report) == {
        ("edge-a", "primary"): "created",
        ("edge-b", "fb"): "created",
        ("llm_proxy", "primary"): "created",
        ("llm_proxy", "fallback"): "created",
    }
    assert report["ok"] and report["changed"] == 4
    primary = get(servers, "edge-a", "/proxies")["primary"]
    assert primary["upstream"] == "127.0.0.1:9" and primary["listen"] != "127.0.0.1:0"  # port 0: the server chose
    assert get(servers, "edge-b", "/proxies")["fb"]["upstream"] == "127.0.0.1:9"
    routes = get(servers, "l7", "/routes")
    # A route without upstream forwards to its target's declared proxy, where that proxy listens.
    assert routes["primary"]["upstream"] == f"http://{primary['listen']}"
    assert routes["primary"]["api"] == "openai" and routes["fallback"]["api"] == "anthropic"  # the providers' api

    code, again = chaos_json(tmp_path, manifest, "apply")
    assert code == 0 and again["changed"] == 0, again
    assert set(actions(again).values()) == {"unchanged"}
    assert get(servers, "edge-a", "/proxies")["primary"]["listen"] == primary["listen"]  # port 0 matched, kept


def test_apply_fixes_drift_in_place_and_the_faults_stay(
    tmp_path: Path, manifest: Path, servers: dict[str, str]
) -> None:
    assert chaos_json(tmp_path, manifest, "apply")[0] == 0
    code, injected = chaos_json(tmp_path, manifest, "inject", "provider:fallback", "latency", "--set", "latency=5")
    assert code == 0 and injected["server"] == servers["edge-b"] and injected["target"] == "fb", injected
    # Someone re-points the primary route by hand, and the manifest moves the fallback's upstream.
    patch = httpx.patch(servers["l7"] + "/routes/primary", json={"upstream": "http://127.0.0.1:7"},
                        headers={"Authorization": f"Bearer {L7_TOKEN}"}, trust_env=False)  # fmt: skip
    assert patch.status_code == 200
    write_manifest(manifest, servers, fallback_upstream="127.0.0.1:10")

    code, report = chaos_json(tmp_path, manifest, "apply")

    assert code == 0, report
    by_name = {(a["server"], a["name"]): a for a in report["applied"]}
    assert by_name[("edge-b", "fb")]["action"] == "updated"
    assert by_name[("edge-b", "fb")]["changes"] == {"upstream": ["127.0.0.1:9", "127.0.0.1:10"]}
    assert by_name[("llm_proxy", "primary")]["action"] == "updated"
    assert by_name[("edge-a", "primary")]["action"] == "unchanged"
    fb = get(servers, "edge-b", "/proxies")["fb"]
    assert fb["upstream"] == "127.0.0.1:10"
    assert [t["name"] for t in fb["toxics"]] == ["latency_downstream"]  # changed in place, not recreated
    primary = get(servers, "edge-a", "/proxies")["primary"]
    assert get(servers, "l7", "/routes")["primary"]["upstream"] == f"http://{primary['listen']}"


def test_status_and_reset_cover_every_server_with_its_headers(
    tmp_path: Path, manifest: Path, servers: dict[str, str]
) -> None:
    assert chaos_json(tmp_path, manifest, "apply")[0] == 0
    for args in (("provider:primary", "latency", "--set", "latency=5"), ("provider:fallback", "down"),
                 ("provider:primary", "http_error", "--set", "status=503")):  # fmt: skip
        code, out = chaos_json(tmp_path, manifest, "inject", *args)
        assert code == 0, out

    code, status = chaos_json(tmp_path, manifest, "status")
    assert code == 0, status
    layers = status["layers"]
    assert list(layers) == ["l4:edge-a", "l4:edge-b", "l7"]
    assert [layers[k]["server"] for k in ("l4:edge-a", "l4:edge-b")] == ["edge-a", "edge-b"]
    assert [(f["target"], f["name"]) for f in layers["l4:edge-a"]["faults"]] == [("primary", "latency_downstream")]
    assert [(f["target"], f["name"]) for f in layers["l4:edge-b"]["faults"]] == [("fb", "down")]
    assert [f["target"] for f in layers["l7"]["faults"]] == ["primary"]
    text = drillkit(tmp_path, "chaos", "status", "--system", str(manifest)).output
    assert "L4 edge-a" in text and "L4 edge-b" in text and "3 active fault(s)" in text

    code, reset = chaos_json(tmp_path, manifest, "reset")
    assert code == 0, reset
    assert {k: v["reset"] for k, v in reset.items()} == {"l4:edge-a": True, "l4:edge-b": True, "l7": True}
    assert get(servers, "edge-a", "/proxies")["primary"]["toxics"] == []
    assert get(servers, "edge-b", "/proxies")["fb"]["enabled"] is True
    assert get(servers, "l7", "/routes")["primary"]["faults"] == []
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert EDGE_A_TOKEN not in path.read_text(errors="replace") and L7_TOKEN not in path.read_text(
                errors="replace"
            )


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_each_server_has_its_own_timeout_and_an_unreachable_one_fails_alone(
    tmp_path: Path, servers: dict[str, str], silent_url: str
) -> None:
    manifest = write_manifest(tmp_path / "drillkit.yaml", {**servers, "edge-b": silent_url})
    started = time.monotonic()
    code, status = chaos_json(tmp_path, manifest, "status")
    took = time.monotonic() - started
    assert code == 1, status
    assert status["layers"]["l4:edge-a"]["reachable"] and status["layers"]["l7"]["reachable"]
    assert "did not answer within 0.3s" in status["layers"]["l4:edge-b"]["error"]
    assert took < 5, f"edge-b's 300ms timeout should bound the command (took {took:.1f}s)"

    code, report = chaos_json(tmp_path, manifest, "apply")
    assert code == 1
    assert actions(report)[("edge-a", "primary")] == "created"  # the others are still applied
    assert actions(report)[("edge-b", "fb")] == "failed"


def test_a_killed_runs_faults_on_a_fleet_server_are_removed_with_that_servers_headers(
    tmp_path: Path, manifest: Path, servers: dict[str, str]
) -> None:
    assert chaos_json(tmp_path, manifest, "apply")[0] == 0
    home = tmp_path / "home"
    system = load_system(manifest)

    async def inject() -> ActiveFault:
        fleet = connect(system, env=ENV)  # type: ignore[arg-type]
        try:
            backend, proxy = fleet.place("provider:primary", "latency")
            return await backend.inject(FaultRequest(type="latency", target=proxy, attributes={"latency": 5}))
        finally:
            await fleet.aclose()

    leftovers.record(home, "killed-run", asyncio.run(inject()))
    assert leftovers.read(home)[0]["server"] == servers["edge-a"]
    assert EDGE_A_TOKEN not in (home / "chaos" / "leftovers.json").read_text()
    # Without the manifest's headers, edge-a refuses (401): the record stays.
    stuck = asyncio.run(leftovers.sweep(home))
    assert len(stuck.stuck) == 1 and servers["edge-a"] in stuck.stuck[0].error, stuck

    code, reset = chaos_json(tmp_path, manifest, "reset")

    assert code == 0, reset
    assert [r["name"] for r in reset["leftovers"]["removed"]] == ["latency_downstream"]
    assert leftovers.read(home) == []
    assert get(servers, "edge-a", "/proxies")["primary"]["toxics"] == []
