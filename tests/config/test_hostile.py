"""Hostile files: each is refused with exit 2 and `file:line:col: what was wrong`, quickly, in bounded
memory, never with a traceback, an internal error or a silently accepted value.

The committed corpus (`hostile/`) holds the small ones; the big ones (50,000 `[`, a 5,000-digit
integer, alias and merge-key bombs, oversized files) are generated here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.config import safe_yaml
from drillkit.config.safe_yaml import parse_yaml
from drillkit.errors import InputError

HERE = Path(__file__).parent / "hostile"
REPO = Path(__file__).resolve().parents[2]
VALIDATE = {
    "system": ["system", "validate"],
    "scenario": ["gameday", "validate"],
    "runbook": ["runbook", "validate"],
    "evals": ["eval", "validate"],
}

# file → (line, a phrase saying what was wrong)
CASES = {
    "system-duplicate-key.yaml": (6, "duplicate key 'name' (first at line 3)"),
    "system-duplicate-nested-key.yaml": (8, "duplicate key 'primary' (first at line 6)"),
    "system-prompt-path-escapes.yaml": (6, "components.prompt.path: a relative path may not climb out"),
    "system-evals-path-escapes.yaml": (7, "evals: a relative path may not climb out"),
    "system-alias-cycle.yaml": (6, "alias *rules is used inside the value it names"),
    "system-undefined-alias.yaml": (4, "alias *service names no anchor"),
    "system-python-tag.yaml": (3, "could not determine a constructor"),
    "system-bad-timestamp.yaml": (4, "month must be in 1..12"),
    "system-rollback-forever.yaml": (6, "rollbacks.model.expected_s: expected a finite number"),
    "system-slo-nan.yaml": (6, "slos.latency_p95_ms: expected a finite number"),
    "scenario-window-nan.yaml": (7, "timeline.window: expected a finite duration"),
    "scenario-duration-huge.yaml": (7, "timeline.max_duration: expected a duration of at most 7 days"),
    "scenario-duration-hours.yaml": (7, "timeline.warmup: expected a duration of at most 7 days"),
    "scenario-fault-at-inf.yaml": (10, "faults[0].at: expected a finite duration"),
    "scenario-concurrency-huge.yaml": (7, "traffic.concurrency: expected a value less than or equal to 10000"),
    "scenario-two-documents.yaml": (10, "a second YAML document"),
    "scenario-duplicate-anchor.yaml": (9, "anchor &f is defined twice (first at line 8)"),
    "runbook-duplicate-step-key.yaml": (9, "duplicate key 'check' (first at line 8)"),
    "runbook-exit-status-huge.yaml": (8, "expect_exit: expected a value less than or equal to 255"),
    "runbook-control-character.yaml": (4, "control character U+0007"),
    "evals-duplicate-case-key.yaml": (8, "duplicate key 'question' (first at line 6)"),
    "evals-weight-nan.yaml": (7, "cases[0].weight: expected a finite number"),
}


def refused(args: list[str], path: Path | str, line: int | None, phrase: str) -> str:
    """Run the CLI in-process; assert exit 2, one clean message naming path (and line) and phrase."""
    result = CliRunner().invoke(cli, args)
    message = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.output, message)
    assert "Traceback" not in message and "internal error" not in message, message
    assert phrase in message, message
    if line is None:
        assert str(path) in message, message
    else:
        found = re.search(re.escape(str(path)) + r":(\d+):(\d+:)? ", message)  # JSON lines: no column
        assert found, message
        assert int(found.group(1)) == line, message
    return message


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in HERE.glob("*.yaml")}
    assert on_disk == set(CASES), "every hostile file needs an expectation, and vice versa"


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_is_refused_at_its_line(name: str) -> None:
    line, phrase = CASES[name]
    path = HERE / name
    refused([*VALIDATE[name.split("-")[0]], str(path)], path, line, phrase)


# --- generated: too big to commit -------------------------------------------------------------

HEAD = "apiVersion: drillkit/v1\nkind: System\n"


def _alias_bomb() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return HEAD + "\n".join(lines) + "\n"


def _merge_bomb() -> str:
    lines = ["m0: &m0 {x: 1, y: 2}"]
    for i in range(1, 12):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 8)}], k{i}: 1}}")
    return HEAD + "\n".join(lines) + "\n"


def _deep_through_aliases() -> str:
    return HEAD + "a: &a " + "[" * 40 + "]" * 40 + "\nb: &b " + "[" * 40 + "*a" + "]" * 40 + "\n"


# name → (file content, line or None, phrase)
GENERATED: dict[str, tuple[Callable[[], str | bytes], int | None, str]] = {
    "flow-nesting": (lambda: HEAD + "x: " + "[" * 50_000 + "\n", 3, "nested more than 64 levels"),
    "block-nesting": (lambda: "- " * 50_000 + "x\n", 1, "nested more than 64 levels"),
    "indent-nesting": (lambda: "".join(" " * i + f"k{i}:\n" for i in range(100)), 65, "nested more than 64"),
    "huge-integer": (lambda: HEAD + "name: " + "9" * 5_000 + "\n", 3, "an integer of 5000 digits"),
    "alias-bomb": (_alias_bomb, 6, "aliases expand to more than 10,000 values"),
    "merge-key-bomb": (_merge_bomb, 7, "aliases expand to more than 10,000 values"),
    "deep-through-aliases": (_deep_through_aliases, 4, "alias *a nests values more than 64 levels deep"),
    "too-many-values": (lambda: HEAD + "x: [" + "1, " * 150_000 + "1]\n", 3, "more than 100,000 values"),
    "huge-scalar": (lambda: HEAD + "name: " + "x" * (1024 * 1024 + 1) + "\n", 3, "at most 1,048,576"),
    "huge-file": (lambda: HEAD + "# " + "x" * safe_yaml.MAX_FILE_BYTES + "\n", None, "larger than 4 MiB"),
    "nul-bytes": (lambda: HEAD.encode() + b"name: \x00\x00\x00\n", 3, "a NUL byte"),
    "not-utf8": (lambda: HEAD.encode() + b"name: caf\xe9\n", 3, "not UTF-8 text"),
    "utf16": (lambda: HEAD.encode("utf-16"), 1, "not UTF-8 text"),
}


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", sorted(VALIDATE))
@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_hostile_file_is_refused(tmp_path: Path, name: str, command: str) -> None:
    build, line, phrase = GENERATED[name]
    path = _write(tmp_path / f"{name}.yaml", build())
    refused([*VALIDATE[command], str(path)], path, line, phrase)


def _limited() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("alias-bomb", ["gameday", "run"]),  # was a SIGSEGV after minutes
        ("alias-bomb", ["system", "validate"]),
        ("flow-nesting", ["runbook", "validate"]),
        ("huge-integer", ["eval", "validate"]),
    ],
)
def test_real_process_refuses_quickly_in_bounded_memory(tmp_path: Path, name: str, args: list[str]) -> None:
    """A real process, 1 GiB of address space and a generous timeout: no hang, no crash, exit 2."""
    build, line, phrase = GENERATED[name]
    path = _write(tmp_path / f"{name}.yaml", build())
    proc = subprocess.run(
        [sys.executable, "-m", "drillkit", *args, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        preexec_fn=_limited if sys.platform == "linux" else None,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert f"{path}:{line}:" in proc.stderr and phrase in proc.stderr, proc.stderr


def test_a_syntax_error_deep_in_a_big_file_is_found_at_its_line(tmp_path: Path) -> None:
    # ~100,000 values, then a flow mapping never closed: libyaml's message (PyYAML's parser, asked
    # again for its wording, would take seconds to get there).
    path = _write(tmp_path / "late.yaml", HEAD + "x: [" + "1, " * 99_000 + "1]\ny: {a: b\n")
    refused(["system", "validate", str(path)], path, 5, "YAML syntax error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "drillkit.yaml"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "drillkit", "system", "validate", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{fifo}: not a regular file" in proc.stderr


def test_eval_run_refuses_a_hostile_suite_before_any_request(tmp_path: Path) -> None:
    manifest = _write(tmp_path / "drillkit.yaml", HEAD + "name: x\nservice: {url: http://127.0.0.1:9/v1/answer}\n")
    path = _write(tmp_path / "suite.yaml", _alias_bomb())
    refused(["eval", "run", "--system", str(manifest), str(path)], path, 6, "alias bomb")
    refused(["eval", "run", "--system", str(path)], path, 6, "alias bomb")


# --- the loader itself ------------------------------------------------------------------------


def test_anchors_aliases_and_merge_keys_within_the_budget_still_work() -> None:
    data, _ = parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\nlist: [*b, *b]\n")
    assert data["c"] == {"x": 3, "y": 2}  # an explicit key overrides a merged one: not a duplicate
    assert data["list"] == [{"x": 1, "y": 2}] * 2


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("a: 1\ntrue: 2\nyes: 3\n", "duplicate key 'yes' (first at line 2 as 'true')"),
        ("a: 1\n'a': 2\n", "duplicate key 'a' (first at line 1)"),
        ("a: 0x" + "f" * 101 + "\n", "digits"),
    ],
)
def test_equal_keys_and_long_integers_in_any_spelling(text: str, phrase: str) -> None:
    with pytest.raises(InputError, match=re.escape(phrase)):
        parse_yaml(text, "f.yaml")


def test_limits_hold_without_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyYAML without its C extension: the same refusals (the composer is ours, not the parser's)."""
    import yaml

    monkeypatch.setattr(safe_yaml, "_PARSERS", (yaml.SafeLoader,))
    for name in ("flow-nesting", "alias-bomb", "huge-integer"):
        build, line, phrase = GENERATED[name]
        with pytest.raises(InputError, match=re.escape(phrase)) as info:
            parse_yaml(str(build()), "f.yaml")
        assert f"f.yaml:{line}:" in str(info.value)


