"""Blast radius on shared systems (issue 14 item 6): `--dry-run` shows the plan and injects
nothing; a drill leases the fault servers it touches, so a second drill against them is refused
naming the holder (even from another home), and `chaos status` shows the lease."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.gameday.test_gameday import SWAP, demo_down, env_for, journal_of, wait_for_kind, write


def drillkit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_dry_run_prints_the_plan_and_injects_nothing(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert drillkit(env, "demo", "up", "--port", "0").returncode == 0
    try:
        r = drillkit(env, "gameday", "run", "silent-model-swap", "--dry-run", "--json")
        assert r.returncode == 0, r.stderr
        plan = json.loads(r.stdout)
        (fault,) = plan["faults"]
        assert (fault["type"], fault["layer"], fault["route"]) == ("model_swap", "l7", "primary")
        assert fault["server"] == plan["servers"]["llm_proxy"]
        assert plan["rollback"]["steps"][0]["run"][:3] == ["drillkit", "demo", "ctl"]
        assert "latency_p99_ms" in plan["never_judged"]
        status = json.loads(drillkit(env, "chaos", "status", "--json").stdout)
        assert all(layer["faults"] == [] for layer in status["layers"].values())
        assert not (tmp_path / "runs").exists()
    finally:
        demo_down(tmp_path)


def test_a_second_drill_on_leased_servers_is_refused(tmp_path: Path) -> None:
    first_home, second_home = tmp_path / "a", tmp_path / "b"
    leases = {"DRILLKIT_LEASE_DIR": str(tmp_path / "leases")}
    env = {**env_for(first_home), **leases}
    scenario = write(tmp_path, {**SWAP, "rollback": {**SWAP["rollback"], "decide_after": "60s"}})
    first = subprocess.Popen([sys.executable, "-m", "drillkit", "gameday", "run", str(scenario), "--auto", "--no-live",
                              "--latency-scale", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (first_home / "runs").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        wait_for_kind(journal_of(first_home), "fault.injected")
        manifest = first_home / "demo" / "drillkit.yaml"
        second = drillkit({**env_for(second_home), **leases}, "gameday", "run", str(scenario), "--system",
                          str(manifest), "--auto", "--no-live")  # fmt: skip
        assert second.returncode == 2, second.stdout + second.stderr
        assert "is leased by the game-day of 'swap-test'" in second.stderr
        assert not (second_home / "runs").exists()  # refused before anything was journalled or injected
        status = json.loads(drillkit({**env, "DRILLKIT_SYSTEM": str(manifest)}, "chaos", "status", "--json").stdout)
        assert status["layers"]["l7"]["lease"]["scenario"] == "swap-test"
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
        demo_down(first_home)
    assert not list((tmp_path / "leases").glob("*.json"))  # given back when the drill ended
