"""`drillkit chaos` and the fault backends against real fault servers on ephemeral ports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.cli.chaos import parse_settings
from drillkit.errors import InputError
from drillkit.faults.backends import FaultRequest, LlmProxyBackend, ToxiproxyBackend, backend_for
from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app
from drillkit.proxy.toxiproxy_api import ToxiproxyServer, create_toxiproxy_app


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    apps = {
        "l4": create_toxiproxy_app(ToxiproxyServer()),
        "l7": create_admin_app(LlmProxyServer()),
    }
    with ServerThread(apps) as urls:
        # A provider fronted on both layers, named after it (as the demo does).
        r = httpx.post(
            urls["l4"] + "/proxies", json={"name": "primary", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}
        )
        assert r.status_code == 201
        r = httpx.post(
            urls["l7"] + "/routes",
            json={"name": "primary", "listen": "127.0.0.1:0", "upstream": "http://127.0.0.1:9", "api": "openai"},
        )
        assert r.status_code == 201
        yield urls


@pytest.fixture
def manifest(tmp_path: Path, servers: dict[str, str]) -> Path:
    path = tmp_path / "drillkit.yaml"
    path.write_text(
        "apiVersion: drillkit/v1\nkind: System\nname: t\n"
        "service: {url: 'http://127.0.0.1:1/v1/answer'}\n"
        "providers: {primary: {base_url: 'http://127.0.0.1:1/v1', model: m}}\n"
        "tools: {order_status: {base_url: 'http://127.0.0.1:1'}}\n"
        f"chaos: {{toxiproxy: '{servers['l4']}', llm_proxy: '{servers['l7']}'}}\n"
    )
    return path


def invoke(manifest: Path, *args: str) -> object:
    return CliRunner().invoke(cli, ["chaos", *args[:1], "--system", str(manifest), *args[1:]])


def test_parse_settings() -> None:
    assert parse_settings(("latency=500", "jitter=5.5", "flag=true", "name=x")) == {
        "latency": 500,
        "jitter": 5.5,
        "flag": True,
        "name": "x",
    }
    assert parse_settings(("rename.status=state", "drop=[a.b, c]")) == {
        "rename": {"status": "state"},
        "drop": ["a.b", "c"],
    }
    with pytest.raises(InputError):
        parse_settings(("novalue",))


def test_inject_status_remove_reset_on_both_layers(manifest: Path, servers: dict[str, str]) -> None:
    r = invoke(manifest, "inject", "provider:primary", "latency", "--set", "latency=100", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "latency_downstream"
    r = invoke(manifest, "inject", "provider:primary", "model_swap", "--set", "serve_model=m2", "--ttl", "1m")
    assert r.exit_code == 0, r.stderr
    r = invoke(manifest, "inject", "provider:primary", "down")
    assert r.exit_code == 0, r.stderr

    # What the servers themselves report, not what the CLI says.
    toxics = httpx.get(servers["l4"] + "/proxies/primary/toxics").json()
    assert [t["type"] for t in toxics] == ["latency"]
    assert httpx.get(servers["l4"] + "/proxies/primary").json()["enabled"] is False
    faults = httpx.get(servers["l7"] + "/routes/primary/faults").json()
    assert faults[0]["type"] == "model_swap" and faults[0]["expires_at"]

    r = invoke(manifest, "status", "--json")
    assert r.exit_code == 0
    layers = json.loads(r.stdout)["layers"]
    assert sorted(f["type"] for f in layers["l4"]["faults"]) == ["down", "latency"]
    assert [f["type"] for f in layers["l7"]["faults"]] == ["model_swap"]

    r = invoke(manifest, "remove", "provider:primary", "latency_downstream")
    assert r.exit_code == 0, r.stderr
    assert httpx.get(servers["l4"] + "/proxies/primary/toxics").json() == []
    r = invoke(manifest, "remove", "provider:primary", "no-such-fault")
    assert r.exit_code == 2

    r = invoke(manifest, "reset")
    assert r.exit_code == 0, r.stderr
    assert httpx.get(servers["l4"] + "/proxies/primary").json()["enabled"] is True
    assert httpx.get(servers["l7"] + "/routes/primary/faults").json() == []


def test_remove_without_name_clears_the_target(manifest: Path, servers: dict[str, str]) -> None:
    for args in (("latency", "--set", "latency=5"), ("http_error", "--set", "status=503")):
        assert invoke(manifest, "inject", "provider:primary", *args).exit_code == 0
    r = invoke(manifest, "remove", "provider:primary", "--json")
    assert r.exit_code == 0
    assert {x["layer"] for x in json.loads(r.stdout)["removed"]} == {"l4", "l7"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("provider:nope", "latency"), "no provider named 'nope'"),
        (("primary", "latency"), "provider:<name> or tool:<name>"),
        (("provider:primary", "http_error", "--set", "bogus=1"), "attributes.bogus"),
        (("provider:primary", "latency", "--ttl", "soon"), "--ttl"),
        (("provider:primary", "latency", "--ttl", "30s"), "no TTL"),
        (("provider:primary", "model_swap", "--stream", "upstream"), "network (L4) faults only"),
        (("tool:order_status", "json_mutate", "--set", "drop=[status]"), "order_status"),
    ],
)
def test_bad_injections_exit_2_with_a_message(manifest: Path, args: tuple[str, ...], message: str) -> None:
    r = invoke(manifest, "inject", *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_unreachable_servers_are_reported_not_crashed(tmp_path: Path) -> None:
    path = tmp_path / "drillkit.yaml"
    path.write_text(
        "apiVersion: drillkit/v1\nkind: System\nname: t\nservice: {url: 'http://127.0.0.1:1/v1/answer'}\n"
        "providers: {primary: {base_url: 'http://127.0.0.1:1/v1', model: m}}\n"
        "chaos: {toxiproxy: 'http://127.0.0.1:9', llm_proxy: 'http://127.0.0.1:9'}\n"
    )
    r = invoke(path, "status", "--json")
    assert r.exit_code == 1
    layers = json.loads(r.stdout)["layers"]
    assert not layers["l4"]["reachable"] and "cannot reach Toxiproxy" in layers["l4"]["error"]
    r = invoke(path, "inject", "provider:primary", "latency")
    assert r.exit_code == 1
    assert "cannot reach Toxiproxy at http://127.0.0.1:9" in r.stderr


def test_backends_share_one_interface(servers: dict[str, str]) -> None:
    async def run() -> None:
        l7 = LlmProxyBackend(servers["l7"])
        backends = {"l4": ToxiproxyBackend(servers["l4"]), "l7": l7}
        try:
            for fault_type, attrs in (("slicer", {"average_size": 10}), ("token_latency", {"ttft_ms": 5})):
                backend = backend_for(fault_type, backends)
                fault = await backend.inject(FaultRequest(type=fault_type, target="primary", attributes=attrs))
                assert [f.name for f in await backend.list()] == [fault.name]
                assert await backend.remove("primary", fault.name) is True
                assert await backend.remove("primary", fault.name) is False
                assert await backend.list() == []
                assert await backend.targets() == ["primary"]
                assert "version" in await backend.version()
            with pytest.raises(InputError, match="unknown fault type"):
                backend_for("gremlins", backends)
        finally:
            await l7.aclose()

    asyncio.run(run())


def test_bench_proxy_prints_numbers_for_both_layers() -> None:
    r = CliRunner().invoke(
        cli, ["bench", "proxy", "--rate", "50", "--seconds", "0.5", "--rounds", "1", "--megabytes", "2", "--json"]
    )
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["l7"]["direct"]["ok"] > 0 and data["l7"]["proxy"]["ok"] > 0
    assert data["l7"]["proxy"]["errors"] == 0
    assert data["l4"]["throughput"]["proxy_mb_s"] > 0
    assert data["l4"]["echo"]["proxy_p50_ms"] > 0
