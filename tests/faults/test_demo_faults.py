"""Faults on the running demo: its traffic crosses both fault layers (service → L7 route → L4 proxy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import toxiproxy.api
from toxiproxy import Toxiproxy

from drillkit.config.system import load_system
from tests.demo.test_demo_cli import UP, Demo, demo, listening  # noqa: F401 - `demo` is a fixture

QUESTION = {"question": "How long do I have to return an item?"}


@pytest.fixture
def running(demo: Demo) -> Iterator[Demo]:  # noqa: F811 - the imported fixture is used here
    r = demo.run(*UP)
    assert r.returncode == 0, r.stderr
    yield demo


def ask(d: Demo, body: dict[str, str] = QUESTION) -> dict:
    system = load_system(d.workdir / "drillkit.yaml")
    r = httpx.post(
        str(system.service.url), json=body, headers={"content-type": "application/json"}, trust_env=False, timeout=10
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_every_provider_and_tool_is_fronted_on_both_layers(running: Demo) -> None:
    system = load_system(running.workdir / "drillkit.yaml")
    info = json.loads((running.workdir / "run" / "demo.json").read_text())
    # The manifest points the service at the fault proxies, not at the sims directly.
    assert str(system.providers["primary"].base_url).rstrip("/") != info["urls"]["primary"] + "/v1"
    assert system.chaos.toxiproxy == info["urls"]["toxiproxy"]
    assert system.chaos.llm_proxy == info["urls"]["llm_proxy"]
    routes = httpx.get(system.chaos.llm_proxy + "/routes", trust_env=False).json()
    assert sorted(routes) == ["fallback", "order_status", "primary"]
    # The same names on the Toxiproxy layer, seen through the official client.
    url = httpx.URL(system.chaos.toxiproxy)
    toxiproxy.api.APIConsumer.host, toxiproxy.api.APIConsumer.port = url.host, url.port
    try:
        proxies = Toxiproxy().proxies()
    finally:
        toxiproxy.api.APIConsumer.host, toxiproxy.api.APIConsumer.port = "127.0.0.1", 8474
    assert sorted(proxies) == ["fallback", "order_status", "primary"]
    # Each route's upstream is the L4 proxy of the same name.
    for name, route in routes.items():
        assert route["upstream"] == f"http://{proxies[name].listen}"
    assert ask(running)["provider"] == "primary"


def test_silent_model_swap_fails_evals_while_reporting_the_pinned_model(running: Demo) -> None:
    assert running.run("eval", "run").returncode == 0
    r = running.run("chaos", "inject", "provider:primary", "model_swap", "--set", "serve_model=sim-pro-2025-11")
    assert r.returncode == 0, r.stderr
    answer = ask(running)
    assert answer["model"] == "sim-pro"  # what the provider reports: the name the service asked for
    assert answer["answer"].startswith("According to our help center")  # newer weights' phrasing
    r = running.run("eval", "run")
    assert r.returncode == 1, r.stdout + r.stderr
    status = running.json("chaos", "status")
    assert [f["type"] for f in status["layers"]["l7"]["faults"]] == ["model_swap"]
    assert running.run("chaos", "reset").returncode == 0
    assert running.run("eval", "run").returncode == 0


def test_pinning_the_dated_snapshot_recovers_while_the_alias_stays_swapped(running: Demo) -> None:
    """The game-day story of scenarios/silent-model-swap.yaml: the rollback works under the fault."""
    r = running.run(
        "chaos",
        "inject",
        "provider:primary",
        "model_swap",
        "--set",
        "serve_model=sim-pro-2025-11",
        "--match",
        "model=sim-pro",
    )
    assert r.returncode == 0, r.stderr
    assert running.run("eval", "run").returncode == 1
    assert running.json("demo", "ctl", "pin", "sim-pro-2025-06")["pinned_model"] == "sim-pro-2025-06"
    assert running.run("eval", "run").returncode == 0  # the fault is still there, not matched any more
    assert ask(running)["model"] == "sim-pro-2025-06"
    assert len(running.json("chaos", "status")["layers"]["l7"]["faults"]) == 1


def test_network_latency_and_quota_and_tool_contract_faults(running: Demo) -> None:
    r = running.run("chaos", "inject", "provider:primary", "latency", "--set", "latency=300")
    assert r.returncode == 0, r.stderr
    # A 300 ms latency toxic is a floor on the answer's latency, whatever the machine's load (no
    # comparison with a single unfaulted sample, which a loaded machine can make as slow).
    slowed = ask(running)
    assert slowed["latency_ms"] >= 295, slowed["latency_ms"]
    assert running.run("chaos", "remove", "provider:primary", "latency_downstream").returncode == 0

    r = running.run("chaos", "inject", "provider:primary", "quota_exhausted")
    assert r.returncode == 0, r.stderr
    assert ask(running)["provider"] == "fallback"  # the router falls back, not retries
    running.run("chaos", "reset")
    running.cli("demo", "ctl", "reset")  # clear the router's cooldown on primary

    r = running.run("chaos", "inject", "tool:order_status", "json_mutate", "--set", "rename.status=state")
    assert r.returncode == 0, r.stderr
    answer = ask(running, {"question": "Where is my order A1003?"})
    assert "could not determine" in answer["answer"]
    running.run("chaos", "reset")
    assert "shipped" in ask(running, {"question": "Where is my order A1003?"})["answer"]


def test_down_leaves_no_fault_listener(running: Demo, tmp_path: Path) -> None:
    system = load_system(running.workdir / "drillkit.yaml")
    routes = httpx.get(system.chaos.llm_proxy + "/routes", trust_env=False).json()
    listeners = [f"http://{r['listen']}" for r in routes.values()] + [system.chaos.toxiproxy, system.chaos.llm_proxy]
    assert all(listening(u) for u in listeners)
    assert running.run("demo", "down").returncode == 0
    assert not any(listening(u) for u in listeners)
