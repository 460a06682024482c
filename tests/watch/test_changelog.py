"""The change log as its readers see it (`drillkit.components.changelog`), and in the evidence ledger:
one entry per watch session, each a longer prefix of the same journal, which `evidence verify`
accepts as it grows and still catches when an entry already recorded is edited."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.components.changelog import changes_path, consider_changes, read_change_log
from drillkit.components.types import ComponentDiff, DiffReport, Fingerprint, Snapshot
from drillkit.journal import Journal
from drillkit.journal.canonical import hash_canonical
from drillkit.journal.events import (
    BaselineMoved,
    EnvelopeChanged,
    InputChanged,
    PlanStarted,
    WatchStarted,
    WatchStopped,
)
from drillkit.journal.ledger import read_ledger, record
from drillkit.reports.evidence_verify import verify_home

DATA = {"prompt": {"active": "v3"}, "retrieval": {"documents": {"a.md": 1}}, "tools": {"ok": True}}


def digest(name: str, data: dict | None = None) -> str:
    return hash_canonical(data if data is not None else DATA[name])


def session(journal: Journal, *events: object) -> None:
    journal.record(WatchStarted(session="s", system="shop", every_s=60, components=list(DATA)))
    for event in events:
        journal.record(event)  # type: ignore[arg-type]
    journal.record(WatchStopped(session="s", reason="SIGTERM", looks=3, changes=1))


def write_log(home: Path) -> None:
    with Journal(changes_path(home), fsync=False) as journal:
        good = BaselineMoved(taken_at="t", digests={n: digest(n) for n in DATA})
        swap = InputChanged(component="prompt", summary="active prompt version v2 (was v3)", who="Ada", score=1.0,
                            digest=digest("prompt", {"active": "v2"}), eval={"pass_rate": 0.5, "threshold": 0.9,
                            "passed": 10, "total": 20})  # fmt: skip
        session(journal, good, swap, EnvelopeChanged(holds=False, pass_rate=0.5, threshold=0.9))


def test_the_log_says_what_changed_since_the_last_good_evaluation(tmp_path: Path) -> None:
    write_log(tmp_path)
    log = read_change_log(tmp_path)
    assert log is not None and log.system == "shop" and log.watched == list(DATA) and not log.session_open
    assert log.last_good is not None and log.last_good.digests["prompt"] == digest("prompt")
    assert [c.component for c in log.since_good] == ["prompt"] and log.pending() == ["prompt"]
    assert log.envelope_holds is False and set(log.last_change) == {"prompt"}
    line = log.since_good[0].line()
    assert line.endswith("prompt by Ada: active prompt version v2 (was v3); evals 50% (10/20) < 90% (changes#3)")
    assert read_change_log(tmp_path / "nowhere") is None


def test_without_a_baseline_the_log_settles_each_watched_component(tmp_path: Path) -> None:
    write_log(tmp_path)
    log = read_change_log(tmp_path)
    assert log is not None
    live = {**DATA, "prompt": {"active": "v2"}, "retrieval": {"documents": {"a.md": 2}}}
    snapshot = Snapshot(taken_at="t", system="shop", drillkit_version="0",
                        components={n: Fingerprint(component=n, data=d) for n, d in live.items()})  # type: ignore[arg-type]  # fmt: skip
    unsure = {n: ComponentDiff(component=n, changed=None, summary="unknown: dates") for n in live}  # type: ignore[arg-type]
    report = DiffReport(system="shop", baseline_at=None, taken_at="t", took_s=0, reference="no-baseline",
                        components=unsure)  # fmt: skip
    report = consider_changes(report, log, snapshot)
    verdicts = {n: (d.changed, d.basis, d.certainty) for n, d in report.components.items()}
    assert verdicts == {
        "prompt": (True, "change log", "high"),  # named by the log, and exactly the state it logged
        "retrieval": (True, "change log", "medium"),  # differs from the last known good, not in the log
        "tools": (False, "change log", "high"),  # as the last known good
    }
    assert report.changed == ["prompt", "retrieval"]
    assert "changed after the watch last looked" in report.components["retrieval"].summary


def test_each_session_enters_the_ledger_as_a_longer_prefix_that_verify_accepts(tmp_path: Path) -> None:
    home = tmp_path
    write_log(home)
    path = changes_path(home)
    first = record(home, "changes", "changes", path, {"system": "shop", "changed": ["prompt"]})
    assert first.kind == "changes" and first.summary is None
    assert first.facts == {"system": "shop", "changed": ["prompt"]}
    with Journal(path, fsync=False) as journal:  # the next session, still running: the log grew
        session(journal)
    result = verify_home(home)
    assert result.ok, [f.message for f in result.findings]
    (grown,) = result.warnings  # accepted, but the lines no ledger entry covers yet are named
    assert grown.kind == "not_in_ledger" and grown.line == first.entries + 1
    assert "evidence record --all" in grown.message
    second = record(home, "changes", "changes", path, {"system": "shop", "changed": []})
    assert second.extends == first.seq and second.entries > first.entries
    assert [e.id for e in read_ledger(home)] == ["changes", "changes"]
    assert verify_home(home).ok
    # An entry already recorded, edited: verify says so.
    lines = path.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[2])
    entry["data"]["summary"] = "nothing to see"
    lines[2] = (json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n").encode()
    path.write_bytes(b"".join(lines))
    result = verify_home(home)
    assert not result.ok and any("changes.jsonl" in f.file for f in result.errors)


def test_a_change_log_never_recorded_is_reported_and_record_all_enters_it(tmp_path: Path) -> None:
    """A watch killed (SIGKILL) before it could record its session: verify warns, and
    `evidence record --all` enters the log, then only the lines after it."""
    home = tmp_path
    write_log(home)
    result = verify_home(home)
    assert result.ok and result.journals_unrecorded == 1
    assert [(f.file, f.kind) for f in result.warnings] == [("changes.jsonl", "not_in_ledger")]

    def record_all() -> list[dict]:
        out = CliRunner().invoke(cli, ["evidence", "record", "--all", "--json", "--home", str(home)])
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout)

    (entry,) = record_all()
    assert (entry["kind"], entry["id"], entry["entries"]) == ("changes", "changes", 5)
    assert record_all() == []  # nothing new: recorded once
    with Journal(changes_path(home), fsync=False) as journal:
        session(journal)
    (longer,) = record_all()
    assert longer["extends"] == entry["seq"] and longer["entries"] == 7
    final = verify_home(home)
    assert final.ok and final.warnings == [] and final.journals_unrecorded == 0


def test_a_plan_journal_is_checked_and_recorded_as_a_plan(tmp_path: Path) -> None:
    home = tmp_path
    folder = home / "plans" / "20261206T000000Z-quarterly-0000"
    folder.mkdir(parents=True)
    with Journal(folder / "journal.jsonl", fsync=False) as journal:
        journal.record(PlanStarted(plan="quarterly", system="shop"))  # a plan killed after its first entry
    result = verify_home(home)
    assert [(f.file.split("/")[0], f.kind) for f in result.warnings] == [("plans", "not_in_ledger")]
    out = CliRunner().invoke(cli, ["evidence", "record", "--all", "--json", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert [(e["kind"], e["id"]) for e in json.loads(out.stdout)] == [("plan", folder.name)]
    assert verify_home(home).warnings == []
