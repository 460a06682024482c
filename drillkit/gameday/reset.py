"""`drillkit chaos reset` as a domain function: put the fault servers back and settle what killed
game-days left behind, returning a `ResetReport` (the CLI only prints it).

Contract of `reset_faults(home, system)`:

- It takes the home's game-day lock (`run.run_lock`) for as long as it works, so no game-day
  starts halfway. When a running game-day holds the lock (`LockBusy`), that run owns its records:
  they are not touched (`game_day_running` says so) and only the fault servers are reset.
- Otherwise, in this order: with `forget=True` every record of faults and owed restores is dropped
  unread (for servers gone for good); every recorded fault is removed from its server
  (`leftovers.sweep`: a record whose server cannot be asked stays); every restore a killed run
  owes is run, all its steps, and the debt is dropped only when each step succeeded.
- Last, every fault on the system's fault servers is removed (`FaultBackend.reset`: proxies and
  routes stay, disabled proxies come back): every Toxiproxy server of its fleet and the LLM fault
  proxy, whether or not a game-day is running. Records of faults on servers of the fleet are
  removed with that server's headers and timeout.
- Nothing raises for a server that cannot be reached or a step that fails: the report says so,
  and `ok` is False. A server header naming an unset `${VAR}` is bad input (`InputError`, before
  anything is done).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from drillkit.config.scenario import RestoreStep
from drillkit.config.system import System
from drillkit.errors import DrillkitError, LockBusy
from drillkit.faults.backends import FaultBackend
from drillkit.faults.fleet import Fleet
from drillkit.faults.targets import open_backends
from drillkit.gameday import leftovers
from drillkit.gameday.leftovers import FaultRecord, MalformedRecord, StuckRecord
from drillkit.gameday.run import run_lock
from drillkit.traffic.steps import run_step

__all__ = ["Forgotten", "LayerReset", "ResetReport", "RestoreOutcome", "StepOutcome", "reset_faults"]

RUNNING_NOTE = "a game-day is running; its own records were left to it"
DETAIL_MAX = 200  # characters of a failed restore step's output in a problem line


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Forgotten(_Frozen):
    """Records dropped unread by `forget=True`."""

    faults: int
    restores: int


class StepOutcome(_Frozen):
    name: str
    ok: bool
    duration_s: float
    detail: str


class RestoreOutcome(_Frozen):
    """One restore a killed run owed the system (e.g. a prompt it switched), run now."""

    run_id: str
    steps: list[StepOutcome] = []
    error: str | None = None  # the owed steps could not be read: nothing ran

    @property
    def paid(self) -> bool:
        """Every step succeeded: the debt is dropped."""
        return self.error is None and all(s.ok for s in self.steps)

    def problems(self) -> list[str]:
        if self.error is not None:
            return [f"restore for run {self.run_id!r}: {self.error}"]
        return [f"restore step {s.name!r} failed: {s.detail[:DETAIL_MAX]}" for s in self.steps if not s.ok]


class LayerReset(_Frozen):
    """One fault layer's server: every fault on it removed, or why not."""

    url: str
    reset: bool
    error: str | None = None


