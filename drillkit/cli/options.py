"""Option bundles shared by every command, so `--home`, `--system` and `--json` read the same."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from drillkit.config.system import System, load_system
from drillkit.home import resolve_home, resolve_system_path


@dataclass
class Env:
    """What every command receives: the drillkit home and the consoles to print to."""

    home: Path
    out: Console
    err: Console
    json: bool = False
    system_arg: str | None = None

    def system_path(self) -> Path:
        return resolve_system_path(self.system_arg, self.home)

    def load_system(self) -> System:
        return load_system(self.system_path())

    def emit_json(self, data: Any) -> None:
        """Print machine-readable output on stdout (plain JSON, never colour)."""
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()


def make_env(home: str | None = None, *, as_json: bool = False, system: str | None = None) -> Env:
    return Env(
        home=resolve_home(home),
        out=Console(highlight=False, soft_wrap=True),
        err=Console(stderr=True, highlight=False, soft_wrap=True),
        json=as_json,
        system_arg=system,
    )


def home_option(f: Callable) -> Callable:
    return click.option(
        "--home",
        metavar="DIR",
        envvar="DRILLKIT_HOME",
        help="drillkit's state folder (runs, incidents, baseline, ledger) [env DRILLKIT_HOME; default ./.drillkit].",
    )(f)


def system_option(f: Callable) -> Callable:
    return click.option(
        "--system",
        metavar="FILE",
        envvar="DRILLKIT_SYSTEM",
        help="System manifest to act on [env DRILLKIT_SYSTEM; default ./drillkit.yaml, else the demo's].",
    )(f)


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")(f)


def _allowed_hosts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from drillkit.net import allowed_host

    try:
        return tuple(allowed_host(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def allow_host_option(f: Callable) -> Callable:
    """`--allow-host NAME` (repeatable) → `allowed_hosts`: Host/Origin names an admin API answers
    besides loopback ones (`drillkit.net.AdminGuard`)."""
    return click.option(
        "--allow-host",
        "allowed_hosts",
        multiple=True,
        metavar="NAME",
        callback=_allowed_hosts,
        help="Also answer requests whose Host (and Origin) is NAME, not only loopback names; repeatable.",
    )(f)


def pass_env(*, system: bool = False, json: bool = False) -> Callable:
    """Decorate a command with `--home` (and `--system`, `--json`) and hand it an `Env` first."""

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args: Any, home: str | None = None, **kwargs: Any) -> Any:
            as_json = kwargs.pop("as_json", False) if json else False
            system_arg = kwargs.pop("system", None) if system else None
            return f(make_env(home, as_json=as_json, system=system_arg), *args, **kwargs)

        wrapped = home_option(wrapper)
        if system:
            wrapped = system_option(wrapped)
        if json:
            wrapped = json_option(wrapped)
        return wrapped

    return decorate
