"""`drillkit demo up/status/ctl/down` end to end, through real processes on ephemeral ports.

`up` runs as a subprocess so the background runner it starts is a real detached process; the
other commands run in process (CliRunner) against it, which is just as real and a lot faster.
Every test stops the runner in a `finally` (and kills it outright if `down` failed), so no test
leaves a process behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
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
from drillkit.demo import control
from drillkit.demo.process import read_run_info, runner_pid
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

    def run(self, *args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m drillkit ARGS` in a subprocess."""
        return subprocess.run(
            [sys.executable, "-m", "drillkit", *args],
            env=self.env,
            cwd=cwd or self.home,
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
    assert set(urls) == {"service", "primary", "fallback", "tool", "toxiproxy", "llm_proxy"}
    assert up["endpoints"]["service"] == urls["service"] + "/v1/answer"
    assert up["endpoints"]["primary"] == urls["primary"] + "/v1"
    pid = up["pid"]
    assert read_run_info(demo.workdir).pid == pid  # type: ignore[union-attr]

    # The manifest names the bound URLs and is a valid System.
    system = load_system(demo.workdir / "drillkit.yaml")
    assert str(system.service.url) == urls["service"] + "/v1/answer"
    # Providers are reached through the fault layers (tests/faults/test_demo_faults.py checks the chain).
    assert str(system.providers["primary"].base_url).endswith("/v1")
    assert system.chaos.llm_proxy == urls["llm_proxy"] and system.chaos.toxiproxy == urls["toxiproxy"]

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

    # Issue 2's "done when": eval run passes, fails on newer weights, passes again pinned back.
    manifest = str(demo.workdir / "drillkit.yaml")
    passing = demo.cli("eval", "run", "--system", manifest)
    assert passing.exit_code == 0, passing.stdout + passing.stderr
    assert "by tag" in passing.stdout and "policy" in passing.stdout
    state = demo.json("demo", "ctl", "pin", "sim-pro-2025-11")
    assert state["models"]["primary"] == "sim-pro-2025-11"
    failing = demo.cli("eval", "run", "--system", manifest)
    assert failing.exit_code == 1, failing.stdout + failing.stderr
    assert "outside" in failing.stdout and "failing cases" in failing.stdout
    state = demo.json("demo", "ctl", "pin", "sim-pro-2025-06")
    assert state["models"]["primary"] == "sim-pro-2025-06"
    assert demo.cli("eval", "run", "--system", manifest).exit_code == 0
    assert demo.json("demo", "ctl", "pin", "--unpin")["pinned_model"] is None
    assert demo.cli("demo", "ctl", "pin").exit_code == 2
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

    # The runner's cwd is the workdir: modules there must not shadow real ones (python -P).
    for shadow in ("yaml.py", "httpx.py"):
        (demo.workdir / shadow).write_text("raise SystemExit('shadowed by a file in the workdir')\n")
    second = demo.run(*UP)
    assert second.returncode == 0, second.stderr
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


def test_suggested_commands_work_from_another_folder(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "my home"  # a space: the commands must be shell-quoted
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    demo.env.pop("DRILLKIT_HOME")
    r = demo.run("demo", "up", "--home", str(home), "--port", "0", "--latency-scale", "0", cwd=here)
    assert r.returncode == 0, r.stderr
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("DRILLKIT_HOME", raising=False)

    def paste(command: str) -> Result:
        argv = shlex.split(command)
        assert argv[0] == "drillkit"
        return CliRunner().invoke(cli, argv[1:], catch_exceptions=False)

    try:
        steps = [line.strip() for line in r.stdout.split("next:", 1)[1].splitlines() if line.strip()]
        commands = {" ".join(line.split()[:3]): line.split("  ")[0] for line in steps}
        assert shlex.split(commands["drillkit eval run"])[-2:] == ["--system", str(home / "demo" / "drillkit.yaml")]
        assert shlex.split(commands["drillkit demo down"])[-2:] == ["--home", str(home)]
        evals = paste(commands["drillkit eval run"])
        assert evals.exit_code == 0, evals.stdout + evals.stderr
        status = paste(commands["drillkit demo status"])
        assert status.exit_code == 0 and "healthy" in status.stdout
        down = paste(commands["drillkit demo down"])
        assert "stopped" in down.stdout
    finally:
        paste(f"drillkit demo down --home {shlex.quote(str(home))}")
    off = paste(commands["drillkit demo status"])
    assert off.exit_code == 1
    start = shlex.split(off.stdout.split("start it with: ", 1)[1])
    assert start == ["drillkit", "demo", "up", "--home", str(home)]


def test_library_start_and_stop_reap_the_runner(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        started = control.start(workdir, base_port=0, latency_scale=0)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    proc = started.process
    assert proc is not None and not started.already_running
    try:
        again = control.start(workdir, base_port=0, latency_scale=0)
        assert again.already_running and again.process is None and again.info.pid == proc.pid
        assert control.status(workdir).healthy
        assert control.pin(workdir, "sim-pro-2025-11")["pinned_model"] == "sim-pro-2025-11"
        assert control.pin(workdir, None)["pinned_model"] is None
        with pytest.raises(control.RunningNow):
            control.start(workdir, base_port=0, reset=True)
    finally:
        stopped = control.stop(workdir, process=proc)
    assert stopped.running and stopped.pid == proc.pid
    assert proc.returncode is not None  # reaped: no zombie left for a long-lived caller
    with pytest.raises(control.NotRunning):
        control.reset(workdir)


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
    assert set(system.pricing) == {"sim-pro", "sim-pro-2025-06", "sim-pro-2025-11", "sim-lite-2025-03"}
    assert system.providers["primary"].model == "sim-pro"  # the undated alias, until pinned
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


def test_tool_contracts_never_change_with_the_ports(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    prepare_workdir(workdir)
    tools = workdir / "tools.yaml"
    before = hashlib.sha256(tools.read_bytes()).hexdigest()
    write_manifest(workdir, URLS)
    write_manifest(workdir, {name: url.replace("187", "407") for name, url in URLS.items()})
    assert hashlib.sha256(tools.read_bytes()).hexdigest() == before
    contracts = yaml.safe_load(tools.read_text(encoding="utf-8"))
    assert (contracts["apiVersion"], contracts["kind"]) == ("drillkit/v1", "ToolContracts")
    assert "base_url" not in contracts["tools"]["order_status"]
    assert contracts["tools"]["order_status"]["endpoints"]
    system = load_system(workdir / "drillkit.yaml")
    assert str(system.tools["order_status"].base_url).rstrip("/") == "http://127.0.0.1:40713"


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


def test_a_folder_of_your_own_is_never_prepared_nor_wiped(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    mine = tmp_path / "prompts" / "mine.md"
    mine.write_text("mine", encoding="utf-8")
    for reset in (False, True):
        with pytest.raises(InputError, match="already holds files"):
            prepare_workdir(tmp_path, reset=reset)
    assert mine.read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prompts"]

    fresh = tmp_path / "fresh"
    (fresh / "run").mkdir(parents=True)  # what `demo up` creates first (its start lock)
    assert prepare_workdir(fresh) is True
    (fresh / "prompts" / "later.md").write_text("added after", encoding="utf-8")
    (fresh / "notes.txt").write_text("keep me", encoding="utf-8")
    assert prepare_workdir(fresh, reset=True) is True
    assert (fresh / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert (fresh / "prompts" / "v3.md").is_file()

    foreign = tmp_path / "project"
    foreign.mkdir()
    (foreign / "drillkit.yaml").write_text("apiVersion: drillkit/v1\n", encoding="utf-8")
    with pytest.raises(InputError, match="not written by"):
        prepare_workdir(foreign)
    assert [p.name for p in foreign.iterdir()] == ["drillkit.yaml"]
    with pytest.raises(InputError, match="not written by"):
        write_manifest(foreign, URLS)
    assert (foreign / "drillkit.yaml").read_text(encoding="utf-8") == "apiVersion: drillkit/v1\n"


def test_up_refuses_a_folder_of_your_own(demo: Demo, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    r = demo.cli(*UP, "--workdir", str(folder))
    assert r.exit_code == 2 and "already holds files" in r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]  # not even a run/ folder


def test_the_default_base_port_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from drillkit.demo.runner import DEFAULT_BASE_PORT, default_base_port
    from drillkit.errors import InputError

    monkeypatch.delenv("DRILLKIT_DEMO_PORT", raising=False)
    assert default_base_port() == DEFAULT_BASE_PORT == 8710
    monkeypatch.setenv("DRILLKIT_DEMO_PORT", "0")
    assert default_base_port() == 0
    monkeypatch.setenv("DRILLKIT_DEMO_PORT", " 9100 ")
    assert default_base_port() == 9100
    for bad in ("abc", "-1", "70000"):
        monkeypatch.setenv("DRILLKIT_DEMO_PORT", bad)
        with pytest.raises(InputError, match="DRILLKIT_DEMO_PORT"):
            default_base_port()
