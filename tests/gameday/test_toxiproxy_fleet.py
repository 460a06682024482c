"""Issue 14, "Fleet", done when: a game-day injects L4 faults on two Toxiproxy servers at once (two
`drillkit chaos serve` processes declared as a fleet) and passes; `chaos reset` clears both.

Real processes on ephemeral ports: the demo (`demo up --port 0`), two `chaos serve` processes
(edge-a wants a bearer token, which the manifest sends from `${VAR}`), `chaos apply` putting the
demo's provider paths through them (service → the demo's LLM route → edge-a or edge-b → sim
provider), then the game-day, status and reset as a user runs them.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from drillkit.journal.verify import read_journal

REPO = Path(__file__).resolve().parents[2]
EDGE_TOKEN = "fleet-edge-a-6d1f0c"  # the value of ${DK_FLEET_EDGE_TOKEN}: must never be stored


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DRILLKIT_SYSTEM", "DRILLKIT_CHAOS_TOKEN")}
    env.update(DRILLKIT_HOME=str(home), DK_FLEET_EDGE_TOKEN=EDGE_TOKEN, NO_COLOR="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


def drillkit(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], env=env_for(home), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def drillkit_json(home: Path, *args: str) -> Any:
    done = drillkit(home, *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


class Served:
    """One `drillkit chaos serve` process; `urls` as it printed them once it was up."""

    def __init__(self, home: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "drillkit", "chaos", "serve", *args], env=env_for(home),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.lines: list[str] = []
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                lines.put(line)
            lines.put(None)

        self.pump = threading.Thread(target=pump, daemon=True)
        self.pump.start()
        while True:
            line = lines.get(timeout=30)
            if line is None:
                raise AssertionError(f"chaos serve exited {self.proc.wait()}: {''.join(self.lines)}")
            self.lines.append(line)
            if line.startswith("(pid"):
                break
        self.urls = {
            key: line.split()[-1] for line in self.lines for key in ("Toxiproxy", "LLM") if line.startswith(key)
        }

    def stop(self) -> None:
        self.proc.terminate()
        code = self.proc.wait(timeout=15)
        self.pump.join(timeout=5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        assert code == 0  # SIGTERM is a service manager's stop


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        s.stop()


def test_chaos_serve_with_a_system_creates_what_the_manifest_declares_on_it(
    tmp_path: Path, served: list[Served]
) -> None:
    manifest = tmp_path / "drillkit.yaml"
    manifest.write_text("""apiVersion: drillkit/v1
kind: System
name: t
service: {url: 'http://127.0.0.1:1/v1/answer'}
providers:
  primary: {base_url: 'http://127.0.0.1:1/v1', model: m}
  fallback: {base_url: 'http://127.0.0.1:1/v1', model: m}
chaos:
  llm_proxy: 'http://127.0.0.1:1'
  toxiproxy: {edge-a: {url: 'http://127.0.0.1:2'}, edge-b: {url: 'http://127.0.0.1:3'}}
  proxies:
    provider:primary: {server: edge-a, listen: '127.0.0.1:0', upstream: '127.0.0.1:9'}
    provider:fallback: {server: edge-b, upstream: '127.0.0.1:9'}
  routes:
    provider:primary: {}
""")
    home = tmp_path / "home"
    refused = drillkit(home, "chaos", "serve", "--system", str(manifest), "--toxiproxy", "127.0.0.1:0")
    assert refused.returncode == 2 and "several servers (edge-a, edge-b)" in refused.stderr, refused.stderr

    edge = Served(home, "--system", str(manifest), "--server", "edge-a", "--toxiproxy", "127.0.0.1:0",
                  "--llm-proxy", "127.0.0.1:0")  # fmt: skip
    served.append(edge)

    said = "".join(edge.lines)
    assert "created proxy 'primary' for provider:primary on edge-a" in said, said
    assert "created route 'primary' for provider:primary on llm_proxy" in said, said
    proxies = httpx.get(edge.urls["Toxiproxy"] + "/proxies", trust_env=False).json()
    assert list(proxies) == ["primary"]  # edge-b's proxy is edge-b's business
    routes = httpx.get(edge.urls["LLM"] + "/routes", trust_env=False).json()
    assert routes["primary"]["upstream"] == f"http://{proxies['primary']['listen']}"


def fleet_manifest(demo: Path, edges: dict[str, str]) -> Path:
    """The demo's manifest, its provider paths declared through the two edge servers."""
    system = yaml.safe_load((demo / "drillkit.yaml").read_text())
    sims = httpx.get(system["chaos"]["toxiproxy"] + "/proxies", trust_env=False).json()  # the demo's own proxies
    system["chaos"] = {
        "llm_proxy": system["chaos"]["llm_proxy"],  # the demo's, whose routes the service calls
        "toxiproxy": {
            "edge-a": {"url": edges["edge-a"], "headers": {"Authorization": "Bearer ${DK_FLEET_EDGE_TOKEN}"}},
            "edge-b": {"url": edges["edge-b"], "timeout": "5s"},
        },
        "proxies": {
            "provider:primary": {"server": "edge-a", "listen": "127.0.0.1:0", "upstream": sims["primary"]["upstream"]},
            "provider:fallback": {"server": "edge-b", "proxy": "fallback-b", "upstream": sims["fallback"]["upstream"]},
        },
        "routes": {"provider:primary": {"route": "primary"}, "provider:fallback": {}},
    }
    path = demo / "fleet.yaml"
    path.write_text(yaml.safe_dump(system, sort_keys=False))
    return path


