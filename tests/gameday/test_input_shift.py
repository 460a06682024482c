"""`input_shift`: a fault that changes the game-day's own traffic mix (no server involved)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.traffic.inputs import InputCycle, inputs_path


def test_a_shift_draws_its_share_from_the_new_mix_until_it_ends() -> None:
    cycle = InputCycle([{"q": "old"}], seed=0)
    cycle.shift([{"q": "new"}], share=0.6)
    drawn = [cycle.next()["q"] for _ in range(2000)]
    assert 0.55 < drawn.count("new") / len(drawn) < 0.65
    cycle.unshift()
    assert {cycle.next()["q"] for _ in range(50)} == {"old"}


def test_relative_inputs_are_found_next_to_the_scenario_first(tmp_path: Path) -> None:
    (tmp_path / "shift.jsonl").write_text('{"question": "x"}\n')
    assert inputs_path("shift.jsonl", None, tmp_path) == tmp_path / "shift.jsonl"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"type": "input_shift", "attributes": {}}, "needs attributes: {inputs:"),
        ({"type": "input_shift", "target": "provider:primary", "attributes": {"inputs": "x.jsonl"}}, "no target"),
    ],
)
def test_a_malformed_input_shift_is_bad_input(tmp_path: Path, fault: dict, message: str) -> None:
    scenario = {
        "apiVersion": "drillkit/v1", "kind": "Scenario", "id": "s", "title": "t", "layer": "inputs",
        "faults": [fault], "rollback": {"mode": "auto", "steps": [{"name": "n", "run": ["true"]}]},
    }  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    r = CliRunner().invoke(cli, ["gameday", "validate", str(path)])
    assert r.exit_code == 2
    assert "faults[0]" in r.stderr and message in r.stderr
