"""The file contracts accept what DESIGN.md §5 shows, and the shipped files are valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drillkit.config.loader import load_model
from drillkit.config.runbook import Runbook
from drillkit.config.scenario import FAULT_TYPES, L4_TYPES, L7_TYPES, Scenario
from drillkit.config.system import load_system
from drillkit.config.types import format_duration, parse_duration
from drillkit.data import shipped_files
from drillkit.errors import InputError

DESIGN_MANIFEST = """
apiVersion: drillkit/v1
kind: System
name: acme-support
owner: ai-platform@acme.example
service: {url: http://127.0.0.1:8710/v1/answer}
providers:
  primary:  {base_url: http://127.0.0.1:8711/v1, api: openai, model: sim-pro-2025-06}
  fallback: {base_url: http://127.0.0.1:8712/v1, api: openai, model: sim-lite-2025-03}
components:
  model:     {pinned: sim-pro-2025-06, canaries: evals/canaries.yaml}
  prompt:    {path: prompts/}
  retrieval: {path: corpus/}
  tools:     {contracts: tools.yaml}
  inputs:    {sample: inputs/sample.jsonl}
slos: {latency_p95_ms: 800, latency_p99_ms: 1500, error_rate: 0.02, eval_pass_rate: 0.9, cost_per_request_usd: 0.002}
evals: evals/suite.yaml
pricing: {sim-pro-2025-06: {input_per_mtok: 3.0, output_per_mtok: 15.0}}
rollbacks:
  model:     {run: [drillkit, demo, ctl, pin, sim-pro-2025-06], user_visible_cost: low,  expected_s: 5}
  prompt:    {run: [drillkit, demo, ctl, prompt, previous],     user_visible_cost: none, expected_s: 5}
  retrieval: {run: [drillkit, demo, ctl, corpus, previous],     user_visible_cost: high, expected_s: 30}
  provider:  {run: [drillkit, demo, ctl, route, fallback],      user_visible_cost: low,  expected_s: 5}
rto_target: 5m
chaos: {toxiproxy: embedded, llm_proxy: embedded}
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("5s", 5.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (3, 3.0),
        ("0s", 0.0),
        (" 10 s ", 10.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "5 minutes", "-1s", -2, True, "", "5sec"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_duration_formatting_round_trips() -> None:
    for seconds in (0.5, 5.0, 120.0, 90.0):
        assert parse_duration(format_duration(seconds)) == seconds


def test_design_manifest_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "drillkit.yaml"
    path.write_text(DESIGN_MANIFEST)
    system = load_system(path)
    assert system.rto_target == 300
    assert system.rollbacks["retrieval"].user_visible_cost == "high"
    assert system.rollbacks["model"].run == ["drillkit", "demo", "ctl", "pin", "sim-pro-2025-06"]
    assert system.resolve(system.components.retrieval.path) == tmp_path / "corpus"
    assert system.slos.eval_pass_rate == 0.9


def test_rollback_needs_exactly_one_action(tmp_path: Path) -> None:
    data = yaml.safe_load(DESIGN_MANIFEST)
    data["rollbacks"]["model"]["http"] = {"url": "http://127.0.0.1:1/x"}
    path = tmp_path / "drillkit.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"rollbacks\.model: give exactly one of 'run'"):
        load_system(path)


def test_fault_type_names_are_unique_across_layers() -> None:
    assert not set(L4_TYPES) & set(L7_TYPES)
    assert len(FAULT_TYPES) == len(set(FAULT_TYPES))


@pytest.mark.parametrize("path", shipped_files("scenarios"), ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    scenario = load_model(path, Scenario)
    assert scenario.id == path.stem
    for fault in scenario.faults:
        assert fault.layer in ("l4", "l7", "change", "traffic")


@pytest.mark.parametrize("path", shipped_files("runbooks"), ids=lambda p: p.stem)
def test_shipped_runbooks_are_valid(path: Path) -> None:
    runbook = load_model(path, Runbook)
    assert runbook.id == path.stem


def test_shipped_runbooks_include_the_layered_diagnosis() -> None:
    ids = {p.stem for p in shipped_files("runbooks")}
    assert {"ai-output-incident", "provider-outage", "quota-exhaustion", "cost-regression"} <= ids
