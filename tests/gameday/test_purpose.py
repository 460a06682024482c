"""Honest verdicts (issue 15): a run's purpose decides its exit code, SLOs no window can judge are
said so (and refused where the rehearsal depends on them), and restore steps can wait for a
rollback. Runs against the demo like tests/gameday/test_gameday.py."""

from __future__ import annotations

import copy
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.journal.verify import read_journal
from tests.gameday.test_gameday import SWAP, demo_down, gameday, write


def test_a_control_that_passes_is_the_unexpected_outcome(tmp_path: Path) -> None:
    junit = tmp_path / "control.xml"
    try:
        r = gameday(tmp_path, write(tmp_path, SWAP), "--purpose", "control", "--junit", str(junit))
    finally:
        demo_down(tmp_path)
    summary = json.loads(r.stdout)
    # The verdict is what happened (the rollback worked); for a control that is the surprise.
    assert (summary["verdict"], summary["purpose"], summary["outcome"]) == ("pass", "control", "unexpected")
    assert r.returncode == 1, r.stderr
    assert ET.parse(junit).find(".//failure").get("type") == "control-passed"
    assert summary["recovered"] is True
    # 20 req/s in 1 s windows never holds the 50 answers a p99 needs: said, never read as healthy.
    assert "latency_p99_ms" in summary["unjudged"] and summary["judged"]["latency_p99_ms"]["judged"] == 0
    assert summary["judged"]["error_rate"]["judged"] > 0
    windows = [e.data for e in read_journal(Path(summary["journal"])) if e.kind == "window"]
    assert all("latency_p99_ms" in w["unjudged"] for w in windows)


def test_a_restore_for_rollbacks_only_is_skipped_when_none_began(tmp_path: Path) -> None:
    absorbed = {**copy.deepcopy(SWAP), "id": "absorb-restore", "expect": {"detect_within": "5s", "absorb": True}}
    absorbed["faults"] = [{"type": "down", "target": "provider:primary"}]  # the router fails over by itself
    absorbed["verify"] = {}
    marker = tmp_path / "restarted"
    touch = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    absorbed["restore"] = [
        {"name": "restart the gateway", "when": "rolled_back", "run": touch},
        {"name": "reset", "run": ["drillkit", "demo", "ctl", "reset"]},
    ]
    try:
        r = gameday(tmp_path, write(tmp_path, absorbed))
    finally:
        demo_down(tmp_path)
    summary = json.loads(r.stdout)
    assert r.returncode == 0 and summary["verdict"] == "pass", r.stdout + r.stderr
    assert not marker.exists()
    steps = [e.data for e in read_journal(Path(summary["journal"])) if e.kind == "restore.step"]
    assert [(s["name"], s.get("skipped", False)) for s in steps] == [("restart the gateway", True), ("reset", False)]


def low_rate(tmp_path: Path, breach: list[str]) -> Path:
    scenario = {**copy.deepcopy(SWAP), "id": "low-rate", "traffic": {"rate": 8}, "slos": {"latency_p95_ms": 800}}
    scenario["expect"] = {**scenario["expect"], "breach": breach}
    return write(tmp_path, scenario)


def test_validate_warns_of_an_slo_no_window_can_judge(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["gameday", "validate", str(low_rate(tmp_path, ["eval_pass_rate"]))])
    assert result.exit_code == 0, result.output
    assert "warning: latency_p95_ms can never be judged: 8 req/s in 1s windows is at most 8 answers" in result.output


def test_validate_judges_a_profile_by_its_highest_rate(tmp_path: Path) -> None:
    surge = yaml.safe_load(low_rate(tmp_path, ["latency_p95_ms"]).read_text())
    surge["traffic"]["profile"] = [{"at": "0s", "rate": 30, "ramp": "2s"}]  # 8 → 30 req/s: p95 judgeable
    result = CliRunner().invoke(cli, ["gameday", "validate", str(write(tmp_path, surge))])
    assert result.exit_code == 0 and "latency_p95_ms can never be judged" not in result.output, result.output
    surge["traffic"]["profile"] = [{"at": "0s", "rate": 9}]  # still under the 10 answers a p95 needs
    result = CliRunner().invoke(cli, ["gameday", "validate", str(write(tmp_path, surge))])
    assert result.exit_code == 2
    assert "latency_p95_ms can never be judged: 9 req/s (the profile's highest rate) in 1s windows" in result.output


def test_an_expected_breach_no_window_can_judge_is_refused(tmp_path: Path) -> None:
    path = low_rate(tmp_path, ["latency_p95_ms"])
    result = CliRunner().invoke(cli, ["gameday", "validate", str(path)])
    assert result.exit_code == 2
    assert "expect.breach: latency_p95_ms can never be judged" in result.output
    try:
        r = gameday(tmp_path, path)  # the run refuses it too, before anything is injected
    finally:
        demo_down(tmp_path)
    assert r.returncode == 2 and "latency_p95_ms can never be judged" in r.stdout + r.stderr
