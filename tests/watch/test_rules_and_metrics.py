"""`drillkit watch rules` against the real promtool (`check rules`, and `test rules` on synthetic
series: each alert fires on what it is about, and only then; the e2e tier, where .ci/run installs
Debian's prometheus), and the metrics endpoint's names, labels and values (DESIGN §9.6)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from drillkit.cli import cli
from drillkit.components.health import Health
from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.watch.metrics import serve_metrics, split_listen
from drillkit.watch.rules import alerting_rules
from drillkit.watch.state import WatchState

MANIFEST = """\
apiVersion: drillkit/v1
kind: System
name: shop
service: {url: 'http://127.0.0.1:9/v1/answer'}
components:
  model: {similarity: 0.8}
slos: {eval_pass_rate: 0.95}
"""


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("DRILLKIT_E2E_REQUIRED") == "1":
            pytest.fail("promtool is not installed (.ci/run installs Debian's prometheus, which has it)")
        pytest.skip("promtool is not installed: apt-get install prometheus")
    return found


def rules_file(tmp_path: Path, *args: str) -> Path:
    r = CliRunner().invoke(cli, ["watch", "rules", *args], env={"DRILLKIT_HOME": str(tmp_path / "home")})
    assert r.exit_code == 0, r.output
    path = tmp_path / "drillkit-watch.rules.yml"
    path.write_text(r.stdout)
    return path


@pytest.mark.e2e
def test_the_rules_pass_promtool_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./drillkit.yaml, no demo: the default thresholds
    checked = subprocess.run([promtool(), "check", "rules", str(rules_file(tmp_path))], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout


def test_the_thresholds_come_from_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "drillkit.yaml").write_text(MANIFEST)
    path = rules_file(tmp_path, "--system", str(tmp_path / "drillkit.yaml"), "--for", "5m")
    exprs = {r["alert"]: (r["expr"], r["for"]) for r in yaml.safe_load(path.read_text())["groups"][0]["rules"]}
    assert exprs["DrillkitEvalEnvelopeBroken"] == ("drillkit_watch_eval_pass_rate < 0.95", "5m")
    assert exprs["DrillkitModelDrift"] == ("drillkit_watch_canary_similarity < 0.8", "5m")
    bad = CliRunner().invoke(cli, ["watch", "rules", "--for", "2 minutes"], env={"DRILLKIT_HOME": str(tmp_path)})
    assert bad.exit_code == 2 and "Prometheus duration" in bad.output


def annotations(alert: str, **rendered: str) -> dict[str, str]:
    rule = next(r for r in alerting_rules()["groups"][0]["rules"] if r["alert"] == alert)
    return {**rule["annotations"], **rendered}


@pytest.mark.e2e
def test_each_alert_fires_on_what_it_is_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rules = rules_file(tmp_path)
    job = {"job": "drillkit-watch"}
    series = [
        ('drillkit_watch_up{job="drillkit-watch"}', "1x80"),
        ('drillkit_watch_eval_pass_rate{job="drillkit-watch"}', "1 1 0.55x78"),  # the swap at 2m
        ('drillkit_watch_canary_similarity{job="drillkit-watch",provider="primary"}', "1 1 0.725x78"),
        ('drillkit_watch_canary_similarity{job="drillkit-watch",provider="fallback"}', "1x80"),
        ('drillkit_watch_component_changed{job="drillkit-watch",component="model"}', "0 0 1x78"),
        ('drillkit_watch_component_changed{job="drillkit-watch",component="prompt"}', "0x80"),
        ('drillkit_watch_seconds_since_change{job="drillkit-watch",component="model"}', "0 0 0+60x78"),
    ]
    model = {**job, "component": "model"}
    cases = [
        {"eval_time": "1m", "alertname": "DrillkitEvalEnvelopeBroken", "exp_alerts": []},
        {"eval_time": "5m", "alertname": "DrillkitEvalEnvelopeBroken", "exp_alerts": [{
            "exp_labels": {**job, "severity": "critical"},
            "exp_annotations": annotations("DrillkitEvalEnvelopeBroken",
                                           summary="Evals outside the envelope: pass rate 55%")}]},
        {"eval_time": "5m", "alertname": "DrillkitModelDrift", "exp_alerts": [{
            "exp_labels": {**job, "severity": "warning", "provider": "primary"},
            "exp_annotations": annotations("DrillkitModelDrift",
                                           summary="Canaries answer unlike the last known good on primary",
                                           description="Mean canary similarity 0.725 < 0.9: the provider may serve "
                                           "other weights under the same name. Next step: drillkit triage --auto.")}]},
        {"eval_time": "3m", "alertname": "DrillkitInputChanged", "exp_alerts": [{
            "exp_labels": {**model, "severity": "info"},
            "exp_annotations": annotations("DrillkitInputChanged", summary="model differs from the last known good")}]},
        {"eval_time": "30m", "alertname": "DrillkitChangeNotAccepted", "exp_alerts": []},
        {"eval_time": "70m", "alertname": "DrillkitChangeNotAccepted", "exp_alerts": [{
            "exp_labels": {**model, "severity": "warning"},
            "exp_annotations": annotations("DrillkitChangeNotAccepted", summary="model changed over an hour ago "
                                           "and no healthy look accepted it")}]},
        {"eval_time": "70m", "alertname": "DrillkitWatchDown", "exp_alerts": []},
        {"eval_time": "70m", "alertname": "DrillkitWatchAbsent", "exp_alerts": []},
    ]  # fmt: skip
    test = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
                   "alert_rule_test": cases}],
    }  # fmt: skip
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    ran = subprocess.run([promtool(), "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_metrics_endpoint_exposes_the_watch_state(tmp_path: Path) -> None:
    (tmp_path / "drillkit.yaml").write_text(MANIFEST)
    state = WatchState(system=System.model_validate(yaml.safe_load(MANIFEST)))
    server = serve_metrics("127.0.0.1:0", state)
    try:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/metrics")
        assert scrape(server.url) == {("drillkit_watch_up", ()): 0.0}  # before the first look
        state.up, state.pass_rate, state.health = True, 0.55, Health(healthy=False, pass_rate=0.55)
        state.differs = {"model": True, "prompt": False, "tools": None}
        state.similarity = {"primary": 0.725, "fallback": 1.0}
        state.last_change = {"model": 0.0}
        got = scrape(server.url)
        assert got[("drillkit_watch_component_changed", (("component", "model"),))] == 1.0
        assert got[("drillkit_watch_component_changed", (("component", "prompt"),))] == 0.0
        assert ("drillkit_watch_component_changed", (("component", "tools"),)) not in got  # unknown: absent
        assert got[("drillkit_watch_canary_similarity", (("provider", "primary"),))] == 0.725
        assert got[("drillkit_watch_eval_pass_rate", ())] == 0.55 and got[("drillkit_watch_up", ())] == 1.0
        assert got[("drillkit_watch_seconds_since_change", (("component", "model"),))] > 1e9
    finally:
        server.close()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_listen_addresses() -> None:
    assert split_listen("9464") == ("127.0.0.1", 9464)
    assert split_listen("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert split_listen("[::1]:9464") == ("::1", 9464)
    for bad in ("host", ":9464", "1:99999", "a:b"):
        with pytest.raises(InputError, match="--metrics"):
            split_listen(bad)
