"""`drillkit snapshot` / `drillkit diff` against the running demo: each change to one of the five
inputs is reported as a change of exactly that component, with evidence; nothing else is."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from tests.running_demo import Demo


def diff(d: Demo, *args: str) -> dict[str, Any]:
    """`drillkit diff --json` (exit 1 exactly when something changed)."""
    r = d.cli("diff", "--json", *args)
    assert r.exit_code in (0, 1), r.output
    report = json.loads(r.stdout)
    assert r.exit_code == (1 if report["changed"] else 0)
    return report


def test_nothing_changed_reports_nothing_on_repeated_runs(live: Demo) -> None:
    for _ in range(3):
        report = diff(live)
        assert report["changed"] == [] and report["unknown"] == []
        assert set(report["components"]) == {"model", "prompt", "retrieval", "tools", "inputs"}
        assert all(c["changed"] is False for c in report["components"].values())
        assert report["took_s"] < 30  # generous: the target (< 5 s) is measured, see README


def test_silent_model_swap_keeping_the_name_is_a_model_change(live: Demo) -> None:
    live.ok("chaos", "inject", "provider:primary", "model_swap", "--set", "serve_model=sim-pro-2025-11",
               "--set", "system_fingerprint=keep", "--match", "model=sim-pro")  # fmt: skip
    report = diff(live)
    assert report["changed"] == ["model"]
    primary = report["components"]["model"]["evidence"]["providers"]["primary"]
    assert "reported" not in primary  # the name and fingerprint did not move...
    assert "system_fingerprint" not in primary
    assert len(primary["diverged"]) >= 2  # ...but the canaries answer differently
    assert primary["mean_similarity"] < 0.9
    assert report["components"]["model"]["evidence"]["providers"]["fallback"]["diverged"] == []


def test_model_pinned_through_a_lever_is_a_model_change(live: Demo) -> None:
    live.ok("demo", "ctl", "pin", "sim-pro-2025-11")
    report = diff(live)
    assert report["changed"] == ["model"]
    assert report["components"]["model"]["evidence"]["active"]["now"]["primary"] == "sim-pro-2025-11"


def test_edited_prompt_file_is_a_prompt_change(live: Demo) -> None:
    with (live.workdir / "prompts" / "v3.md").open("a") as f:
        f.write("\nAlways answer in one word.\n")
    report = diff(live)
    assert report["changed"] == ["prompt"]
    files = report["components"]["prompt"]["evidence"]["files"]
    assert [c["id"] for c in files["changed"]] == ["v3.md"]
    assert report["components"]["prompt"]["score"] == 1.0  # the active version


def test_prompt_version_switched_through_the_lever_is_a_prompt_change(live: Demo) -> None:
    live.ok("demo", "ctl", "prompt", "v4-terse")
    report = diff(live)
    assert report["changed"] == ["prompt"]
    assert report["components"]["prompt"]["evidence"]["active"] == {"was": "v3", "now": "v4-terse"}


@pytest.mark.parametrize("edit", ["edited", "added", "removed"])
def test_corpus_document_edits_are_retrieval_changes(live: Demo, edit: str) -> None:
    corpus = live.workdir / "corpus"
    if edit == "edited":
        doc = corpus / "returns-policy.md"
        doc.write_text(doc.read_text().replace("30 days", "14 days"))
    elif edit == "added":
        (corpus / "loyalty.md").write_text("# Loyalty programme\n\nMembers earn 1 point per dollar.\n")
    else:
        (corpus / "warranty.md").unlink()
    time.sleep(1.1)  # the service re-reads its corpus at most every second
    report = diff(live)
    assert report["changed"] == ["retrieval"]
    docs = report["components"]["retrieval"]["evidence"]["documents"]
    expected = {"edited": ("changed", "returns-policy.md"), "added": ("added", "loyalty.md"),
                "removed": ("removed", "warranty.md")}[edit]  # fmt: skip
    ids = [d["id"] if isinstance(d, dict) else d for d in docs[expected[0]]]
    assert ids == [expected[1]]


def test_tool_dropping_a_field_breaks_its_contract(live: Demo) -> None:
    live.ok("chaos", "inject", "tool:order_status", "json_mutate", "--set", "drop=eta")
    report = diff(live)
    assert report["changed"] == ["tools"]
    broken = report["components"]["tools"]["evidence"]["broken"]
    assert {b["contract"] for b in broken} == {"order_status/known-order", "order_status/delivered-order"}
    assert all("'eta' is a required property" in " ".join(b["violations"]) for b in broken)


def test_tool_changing_status_code_breaks_its_contract(live: Demo) -> None:
    live.ok("chaos", "inject", "tool:order_status", "json_mutate", "--set", "status=503")
    report = diff(live)
    assert report["changed"] == ["tools"]
    broken = report["components"]["tools"]["evidence"]["broken"]
    assert any(b["status"] == {"was": 404, "now": 503} for b in broken)


def test_shifted_inputs_sample_is_an_inputs_change(live: Demo) -> None:
    questions = [
        "Wo ist meine Bestellung? Ich warte seit zwei Wochen und brauche sie dringend für ein Geschenk.",
        "Können Sie mir erklären, wie die Rücksendung funktioniert, wenn der Artikel beschädigt ankam?",
        "Почему мой заказ до сих пор не доставлен? Я жду уже две недели.",
    ] * 20
    sample = live.workdir / "inputs" / "sample.jsonl"
    sample.write_text("".join(json.dumps({"question": q}, ensure_ascii=False) + "\n" for q in questions))
    report = diff(live)
    assert report["changed"] == ["inputs"]
    ev = report["components"]["inputs"]["evidence"]
    assert ev["drift"] >= ev["threshold"]
    assert ev["scripts"]["now"].get("cyrillic", 0) > 0


def test_inputs_resampled_from_the_same_mix_do_not_drift(live: Demo) -> None:
    sample = live.workdir / "inputs" / "sample.jsonl"
    lines = sample.read_text().splitlines()
    sample.write_text("\n".join(lines[::2]) + "\n")  # every other record: same distribution
    report = diff(live)
    assert report["changed"] == []
    assert report["components"]["inputs"]["evidence"]["sample_changed"] is True


def test_combined_changes_are_reported_together(live: Demo) -> None:
    live.swap_model()
    live.ok("chaos", "inject", "tool:order_status", "json_mutate", "--set", "rename.status=state")
    with (live.workdir / "prompts" / "v3.md").open("a") as f:
        f.write("\nBe brief.\n")
    report = diff(live)
    assert report["changed"] == ["model", "prompt", "tools"]


def test_unreachable_component_is_unknown_not_unchanged(live: Demo) -> None:
    live.ok("chaos", "inject", "tool:order_status", "down")
    report = diff(live)
    assert report["components"]["tools"]["changed"] is None
    assert "tools" in report["unknown"]
    assert report["components"]["tools"]["reason"]
    assert report["changed"] == []


def test_diff_without_a_baseline_is_bad_input(tmp_path: Path, demo: Demo) -> None:
    r = CliRunner().invoke(cli, ["diff", "--system", str(demo.workdir / "drillkit.yaml")],
                           env={"DRILLKIT_HOME": str(tmp_path)})  # fmt: skip
    assert r.exit_code == 2
    assert "drillkit snapshot" in r.stderr


def test_snapshot_refuses_a_partial_baseline_unless_asked(tmp_path: Path, live: Demo) -> None:
    live.ok("chaos", "inject", "tool:order_status", "down")
    env = {"DRILLKIT_HOME": str(tmp_path)}
    system = str(live.workdir / "drillkit.yaml")
    r = CliRunner().invoke(cli, ["snapshot", "--system", system], env=env)
    assert r.exit_code == 1
    assert "tools" in r.stderr
    assert not (tmp_path / "baseline.json").exists()
    # Partial is allowed, but with the order tool down the evals fail too (87 % < 90 %): a last known
    # good must be good, so it is still refused unless forced, and then marked unhealthy.
    r = CliRunner().invoke(cli, ["snapshot", "--system", system, "--allow-partial"], env=env)
    assert r.exit_code == 1 and "the evals fail" in r.stderr and "cannot fingerprint" not in r.stderr
    assert not (tmp_path / "baseline.json").exists()
    r = CliRunner().invoke(cli, ["snapshot", "--system", system, "--allow-partial", "--force", "--json"], env=env)
    assert r.exit_code == 0
    baseline = json.loads((tmp_path / "baseline.json").read_text())
    assert baseline["healthy"] is False
    assert any("cannot be reached" in gap for gap in baseline["components"]["tools"]["gaps"])
    assert baseline["system"] == "acme-support" and baseline["drillkit_version"]
