"""An observe-only game-day judged by a real Prometheus (issue 14 item 2, tier e2e).

Debian's `prometheus` (installed by `.ci/run`) scrapes the demo service every second; a thread of
"users" sends the demo its traffic, as production would; the game-day sends none (`traffic.rate:
0`) and judges `error_rate` from PromQL over the service's own metrics. The primary provider
refuses every request (HTTP 402): the error rate Prometheus sees breaks the SLO, the rollback
routes to the fallback provider, and the rate falls back. With a no-op rollback the same game-day
fails. The windows record where their SLO came from.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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
from drillkit.net.serving import bind_socket

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
ERROR_RATE = (
    '(sum(rate(drillkit_demo_requests_total{outcome!="ok"}[3s])) or vector(0))'
    " / sum(rate(drillkit_demo_requests_total[3s]))"
)


def prometheus_bin() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("DRILLKIT_E2E_REQUIRED") == "1":
            pytest.fail("Prometheus is not installed (.ci/run installs Debian's prometheus)")
        pytest.skip("Prometheus is not installed: apt-get install prometheus")
    return found


def free_port() -> int:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    return port


def drillkit(env: dict[str, str], *args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillkit", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


class Users(threading.Thread):
    """Production traffic stand-in: ~10 questions a second to the demo service, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    client.post(self.url, json={"question": "How many days do I have to return an item?"})
                self.stop.wait(0.1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    binary = prometheus_bin()
    root = tmp_path_factory.mktemp("prom")
    env = {k: v for k, v in os.environ.items() if k != "DRILLKIT_SYSTEM"}
    env |= {"DRILLKIT_HOME": str(root / "home"), "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    assert drillkit(env, "demo", "up", "--port", "0", "--workdir", str(root / "demo"), cwd=root).returncode == 0
    demo = yaml.safe_load((root / "demo" / "drillkit.yaml").read_text())
    service = httpx.URL(demo["service"]["url"])
    port = free_port()
    (root / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "demo", "static_configs": [{"targets": [f"127.0.0.1:{service.port}"]}]}],
    }))  # fmt: skip
    prom = subprocess.Popen(
        [binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    users = Users(str(service))
    users.start()
    try:
        demo["prometheus"] = {"url": f"http://127.0.0.1:{port}"}
        demo["slos"] = {"error_rate": {"objective": 0.05, "promql": ERROR_RATE}}
        # Beside the demo's own manifest, so its relative paths (suite, canaries) still resolve.
        (root / "demo" / "drillkit-prom.yaml").write_text(yaml.safe_dump(demo, sort_keys=False))
        wait_for_value(f"http://127.0.0.1:{port}", ERROR_RATE)
        yield root, env
    finally:
        users.stop.set()
        prom.terminate()
        prom.wait(timeout=30)
        drillkit(env, "demo", "down", "--workdir", str(root / "demo"), cwd=root, timeout=60)


def wait_for_value(url: str, query: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=2).json()
            if answer["data"]["result"]:
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"Prometheus at {url} has no value for the SLO query after {timeout}s")


def scenario(root: Path, name: str, steps: list[dict[str, Any]]) -> Path:
    data = {
        "apiVersion": "drillkit/v1", "kind": "Scenario", "id": name, "title": "primary out of credit, observed",
        "layer": "provider", "severity": "high", "system": "demo/drillkit-prom.yaml",
        "traffic": {"rate": 0}, "timeline": {"warmup": "4s", "window": "1s", "max_duration": "50s"},
        "faults": [{"type": "http_error", "target": "provider:primary", "attributes": {"status": 402}}],
        "rollback": {"mode": "auto", "decide_after": "1s", "steps": steps},
        "expect": {"detect_within": "15s", "recover_within": "30s", "breach": ["error_rate"]},
        "restore": [{"name": "back", "run": ["drillkit", "demo", "ctl", "reset", "--workdir", str(root / "demo")]}],
    }  # fmt: skip
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_an_observe_only_game_day_is_judged_by_prometheus(stack: tuple[Path, dict[str, str]]) -> None:
    root, env = stack
    route = ["drillkit", "demo", "ctl", "route", "fallback", "--workdir", str(root / "demo")]
    path = scenario(root, "observed-credit", [{"name": "route to fallback", "run": route}])
    r = drillkit(env, "gameday", "run", str(path), "--auto", "--no-live", "--json", cwd=root)
    summary = json.loads(r.stdout) if r.stdout.startswith("{") else {}
    assert r.returncode == 0 and summary["verdict"] == "pass", r.stdout[-3000:] + r.stderr[-3000:]
    assert summary["breached"] == ["error_rate"] and summary["ttr_s"] is not None
    assert summary["requests"] == {}  # drillkit sent nothing: the SLO came from Prometheus
    windows = [e.data for e in read_journal(Path(summary["journal"])) if e.kind == "window"]
    assert windows and all(w["count"] == 0 for w in windows)
    judged = [w for w in windows if w["sources"].get("error_rate") == "promql"]
    assert len(judged) >= len(windows) - 2, windows  # every window is judged (a scrape may lag once)
    assert any(w["error_rate"] > 0.5 for w in judged) and any(w["state"] == "healthy" for w in judged)


def test_with_a_no_op_rollback_it_fails(stack: tuple[Path, dict[str, str]]) -> None:
    root, env = stack
    path = scenario(root, "observed-noop", [{"name": "no-op", "run": [sys.executable, "-c", "pass"]}])
    r = drillkit(env, "gameday", "run", str(path), "--auto", "--no-live", "--json", cwd=root)
    summary = json.loads(r.stdout) if r.stdout.startswith("{") else {}
    assert r.returncode == 1 and summary["verdict"] == "fail", r.stdout[-3000:] + r.stderr[-3000:]
    assert summary["ttd_s"] is not None and summary["ttr_s"] is None


def test_a_promql_guardrail_aborts_the_drill_on_the_teams_own_signal(stack: tuple[Path, dict[str, str]]) -> None:
    root, env = stack
    path = scenario(root, "observed-guarded", [{"name": "no-op", "run": [sys.executable, "-c", "pass"]}])
    data = yaml.safe_load(path.read_text())
    data["guardrails"] = {"abort_if": {"error_rate": {"objective": 0.5, "promql": ERROR_RATE}}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r = drillkit(env, "gameday", "run", str(path), "--auto", "--no-live", "--json", cwd=root)
    summary = json.loads(r.stdout) if r.stdout.startswith("{") else {}
    assert r.returncode == 3 and summary["verdict"] == "aborted", r.stdout[-3000:] + r.stderr[-3000:]
    assert summary["reasons"][0] == "guardrail tripped: error_rate"
    assert all(f["removed"] for f in summary["faults"])
