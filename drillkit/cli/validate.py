"""Shared shape of the `validate` commands: check files against a contract, report, exit 0 or 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from drillkit.cli.options import Env
from drillkit.errors import InputError


def validate_files(
    env: Env, files: tuple[str, ...], load: Callable[[Path], Any], describe: Callable[[Any], str]
) -> None:
    """Validate each file; print one line per file (or JSON); raise InputError (exit 2) if any is bad.

    Every file is checked even after a failure, so one run reports every broken file.
    """
    results: list[dict[str, Any]] = []
    for name in files:
        path = Path(name)
        try:
            obj = load(path)
        except InputError as exc:
            results.append({"file": str(path), "valid": False, "errors": str(exc).splitlines()})
        else:
            results.append({"file": str(path), "valid": True, "summary": describe(obj)})
    bad = [r for r in results if not r["valid"]]
    if env.json:
        env.emit_json({"valid": not bad, "files": results})
    else:
        for r in results:
            if r["valid"]:
                env.out.print(f"[green]ok[/]  {escape(r['file'])}: {escape(r['summary'])}")
    if bad:
        if env.json:
            raise InputError(f"{len(bad)} of {len(results)} file(s) invalid")
        raise InputError("\n".join(line for r in bad for line in r["errors"]))
