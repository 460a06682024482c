"""The run journal: canonical form, the hash chain, crash prefixes, tamper detection, resume."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

import drillkit.journal
from drillkit.errors import InputError
from drillkit.journal import (
    ZERO_HASH,
    Journal,
    JournalBusy,
    JournalEntry,
    canonical_json,
    events,
    hash_canonical,
    read_journal,
    verify_chain,
)

# -- RFC 8785 -----------------------------------------------------------------------------------

# RFC 8785 §3.2.2: the example input and its canonical output.
RFC_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_OUTPUT = (
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)

# RFC 8785 §3.2.3: properties sort by UTF-16 code units, so the emoji (a surrogate pair, D83D)
# comes before U+FB33 although its code point is higher.
RFC_SORT_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC_SORT_ORDER = [
    "Carriage Return",
    "One",
    "Control",
    "Latin Small Letter O With Diaeresis",
    "Euro Sign",
    "Emoji: Grinning Face",
    "Hebrew Letter Dalet With Dagesh",
]

RUN_STARTED, RUN_FINISHED = events.RunStarted.KIND, events.RunFinished.KIND
WINDOW, JOURNAL_REPAIRED = events.Window.KIND, events.JournalRepaired.KIND
KINDS = events.KINDS


def test_canonical_form_matches_rfc8785_example() -> None:
    assert canonical_json(json.loads(RFC_INPUT)) == RFC_OUTPUT.encode()


def test_canonical_property_order_follows_utf16_code_units() -> None:
    out = canonical_json(json.loads(RFC_SORT_INPUT))
    assert list(json.loads(out).values()) == RFC_SORT_ORDER
    assert out.startswith(b'{"\\r":"Carriage Return","1":"One"')


@pytest.mark.parametrize(
    ("number", "text"),
    [(1e21, "1e+21"), (1e20, "100000000000000000000"), (5e-324, "5e-324"), (1e-7, "1e-7"), (-0.0, "0"), (4.5, "4.5")],
)
def test_canonical_numbers_use_ecmascript_form(number: float, text: str) -> None:
    assert canonical_json(number) == text.encode()


def test_values_json_cannot_carry_are_value_errors() -> None:
    with pytest.raises(ValueError, match="canonical JSON"):
        canonical_json(float("nan"))
    with pytest.raises(ValueError, match="canonical JSON"):
        canonical_json(2**60)


def test_hash_is_sha256_of_the_canonical_bytes() -> None:
    assert hash_canonical({"b": 1, "a": 2}) == hashlib.sha256(b'{"a":2,"b":1}').hexdigest()


# -- the chain ----------------------------------------------------------------------------------


def write(path: Path, n: int = 6) -> list[JournalEntry]:
    with Journal(path, fsync=False) as journal:
        return [journal.append(WINDOW if i else RUN_STARTED, {"i": i, "note": f"entry {i}"}) for i in range(n)]


def test_entries_are_chained_canonical_lines(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    written = write(path)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 7  # every entry ends with a newline
    entries = read_journal(path)
    assert entries == written
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev == ZERO_HASH
    for before, entry, line in zip(entries, entries[1:], lines[1:], strict=False):
        assert entry.prev == before.hash == hashlib.sha256(before.canonical()).hexdigest()
        assert line == entry.canonical()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entries[0].ts)
    assert verify_chain(path) == []


def test_timestamps_are_utc_with_milliseconds(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 28, 10, 15, 0, 123999, tzinfo=UTC)
    with Journal(tmp_path / "j.jsonl", fsync=False, clock=lambda: moment) as journal:
        entry = journal.append(RUN_STARTED)
    assert entry.ts == "2026-11-28T10:15:00.123Z"
    assert entry.time == moment.replace(microsecond=123000)


def test_data_is_made_json_and_redacted_before_hashing(tmp_path: Path) -> None:
    def redact(data: dict) -> dict:
        return {k: ("[redacted]" if k == "answer" else v) for k, v in data.items()}

    path = tmp_path / "j.jsonl"
    with Journal(path, fsync=False, redact=redact) as journal:
        entry = journal.append(WINDOW, {"answer": "secret", "path": Path("/x"), "p95": float("nan"), "t": (1, 2)})
    assert entry.data == {"answer": "[redacted]", "path": "/x", "p95": None, "t": [1, 2]}
    assert b"secret" not in path.read_bytes()
    assert verify_chain(path) == []


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = write(path, 3)
    with Journal(path, fsync=False) as journal:
        assert (journal.seq, journal.head) == (3, first[-1].hash)
        entry = journal.append(RUN_FINISHED, {"verdict": "pass"})
    assert (entry.seq, entry.prev) == (4, first[-1].hash)
    assert verify_chain(path) == []


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, fsync=False), pytest.raises(JournalBusy):
        Journal(path, fsync=False)


def test_appends_from_threads_and_coroutines_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, fsync=False) as journal:
        threads = [
            threading.Thread(target=lambda t=t: [journal.append(WINDOW, {"t": t, "i": i}) for i in range(50)])
            for t in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        async def many() -> None:
            await asyncio.gather(*(journal.append_async(WINDOW, {"i": i}) for i in range(50)))

        asyncio.run(many())
    entries = read_journal(path)
    assert [e.seq for e in entries] == list(range(1, 251))
    assert verify_chain(path) == []


def test_fsync_on_is_the_default_and_works(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as journal:
        journal.append(RUN_STARTED)
        journal.append(RUN_FINISHED)
    assert verify_chain(tmp_path / "j.jsonl") == []


def test_closed_journal_refuses_appends(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", fsync=False)
    journal.close()
    with pytest.raises(RuntimeError, match="closed"):
        journal.append(RUN_STARTED)


def test_known_kinds_are_exported() -> None:
    assert {"run.started", "phase", "fault.injected", "window", "detected", "run.finished"} <= set(KINDS)
    assert all(getattr(drillkit.journal, name) is not None for name in drillkit.journal.__all__)
    assert "Journal" in drillkit.journal.__all__ and "verify_chain" in drillkit.journal.__all__


# -- crashes ------------------------------------------------------------------------------------


def crash_midway(path: Path) -> bytes:
    """A journal of 4 entries plus half of a 5th, as a crash during a write leaves it."""
    write(path, 5)
    raw = path.read_bytes()
    last_start = raw.rstrip(b"\n").rfind(b"\n") + 1
    cut = raw[: last_start + 40]
    path.write_bytes(cut)
    return cut


def test_a_crash_leaves_a_valid_prefix_and_one_truncated_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    crash_midway(path)
    problems = verify_chain(path)
    assert [(p.kind, p.line) for p in problems] == [("truncated", 5)]
    assert "4 lines before it are a valid prefix" in problems[0].message
    assert [e.seq for e in read_journal(path)] == [1, 2, 3, 4]


def test_resuming_after_a_crash_cuts_the_partial_line_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    cut = crash_midway(path)
    partial = cut[cut.rfind(b"\n") + 1 :]
    with Journal(path, fsync=False) as journal:
        journal.append(RUN_FINISHED)
    entries = read_journal(path)
    assert [e.kind for e in entries[-2:]] == [JOURNAL_REPAIRED, RUN_FINISHED]
    assert entries[-2].data == {
        "cut_bytes": len(partial),
        "cut_sha256": hashlib.sha256(partial).hexdigest(),
        "after_seq": 4,
    }
    assert verify_chain(path) == []


# -- tampering ----------------------------------------------------------------------------------


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_an_edited_byte_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write(path)
    lines = lines_of(path)
    lines[2] = lines[2].replace(b"entry 2", b"entry 7")
    rewrite(path, lines)
    problems = verify_chain(path)
    assert [(p.kind, p.line, p.seq) for p in problems] == [("edited", 3, 3)]
    assert "line 3 (seq 3)" in str(problems[0])


def test_an_edit_that_breaks_the_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write(path)
    lines = lines_of(path)
    lines[1] = lines[1][:-1]  # the closing brace
    rewrite(path, lines)
    assert [(p.kind, p.line) for p in verify_chain(path)] == [("invalid", 2)]
    with pytest.raises(InputError, match=r"j\.jsonl:2: not a journal entry"):
        read_journal(path)


def test_a_reformatted_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write(path)
    lines = lines_of(path)
    lines[3] = json.dumps(json.loads(lines[3]), indent=None).encode()  # same content, other bytes
    rewrite(path, lines)
    assert [(p.kind, p.line) for p in verify_chain(path)] == [("edited", 4)]


def test_a_deleted_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write(path)
    lines = lines_of(path)
    del lines[2]
    rewrite(path, lines)
    problems = verify_chain(path)
    assert [(p.kind, p.line, p.seq) for p in problems] == [("dropped", 3, 4)]
    assert "seq 3 missing after line 2 (seq 2)" in str(problems[0])


def test_deleting_the_first_lines_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write(path)
    rewrite(path, lines_of(path)[2:])
    problems = verify_chain(path)
    assert [(p.kind, p.line) for p in problems] == [("dropped", 1)]
    assert "seqs 1–2 missing at the start" in str(problems[0])


def test_swapped_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write(path)
    lines = lines_of(path)
    lines[2], lines[3] = lines[3], lines[2]
    rewrite(path, lines)
    problems = verify_chain(path)
    assert [(p.kind, p.line, p.seq) for p in problems] == [("reordered", 4, 3)]
    assert "line 4 (seq 3) comes after line 3 (seq 4)" in str(problems[0])


def test_a_duplicated_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write(path)
    lines = lines_of(path)
    lines.insert(3, lines[2])
    rewrite(path, lines)
    assert [(p.kind, p.line) for p in verify_chain(path)] == [("duplicate", 4)]


def test_a_missing_journal_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such journal"):
        verify_chain(tmp_path / "nope.jsonl")
