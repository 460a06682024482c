"""Which system a game-day acts on (DESIGN §9.3), and where its steps run (issue 13, item 3)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from drillkit.config.scenario import Scenario
from drillkit.gameday.context import Options
from drillkit.gameday.run import resolve_system
from drillkit.traffic.steps import run_step

SYSTEM = "apiVersion: drillkit/v1\nkind: System\nname: {name}\nservice: {{url: 'http://127.0.0.1:9/v1/answer'}}\n"
SCENARIO = {
    "apiVersion": "drillkit/v1",
    "kind": "Scenario",
    "id": "s",
    "title": "t",
    "layer": "provider",
    "faults": [{"type": "latency", "target": "provider:primary", "attributes": {"latency": 10}}],
    "rollback": {"mode": "auto", "steps": [{"name": "noop", "run": ["true"]}]},
}


def manifest(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "drillkit.yaml"
    path.write_text(SYSTEM.format(name=name))
    return path


def started_demo(tmp_path: Path) -> tuple[Options, list[str]]:
    calls: list[str] = []
    demo = manifest(tmp_path / "demo", "demo")

    def start() -> tuple[Path, None]:
        calls.append("started")
        return demo, None

    return Options(home=tmp_path / "home", start_demo=start), calls  # type: ignore[arg-type]


def test_system_flag_wins_over_the_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLKIT_SYSTEM", str(manifest(tmp_path / "env", "from-env")))
    options, calls = started_demo(tmp_path)
    options.system_path = manifest(tmp_path / "flag", "from-flag")
    scenario = Scenario.model_validate({**SCENARIO, "system": "other/drillkit.yaml"})
    system, stop = resolve_system(scenario, tmp_path / "s.yaml", options)
    assert system.name == "from-flag" and stop is None and calls == []
    assert system.path == (tmp_path / "flag" / "drillkit.yaml").resolve()


def test_scenario_system_is_relative_to_the_scenario_and_beats_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILLKIT_SYSTEM", str(manifest(tmp_path / "env", "from-env")))
    manifest(tmp_path / "scenarios" / "sys", "beside-scenario")
    options, _ = started_demo(tmp_path)
    scenario = Scenario.model_validate({**SCENARIO, "system": "sys/drillkit.yaml"})
    system, _ = resolve_system(scenario, tmp_path / "scenarios" / "s.yaml", options)
    assert system.name == "beside-scenario"


def test_environment_applies_only_where_nothing_names_a_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRILLKIT_SYSTEM", str(manifest(tmp_path / "env", "from-env")))
    options, calls = started_demo(tmp_path)
    system, _ = resolve_system(Scenario.model_validate(SCENARIO), tmp_path / "s.yaml", options)
    assert system.name == "from-env" and calls == []
    # A scenario that says `system: demo` means the demo, whatever the environment says.
    system, _ = resolve_system(Scenario.model_validate({**SCENARIO, "system": "demo"}), tmp_path / "s.yaml", options)
    assert system.name == "demo" and calls == ["started"]


def test_with_nothing_named_the_demo_is_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRILLKIT_SYSTEM", raising=False)
    options, calls = started_demo(tmp_path)
    system, _ = resolve_system(Scenario.model_validate(SCENARIO), tmp_path / "s.yaml", options)
    assert system.name == "demo" and calls == ["started"]


def test_a_run_step_executes_in_the_folder_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "rollback.py").write_text("import os; print('ran in', os.getcwd())\n")
    monkeypatch.chdir(tmp_path)  # somewhere else: the relative script must still be found
    result = asyncio.run(run_step("rollback", run=[sys.executable, "rollback.py"], cwd=folder, timeout=20))
    assert result.ok, result.detail
    assert f"ran in {folder}" in result.detail
    missing = asyncio.run(run_step("rollback", run=[sys.executable, "rollback.py"], timeout=20))
    assert not missing.ok  # without the scenario's folder, the same step cannot find its script
