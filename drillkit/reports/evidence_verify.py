"""`drillkit evidence verify`: check offline that no journal, summary or ledger entry was edited,
dropped or reordered since it was recorded.

    result = verify_home(home)            # Verification; result.ok is False when any error was found
    for finding in result.findings: print(finding)     # "runs/<id>/journal.jsonl: line 7 (seq 7): ..."

What is checked, in order:

1. the ledger's own hash chain (`ledger.jsonl`, like a journal's);
2. the signed checkpoint: the Ed25519 signature, that its key is trusted (this home's key, the
   `--key`/`$DRILLKIT_SIGNING_KEY` key, or pinned with `--pubkey`/`--fingerprint`), that it covers
   every ledger entry, and that the Merkle root over those entries is the signed one; and any copy
   of an older checkpoint kept elsewhere (`--checkpoint FILE`): the ledger must still extend it;
3. every journal the ledger lists: present, its own chain intact, the recorded number of entries,
   Merkle root and last-entry hash; its summary.json unchanged;
4. journals on disk (`runs/*/`, `incidents/*/`, `plans/*/`, the change log `changes.jsonl`) the
   ledger does not list: a warning (a run killed before it was recorded, or one still running),
   plus their own chain check; and change-log lines after its last recorded prefix: a warning.

Errors mean tampering or loss (exit 1); warnings do not change the verdict. A journal whose every
hash was recomputed passes its own chain check but not the ledger's Merkle root; a ledger rewritten
the same way fails the signed checkpoint; and a re-signed checkpoint fails unless its key is
trusted, which is why the key fingerprint belongs somewhere outside the home.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from drillkit.components.changelog import changes_path
from drillkit.errors import InputError
from drillkit.journal.canonical import sha256_hex
from drillkit.journal.events import EvidenceHold, parse
from drillkit.journal.ledger import (
    LedgerEntry,
    checkpoint_path,
    home_relative,
    ledger_path,
    resolve_recorded,
    summary_digest,
    summary_facts,
)
from drillkit.journal.merkle import merkle_root_hex
from drillkit.journal.verify import check_lines, journal_lines
from drillkit.reports.evidence_checkpoint import CheckpointStatus, TrustAnchors, check_checkpoint, trust_anchors
from drillkit.reports.evidence_findings import Finding, Findings, Severity

FOLDERS = (("runs", "run"), ("incidents", "incident"), ("plans", "plan"))
LEDGER_NAME = "ledger.jsonl"


class Verification(BaseModel):
    """The result of `verify_home` (also `drillkit evidence verify --json`)."""

    ok: bool
    home: str
    verified_at: str
    ledger_entries: int = 0
    journals_recorded: int = 0
    journals_unrecorded: int = 0
    journal_entries: int = 0
    checkpoint: CheckpointStatus | None = None
    external_checkpoints: list[CheckpointStatus] = []
    findings: list[Finding] = []
    command: str = "drillkit evidence verify"

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


def verify_home(
    home: Path,
    *,
    anchors: TrustAnchors | None = None,
    external: Sequence[Path] = (),
) -> Verification:
    """Check every journal and the ledger under `home` (see module doc); never raises for tampering."""
    home = Path(home).absolute()
    anchors = anchors if anchors is not None else trust_anchors(home)
    result = Verification(ok=True, home=str(home), verified_at=datetime.now(UTC).isoformat(timespec="seconds"))
    findings = Findings()
    lines, entries = _check_ledger(home, findings)
    result.ledger_entries = len(lines)
    result.checkpoint = check_checkpoint(home, checkpoint_path(home), lines, anchors, findings, external=False)
    for path in external:
        status = check_checkpoint(home, Path(path), lines, anchors, findings, external=True)
        if status is not None:
            result.external_checkpoints.append(status)
    recorded: set[str] = set()
    by_id: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        by_id.setdefault(entry.id, []).append(entry)
    for history in by_id.values():
        journal = resolve_recorded(home, history[-1].journal)
        recorded.add(str(journal.absolute()))
        result.journal_entries += _check_recorded(home, history, findings)
    result.journals_recorded = len(by_id)
    for folder, _kind in FOLDERS:
        for journal in sorted((home / folder).glob("*/journal.jsonl")):
            if str(journal.absolute()) in recorded:
                continue
            result.journals_unrecorded += 1
            result.journal_entries += _check_unrecorded(home, journal, findings)
    changes = changes_path(home)  # `drillkit watch`'s change log: recorded by each session as it ends
    if changes.exists() and str(changes.absolute()) not in recorded:
        result.journals_unrecorded += 1
        result.journal_entries += _check_unrecorded(home, changes, findings)
    result.findings = list(findings)
    result.ok = not result.errors
    return result


# -- the ledger -------------------------------------------------------------


def _check_ledger(home: Path, findings: Findings) -> tuple[list[bytes], list[LedgerEntry]]:
    path = ledger_path(home)
    if not path.exists():
        return [], []
    lines, tail = journal_lines(path)
    for problem in check_lines(lines, tail, model=LedgerEntry):
        findings.chain(home_relative(home, path), problem)
    entries = []
    for raw in lines:
        try:
            entries.append(LedgerEntry.model_validate(json.loads(raw)))
        except ValueError:
            continue  # reported by the chain check as invalid
    return lines, entries


# -- journals -----------------------------------------------------------------------------------


def _check_recorded(home: Path, history: list[LedgerEntry], findings: Findings) -> int:
    """Check a recorded journal against its newest ledger entry (and older ones it extends)."""
    entry = history[-1]
    journal = resolve_recorded(home, entry.journal)
    rel = home_relative(home, journal)
    where = f"recorded in {LEDGER_NAME} line {entry.seq}"
    if not journal.exists():
        folder = "its folder is gone too" if not journal.parent.exists() else "the file is gone"
        findings.error(rel, "dropped", f"missing ({where}, {entry.entries} entries): the journal was dropped, {folder}")
        return 0
    lines, tail = journal_lines(journal)
    problems = check_lines(lines, tail)
    for problem in problems:
        findings.chain(rel, problem)
    _compare_with_record(rel, lines, entry, bool(problems), findings)
    for older in history[:-1]:
        if len(lines) >= older.entries and merkle_root_hex(lines[: older.entries]) != older.merkle_root:
            findings.error(
                rel,
                "edited",
                f"its first {older.entries} entries no longer match what {LEDGER_NAME} line {older.seq} recorded",
            )
    _check_summary(home, rel, entry, findings)
    _check_held_files(home, journal, lines, findings)
    return len(lines)


def _compare_with_record(
    rel: str, lines: list[bytes], entry: LedgerEntry, chain_broken: bool, findings: Findings
) -> None:
    n, recorded = len(lines), entry.entries
    last_seq = _seq_of(lines[-1]) if lines else 0
    if n == recorded and merkle_root_hex(lines) == entry.merkle_root:
        return
    if last_seq is not None and last_seq < recorded and n < recorded:
        first = last_seq + 1
        span = f"seq {first}" if first == recorded else f"seqs {first}–{recorded}"
        findings.error(
            rel,
            "dropped",
            f"line {n + 1}: {span} missing at the end: the ledger recorded {recorded} entries, the file has {n}",
            line=n + 1,
            seq=first,
        )
        return
    if n > recorded and merkle_root_hex(lines[:recorded]) == entry.merkle_root:
        if entry.kind == "changes":  # it grows by design: each watch session records a longer prefix
            findings.warning(
                rel,
                "not_in_ledger",
                f"lines {recorded + 1}–{n} logged after the change log was last recorded ({recorded} entries): "
                "a watch session still running, or one stopped before it could record; "
                "record them with 'drillkit evidence record --all'",
                line=recorded + 1,
                seq=_seq_of(lines[recorded]),
            )
            return
        span = f"line {recorded + 1}" if n == recorded + 1 else f"lines {recorded + 1}–{n}"
        findings.error(
            rel,
            "appended",
            f"{span}: appended after the journal was recorded ({recorded} entries)",
            line=recorded + 1,
            seq=_seq_of(lines[recorded]),
        )
        return
    if chain_broken:
        return  # the chain findings already say where
    if n == recorded and sha256_hex(lines[-1]) != entry.journal_head:
        before_ok = n < 2 or sha256_hex(lines[-2]) == entry.last_prev
        if before_ok and _prev_of(lines[-1]) == entry.last_prev:
            findings.error(
                rel,
                "edited",
                f"line {n} (seq {_seq_of(lines[-1])}), the last entry, was edited after it was "
                "recorded (its hash is not the recorded head)",
                line=n,
                seq=_seq_of(lines[-1]),
            )
            return
    findings.error(
        rel,
        "rewritten",
        f"its hash chain is intact but does not match the ledger's Merkle root ({LEDGER_NAME} line "
        f"{entry.seq}): the journal was rewritten and its hashes recomputed",
    )


def _check_summary(home: Path, rel: str, entry: LedgerEntry, findings: Findings) -> None:
    if entry.summary is None:
        return
    path = resolve_recorded(home, entry.summary)
    srel = home_relative(home, path)
    if not path.exists():
        findings.error(srel, "dropped", f"missing: the summary recorded with {rel} was deleted")
        return
    if summary_digest(path) == entry.summary_digest:
        return
    try:
        now = summary_facts(json.loads(path.read_bytes()))
    except (OSError, ValueError):
        now = {}
    changed = [k for k in sorted(set(now) | set(entry.facts)) if now.get(k) != entry.facts.get(k)]
    detail = "; ".join(f"{k}: recorded {entry.facts.get(k)!r}, now {now.get(k)!r}" for k in changed[:4])
    findings.error(srel, "edited", "edited after it was recorded" + (f" ({detail})" if detail else ""))


def _check_held_files(home: Path, journal: Path, lines: list[bytes], findings: Findings) -> None:
    """An `evidence.hold` entry lists each held file's SHA-256: the files must still match it."""
    marker = f'"{EvidenceHold.KIND}"'.encode()
    for n, raw in enumerate(lines, 1):
        if marker not in raw:
            continue
        hold = _hold(raw)
        if hold is None or hold.path is None:
            continue
        folder = Path(hold.path)
        if not folder.is_dir():  # the home was moved: the hold sits next to the journal
            folder = journal.parent / "evidence" / folder.name
        for name, meta in hold.files.items():
            path = folder / name
            frel = home_relative(home, path)
            try:
                actual = sha256_hex(path.read_bytes())
            except OSError:
                findings.error(frel, "dropped", f"missing: held as evidence ({home_relative(home, journal)} line {n})")
                continue
            if isinstance(meta, dict) and actual != meta.get("sha256"):
                findings.error(
                    frel, "edited", f"edited after it was held as evidence ({home_relative(home, journal)} line {n})"
                )


