"""`eval compare` without a service: the gate's decisions on saved runs, its outputs, bad input."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from drillkit.cli import cli
from drillkit.config.gate import Gate
from drillkit.errors import InputError
from drillkit.evals.compare import Comparison, compare
from drillkit.evals.compare_markdown import compare_markdown
from drillkit.evals.junit import compare_junit
from drillkit.evals.record import RunRecord


def run(
    passed: list[bool],
    latencies: list[float] | None = None,
    costs: list[float | None] | None = None,
    ids: list[str] | None = None,
    tags: list[list[str]] | None = None,
) -> dict[str, Any]:
    """What `eval run --json` prints, reduced to what compare reads."""
    n = len(passed)
    ids = ids or [f"case-{i}" for i in range(n)]
    latencies = latencies or [100.0 + i for i in range(n)]
    costs = costs or [0.001] * n
    tags = tags or [[]] * n
    cases = [
        {"id": i, "weight": 1.0, "passed": p, "latency_ms": t, "cost_usd": c, "error": None, "tags": g,
         "assertions": []}
        for i, p, t, c, g in zip(ids, passed, latencies, costs, tags, strict=True)
    ]  # fmt: skip
    return {"suite": "s", "service_url": "http://127.0.0.1:1/v1/answer", "pass_rate": sum(passed) / n, "cases": cases}


def judge(
    before: dict[str, Any], after: dict[str, Any], gate: Gate | None = None, tags: tuple[str, ...] = ()
) -> Comparison:
    return compare(
        RunRecord.parse(before, "baseline"),
        RunRecord.parse(after, "candidate"),
        gate or Gate(),
        baseline_label="baseline",
        candidate_label="candidate",
        tags=tags,
    )


def test_identical_runs_pass_with_an_interval_around_zero() -> None:
    result = judge(run([True] * 46), run([True] * 46))
    assert result.passed
    rate = result.differences[0]
    assert rate.change == 0 and rate.interval is not None and rate.interval.low < 0 < rate.interval.high
    assert "[95 % CI -7.7 pts, +7.7 pts]" in rate.describe()


def test_one_flaky_case_is_beyond_the_tolerance_but_within_noise() -> None:
    result = judge(run([True] * 46), run([False] + [True] * 45))
    rate = result.differences[0]
    assert rate.beyond_tolerance and not rate.significant and result.passed
    assert rate.verdict == "within noise" and result.regressed == ["case-0"]


def test_a_real_drop_is_a_regression_with_its_interval() -> None:
    result = judge(run([True] * 46), run([False] * 16 + [True] * 30))
    rate = result.differences[0]
    assert not result.passed and rate.regression
    assert rate.change == pytest.approx(-16 / 46) and rate.interval is not None and rate.interval.high < -0.02
    assert "McNemar exact p < 0.0001 (16 pass→fail, 0 fail→pass)" in rate.describe()
    assert "pass rate -34.8 pts [95 % CI" in result.summary()


def test_the_gate_tolerance_is_honoured() -> None:
    before, after = run([True] * 46), run([False] * 16 + [True] * 30)
    assert judge(before, after, Gate(pass_rate_drop=0.5)).passed


def test_weights_count_in_the_pass_rate() -> None:
    before, after = run([True] * 10), run([False] + [True] * 9)
    before["cases"][0]["weight"] = after["cases"][0]["weight"] = 9.0
    rate = judge(before, after).differences[0]
    assert rate.change == pytest.approx(-0.5)


def test_latency_regression_needs_the_p95_and_a_real_shift() -> None:
    rng = random.Random(3)
    base = [rng.gauss(300, 20) for _ in range(46)]
    slower = judge(run([True] * 46, base), run([True] * 46, [t * 1.4 for t in base]))
    assert not slower.passed and slower.differences[1].regression
    # One slow outlier moves the p95 of a few dozen requests, not the distribution: within noise.
    outlier = sorted(base)
    outlier[-3:] = [t * 1.5 for t in outlier[-3:]]
    noisy = judge(run([True] * 46, sorted(base)), run([True] * 46, outlier)).differences[1]
    assert noisy.beyond_tolerance and not noisy.significant


def test_too_few_latencies_are_not_judged() -> None:
    result = judge(run([True] * 5), run([True] * 5))
    assert result.differences[1].change is None and "p95 needs 10" in result.differences[1].describe()


def test_cost_increase_and_unknown_cost() -> None:
    more = judge(run([True] * 20, costs=[0.001] * 20), run([True] * 20, costs=[0.0012] * 20))
    assert more.differences[2].regression and more.differences[2].change == pytest.approx(0.2)
    unknown = judge(run([True] * 20, costs=[None] * 20), run([True] * 20))  # type: ignore[list-item]
    assert unknown.passed and unknown.differences[2].change is None


def test_cases_are_paired_by_id_and_unshared_ones_listed() -> None:
    before = run([True] * 3, ids=["a", "b", "c"])
    after = run([True] * 3, ids=["b", "c", "d"])
    result = judge(before, after)
    assert result.paired == 2 and result.only_baseline == ["a"] and result.only_candidate == ["d"]
    with pytest.raises(InputError, match="share no case id"):
        judge(run([True], ids=["a"]), run([True], ids=["z"]))


def sliced() -> tuple[dict[str, Any], dict[str, Any]]:
    """40 policy cases that all still pass and 20 orders cases of which 12 now fail."""
    tags = [["policy"]] * 40 + [["orders", "tools"]] * 20
    before = run([True] * 60, tags=tags)
    return before, run([True] * 40 + [False] * 12 + [True] * 8, tags=tags)


def test_tags_compare_one_slice_of_the_suite() -> None:
    before, after = sliced()
    assert not judge(before, after).passed  # 12 of 60 flipped: a regression over the whole suite
    policy = judge(before, after, tags=("policy",))
    assert policy.passed and policy.paired == 40 and policy.regressed == []
    assert policy.summary() == "no regression beyond the gate (40 paired cases tagged policy)"
    orders = judge(before, after, tags=("tools", "nothing"))  # any of them
    assert not orders.passed and orders.paired == 20 and len(orders.regressed) == 12
    assert orders.to_dict()["tags"] == ["tools", "nothing"]
    assert "20 paired cases tagged tools, nothing" in compare_markdown(orders)
    with pytest.raises(InputError, match="no case both runs share carries any of the tags nope"):
        judge(before, after, tags=("nope",))


def test_a_case_tagged_on_one_side_only_is_still_compared() -> None:
    """The candidate's suite tagged a case the baseline ran untagged: it is in the slice, paired."""
    before = run([True, True, True], tags=[[], ["policy"], []])
    after = run([False, True, True], tags=[["policy"], ["policy"], []])
    result = judge(before, after, tags=("policy",))
    assert result.paired == 2 and result.regressed == ["case-0"] and result.only_baseline == []


