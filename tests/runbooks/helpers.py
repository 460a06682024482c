"""Shared helpers: a minimal system manifest, runbook files, running `drillkit triage` in process."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from drillkit.cli import cli
from drillkit.journal import read_journal


def write_system(folder: Path, service_url: str = "http://127.0.0.1:9/v1/answer", **extra: Any) -> Path:
    """A minimal valid manifest (nothing listens at the default service URL)."""
    path = folder / "drillkit.yaml"
    data = {"apiVersion": "drillkit/v1", "kind": "System", "name": "probe-test", "service": {"url": service_url}}
    data.update(extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_runbook(folder: Path, steps: list[dict[str, Any]], rb_id: str = "probe-test") -> Path:
    path = folder / f"{rb_id}.yaml"
    data = {"apiVersion": "drillkit/v1", "kind": "Runbook", "id": rb_id, "title": "probe test", "steps": steps}
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def triage(home: Path, *args: str) -> Result:
    """`drillkit triage ARGS` in process, with DRILLKIT_HOME = home."""
    return CliRunner().invoke(cli, ["triage", *args], env={"DRILLKIT_HOME": str(home)}, catch_exceptions=False)


def triage_json(home: Path, *args: str, exit_code: int | None = None) -> dict[str, Any]:
    r = triage(home, *args, "--auto", "--json")
    if exit_code is not None:
        assert r.exit_code == exit_code, r.stdout + r.stderr
    assert r.stdout.strip(), r.stderr
    return json.loads(r.stdout)


def journal_of(home: Path, incident_id: str) -> list[Any]:
    return read_journal(home / "incidents" / incident_id / "journal.jsonl")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
