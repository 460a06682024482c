"""A corpus of malformed files: each must name the file, the line, the field and what was expected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli import cli

HERE = Path(__file__).parent / "malformed"
COMMAND = {"system": "system", "scenario": "gameday", "runbook": "runbook"}

# file → (line, field path as printed, a phrase saying what was expected)
CASES = {
    "system-missing-service.yaml": (1, "service", "required field is missing"),
    "system-bad-api.yaml": (6, "providers.primary.api", "expected one of 'openai', 'anthropic'"),
    "system-bad-url.yaml": (5, "service.url", "expected a valid URL"),
    "system-unknown-key.yaml": (5, "slo", "did you mean 'slos'"),
    "system-slo-range.yaml": (7, "slos.eval_pass_rate", "less than or equal to 1"),
    "system-rollback-shell-string.yaml": (7, "rollbacks.model.run", "not a shell string"),
    "system-rollback-cost.yaml": (6, "rollbacks.prompt.user_visible_cost", "expected one of 'none'"),
    "system-bad-duration.yaml": (5, "rto_target", "duration like 500ms"),
    "system-wrong-kind.yaml": (2, "kind", "expected one of 'System'"),
    "system-yaml-syntax.yaml": (5, "YAML syntax error", "expected ',' or '}'"),
    "system-bad-chaos.yaml": (8, "chaos.toxiproxy", "'embedded' or an http(s) URL"),
    "system-price-negative.yaml": (7, "pricing.sim-pro.input_per_mtok", "greater than or equal to 0"),
    "scenario-unknown-fault.yaml": (9, "faults[1].type", "expected one of latency"),
    "scenario-bad-target.yaml": (8, "faults[0].target", "provider:<name> or tool:<name>"),
    "scenario-bad-layer.yaml": (5, "layer", "expected one of 'model'"),
    "scenario-bad-duration.yaml": (8, "timeline.window", "duration like 500ms"),
    "scenario-auto-no-steps.yaml": (9, "rollback", "needs at least one step"),
    "scenario-step-shell-string.yaml": (12, "rollback.steps[0].run", "not a shell string"),
    "scenario-breach-name.yaml": (11, "expect.breach[1]", "expected one of 'latency_p95_ms'"),
    "scenario-toxicity-range.yaml": (9, "faults[0].toxicity", "less than or equal to 1"),
    "scenario-no-faults.yaml": (6, "faults", "at least 1 item"),
    "scenario-change-without-run.yaml": (7, "faults[0]", "exactly one of 'run'"),
    "scenario-fault-after-end.yaml": (10, "faults[0].at", "after timeline.max_duration"),
    "scenario-tab-indent.yaml": (7, "YAML syntax error", "'\\t'"),
    "scenario-fingerprint-component.yaml": (11, "verify.fingerprint.weights", "expected one of 'model'"),
    "runbook-unknown-check.yaml": (8, "steps[0].check.type", "unknown type 'vibes'; expected one of eval, diff"),
    "runbook-dangling-next.yaml": (9, "steps[0].next.fail", "no step with id 'what-changed'"),
    "runbook-duplicate-id.yaml": (9, "steps[1].id", "duplicate step id 'one'"),
    "runbook-bad-outcome.yaml": (9, "steps[0].next.maybe", "unknown outcome 'maybe'"),
    "runbook-command-string.yaml": (10, "steps[0].check.run", "not a shell string"),
    "runbook-unknown-action.yaml": (9, "steps[0].action.type", "unknown type 'revert_everything'"),
    "runbook-missing-title.yaml": (6, "steps[0].title", "required field is missing"),
    "runbook-promql-missing-query.yaml": (9, "steps[0].check.query", "required field is missing"),
    "runbook-not-mapping.yaml": (1, "expected a mapping at the top level", "got list"),
}


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in HERE.glob("*.yaml")}
    assert on_disk == set(CASES), "every malformed file needs an expectation, and vice versa"
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file_is_reported_with_line_and_field(name: str) -> None:
    line, field, expected = CASES[name]
    path = HERE / name
    result = CliRunner().invoke(cli, [COMMAND[name.split("-")[0]], "validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    message = result.stderr
    assert "Traceback" not in message
    match = re.search(re.escape(str(path)) + r":(\d+):(\d+): (.*)", message)
    assert match, message
    assert int(match.group(1)) == line, message
    assert match.group(3).startswith(field) or field in match.group(3), message
    assert expected in message, message


def test_every_file_is_checked_and_all_errors_reported() -> None:
    files = [str(HERE / "scenario-bad-target.yaml"), str(HERE / "scenario-bad-layer.yaml")]
    result = CliRunner().invoke(cli, ["gameday", "validate", *files])
    assert result.exit_code == 2
    assert "faults[0].target" in result.stderr and "layer" in result.stderr


def test_validate_json_reports_each_file(tmp_path: Path) -> None:
    good = Path(__file__).parents[2] / "scenarios" / "silent-model-swap.yaml"
    bad = HERE / "scenario-bad-layer.yaml"
    result = CliRunner().invoke(cli, ["gameday", "validate", "--json", str(good), str(bad)])
    assert result.exit_code == 2
    import json

    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [f["valid"] for f in report["files"]] == [True, False]
    assert ":5:8: layer" in report["files"][1]["errors"][0]


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["system", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.stderr
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = CliRunner().invoke(cli, ["system", "validate", str(binary)])
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = CliRunner().invoke(cli, ["system", "validate", str(empty)])
    assert result.exit_code == 2
    assert "empty.yaml:1:1: the file is empty" in result.stderr
