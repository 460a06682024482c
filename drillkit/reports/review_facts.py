"""Collecting a review's facts from a record, and what the run and incident collectors share.

    review = collect(home, "run", home / "runs" / run_id)     # a redacted `Review`

The definitions of the numbers are in `review_run` (game-day runs) and `review_incident` (triage
incidents). Whatever the kind: the journal's chain is verified, its head and the ledger entry
that recorded it are looked up, and the finished facts pass the redaction policy again (the
record's system manifest rules included, when the manifest can still be found).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from drillkit.errors import InputError
from drillkit.journal.redact import Redactor
from drillkit.journal.verify import read_journal, verify_chain
from drillkit.journal.writer import JournalEntry
from drillkit.reports.review import Evidence, Kind, Layer, LedgerPosition, Review

COMPONENT_LAYER = {"model": "model", "provider": "model", "prompt": "prompt", "retrieval": "retrieval",
                   "tools": "tools", "inputs": "inputs"}  # fmt: skip


def collect(home: Path, kind: Kind, folder: Path) -> Review:
    journal = folder / "journal.jsonl"
    entries = read_journal(journal)
    if not entries:
        raise InputError(f"{journal}: the journal is empty")
    summary = _read_json(folder / "summary.json")
    if kind == "run":
        from drillkit.reports.review_run import run_review

        review = run_review(entries, summary)
    else:
        from drillkit.reports.review_incident import incident_review

        review = incident_review(entries, summary)
    review.evidence = _evidence(home, folder, entries, summary)
    redactor = Redactor.for_system(_system(home, entries))
    return Review.model_validate(redactor(review.model_dump(mode="json")))


def diff_findings(layers: dict[str, Layer], data: dict[str, Any], against: str) -> None:
    if data.get("error"):
        layers["operations"].findings.append(f"Five-input diff {against} could not run: {data['error']}")
        return
    for name, c in (data.get("components") or {}).items():
        layer = layers[COMPONENT_LAYER.get(name, "operations")]
        changed = c.get("changed")
        if changed is True:
            layer.changed = True
            layer.findings.append(
                f"Changed {against}: {c.get('summary', '')} (confidence {c.get('confidence', 0):.0%})"
            )
        elif changed is None:
            layer.changed = layer.changed or None
            layer.findings.append(f"Unknown {against}: {c.get('reason') or c.get('summary') or 'no data'}")
        else:
            layer.changed = bool(layer.changed)
            layer.findings.append(f"Unchanged {against}: {c.get('summary', '')}")


def _evidence(home: Path, folder: Path, entries: list[JournalEntry], summary: dict[str, Any]) -> Evidence:
    journal = folder / "journal.jsonl"
    problems = verify_chain(journal)
    ev = Evidence(
        journal=_relative(home, journal),
        entries=len(entries),
        head=entries[-1].hash,
        chain_ok=not problems,
        chain_problems=[str(p) for p in problems],
        summary_file=_relative(home, folder / "summary.json") if summary else None,
        redaction=(entries[0].data.get("redaction") if entries else None),
        holds=[str(e.data.get("path")) for e in entries if e.kind == "evidence.hold"],
    )
    ev.ledger = _ledger_position(home, entries)
    return ev


def _ledger_position(home: Path, entries: list[JournalEntry]) -> LedgerPosition | None:
    """Where the record sits in `<home>/ledger.jsonl` (its latest entry), if it was recorded."""
    from drillkit.journal import ledger

    ident = entries[0].data.get("run_id") or entries[0].data.get("incident_id")
    if not ident or not ledger.ledger_path(home).exists():
        return None
    try:
        recorded = ledger.read_ledger(home)
    except (InputError, ValueError, OSError):
        return None
    mine = [e for e in recorded if e.id == ident]
    if not mine:
        return None
    entry = mine[-1]
    position = LedgerPosition(
        seq=entry.seq,
        of=len(recorded),
        ts=entry.ts,
        merkle_root=entry.merkle_root,
        journal_head=entry.journal_head,
        matches_journal=entry.journal_head == entries[-1].hash,
    )
    try:
        checkpoint = ledger.read_checkpoint(ledger.checkpoint_path(home))
        position.checkpoint_size, position.key_fingerprint = checkpoint.size, checkpoint.key_fingerprint
    except (InputError, ValueError, OSError, AttributeError):
        pass
    return position


def _system(home: Path, entries: list[JournalEntry]) -> Any:
    """The record's system manifest, when it can still be found (for its extra redaction rules)."""
    from drillkit.config.system import load_system

    data = entries[0].data
    candidates = [data.get("system_file")]
    if data.get("scenario_file"):
        try:
            from drillkit.config.loader import load_model
            from drillkit.config.scenario import Scenario

            path = Path(data["scenario_file"])
            scenario = load_model(path, Scenario)
            system = Path(scenario.system)
            demo = home / "demo" / "drillkit.yaml"
            candidates.append(
                str(demo if scenario.system == "demo" else system if system.is_absolute() else path.parent / system)
            )
        except (InputError, OSError, ValueError):
            pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            try:
                return load_system(candidate)
            except InputError:
                continue
    return None


def first(entries: list[JournalEntry], kind: str) -> dict[str, Any] | None:
    e = first_entry(entries, kind)
    return None if e is None else e.data


def first_entry(entries: list[JournalEntry], kind: str) -> JournalEntry | None:
    return next((e for e in entries if e.kind == kind), None)


def last(entries: list[JournalEntry], kind: str) -> dict[str, Any] | None:
    return next((e.data for e in reversed(entries) if e.kind == kind), None)


def between(a: JournalEntry, b: JournalEntry) -> float:
    return round((b.time - a.time).total_seconds(), 3)


def ts_of(e: JournalEntry | None) -> str | None:
    return None if e is None else e.ts


def clock(ts: str) -> str:
    return datetime.fromisoformat(ts).strftime("%H:%M:%S")


def first_line(text: Any) -> str:
    return str(text or "").strip().splitlines()[0][:200] if str(text or "").strip() else ""


def _relative(home: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
