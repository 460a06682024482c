"""`eval compare` on a running demo (issue 17, done when): a candidate identical to the baseline
passes; the `v4-terse` prompt and the newer weights each fail, with the difference and its interval.

The demo runs with the sim's real latency profile (scale 1, ~0.3 s a request): at scale 0 a
request's latency is only the machine's scheduling noise, which no baseline saved a minute ago can
be compared with.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drillkit.cli import cli
from drillkit.config.system import load_system
from drillkit.demo.process import runner_pid

REPO = Path(__file__).resolve().parents[2]


class Demo:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.workdir = home / "demo"
        self.manifest = str(self.workdir / "drillkit.yaml")

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env={"DRILLKIT_HOME": str(self.home)}, catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        r = self.cli(*args)
        assert r.exit_code == 0, r.output
        return r

    def compare(self, baseline: str, candidate: str, *extra: str) -> Result:
        return self.cli("eval", "compare", "--baseline", baseline, "--candidate", candidate, *extra)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = Demo(tmp_path_factory.mktemp("compare") / "home")
    env = {**os.environ, "DRILLKIT_HOME": str(d.home)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    up = subprocess.run(
        [sys.executable, "-m", "drillkit", "demo", "up", "--port", "0", "--latency-scale", "1"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        yield d
    finally:
        d.cli("demo", "down")
        pid = runner_pid(d.workdir)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def saved(demo: Demo) -> Path:
    """The baseline as CI saves it on main: `eval run --json --sample 20`, with a JUnit report."""
    junit = demo.home / "run.xml"
    r = demo.ok("eval", "run", "--json", "--sample", "20", "--junit", str(junit))
    path = demo.home / "baseline.json"
    path.write_text(r.stdout)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "46" and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == 46
    return path


@pytest.fixture
def restore(demo: Demo) -> Iterator[Demo]:
    try:
        yield demo
    finally:
        demo.ok("demo", "ctl", "reset")
        demo.ok("demo", "ctl", "pin", "--unpin")


def test_saved_baseline_carries_outcome_latency_and_cost_per_case(saved: Path) -> None:
    data = json.loads(saved.read_text())
    assert len(data["cases"]) == 46 and len(data["sampled"]) == 20
    for case in data["cases"] + data["sampled"]:
        assert case["passed"] is True and case["latency_ms"] > 0 and case["cost_usd"] > 0


def test_identical_candidate_passes(demo: Demo, saved: Path) -> None:
    md, xml = demo.home / "same.md", demo.home / "same.xml"
    r = demo.compare(str(saved), demo.manifest, "--sample", "20", "--markdown", str(md), "--junit", str(xml))
    assert r.exit_code == 0, r.output
    assert "pass rate: 100.0 % → 100.0 %, +0.0 pts [95 % CI -7.7 pts, +7.7 pts]" in r.output
    assert "no regression beyond the gate (46 paired cases)" in r.output
    assert md.read_text().startswith("### ✅ drillkit eval compare: no regression")
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"


def test_identical_live_candidate_by_url_passes(demo: Demo) -> None:
    url = str(load_system(demo.manifest).service.url)  # the baseline's manifest, the same service
    r = demo.compare(demo.manifest, url, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["passed"] and data["paired_cases"] == 46
    assert data["differences"]["pass_rate"]["change"] == 0


def test_tag_runs_only_that_slice_on_both_live_sides(demo: Demo, saved: Path) -> None:
    url = str(load_system(demo.manifest).service.url)
    r = demo.compare(demo.manifest, url, "--tag", "orders", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["paired_cases"] == 7 and data["tags"] == ["orders"]  # the demo suite's 7 orders cases
    assert data["cases"]["only_baseline"] == data["cases"]["only_candidate"] == []
    # `eval run --json` keeps each case's tags, so two saved runs can be sliced too (saved against
    # saved: a live side's latency would be compared with a minute-old baseline on a busy machine)
    mixed = demo.compare(str(saved), str(saved), "--tag", "oos", "--tag", "orders")
    assert mixed.exit_code == 0 and "10 paired case(s) tagged oos, orders" in mixed.output, mixed.output


@pytest.mark.parametrize(
    ("lever", "failing"),
    [(("prompt", "v4-terse"), 36), (("pin", "sim-pro-2025-11"), 16)],
    ids=["v4-terse", "newer-weights"],
)
def test_regression_fails_with_difference_and_interval(
    restore: Demo, saved: Path, lever: tuple[str, str], failing: int
) -> None:
    restore.ok("demo", "ctl", *lever)
    text = restore.compare(str(saved), restore.manifest)
    assert text.exit_code == 1, text.output
    drop = -failing / 46 * 100
    assert f"pass rate: 100.0 % → {100 + drop:.1f} %, {drop:+.1f} pts [95 % CI " in text.output
    assert "gate ≥ -2 pts: REGRESSION" in text.output
    assert f"regression beyond the gate: pass rate {drop:+.1f} pts [95 % CI" in text.output
    data = json.loads(restore.compare(str(saved), restore.manifest, "--json").stdout)
    rate = data["differences"]["pass_rate"]
    assert not data["passed"] and rate["regression"] and rate["interval"][1] < -0.02
    assert len(data["cases"]["regressed"]) == failing
    print(json.dumps({lever[1]: data["differences"]}, indent=1))  # the measured numbers, with -s


SCRIPTS = REPO / "examples" / "ci"


def wrapper(tmp: Path) -> Path:
    """A `drillkit` executable for the scripts: this interpreter's drillkit, from this checkout."""
    exe = tmp / "drillkit"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m drillkit "$@"\n')
    exe.chmod(0o755)
    return exe


