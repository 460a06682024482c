"""e2e: a real Chaos Toolkit experiment (``chaos run``, ``chaostoolkit-toxiproxy``) against the
embedded Toxiproxy server on an ephemeral loopback port.

The experiment creates a proxy, adds a latency toxic through the extension's generic
``create_toxic`` action (and a second one with no attributes, which the extension sends as
``"attributes": null``), probes the upstream through the proxy, and rolls everything back.

Needs ``chaostoolkit`` and ``chaostoolkit-toxiproxy`` (installed by ``.ci/run``): in this
interpreter (run as ``python -m chaostoolkit``), or a ``chaos`` executable named by
``DRILLKIT_CHAOS`` (e.g. from a venv of its own, with the extension installed beside it).
Skipped when neither is there, unless ``DRILLKIT_E2E_REQUIRED=1``: then it fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from drillkit.net.serving import ServerThread
from drillkit.proxy import ToxiproxyServer, create_toxiproxy_app

pytestmark = pytest.mark.e2e

LATENCY_MS = 300
PROXY = "dk_e2e"
#: The probe through the proxy: a process, because the extension publishes the port the proxy got
#: (listen port 0) in the environment as "<proxy>_PORT", not where later activities' ${...} see it.
THROUGH_THE_PROXY = (
    "import os, urllib.request\n"
    f"url = 'http://127.0.0.1:' + os.environ['{PROXY}_PORT'] + '/'\n"
    "print(urllib.request.urlopen(url, timeout=10).read().decode(), end='')\n"
)


def chaos_command() -> list[str]:
    """How to run ``chaos``; skips (or fails, with DRILLKIT_E2E_REQUIRED=1) when it is absent."""
    named = os.environ.get("DRILLKIT_CHAOS")
    if named:
        if not Path(named).is_file():
            pytest.fail(f"DRILLKIT_CHAOS={named} is not a file")
        return [named]
    missing = [m for m in ("chaostoolkit", "chaostoxi") if importlib.util.find_spec(m) is None]
    if not missing:
        return [sys.executable, "-m", "chaostoolkit"]
    reason = f"Chaos Toolkit is absent ({', '.join(missing)}): pip install chaostoolkit chaostoolkit-toxiproxy"
    if os.environ.get("DRILLKIT_E2E_REQUIRED") == "1":
        pytest.fail(reason + " (DRILLKIT_E2E_REQUIRED=1)")
    pytest.skip(reason)


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello\n"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _python(name: str, module: str, func: str, kind: str = "action", **arguments: Any) -> dict[str, Any]:
    provider = {"type": "python", "module": module, "func": func, "arguments": arguments}
    return {"type": kind, "name": name, "provider": provider}


def _toxic(name: str, stream: str, attributes: dict[str, int] | None) -> dict[str, Any]:
    args: dict[str, Any] = {"for_proxy": PROXY, "toxic_name": name, "toxic_type": "latency", "stream": stream}
    if attributes is not None:
        args["attributes"] = attributes  # omitted: the extension sends "attributes": null
    return _python(f"create-toxic-{name}", "chaostoxi.toxic.actions", "create_toxic", **args)


def experiment(toxiproxy_url: str, upstream_port: int) -> dict[str, Any]:
    upstream = f"http://127.0.0.1:{upstream_port}/"
    proxies, probes, toxics = "chaostoxi.proxy.actions", "chaostoxi.proxy.probes", "chaostoxi.toxic.actions"
    return {
        "version": "1.0.0",
        "title": "The upstream still answers through drillkit's embedded Toxiproxy under latency",
        "description": "chaostoolkit-toxiproxy against drillkit's Toxiproxy-compatible API",
        "configuration": {"toxiproxy_url": toxiproxy_url},
        "steady-state-hypothesis": {
            "title": "the upstream answers",
            "probes": [
                {"type": "probe", "name": "upstream-answers", "tolerance": 200,
                 "provider": {"type": "http", "url": upstream, "timeout": 5}},
            ],
        },
        "method": [
            _python("create-proxy", proxies, "create_proxy", proxy_name=PROXY, upstream_host="127.0.0.1",
                     upstream_port=upstream_port, listen_host="127.0.0.1", listen_port=0),
            _toxic("slow-down", "downstream", {"latency": LATENCY_MS, "jitter": 0}),
            _toxic("defaults-up", "upstream", None),
            {"type": "probe", "name": "through-the-proxy",
             "provider": {"type": "process", "path": sys.executable, "arguments": ["-c", THROUGH_THE_PROXY],
                          "timeout": 30}},
            _python("proxy-toxics", probes, "get_proxy_attribute", "probe", proxy_name=PROXY, attribute="toxics"),
        ],
        "rollbacks": [
            _python("remove-slow-down", toxics, "delete_toxic", for_proxy=PROXY, toxic_name="slow-down"),
            _python("remove-defaults-up", toxics, "delete_toxic", for_proxy=PROXY, toxic_name="defaults-up"),
            _python("toxics-left", probes, "get_proxy_attribute", "probe", proxy_name=PROXY, attribute="toxics"),
            _python("delete-proxy", proxies, "delete_proxy", proxy_name=PROXY),
        ],
    }  # fmt: skip


def test_a_chaos_toolkit_experiment_runs_against_the_embedded_server(tmp_path: Path, upstream_port: int) -> None:
    command = chaos_command()
    with ServerThread({"toxiproxy": create_toxiproxy_app(ToxiproxyServer())}) as urls:
        (tmp_path / "experiment.json").write_text(json.dumps(experiment(urls["toxiproxy"], upstream_port)))
        run = subprocess.run(
            [*command, "--no-version-check", "--settings", str(tmp_path / "settings.yaml"),
             "--log-file", str(tmp_path / "chaostoolkit.log"),
             "run", "--rollback-strategy", "always", "--journal-path", str(tmp_path / "journal.json"),
             str(tmp_path / "experiment.json")],
            cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        log = (tmp_path / "chaostoolkit.log").read_text() if (tmp_path / "chaostoolkit.log").exists() else ""
        assert run.returncode == 0, run.stdout + run.stderr + log
        left = httpx.get(urls["toxiproxy"] + "/proxies").json()
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert (journal["status"], journal["deviated"]) == ("completed", False), log
    assert left == {}, "the rollbacks removed the toxics and the proxy"

    ran = {entry["activity"]["name"]: entry for entry in journal["run"]}
    assert all(entry["status"] == "succeeded" for entry in ran.values()), log
    assert ran["create-toxic-slow-down"]["output"] is True
    assert ran["create-toxic-defaults-up"]["output"] is True  # "attributes": null accepted
    probe = ran["through-the-proxy"]
    assert probe["output"] == {"status": 0, "stdout": "hello\n", "stderr": ""}
    assert probe["duration"] >= LATENCY_MS / 1000 * 0.9, "the latency toxic acted"
    toxics = {t["name"]: t for t in ran["proxy-toxics"]["output"]}
    assert toxics["slow-down"]["attributes"] == {"latency": LATENCY_MS, "jitter": 0}
    assert toxics["defaults-up"] == {
        "name": "defaults-up",
        "type": "latency",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {"latency": 0, "jitter": 0},
    }

    rolled = {entry["activity"]["name"]: entry for entry in journal["rollbacks"]}
    assert all(entry["status"] == "succeeded" for entry in rolled.values()), log
    assert rolled["remove-slow-down"]["output"] is True and rolled["remove-defaults-up"]["output"] is True
    assert rolled["toxics-left"]["output"] == []
