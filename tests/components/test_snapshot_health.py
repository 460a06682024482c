"""A last known good must be good: `drillkit snapshot` refuses while the evals fail (exit 1, saying the
pass rate and the envelope), `--force` records it marked `healthy: false`, and triage says so when it
compares against it — and, with the evals passing again, asks "re-baseline?" instead of reverting
the healthy change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from drillkit.cli import cli
from tests.running_demo import Demo


def run(d: Demo, home: Path, *args: str) -> Result:
    """`drillkit ARGS` on the demo's manifest, in another home than the demo's own."""
    system = str(d.workdir / "drillkit.yaml")
    return CliRunner().invoke(cli, [*args, "--system", system], env={"DRILLKIT_HOME": str(home)})


def baseline(home: Path) -> dict[str, Any]:
    return json.loads((home / "baseline.json").read_text())


def test_a_healthy_snapshot_records_its_evals(tmp_path: Path, live: Demo) -> None:
    r = run(live, tmp_path, "snapshot")
    assert r.exit_code == 0, r.output
    assert "evals" in r.stdout and "pass rate 100.0%" in r.stdout and "(healthy)" in r.stdout
    written = baseline(tmp_path)
    assert written["healthy"] is True
    assert written["evals"]["pass_rate"] >= written["evals"]["threshold"] == 0.9
    assert written["evals"]["total"] == 46 and written["evals"]["suite"] == "support-assistant"


def test_a_failing_evals_snapshot_is_refused_and_force_marks_it_unhealthy(tmp_path: Path, live: Demo) -> None:
    assert run(live, tmp_path, "snapshot").exit_code == 0
    healthy = baseline(tmp_path)
    live.swap_model()  # new weights under the pinned alias: the suite fails

    r = run(live, tmp_path, "snapshot")
    assert r.exit_code == 1, r.output
    assert "not written: the evals fail: pass rate" in r.stderr and "< envelope 90%" in r.stderr
    assert "--force" in r.stderr
    assert baseline(tmp_path) == healthy  # the last known good stays as it was

    r = run(live, tmp_path, "snapshot", "--force", "--json")
    assert r.exit_code == 0, r.output
    forced = baseline(tmp_path)
    assert forced["healthy"] is False and json.loads(r.stdout)["healthy"] is False
    assert forced["evals"]["pass_rate"] < forced["evals"]["threshold"]
    assert json.loads((tmp_path / "baseline.previous.json").read_text()) == healthy

    # Triage against it says so first, even with nothing changed since.
    r = run(live, tmp_path, "triage", "--auto", "--json")
    out = json.loads(r.stdout)
    assert out["baseline"] == {"reference": "baseline", "taken_at": forced["taken_at"], "healthy": False}
    diff = next(s for s in out["steps"] if s["step"] == "what-changed")
    assert diff["detail"].startswith("against an UNHEALTHY baseline")

    # The swap undone, the evals pass again: the model "changed" against the unhealthy baseline,
    # but that change is the fix. Triage asks "re-baseline?"; it does not propose reverting it.
    live.ok("chaos", "reset")
    r = run(live, tmp_path, "triage", "--auto", "--json")
    out = json.loads(r.stdout)
    assert out["envelope"] == "pass" and out["changed"] == ["model"], out["evidence"]
    assert out["revert_order"] == [] and out["rebaseline"] == ["model"]
    assert out["revert_plan"][0].startswith("re-baseline? model — ")
    assert "reverting returns to a state that failed them" in out["revert_plan"][0]
    assert "rollback" not in {s["step"] for s in out["steps"]}


def test_with_the_evals_passing_a_harmless_change_leads_to_rebaseline(tmp_path: Path, live: Demo) -> None:
    assert run(live, tmp_path, "snapshot").exit_code == 0
    with (live.workdir / "prompts" / "v3.md").open("a") as f:  # an edit the suite still passes
        f.write("\nAlways answer in one short sentence.\n")
    r = run(live, tmp_path, "triage", "--auto", "--json")
    out = json.loads(r.stdout)
    assert out["envelope"] == "pass" and out["changed"] == ["prompt"]
    assert out["revert_order"] == [] and out["rebaseline"] == ["prompt"]
    line = out["revert_plan"][0]
    assert line.startswith("re-baseline? prompt — edited v3.md (the active version)")
    assert "if this was meant, record it as the last known good (drillkit snapshot)" in line
    assert "if not: revert costs users nothing" in line
    steps = {s["step"]: s for s in out["steps"]}
    assert (
        steps["revert-order"]["outcome"] == "fail"
        and "nothing to revert: the evals hold" in steps["revert-order"]["detail"]
    )
    assert "rollback" not in steps and "capacity" in steps
    assert r.exit_code == (0 if steps["capacity"]["outcome"] == "pass" else 1)
    # Re-baselined, the same state is nothing to report.
    assert run(live, tmp_path, "snapshot").exit_code == 0
    out = json.loads(run(live, tmp_path, "triage", "--auto", "--json").stdout)
    assert out["changed"] == [] and out["rebaseline"] == []
