"""`drillkit system …`: the system manifest (drillkit.yaml)."""

from __future__ import annotations

import click

from drillkit.cli.options import Env, pass_env
from drillkit.cli.validate import validate_files
from drillkit.components.references import references, validate_system
from drillkit.config.system import System


@click.group()
def system() -> None:
    """The system manifest (drillkit.yaml): what drillkit acts on and how to roll it back."""


@system.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@pass_env(json=True)
def validate(env: Env, files: tuple[str, ...]) -> None:
    """Check system manifests against the contract, and every file each one references.

    The eval suite, canaries, tool contracts, inputs sample, prompt files and corpus path are read
    as the commands that use them would: a missing, empty, binary or invalid one is a problem.
    Each problem is reported as FILE:LINE:COLUMN: FIELD: what was expected. Exit 0 when every
    file is valid, 2 otherwise.

    \b
    Example:
      drillkit system validate .drillkit/demo/drillkit.yaml
    """

    def describe(s: System) -> str:
        return (
            f"system {s.name!r}: {len(s.providers)} provider(s), {len(s.rollbacks)} rollback path(s), "
            f"RTO {s.rto_target:g}s, {len(references(s))} referenced path(s) ok"
        )

    validate_files(env, files, validate_system, describe)
