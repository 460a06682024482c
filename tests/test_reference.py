"""docs/reference/ is written from the models (`drillkit schema --markdown`): it must be current,
its examples must be valid files, and `drillkit schema KIND` must accept what drillkit accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from drillkit.cli.schema import FORMATS, reference_index
from drillkit.config.loader import load_model
from drillkit.config.reference import markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_reference_page_is_current(name: str) -> None:
    page = DOCS / f"{name}.md"
    assert page.is_file(), f"{page} is missing: run `drillkit schema --markdown docs/reference`"
    assert page.read_text(encoding="utf-8") == markdown(FORMATS[name]), (
        f"{page} is stale: run `drillkit schema --markdown docs/reference` and commit it"
    )


def test_reference_index_lists_every_format() -> None:
    assert (DOCS / "README.md").read_text(encoding="utf-8") == reference_index()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_example_is_a_valid_file_and_matches_its_json_schema(name: str) -> None:
    fmt = FORMATS[name]
    assert fmt.example is not None and fmt.example.is_file()
    load_model(fmt.example, fmt.model)  # the loader drillkit itself uses: raises on any problem
    schema = json.loads(subprocess.run(
        [sys.executable, "-m", "drillkit", "schema", name], check=True, capture_output=True, text=True
    ).stdout)  # fmt: skip
    jsonschema.validate(yaml.safe_load(fmt.example.read_text(encoding="utf-8")), schema)


def test_every_field_of_every_format_is_in_its_page() -> None:
    for fmt in FORMATS.values():
        page = (DOCS / f"{fmt.name}.md").read_text(encoding="utf-8")
        for name in fmt.model.model_fields:
            alias = fmt.model.model_fields[name].alias or name
            assert f"| `{alias}` |" in page, f"{fmt.name}: field {alias} not in the reference"


def test_schema_without_a_kind_is_bad_input() -> None:
    done = subprocess.run([sys.executable, "-m", "drillkit", "schema"], capture_output=True, text=True)
    assert done.returncode == 2 and "system" in done.stderr
