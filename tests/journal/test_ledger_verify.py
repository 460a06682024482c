"""`drillkit evidence verify`: every kind of tampering is reported with the file and the entry.

The home is built with the real `Journal` writer and `record`; each test then tampers with the
files the way someone editing them by hand (or by script) would, and checks what verify says.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.journal import Journal
from drillkit.journal.canonical import ZERO_HASH, canonical_json, sha256_hex
from drillkit.journal.ledger import (
    checkpoint_path,
    ledger_path,
    read_checkpoint,
    read_ledger,
    record,
    sign_checkpoint,
    write_checkpoint,
)
from drillkit.journal.signing import KEY_ENV, signing_key
from drillkit.reports.evidence_verify import Verification, trust_anchors, verify_home

RUNS = ("r1-silent-model-swap", "r2-provider-outage", "r3-prompt-regression")
INCIDENT = "20261128T101500Z-ai-output-incident-3f2a"
N = 8  # entries per run journal


def make_run(home: Path, run_id: str) -> Path:
    folder = home / "runs" / run_id
    folder.mkdir(parents=True)
    with Journal(folder / "journal.jsonl", fsync=False) as journal:
        journal.append("run.started", {"run_id": run_id, "note": "abcdef"})
        for i in range(N - 2):
            journal.append("window", {"i": i, "note": "abcdef"})
        journal.append("run.finished", {"verdict": "pass", "note": "abcdef"})
    summary = {"run_id": run_id, "scenario": run_id[3:], "verdict": "pass", "ttd_s": 2.0, "rollback_s": 1.5,
               "ttr_s": 7.0, "rto_target_s": 300.0, "layer": "model",
               "started_at": "2026-11-20T10:00:00+00:00"}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    record(home, "run", run_id, folder / "journal.jsonl", summary)
    return folder / "journal.jsonl"


def make_incident(home: Path) -> Path:
    folder = home / "incidents" / INCIDENT
    hold = folder / "evidence" / "hold-3"
    hold.mkdir(parents=True)
    snapshot = b'{"components": {}}\n'
    (hold / "snapshot.json").write_bytes(snapshot)
    with Journal(folder / "journal.jsonl", fsync=False) as journal:
        journal.append("incident.started", {"incident_id": INCIDENT, "runbook": "ai-output-incident"})
        journal.append("step.started", {"step": "hold", "title": "hold evidence", "type": "evidence_hold"})
        files = {"snapshot.json": {"sha256": hashlib.sha256(snapshot).hexdigest(), "bytes": len(snapshot)}}
        journal.append("evidence.hold", {"path": str(hold), "components": ["model"], "files": files})
        journal.append("rollback.finished", {"component": "model", "ok": True, "duration_s": 1.2, "expected_s": 5})
        journal.append("incident.finished", {"outcome": "resolved"})
    summary = {"incident_id": INCIDENT, "runbook": "ai-output-incident", "outcome": "resolved", "envelope": "fail"}
    (folder / "summary.json").write_text(json.dumps(summary))
    record(home, "incident", INCIDENT, folder / "journal.jsonl", summary)
    return folder / "journal.jsonl"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(KEY_ENV, raising=False)
    for run_id in RUNS:
        make_run(tmp_path, run_id)
    make_incident(tmp_path)
    return tmp_path


def journal(home: Path, run_id: str = RUNS[1]) -> Path:
    return home / "runs" / run_id / "journal.jsonl"


def rel(path: Path, home: Path) -> str:
    return path.relative_to(home).as_posix()


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def errors(result: Verification, file: str | None = None) -> list:
    return [f for f in result.errors if file is None or f.file == file]


def cli_verify(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["evidence", "verify", "--home", str(home), *args])
    return result.exit_code, result.stdout + result.stderr


# -- intact -------------------------------------------------------------------------------------


def test_an_untouched_home_is_intact(home: Path) -> None:
    result = verify_home(home)
    assert result.ok and result.findings == []
    assert result.ledger_entries == 4 and result.journals_recorded == 4 and result.journal_entries == 3 * N + 5
    assert result.checkpoint is not None and result.checkpoint.signature_ok
    assert result.checkpoint.trusted_by == "this home's key"
    code, out = cli_verify(home)
    assert code == 0 and "INTACT" in out and "4 recorded" in out


def test_an_empty_home_is_intact(tmp_path: Path) -> None:
    assert verify_home(tmp_path).ok
    assert cli_verify(tmp_path)[0] == 0


# -- journals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("line", range(1, N + 1))
def test_editing_one_byte_of_any_line_names_the_file_and_line(home: Path, line: int) -> None:
    path = journal(home)
    lines = lines_of(path)
    lines[line - 1] = lines[line - 1].replace(b"abcdef", b"abxdef", 1)
    path.write_bytes(b"".join(lines))
    found = errors(verify_home(home), rel(path, home))
    assert any(f.line == line and f.kind == "edited" for f in found), found
    code, out = cli_verify(home)
    assert code == 1 and f"{rel(path, home)}: line {line}" in out and "not intact" in out


def test_random_single_byte_edits_are_all_caught_near_the_edit(home: Path) -> None:
    path = journal(home)
    original = path.read_bytes()
    rng = random.Random(7)
    for _ in range(40):
        pos = rng.randrange(len(original) - 1)
        if original[pos : pos + 1] == b"\n":
            continue
        line = original[:pos].count(b"\n") + 1
        replacement = bytes([rng.choice([c for c in b'abcdefxyz0123456789{}:," ' if c != original[pos]])])
        path.write_bytes(original[:pos] + replacement + original[pos + 1 :])
        found = errors(verify_home(home), rel(path, home))
        assert found, f"edit at byte {pos} (line {line}) went unnoticed"
        assert any(f.line is None or abs(f.line - line) <= 1 for f in found), (pos, line, found)
    path.write_bytes(original)
    assert verify_home(home).ok


@pytest.mark.parametrize(("line", "expect"), [(1, "missing at the start"), (4, "missing after line 3"),
                                              (N, f"seq {N} missing at the end")])  # fmt: skip
def test_deleting_a_line_is_reported_as_dropped(home: Path, line: int, expect: str) -> None:
    path = journal(home)
    lines = lines_of(path)
    del lines[line - 1]
    path.write_bytes(b"".join(lines))
    found = errors(verify_home(home), rel(path, home))
    assert any(f.kind == "dropped" and expect in f.message for f in found), found


def test_swapping_two_lines_is_reported_as_reordered(home: Path) -> None:
    path = journal(home)
    lines = lines_of(path)
    lines[2], lines[5] = lines[5], lines[2]
    path.write_bytes(b"".join(lines))
    found = errors(verify_home(home), rel(path, home))
    assert any(f.kind == "reordered" and f.line == 4 for f in found), found
    code, out = cli_verify(home)
    assert code == 1 and "reordered" in out


def test_swapping_the_last_two_lines_is_reported(home: Path) -> None:
    path = journal(home)
    lines = lines_of(path)
    lines[-2], lines[-1] = lines[-1], lines[-2]
    path.write_bytes(b"".join(lines))
    assert any(f.kind == "reordered" and f.line == N for f in errors(verify_home(home), rel(path, home)))


def test_a_truncated_journal_is_reported(home: Path) -> None:
    path = journal(home)
    path.write_bytes(path.read_bytes()[:-30])
    found = errors(verify_home(home), rel(path, home))
    assert any(f.kind == "truncated" and f.line == N for f in found), found


def test_entries_appended_after_recording_are_reported(home: Path) -> None:
    path = journal(home)
    with Journal(path, fsync=False) as j:
        j.append("note", {"text": "added later"})
    found = errors(verify_home(home), rel(path, home))
    assert [(f.kind, f.line, f.seq) for f in found] == [("appended", N + 1, N + 1)]


def test_a_journal_rewritten_with_recomputed_hashes_is_caught_by_the_ledger(home: Path) -> None:
    path = journal(home)
    entries = [json.loads(line) for line in lines_of(path)]
    path.unlink()
    with Journal(path, fsync=False) as j:  # a consistent chain, but with one verdict changed
        for e in entries:
            data = {**e["data"], "verdict": "pass!"} if e["kind"] == "run.finished" else e["data"]
            j.append(e["kind"], data)
    found = errors(verify_home(home), rel(path, home))
    assert len(found) == 1 and found[0].kind in ("edited", "rewritten"), found


def test_rewriting_the_chain_from_the_middle_is_caught(home: Path) -> None:
    path = journal(home)
    entries = [json.loads(line) for line in lines_of(path)]
    entries[2]["data"]["note"] = "forged"
    prev = ZERO_HASH
    out = []
    for e in entries:
        e["prev"] = prev
        line = canonical_json(e)
        prev = sha256_hex(line)
        out.append(line + b"\n")
    path.write_bytes(b"".join(out))
    found = errors(verify_home(home), rel(path, home))
    assert [f.kind for f in found] == ["rewritten"], found
    assert "hashes recomputed" in found[0].message


def test_a_dropped_run_folder_is_reported(home: Path) -> None:
    shutil.rmtree(home / "runs" / RUNS[1])
    found = errors(verify_home(home))
    assert [(f.file, f.kind) for f in found] == [(f"runs/{RUNS[1]}/journal.jsonl", "dropped")]
    assert "folder is gone" in found[0].message
    code, out = cli_verify(home)
    assert code == 1 and f"runs/{RUNS[1]}/journal.jsonl: missing" in out


def test_an_edited_summary_is_reported_with_what_changed(home: Path) -> None:
    path = home / "runs" / RUNS[0] / "summary.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "verdict": "fail"}))
    found = errors(verify_home(home))
    assert [(f.file, f.kind) for f in found] == [(f"runs/{RUNS[0]}/summary.json", "edited")]
    assert "verdict: recorded 'pass', now 'fail'" in found[0].message


def test_held_evidence_files_are_checked(home: Path) -> None:
    held = home / "incidents" / INCIDENT / "evidence" / "hold-3" / "snapshot.json"
    held.write_bytes(b'{"components": {"model": 1}}\n')
    found = errors(verify_home(home))
    assert [(f.file, f.kind) for f in found] == [(rel(held, home), "edited")]
    held.unlink()
    assert [f.kind for f in errors(verify_home(home))] == ["dropped"]


def test_a_run_not_in_the_ledger_is_a_warning_not_tampering(home: Path) -> None:
    folder = home / "runs" / "r9-killed"
    folder.mkdir()
    with Journal(folder / "journal.jsonl", fsync=False) as j:
        j.append("run.started", {"run_id": "r9-killed"})
    with (folder / "journal.jsonl").open("ab") as f:
        f.write(b'{"seq":2,"ts":"2026-')  # SIGKILL mid-write
    result = verify_home(home)
    assert result.ok and result.journals_unrecorded == 1
    assert {(f.kind, f.severity) for f in result.warnings} == {("not_in_ledger", "warning"), ("truncated", "warning")}
    code, out = cli_verify(home)
    assert code == 0 and "not in the ledger" in out and "INTACT (with warnings)" in out
    # Recording it afterwards makes the warning go away.
    result = CliRunner().invoke(cli, ["evidence", "record", "--home", str(home), "--all"])
    assert result.exit_code == 0, result.output
    assert "r9-killed" in result.stdout
    assert verify_home(home).findings == []
    kinds = [json.loads(line)["kind"] for line in lines_of(folder / "journal.jsonl")]
    assert kinds == ["run.started", "journal.repaired"]  # the crash's partial line was cut, and that is journaled


# -- the ledger and its checkpoint -------------------------------------------------------------


def test_editing_a_ledger_entry_is_reported(home: Path) -> None:
    path = ledger_path(home)
    lines = lines_of(path)
    lines[1] = lines[1].replace(b'"verdict":"pass"', b'"verdict":"PASS"')
    path.write_bytes(b"".join(lines))
    found = errors(verify_home(home), "ledger.jsonl")
    assert any(f.kind == "edited" and f.line == 2 for f in found), found
    assert any("no longer hash to the root signed" in f.message for f in found), found


def test_a_rewritten_ledger_fails_the_signed_checkpoint(home: Path) -> None:
    entries = read_ledger(home)
    forged = []
    prev = ZERO_HASH
    for e in entries:
        facts = {**e.facts, "verdict": "pass"} if e.seq == 2 else e.facts
        new = e.model_copy(update={"facts": {**facts, "ttr_s": 1.0}, "prev": prev})
        prev = new.hash
        forged.append(new.canonical() + b"\n")
    ledger_path(home).write_bytes(b"".join(forged))
    found = errors(verify_home(home))
    assert [f.kind for f in found if f.file == "ledger.jsonl"] == ["edited"], found


def test_deleting_the_last_ledger_entry_is_reported(home: Path) -> None:
    path = ledger_path(home)
    path.write_bytes(b"".join(lines_of(path)[:-1]))
    found = errors(verify_home(home))
    assert any(f.file == "ledger.jsonl" and f.kind == "dropped" and f.line == 4 for f in found), found


def test_a_forged_checkpoint_is_reported(home: Path) -> None:
    path = checkpoint_path(home)
    data = json.loads(path.read_text())
    data["size"] = 3
    path.write_text(json.dumps(data))
    found = errors(verify_home(home), "ledger.checkpoint.json")
    assert [f.kind for f in found] == ["forged"]


def test_a_checkpoint_re_signed_with_another_key_is_untrusted(
    home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stranger = signing_key(tmp_path_factory.mktemp("stranger"))
    lines = [line.rstrip(b"\n") for line in lines_of(ledger_path(home))]
    checkpoint_path(home).write_text(json.dumps(sign_checkpoint(lines, stranger).model_dump()))
    found = errors(verify_home(home), "ledger.checkpoint.json")
    assert [f.kind for f in found] == ["untrusted_key"]
    assert stranger.fingerprint[:20] in found[0].message
    # Pinning the stranger's fingerprint makes it the trusted key (and the home's key no longer is).
    pinned = verify_home(home, anchors=trust_anchors(home, pins=[stranger.fingerprint]))
    assert pinned.ok and pinned.checkpoint is not None and pinned.checkpoint.trusted_by == "--fingerprint"


def test_a_deleted_checkpoint_is_reported(home: Path) -> None:
    checkpoint_path(home).unlink()
    found = errors(verify_home(home))
    assert [(f.file, f.kind) for f in found] == [("ledger.checkpoint.json", "missing")]


def test_a_saved_checkpoint_proves_a_rewrite_signed_with_the_home_key(home: Path, tmp_path: Path) -> None:
    saved = tmp_path / "saved-checkpoint.json"
    shutil.copy(checkpoint_path(home), saved)
    make_run(home, "r4-later")  # the ledger grows: it still extends the saved checkpoint
    assert verify_home(home, external=[saved]).ok
    code, out = cli_verify(home, "--checkpoint", str(saved))
    assert code == 0 and "saved" in out
    # Someone with the home's key rewrites entry 1 and re-signs: only the saved copy shows it.
    entries = read_ledger(home)
    prev, lines = ZERO_HASH, []
    for e in entries:
        new = e.model_copy(update={"facts": {**e.facts, "operator": "mallory"}, "prev": prev})
        prev = new.hash
        lines.append(new.canonical())
    ledger_path(home).write_bytes(b"".join(line + b"\n" for line in lines))
    write_checkpoint(home, lines, signing_key(home))
    assert not [f for f in verify_home(home).errors if f.file == "ledger.jsonl"]
    found = errors(verify_home(home, external=[saved]), "ledger.jsonl")
    assert len(found) == 1 and "saved checkpoint" in found[0].message, found


def test_pinning_the_wrong_fingerprint_fails(home: Path) -> None:
    code, out = cli_verify(home, "--fingerprint", "ed25519:" + "ab" * 32)
    assert code == 1 and "not by a trusted key" in out
    code, out = cli_verify(home, "--fingerprint", "nonsense")
    assert code == 2 and "expected ed25519:<64 hex digits>" in out
    code, out = cli_verify(home, "--key", str(home / "no-such.key"))
    assert code == 2 and "no-such.key: no such key file" in out


def test_verify_json_lists_findings_with_file_line_and_seq(home: Path) -> None:
    path = journal(home)
    lines = lines_of(path)
    lines[3] = lines[3].replace(b"abcdef", b"abcdeg")
    path.write_bytes(b"".join(lines))
    result = CliRunner().invoke(cli, ["evidence", "verify", "--home", str(home), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["checkpoint"]["signature_ok"] is True
    (finding,) = data["findings"]
    assert finding == {**finding, "severity": "error", "file": rel(path, home), "line": 4, "seq": 4, "kind": "edited"}


def test_record_refuses_a_journal_whose_chain_is_broken(home: Path) -> None:
    folder = home / "runs" / "r8-bad"
    folder.mkdir()
    with Journal(folder / "journal.jsonl", fsync=False) as j:
        j.append("run.started", {"note": "abcdef"})
        j.append("run.finished", {"note": "abcdef"})
    raw = (folder / "journal.jsonl").read_bytes()
    (folder / "journal.jsonl").write_bytes(raw.replace(b"abcdef", b"abcdeX", 1))
    result = CliRunner().invoke(cli, ["evidence", "record", "--home", str(home), str(folder)])
    assert result.exit_code == 1 and "not recorded" in result.stderr
    assert "r8-bad" not in {e.id for e in read_ledger(home)}


def test_key_command_shows_the_fingerprint_not_the_key(home: Path) -> None:
    result = CliRunner().invoke(cli, ["evidence", "key", "--home", str(home), "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["fingerprint"] == read_checkpoint(checkpoint_path(home)).key_fingerprint
    key_pem = (home / "keys" / "ledger.key").read_text()
    body = "".join(key_pem.strip().splitlines()[1:-1])
    assert body not in result.stdout