# --- system validate reads what the manifest references ----------------------------------------


def _manifest(folder: Path, **components: str) -> Path:
    refs = "\n".join(f"  {k}: {v}" for k, v in components.items())
    text = HEAD + "name: x\nservice: {url: http://127.0.0.1:9/v1/answer}\ncomponents:\n" + refs + "\n"
    return _write(folder / "drillkit.yaml", text)


CANARIES_HEAD = HEAD.replace("System", "Canaries")
BAD_REFERENCES = {
    # name → (component line in the manifest, file name, its content or None for missing, phrase, line)
    "canaries-missing": ("model", "{canaries: canaries.yaml}", "canaries.yaml", None, "does not exist", 6),
    "canaries-empty": ("model", "{canaries: canaries.yaml}", "canaries.yaml", "", "the file is empty", 1),
    "canaries-binary": ("model", "{canaries: canaries.yaml}", "canaries.yaml", b"\x89PNG\r\n\x1a\n\x00", "UTF-8", 1),
    "canaries-invalid": ("model", "{canaries: c.yaml}", "c.yaml", CANARIES_HEAD, "canaries: required", 1),
    "contracts-missing": ("tools", "{contracts: tools.yaml}", "tools.yaml", None, "does not exist", 6),
    "contracts-empty": ("tools", "{contracts: tools.yaml}", "tools.yaml", "\n\n", "the file is empty", 1),
    "contracts-binary": ("tools", "{contracts: tools.yaml}", "tools.yaml", b"x: \x00", "a NUL byte", 1),
    "contracts-dupkey": ("tools", "{contracts: t.yaml}", "t.yaml", "kind: a\nkind: b\n", "duplicate key", 2),
    "inputs-missing": ("inputs", "{sample: in.jsonl}", "in.jsonl", None, "does not exist", 6),
    "inputs-empty": ("inputs", "{sample: in.jsonl}", "in.jsonl", "", "no inputs", None),
    "inputs-binary": ("inputs", "{sample: in.jsonl}", "in.jsonl", b"\x00\x01\x02", "a NUL byte", 1),
    "inputs-nesting": ("inputs", "{sample: in.jsonl}", "in.jsonl", '{"q": 1}\n' + "[" * 50_000, "too deeply", 2),
    "inputs-integer": ("inputs", "{sample: in.jsonl}", "in.jsonl", '{"q": ' + "9" * 5000 + "}", "usable JSON", 1),
    "prompt-missing": ("prompt", "{path: prompts/}", "prompts", None, "does not exist", 6),
    "prompt-empty-file": ("prompt", "{path: p.md}", "p.md", "  \n", "the prompt file is empty", 1),
    "prompt-binary": ("prompt", "{path: p.md}", "p.md", b"\xff\xd8\xff\xe0 jpeg", "not UTF-8", 1),
    "corpus-missing": ("retrieval", "{path: corpus/}", "corpus", None, "does not exist", 6),
    "corpus-empty-file": ("retrieval", "{path: doc.md}", "doc.md", "", "the corpus document is empty", None),
}


