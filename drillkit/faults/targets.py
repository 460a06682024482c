"""From a system manifest to fault backends, and from `provider:<name>` / `tool:<name>` to proxies.

The manifest's `chaos.toxiproxy` and `chaos.llm_proxy` are the admin URLs of the fault servers;
`embedded` means drillkit's own servers at their default addresses (`drillkit chaos serve`).
Every provider and tool is fronted by a Toxiproxy proxy and an LLM-proxy route named after it,
so a target resolves to that name on both layers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.faults.backends import FaultBackend, LlmProxyBackend, ToxiproxyBackend

EMBEDDED_TOXIPROXY = "http://127.0.0.1:8474"
EMBEDDED_LLM_PROXY = "http://127.0.0.1:8475"
#: Bearer token for fault servers bound beyond loopback.
TOKEN_ENV = "DRILLKIT_CHAOS_TOKEN"


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


def layer_urls(system: System) -> dict[str, str]:
    return {
        "l4": EMBEDDED_TOXIPROXY if system.chaos.toxiproxy == "embedded" else system.chaos.toxiproxy,
        "l7": EMBEDDED_LLM_PROXY if system.chaos.llm_proxy == "embedded" else system.chaos.llm_proxy,
    }


@asynccontextmanager
async def open_backends(system: System) -> AsyncIterator[dict[str, FaultBackend]]:
    """Both layers' backends for `system`, closed on exit."""
    urls = layer_urls(system)
    l7 = LlmProxyBackend(urls["l7"], token=os.environ.get(TOKEN_ENV))
    try:
        yield {"l4": ToxiproxyBackend(urls["l4"]), "l7": l7}
    finally:
        await l7.aclose()