SCENARIO = {
    "apiVersion": "drillkit/v1",
    "kind": "Scenario",
    "id": "fleet-brownout",
    "title": "Both providers' network paths degrade at once, on two Toxiproxy servers",
    "layer": "provider",
    "severity": "high",
    "traffic": {"rate": 20, "concurrency": 64, "inputs": "system"},
    "timeline": {"warmup": "3s", "window": "1s", "max_duration": "45s"},
    "faults": [
        {"name": "slow-primary", "type": "latency", "target": "provider:primary", "attributes": {"latency": 1000}},
        {"name": "slow-fallback", "type": "latency", "target": "provider:fallback", "attributes": {"latency": 60}},
    ],
    "rollback": {"mode": "auto", "decide_after": "1s",
                 "steps": [{"name": "route to fallback", "run": ["drillkit", "demo", "ctl", "route", "fallback"]}]},
    "expect": {"detect_within": "10s", "recover_within": "20s", "breach": ["latency_p95_ms"]},
    "restore": [{"name": "route back to primary", "run": ["drillkit", "demo", "ctl", "reset"]}],
}  # fmt: skip


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    up = drillkit(home, "demo", "up", "--port", "0", "--latency-scale", "0")
    try:
        assert up.returncode == 0, up.stderr
        yield home / "demo"
    finally:
        drillkit(home, "demo", "down")


def check_journal(home: Path, edges: dict[str, str]) -> None:
    (run,) = (home / "runs").iterdir()
    entries = read_journal(run / "journal.jsonl")
    injected = [e.data for e in entries if e.kind == "fault.injected"]
    assert {(f["server"], f["target"]) for f in injected} == {(edges["edge-a"], "primary"),
                                                               (edges["edge-b"], "fallback-b")}  # fmt: skip
    assert all(f["dead_man"] for f in injected)  # both servers heartbeated by the run
    assert {e.data["layer"] for e in entries if e.kind == "preflight.layer"} == {"l4:edge-a", "l4:edge-b"}
    # After the rollback the traffic takes the fallback path, through edge-b and its 60 ms toxic.
    after = next(i for i, e in enumerate(entries) if e.kind == "rollback.finished")
    windows = [e.data for e in entries[after:] if e.kind == "window" and e.data.get("latency_p95_ms") is not None]
    assert windows and min(w["latency_p95_ms"] for w in windows[1:] or windows) >= 50, windows


def start_fleet(demo: Path, served: list[Served]) -> tuple[Path, dict[str, str]]:
    """Two edge servers (edge-a wants a token), the demo's provider paths applied through them."""
    home = demo.parent
    served += [Served(home, "--toxiproxy", "127.0.0.1:0", "--no-llm-proxy", "--token", EDGE_TOKEN),
               Served(home, "--toxiproxy", "127.0.0.1:0", "--no-llm-proxy")]  # fmt: skip
    edges = {"edge-a": served[0].urls["Toxiproxy"], "edge-b": served[1].urls["Toxiproxy"]}
    manifest = fleet_manifest(demo, edges)
    applied = drillkit_json(home, "chaos", "apply", "--system", str(manifest))
    assert applied["changed"] == 4, applied  # two proxies created, the demo's two routes re-pointed
    assert drillkit_json(home, "chaos", "apply", "--system", str(manifest))["changed"] == 0
    return manifest, edges