@pytest.mark.parametrize("name", sorted(BAD_REFERENCES))
def test_system_validate_reads_every_referenced_file(tmp_path: Path, name: str) -> None:
    component, value, filename, content, phrase, line = BAD_REFERENCES[name]
    manifest = _manifest(tmp_path, **{component: value})
    if content is not None:
        _write(tmp_path / filename, content)
    # a missing reference is reported at the manifest's line; a bad file at its own
    path = manifest if content is None else tmp_path / filename
    refused(["system", "validate", str(manifest)], path, line, phrase)


def test_empty_prompt_and_corpus_folders_are_reported(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / ".hidden").write_text("not a document")
    manifest = _manifest(tmp_path, prompt="{path: prompts/}", retrieval="{path: corpus/}")
    message = refused(["system", "validate", str(manifest)], tmp_path / "prompts", None, "holds no prompt files")
    assert "holds no corpus documents" in message


def test_the_demo_manifest_and_its_files_validate(tmp_path: Path) -> None:
    from drillkit.demo.workdir import prepare_workdir, write_manifest

    prepare_workdir(tmp_path)
    urls = {name: f"http://127.0.0.1:{port}" for port, name in enumerate(["service", "primary", "fallback", "tool"], 1)}
    manifest = write_manifest(tmp_path, urls)
    result = CliRunner().invoke(cli, ["system", "validate", str(manifest)])
    assert result.exit_code == 0, result.stderr
    assert "6 referenced path(s) ok" in result.stdout


