"""The fingerprint building blocks on their own: drift scores, shapes, manifests, git, bad files."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from pathlib import Path

import pytest
import yaml

from drillkit.components import inputs, prompt
from drillkit.components.common import compare_manifests, file_manifest, json_pointer, similarity
from drillkit.components.snapshot import take_snapshot
from drillkit.components.tools import shape
from drillkit.config.system import System
from drillkit.demo.workdir import assets
from drillkit.errors import InputError

SAMPLE = [json.loads(line) for line in assets().joinpath("inputs/sample.jsonl").read_text().splitlines() if line]


def system_at(base: Path, components: dict) -> System:
    service = {"url": "http://127.0.0.1:9/v1/answer"}
    s = System.model_validate(
        {"apiVersion": "drillkit/v1", "kind": "System", "name": "t", "service": service, "components": components}
    )
    s._base_dir = base
    return s


def test_psi_is_zero_for_identical_and_large_for_disjoint_distributions() -> None:
    assert inputs.psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0
    assert inputs.psi({"a": 1.0}, {"b": 1.0}) > 10


@pytest.mark.parametrize("share", [0.5, 0.25])
def test_a_random_subsample_of_the_demo_inputs_does_not_drift(share: float, tmp_path: Path) -> None:
    system = system_at(tmp_path, {"inputs": {"sample": "x.jsonl"}})
    base = inputs.profile(SAMPLE)
    for seed in range(5):
        sub = random.Random(seed).sample(SAMPLE, int(len(SAMPLE) * share))
        diff = inputs.compare(base, inputs.profile(sub), system)
        assert diff.changed is False, diff.evidence["psi"]


def test_a_language_shift_drifts_on_scripts(tmp_path: Path) -> None:
    system = system_at(tmp_path, {"inputs": {"sample": "x.jsonl"}})
    shifted = [{"question": "Где мой заказ? Почему его до сих пор нет?"}] * 50 + SAMPLE[:50]
    diff = inputs.compare(inputs.profile(SAMPLE), inputs.profile(shifted), system)
    assert diff.changed is True
    assert diff.evidence["psi"]["scripts"] >= 0.2
    assert diff.evidence["scripts"]["now"]["cyrillic"] > 0.3


def test_profile_keeps_no_raw_input() -> None:
    secret = "Where is my order? my e-mail is someone@example.com"
    prof = json.dumps(inputs.profile([{"question": secret}] * 3))
    assert secret not in prof


def test_shape_lists_typed_key_paths() -> None:
    assert shape({"a": 1, "b": [{"c": "x"}], "d": None}) == [
        "$:object", "a:number", "b:array", "b[].c:string", "b[]:object", "d:null",
    ]  # fmt: skip


def test_manifest_diff_names_added_removed_changed(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("a")
    (tmp_path / "b.md").write_text("b")
    (tmp_path / ".hidden").write_text("x")
    before = file_manifest(tmp_path)
    assert set(before) == {"a.md", "b.md"}
    (tmp_path / "a.md").write_text("A")
    (tmp_path / "b.md").unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_text("c")
    d = compare_manifests(before, file_manifest(tmp_path))
    assert d["added"] == ["sub/c.md"] and d["removed"] == ["b.md"] and [c["id"] for c in d["changed"]] == ["a.md"]


def test_json_pointer() -> None:
    doc = {"prompt": {"active": "v3"}, "a/b": [1, 2]}
    assert json_pointer(doc, "/prompt/active") == "v3"
    assert json_pointer(doc, "/a~1b/1") == 2
    with pytest.raises(KeyError):
        json_pointer(doc, "/nope")


def test_similarity() -> None:
    assert similarity("same words", "same words") == 1.0
    assert (
        0.5 < similarity("Returns within 30 days [returns-policy].", "Returns within 45 days [returns-policy].") < 1.0
    )


def test_prompt_git_evidence_names_the_author_and_uncommitted_edits(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "v1.md").write_text("Answer from the context.\n")
    git("add", ".")
    git("-c", "user.name=Prompt Author", "-c", "user.email=pa@example.com", "commit", "-qm", "v1")
    system = system_at(tmp_path, {"prompt": {"path": "prompts/"}})
    base = asyncio.run(_fingerprint(system))
    assert base["git"]["files"]["v1.md"]["author"] == "Prompt Author"
    (tmp_path / "prompts" / "v1.md").write_text("Answer in French.\n")
    live = asyncio.run(_fingerprint(system))
    diff = prompt.compare(base, live, system)
    assert diff.changed is True
    change = diff.evidence["files"]["changed"][0]
    assert change["id"] == "v1.md" and change["uncommitted"] is True
    assert change["git"]["author"] == "Prompt Author"


async def _fingerprint(system: System) -> dict:
    import httpx

    async with httpx.AsyncClient() as client:
        return await prompt.fingerprint(system, client)


def test_a_malformed_canaries_file_is_bad_input_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "canaries.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": "drillkit/v1", "kind": "Canaries", "canaries": [{"id": "a", "prompt": "hi"}, {"id": "b"}]}
        )
    )
    system = system_at(tmp_path, {"model": {"canaries": "canaries.yaml"}})
    with pytest.raises(InputError, match=r"canaries.yaml:\d+:\d+: canaries\[1\].*exactly one of 'prompt'"):
        asyncio.run(take_snapshot(system))


def test_a_contract_with_an_invalid_schema_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "tools.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "drillkit/v1",
                "kind": "ToolContracts",
                "tools": {"t": {"endpoints": [{"name": "x", "path": "/x", "schema": {"type": "objekt"}}]}},
            }
        )
    )
    system = system_at(tmp_path, {"tools": {"contracts": "tools.yaml"}})
    with pytest.raises(
        InputError, match=r"tools.yaml:\d+:\d+: tools.t.endpoints\[0\].schema: .*not a valid JSON Schema"
    ):
        asyncio.run(take_snapshot(system))


def test_contracts_for_a_tool_without_a_base_url_are_bad_input(tmp_path: Path) -> None:
    (tmp_path / "tools.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "drillkit/v1",
                "kind": "ToolContracts",
                "tools": {"billing": {"endpoints": [{"name": "x", "path": "/x"}]}},
            }
        )
    )
    system = system_at(tmp_path, {"tools": {"contracts": "tools.yaml"}})
    with pytest.raises(InputError, match=r"billing.*no base URL"):
        asyncio.run(take_snapshot(system))
