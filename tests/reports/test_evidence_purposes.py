"""The evidence report counts only rehearsals (issue 15 items 5 and 8, DESIGN §9.4).

A home with rehearsals, controls (one failed as designed, one that passed), an exploratory run
and a run written before purposes existed (no `purpose` key: a rehearsal), under a manifest that
designs no tools rollback. Journals are written with `Journal`, runs entered with `record` (the
operator named by DRILLKIT_OPERATOR) or `drillkit evidence record --operator`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.config.system import System
from drillkit.journal import Journal
from drillkit.journal.events import RollbackFinished, RunFinished, RunStarted
from drillkit.journal.ledger import LedgerEntry, read_ledger, record
from drillkit.journal.signing import KEY_ENV
from drillkit.reports.evidence import build_report
from drillkit.reports.evidence_render import render

UNTIL = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
SYSTEM = System.model_validate({
    "apiVersion": "drillkit/v1", "kind": "System", "name": "acme-support", "owner": "AI platform team",
    "service": {"url": "http://127.0.0.1:9/v1/answer"},
    "rollbacks": {name: {"run": ["true"], "description": f"revert the {name}"}
                  for name in ("model", "prompt", "retrieval", "provider")},
})  # fmt: skip


def add_run(home: Path, run_id: str, layer: str, day: int, verdict: str, purpose: str | None, *,
            rollback_s: float = 1.5, recorded: bool = True, **extra: Any) -> None:  # fmt: skip
    folder = home / "runs" / run_id
    folder.mkdir(parents=True)
    with Journal(folder / "journal.jsonl", fsync=False) as journal:
        journal.record(RunStarted(run_id=run_id, scenario=run_id, operator="alice", mode="auto"))
        journal.record(RollbackFinished(ok=True, rollback_s=rollback_s))
        journal.record(RunFinished(verdict=verdict, reasons=[] if verdict == "pass" else ["not recovered within 8s"]))
    summary = {
        "run_id": run_id, "scenario": run_id, "title": f"{layer} {purpose or 'old'}", "layer": layer,
        "system": "acme-support", "operator": "alice", "rollback_mode": "auto", "verdict": verdict,
        "ttd_s": 2.0, "rollback_s": rollback_s, "ttr_s": 8.0 if verdict == "pass" else None, "rto_target_s": 300.0,
        "started_at": f"2026-11-{day:02d}T09:00:00+00:00",
        "reasons": [] if verdict == "pass" else ["not recovered within 8s of injection"], **extra,
    }  # fmt: skip
    if purpose is not None:  # None: written before purposes existed
        summary["purpose"] = purpose
    (folder / "summary.json").write_text(json.dumps(summary))
    if recorded:
        record(home, "run", run_id, folder / "journal.jsonl", summary)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("DRILLKIT_OPERATOR", "Dana Reyes")
    home = tmp_path / "home"
    add_run(home, "r1-model", "model", 20, "pass", "rehearsal", rollback_s=4.0)
    add_run(home, "c1-model-noop", "model", 21, "fail", "control", rollback_s=0.0)
    add_run(home, "c2-provider-fallback-down", "provider", 22, "pass", "control", rollback_s=0.5)
    add_run(home, "x1-prompt-probe", "prompt", 23, "fail", "exploratory", rollback_s=0.2)
    add_run(home, "r0-tools-old", "tools", 24, "pass", None, rollback_s=2.0, recorded=False)
    return home


def test_only_rehearsals_count_and_controls_say_what_they_proved(home: Path) -> None:
    report = build_report(home, until=UNTIL, system=SYSTEM)
    assert [r.id for r in report.runs] == ["r1-model", "r0-tools-old"]  # no purpose key: a rehearsal
    assert [r.id for r in report.control_runs] == ["c1-model-noop", "c2-provider-fallback-down"]
    assert [r.id for r in report.exploratory_runs] == ["x1-prompt-probe"]
    t = report.totals
    assert (t.runs, t.passed, t.failed, t.controls, t.controls_as_expected, t.exploratory, t.all_runs) == (
        2, 2, 0, 2, 1, 1, 5)  # fmt: skip
    assert t.median_rollback_s == 3.0  # 4.0 and 2.0: never the control's 0.0 s no-op
    noop, fallback = report.control_runs
    assert noop.outcome == "as_expected" and noop.proved.startswith("the rehearsal can fail")
    assert fallback.outcome == "unexpected" and "cannot tell a broken rollback from a working one" in fallback.proved
    assert report.exploratory_runs[0].proved == "nothing: an exploratory run counts for nothing"

    cadence = {c.path: c for c in report.cadence}
    assert (cadence["model"].status, cadence["model"].control_last, cadence["model"].control_proved) == (
        "ok", "2026-11-21", True)  # fmt: skip
    assert (cadence["model"].in_period, cadence["model"].passed_in_period) == (1, 1)
    # A control never counts against a path, nor for it; an exploratory failure counts for nothing.
    assert cadence["provider"].status == "never" and cadence["provider"].control_proved is False
    assert cadence["prompt"].status == "never" and cadence["prompt"].in_period == 0
    # Tools passed a rehearsal, but the manifest designs no tools rollback: never "current".
    assert cadence["tools"].status == "undesigned" and cadence["tools"].last_verdict == "pass"
    assert t.paths_current == 1

    controls = {c.clause: c for c in report.controls}
    assert "2 distinct scenario(s) over 2 layer(s)" in controls["Art. 24–25"].evidence  # rehearsals only
    assert "1 of 2 control run(s) failed as designed" in controls["Art. 11(6)"].evidence
    dora_12_2 = controls["Art. 12(2)"].evidence
    assert "2 rehearsal(s)" in dora_12_2 and "median rollback 3 s" in dora_12_2
    texts = [g.text for g in report.gaps]
    assert any(t.startswith("Control c2-provider-fallback-down on 2026-11-22 passed") for t in texts), texts
    assert any(t.startswith("The manifest designs no tools rollback path: its rehearsals") for t in texts), texts
    assert not any("x1-prompt-probe" in t or "c1-model-noop" in t for t in texts if "ledger" not in t), texts


def test_the_renderings_show_controls_apart_and_no_designed_rollback(home: Path) -> None:
    report = build_report(home, until=UNTIL, system=SYSTEM)
    md = render(report, "md", home=home)
    tools = next(line for line in md.splitlines() if line.startswith("| Tools |"))
    assert "**no designed rollback**" in tools and "current" not in tools
    model = next(line for line in md.splitlines() if line.startswith("| Model version |"))
    assert "| current | yes (2026-11-21) |" in model
    provider = next(line for line in md.splitlines() if line.startswith("| Provider fallback |"))
    assert "**no: the control passed** (2026-11-22)" in provider
    # rehearsals (passed), paths current, median rollback, within RTO, controls (as designed), exploratory
    assert "| 2 (2) | 1 of 5 | 3.0 s | 2 of 2 | 2 (1) | 1 |" in md
    others = md[md.index("### Controls and exploratory runs") : md.index("## 4.")]
    assert "c1-model-noop" in others and "the rehearsal can fail" in others and "x1-prompt-probe" in others
    rehearsals = md[md.index("## 3. Rehearsals") : md.index("### Controls and exploratory runs")]
    assert "c1-model-noop" not in rehearsals and "x1-prompt-probe" not in rehearsals
    html = render(report, "html", home=home)
    assert 'id="control-runs"' in html and "no designed rollback" in html and "controls failed as designed" in html
    assert html.count('class="rollback ') == 2  # the chart draws rehearsals only


def test_the_operator_is_named_and_signed_into_the_ledger(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = read_ledger(home)
    assert [e.operator for e in entries] == ["Dana Reyes"] * 4  # DRILLKIT_OPERATOR
    monkeypatch.delenv("DRILLKIT_OPERATOR")
    r = CliRunner().invoke(cli, ["evidence", "record", "--all", "--operator", "Sam Okafor", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert "by Sam Okafor" in r.stdout
    (entry,) = [e for e in read_ledger(home) if e.id == "r0-tools-old"]
    assert entry.operator == "Sam Okafor" and b'"operator":"Sam Okafor"' in entry.canonical()
    verify = CliRunner().invoke(cli, ["evidence", "verify", "--home", str(home)])
    assert verify.exit_code == 0, verify.output  # the signed checkpoint covers the names
    report = build_report(home, until=UNTIL, system=SYSTEM)
    tools = next(r for r in report.runs if r.id == "r0-tools-old")
    assert (tools.operator, tools.recorded_by) == ("alice", "Sam Okafor")
    assert "alice (recorded by Sam Okafor)" in render(report, "md", home=home)
    # An entry written before `operator` existed keeps its canonical bytes (its hash, the chain).
    old = entry.model_dump(exclude={"operator"})
    assert "operator" not in json.loads(LedgerEntry.model_validate(old).canonical())
