"""Faults a run injected and has not removed yet, kept in a file so that a killed run's faults
can still be found and removed (by the next preflight, or `drillkit chaos reset`).

L7 faults also carry a dead-man heartbeat (they vanish by themselves), and so do toxics on
drillkit's embedded Toxiproxy server; a team's own (Go) Toxiproxy has no such thing, so there
this file is what stands between a SIGKILLed game-day and a toxic left forever. Every fault is
recorded, dead-man or not: the record is written before the server is asked, and removing a
fault that already went by itself is a no-op that just drops the record.
The file is `<home>/chaos/leftovers.json`: a list of {run_id, layer, server, target, name, type}
(`server` the admin URL, `target` the proxy or route name; a fleet's headers are never written:
`sweep` calls a server of the current system's fleet with that server's headers and timeout).

The restore steps a run owes (`<home>/chaos/pending-restore.json`) are stored redacted, like
everything under the home: a step's HTTP headers or argv can carry a token. When redaction changed
them, the entry says `redacted: true`, and `read_pending` takes the real steps from the run's
scenario file again (named in the run's journal) if they still redact to what was stored; if the
file is gone or its restore steps changed, the redacted steps are returned and fail visibly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from drillkit.errors import DrillkitError, InputError
from drillkit.faults.backends import ActiveFault, FaultBackend, LlmProxyBackend, ToxiproxyBackend
from drillkit.journal.redact import Redactor


def leftovers_path(home: Path) -> Path:
    return home / "chaos" / "leftovers.json"


def _read_list(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return data if isinstance(data, list) else []


def _write_list(path: Path, entries: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=2) + "\n")
    os.replace(tmp, path)


def read(home: Path) -> list[dict[str, Any]]:
    return _read_list(leftovers_path(home))


def _write(home: Path, entries: list[dict[str, Any]]) -> None:
    _write_list(leftovers_path(home), entries)


def _key(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    return (entry["layer"], entry["server"], entry["target"], entry["name"])


def record(home: Path, run_id: str, fault: ActiveFault) -> None:
    """Note a fault as injected (before anything else can go wrong)."""
    entry = {
        "run_id": run_id,
        "layer": fault.layer,
        "server": fault.server,
        "target": fault.target,
        "name": fault.name,
        "type": fault.type,
    }
    entries = [e for e in read(home) if _key(e) != _key(entry)]
    _write(home, [*entries, entry])


def forget(home: Path, fault: ActiveFault) -> None:
    key = (fault.layer, fault.server, fault.target, fault.name)
    entries = read(home)
    kept = [e for e in entries if _key(e) != key]
    if len(kept) != len(entries):
        _write(home, kept)


class FaultRecord(BaseModel):
    """One entry of leftovers.json, as `record` writes it (`run_id` and `type` may be missing)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str | None = None
    layer: Literal["l4", "l7"]
    server: str
    target: str
    name: str
    type: str | None = None


class MalformedRecord(BaseModel):
    """An entry nothing can be done with (not a fault record): dropped by `sweep`."""

    model_config = ConfigDict(frozen=True)

    malformed: Any


class StuckRecord(BaseModel):
    """A recorded fault `sweep` could not remove (its server unreachable or refusing): still recorded."""

    model_config = ConfigDict(frozen=True)

    record: FaultRecord
    error: str

    def problem(self) -> str:
        r = self.record
        return f"{r.name} on {r.target} ({r.server}): {self.error}"


@dataclass(frozen=True)
class Sweep:
    """What `sweep` did with each record, in the file's order."""

    removed: list[FaultRecord | MalformedRecord] = field(default_factory=list)  # gone now, records dropped
    already_gone: list[FaultRecord] = field(default_factory=list)  # went by themselves: records dropped
    stuck: list[StuckRecord] = field(default_factory=list)  # records kept


def _backend(record: FaultRecord, known: Mapping[str, FaultBackend]) -> tuple[FaultBackend, bool]:
    """The backend to remove `record` with, and whether it is ours to close: a server of the
    system's fleet is called as the manifest says (its headers, its timeout); any other server
    (a fleet since changed, another manifest) plainly."""
    for backend in known.values():
        if backend.layer == record.layer and backend.url == record.server.rstrip("/"):
            return backend, False
    if record.layer == "l4":
        return ToxiproxyBackend(record.server), False
    return LlmProxyBackend(record.server), True