def _hold(raw: bytes) -> EvidenceHold | None:
    """The line's evidence hold, typed; None when the line is not one (or not an entry at all)."""
    try:
        entry = json.loads(raw)
        kind, data = entry["kind"], entry["data"]
    except (ValueError, KeyError, TypeError):
        return None
    event = parse(kind, data) if isinstance(kind, str) and isinstance(data, dict) else None
    return event if isinstance(event, EvidenceHold) else None


def _check_unrecorded(home: Path, journal: Path, findings: Findings) -> int:
    rel = home_relative(home, journal)
    try:
        lines, tail = journal_lines(journal)
    except InputError as exc:
        findings.error(rel, "invalid", str(exc))
        return 0
    findings.warning(
        rel,
        "not_in_ledger",
        f"not in the ledger ({len(lines)} entries): still running, or stopped before it was recorded; "
        "record it with 'drillkit evidence record'",
    )
    for problem in check_lines(lines, tail):
        severity: Severity = "warning" if problem.kind == "truncated" else "error"
        findings.chain(rel, problem, severity)
    _check_held_files(home, journal, lines, findings)
    return len(lines)


# -- helpers ------------------------------------------------------------------------------------


def _seq_of(raw: bytes) -> int | None:
    try:
        seq = json.loads(raw).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) else None


def _prev_of(raw: bytes) -> str | None:
    try:
        prev = json.loads(raw).get("prev")
    except (ValueError, AttributeError):
        return None
    return prev if isinstance(prev, str) else None


def verify_command(home: Path, fingerprint_: str | None) -> str:
    """The command a reader runs to check the evidence themselves."""
    parts = ["drillkit", "evidence", "verify", "--home", str(home)]
    if fingerprint_:
        parts += ["--fingerprint", fingerprint_]
    return " ".join(parts)


__all__ = [
    "CheckpointStatus",
    "Finding",
    "TrustAnchors",
    "Verification",
    "trust_anchors",
    "verify_command",
    "verify_home",
]
