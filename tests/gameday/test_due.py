"""`drillkit gameday due` (issue 16 item 2): the last passing rehearsal per rollback path, its
owner and due date; exit 1 when one is overdue, and the manifest's webhooks hear about it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner

from drillkit.cli import cli
from tests.gameday.test_plan import webhook  # noqa: F401 - the fixture

MANIFEST = {
    "apiVersion": "drillkit/v1", "kind": "System", "name": "acme-support",
    "service": {"url": "http://127.0.0.1:9/v1/answer"},
    "providers": {"primary": {"base_url": "http://127.0.0.1:9/v1", "api": "openai", "model": "m"}},
    "rollbacks": {
        "model": {"run": ["true"], "owner": "ml-platform@acme.example", "rehearse_every": "30d"},
        "provider": {"run": ["true"], "owner": "sre@acme.example"},
        "prompt": {"run": ["true"]},
    },
}  # fmt: skip


def run_summary(home: Path, run_id: str, layer: str, days_ago: float, **extra: str) -> None:
    folder = home / "runs" / run_id
    folder.mkdir(parents=True)
    started = datetime.now(UTC) - timedelta(days=days_ago)
    summary = {"run_id": run_id, "scenario": run_id, "verdict": "pass", "system": "acme-support", "layer": layer,
               "started_at": started.isoformat(timespec="seconds"), **extra}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "journal.jsonl").touch()  # runs are read as the evidence report reads them: folders with a journal


def due(home: Path, system: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["gameday", "due", "--home", str(home), "--system", str(system), *extra])
    return result.exit_code, result.stdout


def test_each_path_is_due_its_period_after_its_last_passing_rehearsal(tmp_path: Path) -> None:
    system = tmp_path / "drillkit.yaml"
    system.write_text(yaml.safe_dump(MANIFEST))
    home = tmp_path / "home"
    run_summary(home, "r-model-old", "model", 40)  # past its 30 d
    run_summary(home, "r-model-control", "model", 1, purpose="control")  # a control proves nothing
    run_summary(home, "r-provider", "provider", 10)
    run_summary(home, "r-prompt-failed", "prompt", 2, verdict="fail")
    code, out = due(home, system, "--json")
    assert code == 1, out
    report = json.loads(out)
    paths = {p["path"]: p for p in report["paths"]}
    assert report["overdue"] == ["model", "prompt"]
    assert paths["model"]["last_run_id"] == "r-model-old" and paths["model"]["owner"] == "ml-platform@acme.example"
    assert paths["provider"]["overdue"] is False and 79 < paths["provider"]["days_left"] <= 80
    assert paths["prompt"]["last_pass"] is None  # a failed rehearsal is not a pass
    code, text = due(home, system)  # the table: markup rendered, never printed
    assert code == 1 and "never" in text and "[red]" not in text and "r-model-old" in text
    run_summary(home, "r-model-new", "model", 0)
    run_summary(home, "r-prompt", "prompt", 0)
    assert due(home, system)[0] == 0


def test_an_overdue_path_is_posted_to_the_manifests_webhooks(tmp_path: Path, webhook) -> None:  # noqa: F811
    url, received = webhook
    system = tmp_path / "drillkit.yaml"
    system.write_text(yaml.safe_dump({**MANIFEST, "notify": [{"webhook": url, "events": ["overdue"]}]}))
    code, _ = due(tmp_path / "home", system)
    assert code == 1
    (event,) = received
    assert event["event"] == "overdue" and "model (ml-platform@acme.example)" in event["text"]
    assert {p["path"] for p in event["overdue"]} == {"model", "provider", "prompt"}


def test_the_evidence_report_uses_the_same_cadence_and_dates(tmp_path: Path) -> None:
    from drillkit.config.system import load_system
    from drillkit.reports.evidence import build_report

    system_file = tmp_path / "drillkit.yaml"
    system_file.write_text(yaml.safe_dump(MANIFEST))
    home = tmp_path / "home"
    run_summary(home, "r-model-old", "model", 40)  # past its 30 d, well within the default 90 d
    run_summary(home, "r-provider", "provider", 10)
    _, out = due(home, system_file, "--json")
    by_due = {p["path"]: p for p in json.loads(out)["paths"]}
    cadence = {c.path: c for c in build_report(home, system=load_system(system_file)).cadence}
    for path in ("model", "provider"):
        assert cadence[path].due == by_due[path]["due_at"]
        assert (cadence[path].status == "overdue") is by_due[path]["overdue"]
    assert cadence["model"].status == "overdue" and cadence["model"].rehearse_every_days == 30
    assert cadence["provider"].status == "ok" and cadence["provider"].owner == "sre@acme.example"


def test_an_edited_summary_cannot_make_a_path_current(tmp_path: Path) -> None:
    from tests.reports.test_evidence_report import add_run

    system = tmp_path / "drillkit.yaml"
    system.write_text(yaml.safe_dump(MANIFEST))
    home = tmp_path / "home"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    folder = add_run(home, "r-model-failed", "model", yesterday, "fail")  # the ledger holds verdict: fail
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "verdict": "pass"}))  # edited afterwards
    code, out = due(home, system, "--json")
    paths = {p["path"]: p for p in json.loads(out)["paths"]}
    assert code == 1 and paths["model"]["last_pass"] is None and paths["model"]["overdue"] is True


def test_a_cadence_under_a_day_is_not_rounded_to_zero(tmp_path: Path) -> None:
    system = tmp_path / "drillkit.yaml"
    manifest = {**MANIFEST, "rollbacks": {"model": {"run": ["true"], "rehearse_every": "12h"}}}
    system.write_text(yaml.safe_dump(manifest))
    home = tmp_path / "home"
    run_summary(home, "r-model", "model", 0.25)  # 6 h ago: due in 6 h
    code, out = due(home, system, "--json")
    (model,) = json.loads(out)["paths"]
    assert code == 0 and model["rehearse_every_days"] == 0.5 and 0.1 < model["days_left"] <= 0.3  # rounded to 0.1 d


def test_a_degradation_drill_proves_its_own_path_not_the_provider_fallback(tmp_path: Path) -> None:
    """capacity-degradation fails at the provider layer but rolls back with the degradation lever
    (`rollback.path: degradation`): it must not make the fallback path current, in `gameday due`
    or in the evidence report."""
    from drillkit.config.system import load_system
    from drillkit.reports.evidence import build_report

    system = tmp_path / "drillkit.yaml"
    rollbacks = {**MANIFEST["rollbacks"], "degradation": {"run": ["true"], "owner": "sre@acme.example"}}  # type: ignore[dict-item]
    system.write_text(yaml.safe_dump({**MANIFEST, "rollbacks": rollbacks}))
    home = tmp_path / "home"
    run_summary(home, "r-capacity", "provider", 1, rollback_path="degradation")
    run_summary(home, "r-old-provider", "provider", 100)  # before rollback paths existed: filed by its layer
    run_summary(home, "r-typo", "model", 1, rollback_path="degredation")  # a path the manifest does not know
    code, out = due(home, system, "--json")
    paths = {p["path"]: p for p in json.loads(out)["paths"]}
    assert code == 1 and paths["degradation"]["last_run_id"] == "r-capacity" and not paths["degradation"]["overdue"]
    assert paths["provider"]["last_run_id"] == "r-old-provider" and paths["provider"]["overdue"]
    assert paths["model"]["last_pass"] is None
    report = build_report(home, system=load_system(system))
    cadence = {c.path: c for c in report.cadence}
    assert cadence["degradation"].label == "Graceful degradation" and cadence["degradation"].status == "ok"
    assert cadence["provider"].status == "overdue" and cadence["provider"].last_rehearsal is not None
    assert cadence["degredation"].status == "undesigned"  # shown, never silently dropped or counted
    assert report.totals.paths_current == 0  # of the five: degradation is not one of them
    assert {r.id: r.path_label for r in report.runs}["r-capacity"] == "Graceful degradation"


def test_validate_warns_of_a_rollback_path_the_system_does_not_design(tmp_path: Path) -> None:
    from tests.gameday.test_gameday import SWAP, write

    def validate(rollback: dict, system: str = "demo") -> str:
        spec = {**SWAP, "id": "path-check", "system": system, "rollback": {**SWAP["rollback"], **rollback}}
        result = CliRunner().invoke(cli, ["gameday", "validate", str(write(tmp_path, spec))])
        assert result.exit_code == 0, result.output
        return result.output

    assert "rollback path" not in validate({})  # model: the demo designs it
    out = validate({"path": "degradation"})
    assert "(model, rollback path degradation, " in out and "warning: rollback path" not in out
    out = validate({"path": "degredation"})
    assert "warning: rollback path 'degredation' is not among the system's rollbacks (model, prompt, " in out
    (tmp_path / "drillkit.yaml").write_text(yaml.safe_dump(MANIFEST))  # a team's own manifest, beside the scenario
    assert "'degradation' is not among the system's rollbacks (model, prompt, provider)" in validate(
        {"path": "degradation"}, system="drillkit.yaml"
    )
    shipped = CliRunner().invoke(cli, ["gameday", "list", "--json"])
    paths = {r["id"]: (r["layer"], r["rollback_path"]) for r in json.loads(shipped.stdout) if r["kind"] == "scenario"}
    assert paths["capacity-degradation"] == ("provider", "degradation")
    assert paths["input-shift-cost-spike"] == ("inputs", "provider") and paths["provider-outage"] == ("provider",) * 2
