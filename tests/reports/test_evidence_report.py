"""`drillkit evidence report`: the data (cadence, period, runs, gaps, controls) and its three renderings.

The home is synthetic but real: journals written with `Journal`, runs entered with `record`, the
report built and rendered by the CLI in process.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.journal import Journal
from drillkit.journal.ledger import record
from drillkit.journal.signing import KEY_ENV
from drillkit.reports.evidence import build_report
from drillkit.reports.evidence_render import md_escape, render

UNTIL = "2026-11-30"
EVIL_TITLE = '<script>document.body.setAttribute("data-pwned","1")</script>'
EVIL_OPERATOR = "<img src=x onerror=\"document.title='pwned'\">"
CLAUSES = ("Art. 11(6)", "Art. 12(2)", "Art. 13(2)", "Art. 24–25", "Art. 12", "Art. 14(4)(e)", "Art. 15(4)",
           "Art. 20(1)", "Art. 73", "MANAGE 2.3", "MANAGE 2.4", "MANAGE 4.1", "MANAGE 4.3", "A.6.2.6", "A.6.2.8",
           "CC7.4", "CC7.5")  # fmt: skip


def add_run(home: Path, run_id: str, layer: str, started: str, verdict: str = "pass", *, recorded: bool = True,
            **extra: Any) -> Path:  # fmt: skip
    folder = home / "runs" / run_id
    folder.mkdir(parents=True)
    with Journal(folder / "journal.jsonl", fsync=False) as journal:
        journal.append("run.started", {"run_id": run_id, "scenario": run_id})
        journal.append("run.finished", {"verdict": verdict})
    summary = {
        "run_id": run_id, "scenario": extra.pop("scenario", run_id), "title": f"{layer} rehearsal", "layer": layer,
        "severity": "high", "system": "acme-support", "operator": "alice", "rollback_mode": "auto",
        "verdict": verdict, "ttd_s": 2.4, "rollback_s": 1.5, "ttr_s": 8.0, "rto_target_s": 300.0,
        "started_at": started, "reasons": [] if verdict == "pass" else ["recovery not within 25s"], **extra,
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    if recorded:
        record(home, "run", run_id, folder / "journal.jsonl", summary)
    return folder


def add_incident(home: Path, incident_id: str, started: str, *, held: bool = True, ok: bool = True) -> Path:
    folder = home / "incidents" / incident_id
    folder.mkdir(parents=True)
    with Journal(folder / "journal.jsonl", fsync=False) as journal:
        journal.append("incident.started", {"incident_id": incident_id, "runbook": "ai-output-incident"})
        if held:
            journal.append("evidence.hold", {"path": str(folder / "evidence" / "hold-2"), "files": {}})
        journal.append("rollback.finished", {"component": "model", "ok": ok, "duration_s": 2.5, "expected_s": 5})
        journal.append("incident.finished", {"outcome": "resolved"})
    summary = {"incident_id": incident_id, "runbook": "ai-output-incident", "title": "Answers drop citations",
               "system": "acme-support", "operator": "bob", "started_at": started, "outcome": "resolved",
               "envelope": "fail", "changed": ["model"], "revert_order": ["model"]}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    record(home, "incident", incident_id, folder / "journal.jsonl", summary)
    return folder


def build_home(home: Path) -> Path:
    """Model current; prompt failing; provider overdue; retrieval and tools never rehearsed; one run
    outside the period; one run not recorded; one incident; markup in a title and an operator."""
    add_run(home, "r0-old-model", "model", "2026-01-10T09:00:00+00:00")
    add_run(home, "r1-provider-outage", "provider", "2026-07-01T09:00:00+00:00")
    add_run(home, "r2-silent-model-swap", "model", "2026-11-20T09:00:00+00:00", title=EVIL_TITLE,
            operator=EVIL_OPERATOR)  # fmt: skip
    add_run(home, "r3-prompt-regression", "prompt", "2026-11-25T09:00:00+00:00", "fail", ttr_s=420.0)
    add_run(home, "r4-input-shift", "inputs", "2026-11-26T09:00:00+00:00", recorded=False)
    add_incident(home, "20261127T101500Z-ai-output-incident-3f2a", "2026-11-27T10:15:00.000Z")
    return home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(KEY_ENV, raising=False)
    return build_home(tmp_path / "home")


def until() -> datetime:
    return datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)


def report_cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["evidence", "report", "--home", str(home), *args])


# -- data ---------------------------------------------------------------------------------------


def test_cadence_flags_current_failing_overdue_and_never(home: Path) -> None:
    report = build_report(home, until=until())
    cadence = {c.path: c for c in report.cadence}
    assert list(cadence) == ["model", "prompt", "retrieval", "provider", "tools", "inputs"]
    assert (cadence["model"].status, cadence["model"].last_rehearsal, cadence["model"].days_since) == (
        "ok",
        "2026-11-20",
        10,
    )
    assert cadence["prompt"].status == "failing" and cadence["prompt"].last_pass is None
    assert cadence["provider"].status == "overdue" and cadence["provider"].days_since == 152
    assert cadence["retrieval"].status == cadence["tools"].status == "never"
    assert report.totals.paths_current == 1 and report.totals.runs == 5 and report.totals.incidents == 1
    # 90 days is the line: on 2026-09-29 the provider rehearsal of 2026-07-01 was 90 days old, still current.
    early = build_report(home, until=datetime(2026, 9, 29, 9, 0, tzinfo=UTC))
    assert {c.path: c.status for c in early.cadence}["provider"] == "ok"
    later = build_report(home, until=datetime(2026, 9, 30, 9, 0, 1, tzinfo=UTC))
    assert {c.path: c.status for c in later.cadence}["provider"] == "overdue"


def test_the_period_selects_runs_by_start_but_cadence_looks_back(home: Path) -> None:
    report = build_report(home, since=datetime(2026, 11, 1, tzinfo=UTC), until=until())
    assert [r.id for r in report.runs] == ["r2-silent-model-swap", "r3-prompt-regression", "r4-input-shift"]
    provider = next(c for c in report.cadence if c.path == "provider")
    assert provider.last_rehearsal == "2026-07-01" and provider.in_period == 0
    assert report.period.label == "2026-11-01 to 2026-11-30"
    none = build_report(home, since=datetime(2025, 1, 1, tzinfo=UTC), until=datetime(2025, 12, 31, tzinfo=UTC))
    assert none.runs == [] and none.incidents == [] and all(c.status == "never" for c in none.cadence)


def test_runs_carry_timings_verdicts_digests_and_ledger_state(home: Path) -> None:
    report = build_report(home, until=until())
    runs = {r.id: r for r in report.runs}
    r3 = runs["r3-prompt-regression"]
    assert (r3.verdict, r3.ttr_s, r3.rto_target_s, r3.within_rto) == ("fail", 420.0, 300.0, False)
    assert r3.path_label == "Prompt version" and r3.recorded and len(r3.journal_digest or "") == 64
    assert runs["r4-input-shift"].recorded is False and runs["r4-input-shift"].path_label == "Inputs"
    (incident,) = report.incidents
    assert incident.evidence_held and incident.rollbacks[0].duration_s == 2.5 and incident.outcome == "resolved"
    assert report.integrity.ok and report.integrity.ledger_entries == 5
    assert report.integrity.key_fingerprint and report.integrity.key_fingerprint.startswith("ed25519:")
    assert report.integrity.command.startswith("drillkit evidence verify --home ")


def test_the_ledger_wins_over_an_edited_summary(home: Path) -> None:
    path = home / "runs" / "r3-prompt-regression" / "summary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "verdict": "pass", "ttr_s": 5.0}))
    report = build_report(home, until=until())
    r3 = next(r for r in report.runs if r.id == "r3-prompt-regression")
    assert r3.verdict == "fail" and r3.ttr_s == 420.0
    assert not report.integrity.ok and report.gaps[0].area == "integrity"
    assert any("summary.json" in f for f in report.integrity.findings)


def test_gaps_name_what_to_act_on_most_serious_first(home: Path) -> None:
    gaps = build_report(home, until=until()).gaps
    texts = [g.text for g in gaps]
    assert [g.severity for g in gaps] == sorted((g.severity for g in gaps), key=["high", "medium", "low"].index)
    assert any("retrieval corpus rollback path has never been rehearsed" in t for t in texts)
    assert any("prompt-regression on 2026-11-25 recovered in 7 min, beyond the RTO target of 5 min" in t for t in texts)
    overdue = "provider fallback rollback path last passed a rehearsal on 2026-07-01; its cadence is every 90 days"
    assert any(overdue in t and "so the next was due 2026-09-29" in t for t in texts)
    assert any("not in the signed ledger" in t and "r4-input-shift" in t for t in texts)


def test_controls_cover_every_clause_and_follow_the_evidence(home: Path, tmp_path: Path) -> None:
    controls = {c.clause: c for c in build_report(home, until=until()).controls}
    assert tuple(controls) == CLAUSES
    assert controls["Art. 11(6)"].status == "partial" and "2 of 5 rollback paths" in controls["Art. 11(6)"].evidence
    assert controls["Art. 73"].status == "supported"  # the incident held evidence before its rollback
    assert controls["Art. 15(4)"].status == "partial"  # model current, provider overdue
    # A home where every path is rehearsed and current supports the cadence clauses fully.
    full = tmp_path / "full"
    for i, layer in enumerate(("model", "prompt", "retrieval", "provider", "tools")):
        add_run(full, f"f{i}-{layer}", layer, f"2026-11-{10 + i}T09:00:00+00:00")
    controls = {c.clause: c for c in build_report(full, until=until()).controls}
    assert controls["Art. 11(6)"].status == controls["CC7.5"].status == controls["Art. 15(4)"].status == "supported"
    assert controls["Art. 13(2)"].status == "gap"  # no incident and no review draft
    (full / "reviews").mkdir()
    (full / "reviews" / "q4.md").write_text("# Review of f0-model\n")
    controls = {c.clause: c for c in build_report(full, until=until()).controls}
    assert controls["Art. 13(2)"].status == "supported" and "1 review draft(s)" in controls["Art. 13(2)"].evidence
    empty = {c.clause: c for c in build_report(tmp_path / "empty", until=until()).controls}
    assert empty["Art. 12(2)"].status == "gap" and empty["CC7.5"].status == "gap"


# -- rendering ----------------------------------------------------------------------------------

ASSET = re.compile(r"""(?:src|href|url)\s*[=(]\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_html_is_self_contained_with_chart_and_mapping(home: Path) -> None:
    html = render(build_report(home, until=until()), "html", home=home)
    assert html.startswith("<!DOCTYPE html>") and "@media print" in html
    assert not ASSET.search(html), ASSET.search(html)
    assert "<link" not in html and "<script" not in html and "<img" not in html and "@import" not in html
    assert html.count("<svg") == 1 and 'id="rollback-chart"' in html and "RTO target 5 min" in html
    assert html.count('class="rollback ') == 5 and '<path class="target"' in html
    mapping = html[html.index('id="control-mapping"') :]
    for clause in CLAUSES:
        assert f">{clause}</td>" in mapping
    assert "ed25519:" in html and "drillkit evidence verify --home" in html


def test_markup_in_titles_and_operators_is_shown_as_text(home: Path) -> None:
    html = render(build_report(home, until=until()), "html", home=home)
    assert "&lt;script&gt;document.body.setAttribute(&#34;data-pwned&#34;,&#34;1&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;document.title=&#39;pwned&#39;&#34;&gt;" in html
    md = render(build_report(home, until=until()), "md", home=home)
    assert "<script" not in md and "<img" not in md and "&lt;script&gt;" in md
    assert md_escape("a|b <i>x</i>\nnext") == "a\\|b &lt;i&gt;x&lt;/i&gt; next"


def test_markdown_and_json_renderings(home: Path) -> None:
    report = build_report(home, until=until())
    md = render(report, "md", home=home)
    assert md.startswith("# Rollback evidence: acme-support")
    assert "| Provider fallback | not in the manifest | 2026-07-01 (152 days) | pass |" in md
    assert "| CC7.5 |" in md.replace("CC7\\.5", "CC7.5") and "## 8. Integrity of the record" in md
    data = json.loads(render(report, "json"))
    assert {"period", "cadence", "runs", "incidents", "gaps", "controls", "integrity", "chart"} <= set(data)
    assert data["runs"][2]["title"] == EVIL_TITLE  # JSON keeps the text as it is; escaping is the renderer's job


def test_team_templates_override_the_shipped_ones(home: Path, tmp_path: Path) -> None:
    (home / "templates").mkdir()
    (home / "templates" / "evidence.md.j2").write_text("HOME {{ r.totals.runs }} {{ r.runs[2].title | md }}\n")
    assert report_cli(home, "--until", UNTIL, "--format", "md").stdout.startswith("HOME 5 &lt;script&gt;")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "evidence.html.j2").write_text("<p>{{ r.runs[2].title }}</p>\n")
    result = report_cli(home, "--until", UNTIL, "--templates", str(mine))
    assert (
        result.stdout
        == "<p>&lt;script&gt;document.body.setAttribute(&#34;data-pwned&#34;,&#34;1&#34;)&lt;/script&gt;</p>\n"
    )
    (mine / "evidence.html.j2").write_text("{{ r.no_such_field }}")
    result = report_cli(home, "--templates", str(mine))
    assert result.exit_code == 2 and "no_such_field" in result.stderr


