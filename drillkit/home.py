"""Where drillkit keeps its state, and which system manifest a command acts on.

Home: `--home`, else `$DRILLKIT_HOME`, else `./.drillkit`.  It holds `demo/` (the demo's workdir),
`runs/`, `incidents/`, `baseline.json`, `ledger.jsonl` and keys.

System: `--system FILE`, else `$DRILLKIT_SYSTEM`, else `./drillkit.yaml` when present, else the
demo workdir's `drillkit.yaml` (written by `drillkit demo up`).
"""

from __future__ import annotations

import os
from pathlib import Path

from drillkit.errors import InputError


def resolve_home(home: str | Path | None = None) -> Path:
    if home is None:
        home = os.environ.get("DRILLKIT_HOME") or ".drillkit"
    return Path(home).expanduser().absolute()


def demo_workdir(home: Path, workdir: str | Path | None = None) -> Path:
    return Path(workdir).expanduser().absolute() if workdir else home / "demo"


def resolve_system_path(system: str | Path | None, home: Path) -> Path:
    """The manifest a command acts on (see module docstring); InputError when there is none."""
    if system is None:
        system = os.environ.get("DRILLKIT_SYSTEM") or None
    if system is not None:
        return Path(system).expanduser()
    local = Path("drillkit.yaml")
    if local.is_file():
        return local
    demo = demo_workdir(home) / "drillkit.yaml"
    if demo.is_file():
        return demo
    raise InputError(
        "no system manifest: pass --system FILE, set DRILLKIT_SYSTEM, or start the demo with 'drillkit demo up'"
    )