def test_junit_and_markdown_reports() -> None:
    before = run([True] * 20, ids=[f"id|{i}" for i in range(20)])
    after = run([False] * 10 + [True] * 10, ids=[f"id|{i}" for i in range(20)])
    result = judge(before, after)
    suite = ET.fromstring(compare_junit(result)).find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["pass_rate"]
    markdown = compare_markdown(result)
    assert markdown.startswith("### ❌ drillkit eval compare: regression beyond the gate")
    assert "| pass rate | 50.0 % |" not in markdown and "| pass rate | 100.0 % | 50.0 % |" in markdown
    assert "id\\|0" in markdown and "**REGRESSION**" in markdown  # a `|` in an id cannot break the table
    assert "\\$0.001000" in markdown  # `$…$` would render as maths on GitHub


def manifest(tmp_path: Path, gate: str = "") -> Path:
    path = tmp_path / "drillkit.yaml"
    path.write_text(
        "apiVersion: drillkit/v1\nkind: System\nname: s\nservice: {url: 'http://127.0.0.1:1/v1/answer'}\n" + gate
    )
    return path


def cli_compare(tmp_path: Path, before: dict[str, Any], after: dict[str, Any], *extra: str) -> Result:
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(after))
    args = ["eval", "compare", "--baseline", str(tmp_path / "before.json"), "--candidate", str(tmp_path / "after.json")]
    return CliRunner().invoke(cli, [*args, *extra], env={"DRILLKIT_HOME": str(tmp_path / "home")})


def test_cli_two_saved_runs_use_the_manifest_gate(tmp_path: Path) -> None:
    before, after = run([True] * 46), run([False] * 16 + [True] * 30)
    strict = cli_compare(tmp_path, before, after, "--system", str(manifest(tmp_path)))
    assert strict.exit_code == 1, strict.output
    assert "pass rate: 100.0 % → 65.2 %, -34.8 pts [95 % CI -49.2 pts, -20.4 pts]" in strict.output
    lenient = manifest(tmp_path, "gate: {pass_rate_drop: 0.4}\n")
    loose = cli_compare(tmp_path, before, after, "--system", str(lenient), "--json")
    assert loose.exit_code == 0, loose.output
    data = json.loads(loose.stdout)
    assert data["passed"] and data["gate"]["pass_rate_drop"] == 0.4
    assert data["differences"]["pass_rate"]["interval"][1] < 0


def test_cli_tag_gates_a_slice(tmp_path: Path) -> None:
    before, after = sliced()
    whole = cli_compare(tmp_path, before, after, "--system", str(manifest(tmp_path)))
    assert whole.exit_code == 1, whole.output
    policy = cli_compare(tmp_path, before, after, "--system", str(manifest(tmp_path)), "--tag", "policy")
    assert policy.exit_code == 0, policy.output
    assert "40 paired case(s) tagged policy" in policy.output
    xml = tmp_path / "gate.xml"
    orders = cli_compare(
        tmp_path, before, after, "--system", str(manifest(tmp_path)), "--tag", "orders", "--junit", str(xml)
    )
    assert orders.exit_code == 1 and "pass → fail (12)" in orders.output, orders.output
    props = {p.get("name"): p.get("value") for p in ET.parse(xml).getroot().iter("property")}
    assert props["tags"] == "orders" and props["paired_cases"] == "20"
    missing = cli_compare(tmp_path, before, after, "--system", str(manifest(tmp_path)), "--tag", "nope")
    assert missing.exit_code == 2 and "any of the tags nope" in missing.output, missing.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it"),
        ("{not json", "drillkit.yaml"),  # neither results nor a manifest: read as a manifest, which fails
        ('{"suite": "s", "service_url": "u", "cases": []}', "not the output of `drillkit eval run --json`"),
    ],
)
def test_cli_bad_baseline_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "drillkit.yaml"
    if content is not None:
        path.write_text(content)
    args = ["eval", "compare", "--baseline", str(path), "--candidate", str(path)]
    result = CliRunner().invoke(cli, args, env={"DRILLKIT_HOME": str(tmp_path / "home")})
    assert result.exit_code == 2 and message in result.output, result.output


def test_cli_gate_tolerances_are_validated(tmp_path: Path) -> None:
    before = run([True] * 3)
    bad = manifest(tmp_path, "gate: {pass_rate_drop: 2, latency_p95: 0.1}\n")
    result = cli_compare(tmp_path, before, before, "--system", str(bad))
    assert result.exit_code == 2 and "pass_rate_drop" in result.output and "latency_p95" in result.output
