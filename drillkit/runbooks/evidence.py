"""Evidence hold: freeze what the system looks like *before* anyone changes it.

EU AI Act Art. 73 asks that a serious incident is not investigated by altering the system in a
way that affects its later evaluation before the authorities are informed; every rollback
destroys the state that caused the harm. So the layered runbook holds evidence first:

    <incident>/evidence/hold-<seq>/
      snapshot.json        every configured component's fingerprint now (`drillkit snapshot`'s format)
      metrics.prom         the service's /metrics at that moment (when it serves one)
      inputs-sample.jsonl  the traffic mix the system is being sent (components.inputs.sample)
      manifest.yaml        the system manifest in force

No request log is copied: drillkit keeps none, and `traffic_minutes` only records the window of
the service's own logs the responder is to preserve. Everything passes the session's redaction
first. The `evidence.hold` journal entry names the folder, the components held, that window and
each file's SHA-256, so the journal's hash
chain (and the ledger's signed checkpoint) covers the files too. A hold only reads the system.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from drillkit.config.runbook import EvidenceHoldAction
from drillkit.evals.runner import is_loopback_url
from drillkit.journal.events import EvidenceHold
from drillkit.runbooks.outcome import StepResult

if TYPE_CHECKING:
    from drillkit.runbooks.session import Session

METRICS_TIMEOUT_S = 5.0


async def hold_evidence(session: Session, action: EvidenceHoldAction) -> StepResult:
    from drillkit.components import take_snapshot

    system = session.system
    folder = session.dir / "evidence" / f"hold-{session.journal.seq + 1:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}

    snapshot = await take_snapshot(system)
    session.snapshot, session.snapshot_at = snapshot, time.monotonic()
    held = sorted(name for name, fp in snapshot.components.items() if fp.ok)
    failed = {name: fp.error or "failed" for name, fp in snapshot.components.items() if not fp.ok}
    files["snapshot.json"] = _write_json(
        folder / "snapshot.json", session.redaction.redact(snapshot.model_dump(mode="json"))
    )

    metrics = await _scrape_metrics(str(system.service.url))
    if metrics is not None:
        files["metrics.prom"] = _write_text(folder / "metrics.prom", session.redaction.text(metrics))

    sample = system.resolve(system.components.inputs.sample) if system.components.inputs else None
    if sample is not None and sample.is_file():
        files["inputs-sample.jsonl"] = _write_text(folder / "inputs-sample.jsonl", _redacted_lines(session, sample))

    if session.system_path.is_file():
        files["manifest.yaml"] = _write_text(
            folder / "manifest.yaml", session.redaction.text(session.system_path.read_text())
        )

    data = {
        "path": str(folder),
        "components": held,
        "traffic_minutes": action.traffic_minutes,
        "files": files,
        "snapshot_taken_at": snapshot.taken_at,
        "failed": failed,
    }
    session.emit(EvidenceHold(**data))
    detail = f"held {', '.join(held) or 'no component'} and {len(files)} file(s) in {folder}"
    if failed:
        detail += "; could not fingerprint " + ", ".join(f"{c} ({e})" for c, e in failed.items())
    return StepResult("pass", detail, data)


async def _scrape_metrics(service_url: str) -> str | None:
    """The service's Prometheus metrics (same origin, `/metrics`), or None when it has none."""
    url = httpx.URL(service_url).copy_with(path="/metrics", query=None)
    try:
        async with httpx.AsyncClient(timeout=METRICS_TIMEOUT_S, trust_env=not is_loopback_url(str(url))) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def _redacted_lines(session: Session, path: Path) -> str:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            body = json.loads(line)
        except json.JSONDecodeError:
            out.append(session.redaction.text(line))
            continue
        out.append(json.dumps(session.redaction.redact(body) if isinstance(body, dict) else body, ensure_ascii=False))
    return "\n".join(out) + "\n"


def _write_json(path: Path, data: Any) -> dict[str, Any]:
    return _write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _write_text(path: Path, text: str) -> dict[str, Any]:
    raw = text.encode("utf-8")
    path.write_bytes(raw)
    return {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


__all__ = ["hold_evidence"]
