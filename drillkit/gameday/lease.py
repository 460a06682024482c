"""Leases on fault servers (issue 14 item 6): one drill at a time per server, across homes.

A game-day takes a lease on every fault server its scenario will inject into before it injects
anything, and gives them back when it ends; a second drill (or a plan's next run) that needs a
leased server is refused, naming the holder. Leases live on this machine, in one folder shared
by every drillkit home (`DRILLKIT_LEASE_DIR`, default `<tmp>/drillkit-leases-<uid>`), one file per
server URL; a lease whose process is gone is stale and taken over. Drills started on other
machines against the same servers are not seen (Go Toxiproxy has nowhere to keep a lease).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit.errors import LockBusy


def lease_dir() -> Path:
    named = os.environ.get("DRILLKIT_LEASE_DIR")
    return Path(named) if named else Path(tempfile.gettempdir()) / f"drillkit-leases-{os.getuid()}"


def _file(url: str) -> Path:
    return lease_dir() / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".json")


def holder(url: str) -> dict[str, Any] | None:
    """The live lease on `url`, if any (a stale one, whose process is gone, is None)."""
    try:
        data = json.loads(_file(url).read_text(encoding="utf-8"))
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data


def leases() -> list[dict[str, Any]]:
    """Every live lease on this machine (for `chaos status`)."""
    found = []
    for path in sorted(lease_dir().glob("*.json")) if lease_dir().is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if holder(str(data.get("url"))) is not None:
                found.append(data)
    return found


@contextlib.contextmanager
def leased(urls: list[str], scenario: str, home: Path) -> Iterator[None]:
    """Hold a lease on each of `urls` for the block; LockBusy (naming the holder) if one is held."""
    taken: list[Path] = []
    lease_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        for url in sorted(set(urls)):
            _take(url, scenario, home)
            taken.append(_file(url))
        yield
    finally:
        for path in taken:
            with contextlib.suppress(OSError):
                path.unlink()


def _take(url: str, scenario: str, home: Path) -> None:
    other = holder(url)
    if other is not None and other.get("pid") != os.getpid():
        raise LockBusy(
            f"fault server {url} is leased by the game-day of {other.get('scenario')!r} (pid {other.get('pid')}, "
            f"home {other.get('home')}) since {other.get('since')}: one drill at a time per server"
        )
    lease = {"url": url, "scenario": scenario, "pid": os.getpid(), "home": str(home),
             "since": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    path = _file(url)
    with contextlib.suppress(FileNotFoundError):
        if other is None:
            path.unlink()  # stale: its process is gone
    try:  # O_EXCL: of two drills racing for a free server, one gets it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise LockBusy(f"fault server {url} was leased by another game-day just now; try again") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(lease))


__all__ = ["holder", "lease_dir", "leased", "leases"]