class ResetReport(_Frozen):
    game_day_running: bool  # a running game-day held the lock: records left to it
    forgotten: Forgotten | None = None  # only with forget=True, and not while a game-day runs
    removed: list[FaultRecord | MalformedRecord] = []  # faults killed runs left, removed (file order)
    already_gone: list[FaultRecord] = []  # recorded faults that went by themselves: records dropped
    stuck: list[StuckRecord] = []  # recorded faults that could not be removed: still recorded
    restores: list[RestoreOutcome] = []  # owed restores run, paid or not
    layers: dict[str, LayerReset] = {}  # "l4" (or "l4:<server>" for each server of a fleet), "l7"

    @property
    def leftovers_ok(self) -> bool:
        return not self.stuck and all(r.paid for r in self.restores)

    @property
    def ok(self) -> bool:
        return self.leftovers_ok and all(layer.reset for layer in self.layers.values())

    @property
    def unreachable(self) -> list[str]:
        """Servers that could not be reached or answered with an error (the entries say which)."""
        urls = [s.record.server for s in self.stuck] + [lay.url for lay in self.layers.values() if not lay.reset]
        return list(dict.fromkeys(urls))

    def problems(self) -> list[str]:
        """Why `leftovers_ok` is False, one line each."""
        return [s.problem() for s in self.stuck] + [p for r in self.restores for p in r.problems()]

    def to_dict(self) -> dict[str, Any]:
        """The `drillkit chaos reset --json` document: one entry per part, each with `reset`."""
        out: dict[str, Any] = {}
        if self.game_day_running:
            out["note"] = {"reset": True, "text": RUNNING_NOTE}
        if self.forgotten is not None:
            out["forgotten"] = {**self.forgotten.model_dump(), "reset": True}
        removed = [r.model_dump(mode="json", exclude_none=True) for r in self.removed]
        removed += [{"restored_for": r.run_id, "steps": [s.name for s in r.steps]} for r in self.restores if r.paid]
        problems = self.problems()
        if removed or problems:
            out["leftovers"] = {"removed": removed, "problems": problems, "reset": not problems}
        for key, layer in self.layers.items():
            out[key] = layer.model_dump(exclude_none=True)
        return out


async def reset_faults(home: Path, system: System, *, forget: bool = False) -> ResetReport:
    """Remove every fault on `system`'s fault servers and settle the home's leftovers (module doc)."""
    async with open_backends(system) as fleet:
        return await _reset(home, fleet, forget)


async def _reset(home: Path, fleet: Fleet, forget: bool) -> ResetReport:
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(run_lock(home))
        except LockBusy:
            return ResetReport(game_day_running=True, layers=await _reset_layers(fleet))
        forgotten = None
        if forget:
            faults, owed = leftovers.forget_all(home)
            forgotten = Forgotten(faults=faults, restores=owed)
        swept = await leftovers.sweep(home, fleet)
        restores = [await _pay(home, owed) for owed in leftovers.read_pending(home)]
        return ResetReport(
            game_day_running=False,
            forgotten=forgotten,
            removed=swept.removed,
            already_gone=swept.already_gone,
            stuck=swept.stuck,
            restores=restores,
            layers=await _reset_layers(fleet),
        )


async def _pay(home: Path, owed: Any) -> RestoreOutcome:
    """Run one owed restore, every step; drop the debt when all succeeded."""
    if not isinstance(owed, dict):
        return RestoreOutcome(run_id="?", error=f"not a restore record: {owed!r:.{DETAIL_MAX}}")
    run_id = str(owed.get("run_id"))
    given_up = leftovers.exhausted(owed)
    if given_up is not None:
        return RestoreOutcome(run_id=run_id, error=given_up)
    try:
        steps = [RestoreStep.model_validate(s) for s in owed.get("steps", [])]
    except (ValidationError, TypeError) as exc:
        return RestoreOutcome(run_id=run_id, error=f"its steps cannot be read: {exc}")
    env = {"DRILLKIT_HOME": str(home)}
    results = [await run_step(s.name, run=s.run, http=s.http, timeout=s.timeout, env=env) for s in steps]
    outcome = RestoreOutcome(
        run_id=run_id,
        steps=[StepOutcome(name=r.name, ok=r.ok, duration_s=r.duration_s, detail=r.detail) for r in results],
    )
    if outcome.paid:
        leftovers.paid_restore(home, run_id)
    else:
        failed = next((r for r in results if not r.ok), None)
        leftovers.failed_restore(home, run_id, failed.detail if failed is not None else "no step ran")
    return outcome


async def _reset_layers(fleet: Fleet) -> dict[str, LayerReset]:
    """Reset every server of the fleet, each on its own (one unreachable server delays no other)."""

    async def one(backend: FaultBackend) -> LayerReset:
        try:
            await backend.reset()
        except DrillkitError as exc:
            return LayerReset(url=backend.url, reset=False, error=str(exc))
        return LayerReset(url=backend.url, reset=True)

    results = await asyncio.gather(*(one(backend) for backend in fleet.values()))
    return dict(zip(fleet.keys(), results, strict=True))
