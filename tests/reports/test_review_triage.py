"""`drillkit review draft` on a real incident record: `drillkit triage --auto` against the demo after a
silent model change, then the draft of what triage recorded (the format the triage engineer writes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from drillkit.cli import cli

REPO = Path(__file__).resolve().parents[2]


def drillkit(home: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRILLKIT_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "drillkit", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_draft_of_a_real_triage_incident(tmp_path: Path) -> None:
    home = tmp_path / "home"
    up = drillkit(home, "demo", "up", "--port", "0", "--latency-scale", "0")
    assert up.returncode == 0, up.stderr
    try:
        assert drillkit(home, "snapshot").returncode == 0  # the last known good
        assert drillkit(home, "demo", "ctl", "pin", "sim-pro-2025-11").returncode == 0  # the silent change
        triage = drillkit(home, "triage", "--auto", "--json")
    finally:
        down = drillkit(home, "demo", "down")
    assert down.returncode == 0, down.stderr
    assert triage.returncode in (0, 1) and triage.stdout, triage.stderr
    incident = json.loads(triage.stdout)
    (folder,) = (home / "incidents").iterdir()

    runner = CliRunner()
    env = {"DRILLKIT_HOME": str(home)}
    r = runner.invoke(cli, ["review", "draft", folder.name, "--json"], env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout)
    assert facts["kind"] == "incident" and facts["id"] == folder.name
    assert facts["impact"]["eval"]["inside_envelope"] is False  # the newer weights fail the envelope
    model = {layer["key"]: layer for layer in facts["layers"]}["model"]
    assert model["changed"] is True and any("Changed against" in f for f in model["findings"])
    assert facts["resolution"]["revert_order"] == incident["revert_order"] and "model" in incident["revert_order"]
    assert facts["evidence"]["chain_ok"] and facts["evidence"]["redaction"]["version"] == "drillkit-redact/1"
    if (home / "ledger.jsonl").exists():  # triage records finished incidents in the ledger
        assert facts["evidence"]["ledger"]["matches_journal"] is True

    text = runner.invoke(cli, ["review", "draft", folder.name], env=env, catch_exceptions=False).stdout
    for section in ("## Impact", "## Detection", "## Timeline (UTC)", "### Model and provider",
                    "### Operational practice", "## Resolution and recovery", "## Supporting evidence"):  # fmt: skip
        assert section in text
    assert "**outside** the envelope" in text and "Step envelope (eval): fail" in text
    assert "| Runbook | `ai-output-incident` |" in text
