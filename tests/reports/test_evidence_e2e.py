"""End to end on the demo: a real game-day run and a real triage session enter the ledger by
themselves; `drillkit evidence verify` passes, fails naming the file and entry once a journal is
touched, and passes again once it is put back; the report lists both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.demo.process import runner_pid
from tests.gameday.test_gameday import SWAP, env_for, gameday


def run_cli(home: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), env={"DRILLKIT_HOME": str(home)}, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("evidence-e2e") / "home"
    home.mkdir()
    up = subprocess.run([sys.executable, "-m", "drillkit", "demo", "up", "--port", "0", "--latency-scale", "0"],
                        env=env_for(home), capture_output=True, text=True, timeout=60)  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        scenario = home.parent / "swap-test.yaml"
        scenario.write_text(yaml.safe_dump(SWAP, sort_keys=False))
        r = gameday(home, scenario)
        assert r.returncode == 0, r.stdout + r.stderr
        code, _, err = run_cli(home, "snapshot")
        assert code == 0, err
        code, out, err = run_cli(home, "triage", "--auto", "--json")
        assert code in (0, 1) and json.loads(out)["incident_id"], err
        yield home
    finally:
        subprocess.run([sys.executable, "-m", "drillkit", "demo", "down"], env=env_for(home), capture_output=True,
                       timeout=60)  # fmt: skip
        pid = runner_pid(home / "demo")
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def test_a_game_day_and_a_triage_session_verify_intact(home: Path) -> None:
    code, out, err = run_cli(home, "evidence", "verify", "--json")
    assert code == 0, out + err
    result = json.loads(out)
    assert result["ok"] and result["ledger_entries"] == 2 and result["journals_recorded"] == 2
    assert result["findings"] == [] and result["checkpoint"]["signature_ok"] is True
    assert result["checkpoint"]["trusted_by"] == "this home's key"


def test_touching_either_journal_fails_naming_the_file_and_entry(home: Path) -> None:
    (run,) = (home / "runs").iterdir()
    (incident,) = (home / "incidents").iterdir()
    for folder in (run, incident):
        path = folder / "journal.jsonl"
        original = path.read_bytes()
        lines = original.splitlines(keepends=True)
        try:
            # one byte: the entry's kind gets a capital letter
            lines[1] = lines[1].replace(b'"kind":"', b'"kind":"X', 1)
            path.write_bytes(b"".join(lines))
            code, out, err = run_cli(home, "evidence", "verify")
            where = f"{path.relative_to(home).as_posix()}: line 2"
            assert code == 1 and where in out and "not intact" in err, out + err
            # one line deleted
            path.write_bytes(b"".join(original.splitlines(keepends=True)[:2] + original.splitlines(keepends=True)[3:]))
            code, out, _ = run_cli(home, "evidence", "verify")
            assert code == 1 and "seq 3 missing after line 2" in out, out
        finally:
            path.write_bytes(original)
    assert run_cli(home, "evidence", "verify")[0] == 0


def test_the_report_lists_the_rehearsal_and_the_incident(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence.html"
    code, _, err = run_cli(home, "evidence", "report", "--out", str(out))
    assert code == 0, err
    html = out.read_text()
    assert "swap-test" in html and "ai-output-incident" in html and "Verified intact" in html
    code, data, _ = run_cli(home, "evidence", "report", "--json")
    report = json.loads(data)
    (run,) = report["runs"]
    assert run["verdict"] == "pass" and run["recorded"] and run["path"] == "model" and run["rollback_s"] > 0
    assert report["incidents"][0]["recorded"] and report["integrity"]["ok"]
    model = next(c for c in report["cadence"] if c["path"] == "model")
    assert model["status"] == "ok" and model["designed"]  # the demo manifest's designed model rollback
