"""Command groups whose subcommands are imported when they are used, not when the CLI starts.

A rollback step such as `drillkit demo ctl pin` is timed by the game-day that runs it, so the
command line must not import every other command first. A `LazyGroup` knows some of its commands
by name -> (module under `drillkit.cli`, attribute) and imports one only when click asks for it:
to run it, or to list it under `--help`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name]
            self.add_command(getattr(importlib.import_module(f"drillkit.cli.{module}"), attr), cmd_name)
        return self.commands.get(cmd_name)