def test_a_game_day_injects_on_two_toxiproxy_servers_at_once_passes_and_reset_clears_both(
    tmp_path: Path, demo: Path, served: list[Served]
) -> None:
    home = demo.parent
    manifest, edges = start_fleet(demo, served)

    scenario = tmp_path / "fleet-brownout.yaml"
    scenario.write_text(yaml.safe_dump({**SCENARIO, "system": str(manifest)}, sort_keys=False))
    run = drillkit(home, "gameday", "run", str(scenario), "--auto", "--no-live", "--json", "--latency-scale", "0",
                   timeout=120)  # fmt: skip
    summary = json.loads(run.stdout) if run.stdout.startswith("{") else {}
    assert run.returncode == 0 and summary["verdict"] == "pass", run.stdout[-3000:] + run.stderr[-3000:]
    assert all(f["removed"] for f in summary["faults"]) and len(summary["faults"]) == 2
    check_journal(home, edges)

    # By hand now: one fault on each server, seen by status on both, cleared from both by reset.
    for target in ("provider:primary", "provider:fallback"):
        drillkit_json(home, "chaos", "inject", target, "latency", "--set", "latency=5", "--system", str(manifest))
    layers = drillkit_json(home, "chaos", "status", "--system", str(manifest))["layers"]
    assert {k: [f["target"] for f in v["faults"]] for k, v in layers.items()} == {
        "l4:edge-a": ["primary"], "l4:edge-b": ["fallback-b"], "l7": []}  # fmt: skip
    reset = drillkit_json(home, "chaos", "reset", "--system", str(manifest))
    assert {k: v["reset"] for k, v in reset.items()} == {"l4:edge-a": True, "l4:edge-b": True, "l7": True}
    layers = drillkit_json(home, "chaos", "status", "--system", str(manifest))["layers"]
    assert all(v["reachable"] and not v["faults"] for v in layers.values()), layers
    for path in home.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml", ".md", ".xml", ".log"):
            assert EDGE_TOKEN not in path.read_text(errors="replace"), path


def toxics(edges: dict[str, str]) -> dict[str, list[str]]:
    headers = {"edge-a": {"Authorization": f"Bearer {EDGE_TOKEN}"}, "edge-b": {}}
    found = {}
    for name, url in edges.items():
        proxies = httpx.get(url + "/proxies", headers=headers[name], trust_env=False).json()
        found[name] = [t["name"] for p in proxies.values() for t in p["toxics"]]
    return found


def test_a_killed_game_days_faults_on_both_servers_are_recorded_and_chaos_reset_removes_them(
    tmp_path: Path, demo: Path, served: list[Served]
) -> None:
    home = demo.parent
    manifest, edges = start_fleet(demo, served)
    scenario = tmp_path / "fleet-brownout.yaml"
    scenario.write_text(yaml.safe_dump({**SCENARIO, "system": str(manifest)}, sort_keys=False))
    run = subprocess.Popen([sys.executable, "-m", "drillkit", "gameday", "run", str(scenario), "--auto", "--no-live",
                            "--latency-scale", "0"], env=env_for(home), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while sum(1 for e in _journal(home) if e.kind == "fault.injected") < 2:
            assert time.monotonic() < deadline and run.poll() is None, "the game-day never injected both faults"
            time.sleep(0.1)
    finally:
        run.kill()
        run.wait()
    recorded = json.loads((home / "chaos" / "leftovers.json").read_text())
    assert {(r["server"], r["target"]) for r in recorded} == {(edges["edge-a"], "primary"),
                                                               (edges["edge-b"], "fallback-b")}  # fmt: skip
    assert toxics(edges) == {"edge-a": ["slow-primary"], "edge-b": ["slow-fallback"]}  # SIGKILL: no cleanup ran

    done = drillkit(home, "chaos", "reset", "--system", str(manifest), "--json")
    reset = json.loads(done.stdout)

    assert done.returncode == 0, done.stdout + done.stderr
    assert reset["leftovers"]["problems"] == [] and reset["leftovers"]["reset"], reset
    assert {(r["server"], r["name"]) for r in reset["leftovers"]["removed"] if "server" in r} <= {
        (edges["edge-a"], "slow-primary"), (edges["edge-b"], "slow-fallback")}, reset  # fmt: skip
    assert any("restored_for" in r for r in reset["leftovers"]["removed"]), reset  # the demo put back too
    assert {k: v["reset"] for k, v in reset.items() if k != "leftovers"} == {
        "l4:edge-a": True, "l4:edge-b": True, "l7": True}  # fmt: skip
    assert json.loads((home / "chaos" / "leftovers.json").read_text()) == []
    assert toxics(edges) == {"edge-a": [], "edge-b": []}


def _journal(home: Path) -> list[Any]:
    runs = list((home / "runs").iterdir()) if (home / "runs").exists() else []
    path = runs[0] / "journal.jsonl" if runs else None
    return read_journal(path) if path is not None and path.exists() else []
