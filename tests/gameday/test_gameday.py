"""`drillkit gameday run` end to end against the demo: verdicts that are measured, not assumed,
and faults that never outlive the run (errors, SIGTERM, SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from drillkit.config.system import load_system
from drillkit.gameday import leftovers
from drillkit.gameday.faulting import DEAD_MAN_INTERVAL_S
from drillkit.journal.verify import read_journal, verify_chain

REPO = Path(__file__).resolve().parents[2]
CONTRACT_KEYS = {"run_id", "scenario", "verdict", "ttd_s", "rollback_s", "ttr_s", "rto_target_s", "faults",
                 "breached", "verify"}  # fmt: skip

SWAP = {
    "apiVersion": "drillkit/v1",
    "kind": "Scenario",
    "id": "swap-test",
    "title": "silent swap, short",
    "layer": "model",
    "severity": "high",
    "system": "demo",
    "traffic": {"rate": 20, "concurrency": 32},
    "timeline": {"warmup": "3s", "window": "1s", "max_duration": "45s"},
    "faults": [
        {
            "type": "model_swap",
            "target": "provider:primary",
            "match": {"model": "sim-pro"},
            "attributes": {"serve_model": "sim-pro-2025-11"},
        }
    ],
    "rollback": {
        "mode": "auto",
        "steps": [{"name": "pin previous weights", "run": ["drillkit", "demo", "ctl", "pin", "sim-pro-2025-06"]}],
    },
    "expect": {"detect_within": "15s", "recover_within": "25s", "breach": ["eval_pass_rate"]},
    "verify": {"evals": True, "fingerprint": {"model": "sim-pro-2025-06", "prompt": "preflight"}},
    "restore": [{"name": "reset", "run": ["drillkit", "demo", "ctl", "reset"]}],
}


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "DRILLKIT_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


def write(tmp_path: Path, scenario: dict[str, Any]) -> Path:
    path = tmp_path / f"{scenario['id']}.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


def gameday(home: Path, scenario: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillkit", "gameday", "run", str(scenario), "--auto", "--no-live", "--json",
         "--latency-scale", "0", *extra],
        env=env_for(home), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def start(home: Path, scenario: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "drillkit", "gameday", "run", str(scenario), "--auto", "--no-live",
         "--latency-scale", "0", *extra],
        env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def journal_of(home: Path) -> Path:
    (run,) = (home / "runs").iterdir()
    return run / "journal.jsonl"


def wait_for_kind(path: Path, kind: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and any(e.kind == kind for e in read_journal(path)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no {kind!r} entry in {path} within {timeout}s")


def demo_down(home: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "drillkit", "demo", "down"], env=env_for(home), capture_output=True, timeout=60
    )


def stale_baseline(home: Path) -> None:
    """A last-known-good baseline of the demo system whose prompt file differs from the live one."""
    prompt = {"ok": True, "component": "prompt", "data": {"files": {"v3.md": {"sha256": "0" * 64, "size": 1}}}}
    snapshot = {"taken_at": "2026-11-01T00:00:00.000Z", "system": "acme-support", "drillkit_version": "0",
                "components": {"prompt": prompt}}  # fmt: skip
    home.mkdir(parents=True, exist_ok=True)
    (home / "baseline.json").write_text(json.dumps(snapshot))


def test_silent_swap_passes_and_leaves_journal_summary_and_junit(tmp_path: Path) -> None:
    junit = tmp_path / "gameday.xml"
    stale_baseline(tmp_path)
    r = gameday(tmp_path, write(tmp_path, SWAP), "--junit", str(junit))
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        summary = json.loads(r.stdout)
        assert set(summary) >= CONTRACT_KEYS
        assert summary["verdict"] == "pass" and summary["breached"] == ["eval_pass_rate"]
        assert 0 < summary["ttd_s"] <= 15 and 0 < summary["rollback_s"] < 30 and summary["ttr_s"] <= 25
        assert summary["detect_lag_s"] is not None and summary["detect_lag_s"] >= 0
        assert summary["verify"]["fingerprint"]["model"]["ok"] is True
        run_dir = tmp_path / "runs" / summary["run_id"]
        assert json.loads((run_dir / "summary.json").read_text())["verdict"] == "pass"
        journal = run_dir / "journal.jsonl"
        assert verify_chain(journal) == []
        entries = read_journal(journal)
        kinds = [e.kind for e in entries]
        assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
        order = [
            "fault.injected",
            "detected",
            "rollback.started",
            "rollback.step",
            "recovered",
            "verify",
            "fault.removed",
        ]
        positions = [kinds.index(k) for k in order]
        assert positions == sorted(positions), kinds
        # The five inputs: fingerprinted at preflight, before any fault; compared with the home's
        # baseline (whose prompt differs: reported) and, at verify, with preflight.
        assert kinds.index("fingerprint") < kinds.index("fault.injected")
        diffs = {e.data["against"]: e.data for e in entries if e.kind == "diff"}
        assert diffs["baseline"]["changed"] == ["prompt"]
        assert any(e.kind == "preflight.warning" and "prompt" in e.data["message"] for e in entries)
        # With the swap still in place the provider's canaries still diverge: the diff says so.
        assert "model" in diffs["preflight"]["changed"]
        assert summary["verify"]["fingerprint"]["prompt"]["ok"] is True
        case = ET.parse(junit).getroot().find(".//testcase")
        assert case is not None and case.get("name") == "swap-test" and case.find("failure") is None
        # The run started the demo, so it stopped it; nothing recorded as left behind.
        assert not (tmp_path / "demo" / "run" / "demo.json").exists()
        assert leftovers.read(tmp_path) == []
    finally:
        demo_down(tmp_path)


def test_a_no_op_rollback_fails_the_rehearsal(tmp_path: Path) -> None:
    scenario = {**SWAP, "id": "swap-noop", "expect": {**SWAP["expect"], "recover_within": "8s"}}
    scenario["rollback"] = {"mode": "auto", "steps": [{"name": "no-op", "run": ["true"]}]}
    r = gameday(tmp_path, write(tmp_path, scenario), "--junit", str(tmp_path / "j.xml"))
    demo_down(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    assert summary["verdict"] == "fail" and summary["ttd_s"] is not None and summary["ttr_s"] is None
    assert any("not recovered" in reason for reason in summary["reasons"])
    assert ET.parse(tmp_path / "j.xml").getroot().find(".//failure") is not None


def test_a_fault_too_mild_to_breach_is_not_detected(tmp_path: Path) -> None:
    scenario = {**SWAP, "id": "swap-mild", "expect": {"detect_within": "5s", "recover_within": "10s"}}
    scenario["faults"] = [{**SWAP["faults"][0], "attributes": {"serve_model": "sim-pro-2025-06"}}]
    r = gameday(tmp_path, write(tmp_path, scenario))
    demo_down(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert any("not detected" in reason for reason in json.loads(r.stdout)["reasons"])


def test_sigterm_aborts_cleanly_and_removes_every_fault(tmp_path: Path) -> None:
    scenario = {**SWAP, "id": "swap-term"}
    scenario["faults"] = [
        *SWAP["faults"],
        {"type": "latency", "target": "provider:fallback", "attributes": {"latency": 5}},
    ]
    scenario["rollback"] = {**SWAP["rollback"], "decide_after": "60s"}
    proc = start(tmp_path, write(tmp_path, scenario))
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "runs").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        journal = journal_of(tmp_path)
        wait_for_kind(journal, "detected")
        signalled = datetime.now(UTC)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, err
        entries = read_journal(journal)
        assert entries[-1].kind == "run.finished" and entries[-1].data["verdict"] == "aborted"
        removed = [e.data for e in entries if e.kind == "fault.removed"]
        assert sorted(d["name"] for d in removed if d.get("was_active")) == ["latency_downstream", "model_swap"]
        # Every fault gone within 2 s of the signal (plus a little for a loaded test machine).
        last_removal = max(e.time for e in entries if e.kind == "fault.removed")
        assert (last_removal - signalled).total_seconds() < 3.0
        assert leftovers.read(tmp_path) == []
        assert verify_chain(journal) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        demo_down(tmp_path)


def test_sigkill_leaves_nothing_behind_for_long(tmp_path: Path) -> None:
    """A SIGKILLed run cannot clean up: its L7 faults and its toxics on the demo's embedded
    Toxiproxy server die with their heartbeat; the leftovers records (kept for servers without
    dead-man, such as Go Toxiproxy) are dropped by `drillkit chaos reset`."""
    up = subprocess.run(
        [sys.executable, "-m", "drillkit", "demo", "up", "--port", "0", "--latency-scale", "0"],
        env=env_for(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        system = load_system(tmp_path / "demo" / "drillkit.yaml")
        scenario = {**SWAP, "id": "swap-kill"}
        scenario["faults"] = [
            *SWAP["faults"],
            {"type": "latency", "target": "provider:fallback", "attributes": {"latency": 5}},
        ]
        scenario["rollback"] = {**SWAP["rollback"], "decide_after": "60s"}
        proc = start(tmp_path, write(tmp_path, scenario))
        deadline = time.monotonic() + 60
        while not (tmp_path / "runs").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        wait_for_kind(journal_of(tmp_path), "detected")
        toxics_url = system.chaos.toxiproxy + "/proxies/fallback/toxics"
        assert [t.get("dead_man") for t in httpx.get(toxics_url, trust_env=False).json()] == [True]
        proc.kill()
        killed = time.monotonic()
        proc.communicate(timeout=10)
        assert {e["name"] for e in leftovers.read(tmp_path)} == {"model_swap", "latency_downstream"}
        assert [e["steps"][0]["name"] for e in leftovers.read_pending(tmp_path)] == ["reset"]  # restore it owes
        # Both dead-man faults go by themselves once heartbeats stop: within the interval (5 s)
        # of the last heartbeat, plus the reapers' period and slack for a loaded machine.
        faults, toxics = None, None
        while time.monotonic() < killed + DEAD_MAN_INTERVAL_S + 3:
            faults = httpx.get(system.chaos.llm_proxy + "/routes/primary/faults", trust_env=False).json()
            toxics = httpx.get(toxics_url, trust_env=False).json()
            if not faults and not toxics:
                break
            time.sleep(0.2)
        assert (faults, toxics) == ([], [])
        reset = subprocess.run(
            [sys.executable, "-m", "drillkit", "chaos", "reset"],
            env=env_for(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert reset.returncode == 0, reset.stderr
        assert httpx.get(toxics_url, trust_env=False).json() == []
        assert leftovers.read(tmp_path) == []
    finally:
        demo_down(tmp_path)


@pytest.mark.parametrize("mode", ["--manual"])
def test_manual_rollback_without_a_terminal_is_refused(tmp_path: Path, mode: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "drillkit", "gameday", "run", str(write(tmp_path, SWAP)), mode, "--no-live"],
        env=env_for(tmp_path), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 2
    assert "pass --auto" in r.stderr


def test_a_fault_that_ends_by_itself_does_not_prove_a_no_op_rollback(tmp_path: Path) -> None:
    scenario = {**SWAP, "id": "swap-expiring"}
    scenario["faults"] = [{**SWAP["faults"][0], "duration": "10s"}]
    scenario["rollback"] = {"mode": "auto", "steps": [{"name": "no-op", "run": ["true"]}]}
    r = gameday(tmp_path, write(tmp_path, scenario))
    demo_down(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert any(
        "rollback was not proven" in reason or "not recovered" in reason for reason in json.loads(r.stdout)["reasons"]
    )


def test_one_game_day_at_a_time_per_home(tmp_path: Path) -> None:
    first = start(tmp_path, write(tmp_path, {**SWAP, "rollback": {**SWAP["rollback"], "decide_after": "60s"}}))
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "runs").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        second = gameday(tmp_path, write(tmp_path, {**SWAP, "id": "second"}))
        assert second.returncode == 2, second.stdout + second.stderr
        assert "another game-day is running" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)
        demo_down(tmp_path)
    assert first.returncode == 3
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text())
    assert summary["verdict"] == "aborted"


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"type": "down", "target": "provider:primary"}, 0),  # the router fails over by itself
        (SWAP["faults"][0], 1),  # quality breaks: not absorbed
    ],
)
def test_absorb_expects_the_system_to_ride_through(tmp_path: Path, fault: dict[str, Any], code: int) -> None:
    scenario = {**SWAP, "id": "absorb", "faults": [fault], "expect": {"detect_within": "6s", "absorb": True}}
    scenario["verify"] = {"evals": True}
    r = gameday(tmp_path, write(tmp_path, scenario))
    demo_down(tmp_path)
    assert r.returncode == code, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    if code == 0:
        assert summary["ttd_s"] is None and summary["rollback_s"] is None  # no rollback was needed
    else:
        assert any("expected the system to absorb" in reason for reason in summary["reasons"])