# --- the path rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "value", "field"),
    [
        ("model", "{canaries: ../canaries.yaml}", "components.model.canaries"),
        ("prompt", "{path: prompts/../../x}", "components.prompt.path"),
        ("retrieval", "{path: ..}", "components.retrieval.path"),
        ("tools", "{contracts: ./../tools.yaml}", "components.tools.contracts"),
        ("inputs", "{sample: ../../../../../etc/passwd}", "components.inputs.sample"),
    ],
)
def test_a_relative_path_may_not_climb_out_of_the_manifest_folder(
    tmp_path: Path, component: str, value: str, field: str
) -> None:
    manifest = _manifest(tmp_path, **{component: value})
    message = refused(["system", "validate", str(manifest)], manifest, 6, f"{field}: a relative path may not climb")
    assert "absolute path" in message


def test_an_absolute_path_outside_the_folder_is_allowed(tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    _write(outside / "system.md", "You are a helpful assistant.\n")
    folder = tmp_path / "svc"
    folder.mkdir()
    manifest = _manifest(folder, prompt=f"{{path: {outside / 'system.md'}}}")
    result = CliRunner().invoke(cli, ["system", "validate", str(manifest)])
    assert result.exit_code == 0, result.stderr


def test_a_scenario_may_still_name_its_system_up_the_tree(tmp_path: Path) -> None:
    text = (REPO / "scenarios" / "silent-model-swap.yaml").read_text(encoding="utf-8")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    scenario = _write(folder / "swap.yaml", text.replace("system: demo", "system: ../drillkit.yaml"))
    result = CliRunner().invoke(cli, ["gameday", "validate", str(scenario)])
    assert result.exit_code == 0, result.stderr