async def sweep(home: Path, known: Mapping[str, FaultBackend] | None = None) -> Sweep:
    """Remove every recorded fault from its server; rewrite the file with the records still stuck.

    `known`: the current system's fault servers (`drillkit.faults.fleet.Fleet`), used for the
    records on them (each server's headers and timeout). A fault already gone (a dead-man fault
    after its heartbeats stopped, or removed by hand) just loses its record; malformed entries are
    dropped (nothing can be done with them) and count as removed; an entry whose server cannot be
    asked stays recorded.
    """
    result = Sweep()
    for entry in read(home):
        try:
            record = FaultRecord.model_validate(entry)
        except ValidationError:
            result.removed.append(MalformedRecord(malformed=entry))
            continue
        backend, owned = _backend(record, known or {})
        try:
            if await backend.remove(record.target, record.name):
                result.removed.append(record)
            else:
                result.already_gone.append(record)
        except DrillkitError as exc:
            result.stuck.append(StuckRecord(record=record, error=str(exc)))
        finally:
            if owned and isinstance(backend, LlmProxyBackend):
                await backend.aclose()
    if leftovers_path(home).exists():
        _write(home, [s.record.model_dump(mode="json", exclude_none=True) for s in result.stuck])
    return result


async def clean(home: Path, known: Mapping[str, FaultBackend] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """`sweep`, as (removed entries, problems): for the journal of a game-day's preflight."""
    swept = await sweep(home, known)
    removed = [r.model_dump(mode="json", exclude_none=True) for r in swept.removed]
    return removed, [s.problem() for s in swept.stuck]


def forget_all(home: Path) -> tuple[int, int]:
    """Drop every record (faults and owed restores) without acting on them: for servers gone for good."""
    faults, owed = len(read(home)), len(_read_raw_pending(home))
    for path in (leftovers_path(home), pending_path(home)):
        path.unlink(missing_ok=True)
    return faults, owed


# --- restore steps a killed run never ran ---------------------------------------------------------


def pending_path(home: Path) -> Path:
    return home / "chaos" / "pending-restore.json"


def read_pending(home: Path) -> list[dict[str, Any]]:
    """The restore steps killed runs still owe, with redacted steps restored from their scenario."""
    return [_unredacted(home, e) if isinstance(e, dict) and e.get("redacted") else e for e in _read_raw_pending(home)]


def _read_raw_pending(home: Path) -> list[Any]:
    return _read_list(pending_path(home))


def _write_pending(home: Path, entries: list[dict[str, Any]]) -> None:
    _write_list(pending_path(home), entries)


def owe_restore(home: Path, run_id: str, steps: list[dict[str, Any]]) -> None:
    """Before a run changes anything: note the restore steps it owes the system (redacted)."""
    if steps:
        stored = _redact_steps(steps)
        entry: dict[str, Any] = {"run_id": run_id, "steps": stored}
        if stored != steps:
            entry["redacted"] = True
        _write_pending(home, [*(e for e in _read_raw_pending(home) if e.get("run_id") != run_id), entry])


def _redact_steps(steps: list[Any]) -> list[Any]:
    return Redactor().value(steps)  # a fresh table: the same steps always redact the same way


_RUN_ID = re.compile(r"^[\w.-]+$")


def _unredacted(home: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` with its real steps, re-read from the run's scenario file when they still match."""
    from drillkit.config.loader import load_model
    from drillkit.config.scenario import Scenario

    run_id = str(entry.get("run_id", ""))
    if not _RUN_ID.match(run_id) or run_id in (".", ".."):
        return entry
    try:
        with open(home / "runs" / run_id / "journal.jsonl", "rb") as f:
            started = json.loads(f.readline())
        scenario = load_model(Path(started["data"]["scenario_file"]), Scenario)
    except (OSError, ValueError, KeyError, TypeError, InputError):
        return entry
    real = [step.model_dump(mode="json", by_alias=True, exclude_none=True) for step in scenario.restore]
    return {**entry, "steps": real} if _redact_steps(real) == entry.get("steps") else entry


#: How many times an owed restore is tried (at preflights and resets) before it is reported instead.
MAX_OWED_ATTEMPTS = 3


def failed_restore(home: Path, run_id: str, error: str) -> int:
    """Count one more failed attempt at the restore `run_id` owes; return how many there were."""
    entries = _read_raw_pending(home)
    attempts = 0
    for entry in entries:
        if isinstance(entry, dict) and entry.get("run_id") == run_id:
            entry["attempts"] = attempts = int(entry.get("attempts", 0)) + 1
            entry["last_error"] = error[:300]
    _write_pending(home, entries)
    return attempts


def exhausted(owed: dict[str, Any]) -> str | None:
    """Why an owed restore is no longer tried (None: try it), naming the way out."""
    attempts = int(owed.get("attempts", 0))
    if attempts < MAX_OWED_ATTEMPTS:
        return None
    return (
        f"the restore owed by run {owed.get('run_id')} failed {attempts} times (last: {owed.get('last_error', '?')}); "
        "put the system back by hand, then drop the record with 'drillkit chaos reset --forget'"
    )


def paid_restore(home: Path, run_id: str) -> None:
    entries = _read_raw_pending(home)
    kept = [e for e in entries if e.get("run_id") != run_id]
    if len(kept) != len(entries):
        _write_pending(home, kept)