def test_cli_writes_the_format_its_file_asks_for(home: Path, tmp_path: Path) -> None:
    for name, marker in (("e.html", "<!DOCTYPE html>"), ("e.md", "# Rollback evidence"), ("e.json", '{\n  "title"')):
        result = report_cli(home, "--since", "2026-01-01", "--until", UNTIL, "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_text().startswith(marker)
        assert f"wrote {tmp_path / name}" in result.stderr and "record intact" in result.stderr
    result = report_cli(home, "--json", "--until", UNTIL)
    assert result.exit_code == 0 and json.loads(result.stdout)["totals"]["runs"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "--since last tuesday: expected a date like 2026-01-31"),
        (["--since", "2026-12-01", "--until", "2026-11-01"], "--since 2026-12-01 is after --until 2026-11-01"),
        (["--format", "pdf"], "'pdf' is not one of"),
        (["--templates", "/no/such/dir"], "/no/such/dir: no such folder"),
        (["--out", "/proc/no-such-dir/e.html"], "--out /proc/no-such-dir/e.html: cannot write the report"),
    ],
)
def test_bad_options_exit_2_with_one_line(home: Path, args: list[str], message: str) -> None:
    result = report_cli(home, *args)
    assert result.exit_code == 2 and message in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_a_home_that_does_not_exist_is_an_input_error_not_an_intact_record(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-home"
    for command in (["evidence", "verify"], ["evidence", "report", "--format", "md"]):
        result = CliRunner().invoke(cli, [*command, "--home", str(missing)])
        assert result.exit_code == 2, result.output
        assert f"{missing}: no drillkit home here" in result.stderr and "INTACT" not in result.output
        assert not missing.exists()


def test_every_markdown_value_is_escaped_even_without_the_md_filter(home: Path) -> None:
    # A run that was never recorded: its verdict is whatever its summary.json says.
    add_run(home, "r5-unrecorded", "retrieval", "2026-11-28T09:00:00+00:00", "<b>pass</b>|x", recorded=False)
    md = render(build_report(home, until=until()), "md", home=home)
    assert "<b>" not in md and "&lt;b&gt;pass&lt;/b&gt;\\|x" in md
    # Markup the template means is still markup; identifiers are code spans, not escaped text.
    assert "| **never rehearsed** |" in md and "**NOT intact**" not in md
    assert re.search(r"\| `[0-9a-f]{12}` \|", md) and "`drillkit evidence verify --home " in md


def test_a_path_the_manifest_does_not_design_is_named_as_such(home: Path) -> None:
    from drillkit.reports.evidence_gaps import find_gaps
    from drillkit.reports.evidence_verify import verify_home

    report = build_report(home, until=until())
    for path in report.cadence:  # as with a manifest that designs every path but tools
        path.designed = None if path.path == "tools" else f"rollback {path.path}"
    texts = {g.area: g.text for g in find_gaps(report, verify_home(home))}
    assert texts["Tools"].startswith("The manifest designs no tools rollback path and none was rehearsed")
    assert "retrieval corpus rollback path has never been rehearsed" in texts["Retrieval corpus"]
