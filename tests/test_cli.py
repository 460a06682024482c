"""The command line's promises: help, version, exit codes, one-line errors, NO_COLOR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from drillkit import __version__
from drillkit.cli import cli


def test_version_and_help() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"drillkit {__version__}"
    for flag in ("-h", "--help"):
        result = runner.invoke(cli, [flag])
        assert result.exit_code == 0
        assert "drillkit demo up" in result.stdout


def test_every_command_has_help_text() -> None:
    def walk(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
        found = []
        ctx = click.Context(group)
        for name in group.list_commands(ctx):  # commands load lazily: ask the group, not its dict
            cmd = group.get_command(ctx, name)
            assert cmd is not None, f"{prefix} {name} is listed but does not load"
            found.append((f"{prefix} {name}", cmd))
            if isinstance(cmd, click.Group):
                found += walk(cmd, f"{prefix} {name}")
        return found

    commands = walk(cli, "drillkit")
    assert len(commands) >= 40 and "drillkit gameday due" in dict(commands)
    for name, cmd in commands:
        assert cmd.help and len(cmd.help.strip()) > 10, f"{name} has no help text"
        result = CliRunner().invoke(cli, [*name.split()[1:], "--help"])
        assert result.exit_code == 0, name


def test_usage_error_exits_2_without_traceback() -> None:
    result = CliRunner().invoke(cli, ["gameday", "validate"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output + result.stderr
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2


def test_real_process_error_output_and_no_color(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("apiVersion: drillkit/v1\nkind: System\nname: x\nservice: {url: nope}\n")
    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm-256color", "FORCE_COLOR": ""}
    env.pop("FORCE_COLOR")
    proc = subprocess.run(
        [sys.executable, "-m", "drillkit", "system", "validate", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "\x1b[" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{bad}:4:16: service.url" in proc.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "drillkit", "--debug", "system", "validate", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr


def all_commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    found = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    assert all(found.values()), f"listed but not found: {[k for k, v in found.items() if v is None]}"
    return found  # type: ignore[return-value]


def test_every_command_appears_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = readme.split("## Commands", 1)[1]
    found = all_commands()
    assert {"gameday", "demo", "triage", "eval", "snapshot", "diff"} <= set(found)
    for name, group in found.items():
        assert f"drillkit {name}" in commands, f"README's Commands section lacks `drillkit {name}`"
        if isinstance(group, click.Group):
            for sub in group.list_commands(click.Context(group)):
                assert sub in commands, f"README's Commands section lacks `drillkit {name} {sub}`"


def test_readme_test_command_is_what_ci_runs() -> None:
    root = Path(__file__).resolve().parents[1]
    command = "pip install -e '.[test]' && pytest"
    assert command in (root / "README.md").read_text()
    assert command in (root / ".ci" / "run").read_text()


def test_every_command_module_defines_the_command_the_root_names() -> None:
    from drillkit.cli import COMMANDS

    for name, command in all_commands().items():
        assert command.name == name, f"`drillkit {name}` loads a command named {command.name!r}"
    defined = {p.stem for p in (Path(__file__).resolve().parents[1] / "drillkit" / "cli").glob("*.py")}
    assert {module for module, _ in COMMANDS.values()} <= defined


def test_a_rollback_step_like_demo_ctl_imports_only_what_it_needs() -> None:
    """`drillkit demo ctl pin` is a rollback step: its import cost is part of the rollback time a
    game-day measures, so the root group imports a command's module only when it runs."""
    code = (
        "import sys; from drillkit.cli import cli; import click; "
        "cli.get_command(click.Context(cli), 'demo'); "
        "print(sorted(m for m in ('drillkit.gameday.run', 'drillkit.reports', 'drillkit.watch', "
        "'drillkit.evals.compare', 'drillkit.proxy.toxiproxy_api', 'drillkit.demo.chaos') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
