"""The ledger: `record` appends one chained, signed entry per finished run or incident; keys."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drillkit.errors import InputError
from drillkit.journal import Journal, hash_canonical
from drillkit.journal.ledger import (
    LedgerEntry,
    LedgerError,
    checkpoint_path,
    ledger_path,
    read_checkpoint,
    read_ledger,
    record,
)
from drillkit.journal.merkle import merkle_root
from drillkit.journal.signing import KEY_ENV, fingerprint, signing_key, verify_signature
from drillkit.journal.verify import journal_lines, verify_chain


def make_run(home: Path, run_id: str, n: int = 5, verdict: str = "pass", **facts: Any) -> tuple[Path, dict]:
    run = home / "runs" / run_id
    run.mkdir(parents=True)
    with Journal(run / "journal.jsonl", fsync=False) as journal:
        journal.append("run.started", {"run_id": run_id, "scenario": "swap"})
        for i in range(n - 2):
            journal.append("window", {"i": i})
        journal.append("run.finished", {"verdict": verdict})
    summary = {"run_id": run_id, "scenario": "swap", "verdict": verdict, "ttd_s": 2.5, "rollback_s": 1.2,
               "ttr_s": 8.0, "rto_target_s": 300.0, "layer": "model", **facts}  # fmt: skip
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    return run / "journal.jsonl", summary


def test_record_binds_the_journal_and_signs_a_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    journal, summary = make_run(tmp_path, "r1")
    entry = record(tmp_path, "run", "r1", journal, summary)
    lines, _ = journal_lines(journal)
    assert entry.seq == 1 and entry.kind == "run" and entry.id == "r1"
    assert entry.journal == "runs/r1/journal.jsonl" and entry.entries == 5
    assert entry.merkle_root == merkle_root(lines).hex()
    assert entry.journal_head == Journal(journal).head
    assert entry.summary_digest == hash_canonical(summary)
    assert entry.facts["verdict"] == "pass" and entry.facts["ttd_s"] == 2.5 and "run_id" not in entry.facts
    assert entry.prev == "0" * 64
    # The ledger line is the entry's canonical JSON, and it chains like a journal.
    assert ledger_path(tmp_path).read_bytes() == entry.canonical() + b"\n"
    assert verify_chain(ledger_path(tmp_path), model=LedgerEntry) == []
    cp = read_checkpoint(checkpoint_path(tmp_path))
    assert cp.size == 1 and cp.root == merkle_root([entry.canonical()]).hex()
    assert verify_signature(cp.public_raw, cp.signed_text(), cp.signature_raw)
    assert cp.key_fingerprint == fingerprint(cp.public_raw) == signing_key(tmp_path).fingerprint
    root_b64 = base64.b64encode(bytes.fromhex(cp.root)).decode()
    assert cp.signed_text().decode().splitlines()[:3] == ["drillkit-ledger/v1", "1", root_b64]
    key = tmp_path / "keys" / "ledger.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and b"PRIVATE KEY" in key.read_bytes()
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700


def test_second_entry_chains_to_the_first_and_record_is_idempotent(tmp_path: Path) -> None:
    j1, s1 = make_run(tmp_path, "r1")
    j2, s2 = make_run(tmp_path, "r2", verdict="fail")
    first = record(tmp_path, "run", "r1", j1, s1)
    second = record(tmp_path, "run", "r2", j2, s2)
    assert second.seq == 2 and second.prev == first.hash
    assert record(tmp_path, "run", "r1", j1, s1) == first
    assert len(read_ledger(tmp_path)) == 2
    assert read_checkpoint(checkpoint_path(tmp_path)).size == 2
    with pytest.raises(InputError, match="already recorded in the ledger as a run"):
        record(tmp_path, "incident", "r1", j1, s1)


def test_a_grown_journal_is_recorded_again_as_an_extension(tmp_path: Path) -> None:
    journal, summary = make_run(tmp_path, "inc")
    first = record(tmp_path, "incident", "inc", journal, summary)
    with Journal(journal, fsync=False) as j:  # a resumed incident finishes a second time
        j.append("note", {"text": "more"})
    again = record(tmp_path, "incident", "inc", journal, summary)
    assert again.seq == 2 and again.extends == first.seq and again.entries == first.entries + 1


def test_record_refuses_to_sign_over_an_edited_ledger(tmp_path: Path) -> None:
    j1, s1 = make_run(tmp_path, "r1")
    j2, s2 = make_run(tmp_path, "r2")
    record(tmp_path, "run", "r1", j1, s1)
    path = ledger_path(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"verdict":"pass"', b'"verdict":"PASS"'))
    with pytest.raises(LedgerError, match="changed since they were signed"):
        record(tmp_path, "run", "r2", j2, s2)
    checkpoint_path(tmp_path).unlink()
    with pytest.raises(LedgerError, match="missing while the ledger holds 1 entries"):
        record(tmp_path, "run", "r2", j2, s2)
    assert len(path.read_bytes().splitlines()) == 1


def _record_many(home: str, start: int) -> None:
    for i in range(start, start + 6):
        journal = Path(home) / "runs" / f"r{i}" / "journal.jsonl"
        record(Path(home), "run", f"r{i}", journal, {"verdict": "pass"})


def test_concurrent_recorders_keep_one_chain(tmp_path: Path) -> None:
    for i in range(18):
        make_run(tmp_path, f"r{i}", n=3)
    signing_key(tmp_path)  # created once up front; creation races are tested below
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_many, args=(str(tmp_path), s)) for s in (0, 6, 12)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    entries = read_ledger(tmp_path)
    assert sorted(e.id for e in entries) == sorted(f"r{i}" for i in range(18))
    assert [e.seq for e in entries] == list(range(1, 19))
    assert verify_chain(ledger_path(tmp_path), model=LedgerEntry) == []
    assert read_checkpoint(checkpoint_path(tmp_path)).size == 18


def _make_key(home: str) -> None:
    signing_key(Path(home))


def test_first_use_key_creation_has_one_winner(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_make_key, args=(str(tmp_path),)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["ledger.key", "ledger.pub"]


@pytest.mark.parametrize("form", ["pem", "raw", "hex"])
def test_a_team_key_from_the_environment_signs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    private = Ed25519PrivateKey.generate()
    none = serialization.NoEncryption()
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, none)
    data = {
        "pem": private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, none),
        "raw": seed,
        "hex": seed.hex().encode() + b"\n",
    }[form]
    key_file = tmp_path / "team.key"
    key_file.write_bytes(data)
    monkeypatch.setenv(KEY_ENV, str(key_file))
    home = tmp_path / "home"
    journal, summary = make_run(home, "r1")
    record(home, "run", "r1", journal, summary)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert read_checkpoint(checkpoint_path(home)).key_fingerprint == fingerprint(public)
    assert not (home / "keys" / "ledger.key").exists()  # the home's own key was not created
    assert "PRIVATE" not in repr(signing_key(home)) and seed.hex() not in repr(signing_key(home))


def test_switching_from_the_home_key_to_a_team_key_is_accepted_but_not_to_a_stranger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    for i in range(3):
        make_run(tmp_path, f"r{i}", n=3)
    record(tmp_path, "run", "r0", tmp_path / "runs/r0/journal.jsonl", {})
    team, other = tmp_path / "team.key", tmp_path / "other.key"
    team.write_bytes(os.urandom(32))
    other.write_bytes(os.urandom(32))
    record(tmp_path, "run", "r1", tmp_path / "runs/r1/journal.jsonl", {}, key=team)
    assert read_checkpoint(checkpoint_path(tmp_path)).key_fingerprint == signing_key(tmp_path, team).fingerprint
    with pytest.raises(LedgerError, match="neither the signing key"):
        record(tmp_path, "run", "r2", tmp_path / "runs/r2/journal.jsonl", {}, key=other)


def test_bad_key_files_are_input_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "nope.key"))
    with pytest.raises(InputError, match=r"nope.key: no such signing key \(from \$DRILLKIT_SIGNING_KEY\)"):
        signing_key(tmp_path)
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(InputError, match=r"bad\.key: expected an Ed25519 key"):
        signing_key(tmp_path, bad)
