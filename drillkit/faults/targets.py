"""From a system manifest to its fault servers, and from `provider:<name>` / `tool:<name>` to targets.

The manifest's `chaos` section says where the fault servers are (one Toxiproxy server or a fleet
of them, and the LLM fault proxy; `embedded` means drillkit's own at their default addresses,
`drillkit chaos serve`) and which proxy and route carry each target (`drillkit.config.chaos`).
`open_backends` gives them all as a `drillkit.faults.fleet.Fleet`, which places each fault.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from drillkit.config.chaos import EMBEDDED_LLM_PROXY, EMBEDDED_TOXIPROXY
from drillkit.config.scenario import L4_TYPES
from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.faults.fleet import TOKEN_ENV, Fleet, connect


@dataclass(frozen=True)
class Target:
    kind: str  # "provider" | "tool"
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_target(text: str, system: System | None = None) -> Target:
    """`provider:primary` → Target; checked against the manifest when one is given."""
    kind, sep, name = text.partition(":")
    if not sep or kind not in ("provider", "tool") or not name:
        raise InputError(f"target must be provider:<name> or tool:<name> (got {text!r})")
    if system is not None:
        known = system.providers if kind == "provider" else system.tools
        if name not in known:
            names = ", ".join(f"{kind}:{n}" for n in known) or "none"
            raise InputError(f"no {kind} named {name!r} in the system manifest; known: {names}")
    return Target(kind, name)


def check_target(text: str, system: System, fault_type: str) -> Target:
    """`parse_target`, and the manifest can say where a `fault_type` fault on it goes (a fleet of
    several Toxiproxy servers needs a `chaos.proxies` entry for each L4 target): bad input before
    anything starts, without asking a server."""
    target = parse_target(text, system)
    if fault_type in L4_TYPES:
        try:
            system.chaos.l4_place(str(target))
        except ValueError as exc:
            raise InputError(str(exc)) from None
    return target


@asynccontextmanager
async def open_backends(system: System) -> AsyncIterator[Fleet]:
    """Every fault server of `system` (`Fleet`: key → backend, and `place`), closed on exit.
    Raises `InputError` naming the field when a server's header names an unset `${VAR}`."""
    fleet = connect(system)
    try:
        yield fleet
    finally:
        await fleet.aclose()


__all__ = [
    "EMBEDDED_LLM_PROXY",
    "EMBEDDED_TOXIPROXY",
    "TOKEN_ENV",
    "Target",
    "check_target",
    "open_backends",
    "parse_target",
]
