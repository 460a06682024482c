"""`drillkit demo up/status/ctl/down` end to end, through real processes on ephemeral ports.

`up` runs as a subprocess so the background runner it starts is a real detached process; the
other commands run in process (CliRunner) against it, which is just as real and a lot faster.
Every test stops the runner in a `finally` (and kills it outright if `down` failed), so no test
leaves a process behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from drillkit.cli import cli
from drillkit.config.system import load_system
from drillkit.demo.runner import read_run_info, runner_pid
from drillkit.demo.workdir import assets, prepare_workdir, write_manifest
from drillkit.errors import InputError

REPO = Path(__file__).resolve().parents[2]
UP = ["demo", "up", "--port", "0", "--latency-scale", "0"]


class Demo:
    """Runs drillkit commands with DRILLKIT_HOME pointing at a temporary folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.workdir = home / "demo"
        self.env = {**os.environ, "DRILLKIT_HOME": str(home)}
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`python -m drillkit ARGS` in a subprocess."""
        return subprocess.run(
            [sys.executable, "-m", "drillkit", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli(self, *args: str) -> Result:
        """`drillkit ARGS` in this process."""
        return CliRunner().invoke(cli, list(args), env={"DRILLKIT_HOME": str(self.home)}, catch_exceptions=False)

    def json(self, *args: str) -> Any:
        r = self.cli(*args, "--json")
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    d = Demo(tmp_path)
    try:
        yield d
    finally:
        d.cli("demo", "down")
        pid = runner_pid(d.workdir)
        if pid is not None:  # `down` failed: never leave a process behind
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"`drillkit demo down` left the runner (pid {pid}) running")


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    # An exited process nobody has reaped yet (a zombie) is gone for our purposes.
    return stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z"


def listening(url: str) -> bool:
    u = httpx.URL(url)
    try:
        socket.create_connection((u.host, u.port), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_up_ctl_down_end_to_end(demo: Demo) -> None:
    t0 = time.monotonic()
    r = demo.run(*UP, "--json")
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    up = json.loads(r.stdout)
    assert took < 10, f"demo up took {took:.1f}s"
    assert up["status"] == "started"
    urls = up["urls"]
    assert set(urls) == {"service", "primary", "fallback", "tool"}
    assert up["endpoints"]["service"] == urls["service"] + "/v1/answer"
    assert up["endpoints"]["primary"] == urls["primary"] + "/v1"
    pid = up["pid"]
    assert read_run_info(demo.workdir).pid == pid  # type: ignore[union-attr]

    # The manifest names the bound URLs and is a valid System.
    system = load_system(demo.workdir / "drillkit.yaml")
    assert str(system.service.url) == urls["service"] + "/v1/answer"
    assert str(system.providers["primary"].base_url) == urls["primary"] + "/v1"

    again = demo.run(*UP)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert urls["service"] in again.stdout
    assert read_run_info(demo.workdir).pid == pid  # type: ignore[union-attr]

    status = demo.json("demo", "status")
    assert status["running"] and status["healthy"]
    assert status["pid"] == pid
    assert all(h["ok"] for h in status["health"].values())
    assert status["state"]["route"] == "primary"

    state = demo.json("demo", "ctl", "pin", "sim-pro-2025-11")
    assert state["models"]["primary"] == "sim-pro-2025-11"
    state = demo.json("demo", "ctl", "pin", "sim-pro-2025-06")
    assert state["models"]["primary"] == "sim-pro-2025-06"
    assert demo.json("demo", "ctl", "prompt", "v4-terse")["prompt"]["active"] == "v4-terse"
    assert demo.json("demo", "ctl", "prompt", "previous")["prompt"]["active"] == "v3"

    bad = demo.cli("demo", "ctl", "route", "nowhere")
    assert bad.exit_code == 2, (bad.stdout, bad.stderr)
    assert "nowhere" in bad.stderr
    assert "Traceback" not in bad.stderr

    from openai import OpenAI

    with OpenAI(base_url=up["endpoints"]["primary"], api_key="not-needed", max_retries=0) as client:
        completion = client.chat.completions.create(
            model="sim-pro-2025-06",
            messages=[
                {"role": "system", "content": "Answer from the documents and cite them."},
                {"role": "user", "content": "Hello?"},
            ],
        )
    assert completion.choices[0].message.content

    with httpx.Client(trust_env=False, timeout=10) as client:
        answer = client.post(
            up["endpoints"]["service"], json={"question": "How many days do I have to return an item?"}
        )
    assert answer.status_code == 200, answer.text
    assert "returns-policy" in answer.json()["citations"]

    down = demo.cli("demo", "down")
    assert down.exit_code == 0, down.stderr
    assert "stopped" in down.stdout
    assert process_gone(pid)
    assert not [url for url in urls.values() if listening(url)]
    assert not (demo.workdir / "run" / "demo.json").exists()

    again = demo.cli("demo", "down")
    assert again.exit_code == 0 and "not running" in again.stdout
    off = demo.cli("demo", "ctl", "reset")
    assert off.exit_code == 1 and "drillkit demo up" in off.stderr
    assert demo.cli("demo", "status").exit_code == 1


def test_edits_survive_a_restart_and_reset_restores_them(demo: Demo) -> None:
    doc = demo.workdir / "corpus" / "returns-policy.md"
    shipped = (assets() / "corpus" / "returns-policy.md").read_text(encoding="utf-8")

    assert demo.run(*UP).returncode == 0
    doc.write_text(shipped + "\nEdited by an operator.\n", encoding="utf-8")
    refused = demo.cli(*UP, "--reset")
    assert refused.exit_code == 2 and "demo down" in refused.stderr
    assert demo.cli("demo", "down").exit_code == 0

    assert demo.run(*UP).returncode == 0
    assert "Edited by an operator." in doc.read_text(encoding="utf-8")
    assert demo.cli("demo", "down").exit_code == 0

    r = demo.run(*UP, "--reset")
    assert r.returncode == 0, r.stderr
    assert doc.read_text(encoding="utf-8") == shipped


def test_stale_pidfile_is_cleaned(demo: Demo) -> None:
    run = demo.workdir / "run"
    run.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"pid": dead.pid, "started_at": "2026-01-01T00:00:00Z", "urls": {}, "workdir": "x", "version": "0"}
    (run / "demo.json").write_text(json.dumps(stale))
    assert demo.cli("demo", "status").exit_code == 1
    assert not (run / "demo.json").exists()
    r = demo.run(*UP, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "started"


# -- the workdir and the manifest, in process ----------------------------------------------------

URLS = {
    "service": "http://127.0.0.1:18710",
    "primary": "http://127.0.0.1:18711",
    "fallback": "http://127.0.0.1:18712",
    "tool": "http://127.0.0.1:18713",
}


def test_manifest_is_a_valid_system(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    prepare_workdir(workdir)
    path = write_manifest(workdir, URLS)
    assert path.read_text(encoding="utf-8").startswith("# drillkit demo system manifest")
    system = load_system(path)
    assert system.name == "acme-support"
    assert str(system.service.url) == "http://127.0.0.1:18710/v1/answer"
    assert str(system.providers["fallback"].base_url) == "http://127.0.0.1:18712/v1"
    assert system.providers["fallback"].model == "sim-lite-2025-03"
    assert str(system.tools["order_status"].base_url).rstrip("/") == URLS["tool"]
    assert system.components.model is not None and system.components.model.pinned == "sim-pro-2025-06"
    assert set(system.pricing) == {"sim-pro-2025-06", "sim-pro-2025-11", "sim-lite-2025-03"}
    assert system.rto_target == 300
    assert system.rollbacks["retrieval"].user_visible_cost == "high"
    for rollback in system.rollbacks.values():
        assert rollback.run is not None
        assert rollback.run[:3] == ["drillkit", "demo", "ctl"]
        assert rollback.run[-2:] == ["--workdir", str(workdir.absolute())]
    # Every file the manifest points to was copied in.
    c = system.components
    pointed = [system.evals, c.model.canaries, c.prompt.path, c.retrieval.path, c.tools.contracts, c.inputs.sample]  # type: ignore[union-attr]
    for relative in [*pointed, "orders.json"]:
        assert system.resolve(relative).exists()  # type: ignore[union-attr]


def test_tool_contracts_point_at_the_running_tool(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    prepare_workdir(workdir)
    tools = workdir / "tools.yaml"
    if not tools.exists():
        tools.write_text("order_status:\n  base_url: http://127.0.0.1:8713  # the tool API\n", encoding="utf-8")
    before = yaml.safe_load(tools.read_text(encoding="utf-8"))
    write_manifest(workdir, URLS)
    text = tools.read_text(encoding="utf-8")
    assert f"base_url: {URLS['tool']}" in text
    after = yaml.safe_load(text)
    assert after.keys() == before.keys()


def test_prepare_keeps_edits_and_reset_restores(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    assert prepare_workdir(workdir) is True
    prompt = workdir / "prompts" / "v3.md"
    prompt.write_text("edited", encoding="utf-8")
    extra = workdir / "corpus" / "stale-doc.md"
    extra.write_text("# Stale\n", encoding="utf-8")
    (workdir / "state.json").write_text("{}", encoding="utf-8")
    mine = workdir / "notes.txt"
    mine.write_text("keep me", encoding="utf-8")

    assert prepare_workdir(workdir) is False
    assert prompt.read_text(encoding="utf-8") == "edited"

    assert prepare_workdir(workdir, reset=True) is True
    assert prompt.read_text(encoding="utf-8") == (assets() / "prompts" / "v3.md").read_text(encoding="utf-8")
    assert not extra.exists()
    assert not (workdir / "state.json").exists()
    assert mine.read_text(encoding="utf-8") == "keep me"


def test_a_foreign_folder_is_never_wiped_or_overwritten(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "v3.md").write_text("mine", encoding="utf-8")
    prepare_workdir(tmp_path, reset=True)  # never prepared by drillkit: nothing is wiped
    assert (tmp_path / "prompts" / "v3.md").read_text(encoding="utf-8") == "mine"
    assert (tmp_path / "corpus").is_dir()  # missing files were added

    foreign = tmp_path / "project"
    foreign.mkdir()
    (foreign / "drillkit.yaml").write_text("apiVersion: drillkit/v1\n", encoding="utf-8")
    with pytest.raises(InputError, match="not written by"):
        prepare_workdir(foreign)
    assert [p.name for p in foreign.iterdir()] == ["drillkit.yaml"]
    with pytest.raises(InputError, match="not written by"):
        write_manifest(foreign, URLS)
    assert (foreign / "drillkit.yaml").read_text(encoding="utf-8") == "apiVersion: drillkit/v1\n"