def script(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_ci_script_gates_a_prompt_change(restore: Demo, tmp_path: Path) -> None:
    env = {"DRILLKIT": str(wrapper(tmp_path)), "DRILLKIT_HOME": str(restore.home), "DRILLKIT_SYSTEM": restore.manifest}
    baseline = tmp_path / "main.json"
    saved = script("eval-gate.sh", "save", str(baseline), env=env)
    assert saved.returncode == 0 and len(json.loads(baseline.read_text())["cases"]) == 46, saved.stderr
    same = script("eval-gate.sh", "check", str(baseline), str(tmp_path / "same"), env=env)
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("### ✅")
    assert json.loads((tmp_path / "same" / "eval-compare.json").read_text())["passed"]
    restore.ok("demo", "ctl", "prompt", "v4-terse")
    terse = script("eval-gate.sh", "check", str(baseline), str(tmp_path / "terse"), env=env)
    assert terse.returncode == 1, terse.stderr
    assert terse.stdout.startswith("### ❌") and "pass rate -78.3 pts" in terse.stdout
    suite = ET.parse(tmp_path / "terse" / "eval-compare.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert script("eval-gate.sh", "check", env=env).returncode == 2  # usage


def test_watch_script_passes_exit_codes_through_and_keeps_the_change_log(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "argv"
    home.mkdir()
    (home / "changes.jsonl").write_text("{}\n")
    fake = tmp_path / "drillkit"  # stands in for `drillkit watch`: records its arguments, exits 1
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\nexit 1\n')
    fake.chmod(0o755)
    env = {"DRILLKIT": str(fake), "DRILLKIT_HOME": str(home), "DRILLKIT_SYSTEM": "my system.yaml"}
    done = script("watch-once.sh", str(tmp_path / "out"), env={**env, "WATCH_SAMPLE": "5"})
    assert done.returncode == 1
    assert log.read_text().splitlines() == ["watch", "--once", "--system", "my system.yaml", "--sample", "5"]
    assert (tmp_path / "out" / "changes.jsonl").read_text() == "{}\n"
    no_home = script("watch-once.sh", env={"DRILLKIT": str(fake), "DRILLKIT_HOME": ""})
    assert no_home.returncode != 0 and "DRILLKIT_HOME" in no_home.stderr
