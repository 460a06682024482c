"""Putting a run's faults in and taking them out: the part of a game-day that must never leak.

Every fault is recorded in the leftovers file *before* it is injected (under the name the server
will give it), so a run killed mid-call still leaves a record the next preflight or
`drillkit chaos reset` acts on. A fault counts as removed only once the server said so; cleanup
retries whatever is not. Faults are injected dead-man (honoured by the LLM fault proxy and by
drillkit's embedded Toxiproxy servers; see `drillkit.faults.backends`) and kept alive by `heartbeat`,
which beats every server of the system's fleet holding one (each of several `drillkit chaos serve`
processes, the demo's): a run killed outright loses its faults within `DEAD_MAN_INTERVAL_S` on
those servers, and through the leftovers file everywhere.

Where a fault goes is the manifest's word (`Fleet.place`: `chaos.proxies` / `chaos.routes`, else
the proxy or route named after the target); the leftovers record the server's URL and the proxy
or route name, never its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from drillkit.config.scenario import Fault
from drillkit.errors import Aborted, DrillkitError
from drillkit.faults.backends import ActiveFault, FaultBackend, FaultRequest
from drillkit.gameday import leftovers
from drillkit.gameday.context import Injected, RunContext
from drillkit.journal.events import FaultInjected, FaultRemoved, InjectClock, Phase
from drillkit.traffic.inputs import inputs_path, load_inputs
from drillkit.traffic.steps import run_step

HEARTBEAT_S = 1.0
DEAD_MAN_INTERVAL_S = 5.0
REMOVE_TIMEOUT_S = 2.0


def step_env(ctx: RunContext) -> dict[str, str]:
    return {"DRILLKIT_HOME": str(ctx.options.home)}


async def inject(ctx: RunContext) -> None:
    """Inject the faults at their offsets. Returns once the first fault is in place (`t_inject`);
    later ones are injected by a background task."""
    ctx.emit(Phase(phase="inject"))
    leftovers.owe_restore(
        ctx.options.home,
        ctx.run_id,
        [step.model_dump(mode="json", by_alias=True, exclude_none=True) for step in ctx.scenario.restore],
    )
    faults = sorted(ctx.scenario.faults, key=lambda f: f.at)
    t_phase = time.monotonic()
    first_at = faults[0].at
    await ctx.wait(None, first_at)
    for fault in [f for f in faults if f.at == first_at]:
        await inject_one(ctx, fault)
    ctx.t_inject = time.monotonic()  # the first faults are in place now
    ctx.emit(InjectClock(t_inject_after_phase_s=round(ctx.t_inject - t_phase, 3)))

    async def later() -> None:
        for fault in [f for f in faults if f.at > first_at]:
            await asyncio.sleep(max(0.0, t_phase + fault.at - time.monotonic()))
            await inject_one(ctx, fault)

    ctx.background(later(), "delayed injections")


def _expected_name(request: FaultRequest, layer: str) -> str:
    if request.name:
        return request.name
    if layer == "l4":
        return "down" if request.type == "down" else f"{request.type}_{request.stream or 'downstream'}"
    return request.type


async def inject_one(ctx: RunContext, fault: Fault) -> None:
    if fault.type == "input_shift":
        shift_inputs(ctx, fault)
        return
    if fault.type == "change":
        result = await ctx.guard(
            run_step(
                fault.name or "change", run=fault.run, http=fault.http, env=step_env(ctx), cwd=ctx.scenario.base_dir
            )
        )
        ctx.injected.append(Injected(fault))
        ctx.emit(FaultInjected(**{"type": "change", "at_s": ctx.since_inject(), **result.to_dict()}))
        if not result.ok:
            ctx.control.abort(f"the change fault {result.name!r} failed: {result.detail[:200]}")
        return
    assert fault.target is not None and ctx.backends is not None
    backend, carrier = ctx.backends.place(fault.target, fault.type)  # the manifest's server and proxy/route
    request = FaultRequest(
        type=fault.type,
        target=carrier,
        name=fault.name,
        toxicity=fault.toxicity,
        stream=fault.stream,
        attributes=dict(fault.attributes),
        dead_man=True,  # where the server honours it (the backend decides)
        heartbeat_interval=DEAD_MAN_INTERVAL_S,
        match=fault.match.model_dump(exclude_none=True) if fault.match else None,
    )
    planned = ActiveFault(
        backend.layer, backend.url, request.target, _expected_name(request, backend.layer), fault.type
    )
    leftovers.record(ctx.options.home, ctx.run_id, planned)
    item = Injected(fault, planned, backend=backend)
    ctx.injected.append(item)  # before the call: cleanup removes it even if the call is cut short
    try:
        active = await ctx.guard(backend.inject(request))
    except DrillkitError as exc:
        if not isinstance(exc, Aborted):
            ctx.stop(f"could not inject {fault.type} on {fault.target}: {exc}")
        raise Aborted(ctx.control.reason or "") from None
    if active.name != planned.name:
        leftovers.forget(ctx.options.home, planned)
        leftovers.record(ctx.options.home, ctx.run_id, active)
    item.active = active
    ctx.emit(FaultInjected(**{"at_s": ctx.since_inject(), "target": fault.target, **active.to_dict()}))
    if fault.duration is not None:

        async def expire() -> None:
            await asyncio.sleep(fault.duration or 0)
            await remove_one(ctx, item, "duration elapsed")

        ctx.background(expire(), f"expiry of {active.name}")


def shift_inputs(ctx: RunContext, fault: Fault) -> None:
    """The traffic's mix changes: `toxicity` of the requests now come from another inputs file.

    Nothing on a server to leak: the shift lives in this run's load generator and ends with it
    (or after `duration`).
    """
    assert ctx.load is not None
    source = str(fault.attributes["inputs"])
    path = inputs_path(source, ctx.system, ctx.scenario.base_dir)
    ctx.load.inputs.shift(load_inputs(path), share=fault.toxicity)
    ctx.injected.append(Injected(fault))
    ctx.emit(FaultInjected(type="input_shift", name=fault.name or "input_shift", inputs=str(path),
                           share=fault.toxicity, at_s=ctx.since_inject()))  # fmt: skip

    async def expire() -> None:
        await asyncio.sleep(fault.duration or 0)
        unshift_inputs(ctx, "duration elapsed")

    if fault.duration is not None:
        ctx.background(expire(), "end of the input shift")


def unshift_inputs(ctx: RunContext, why: str) -> None:
    if ctx.load is not None and ctx.load.inputs.shifted:
        ctx.load.inputs.unshift()
        ctx.emit(FaultRemoved(type="input_shift", name="input_shift", why=why, at_s=ctx.since_inject()))


async def remove_one(ctx: RunContext, item: Injected, why: str) -> bool:
    """Remove one fault; True once the server no longer has it. Never raises for a failed removal."""
    if item.removed or item.active is None or item.backend is None:
        return True
    try:
        gone = await asyncio.wait_for(item.backend.remove(item.active.target, item.active.name), REMOVE_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a failed removal is journaled and retried, never mistaken for done
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ctx.emit(FaultRemoved(name=item.active.name, target=item.active.target, ok=False, error=error))
        return False
    item.removed, item.removed_at, item.removed_why = True, time.monotonic(), why
    leftovers.forget(ctx.options.home, item.active)
    ctx.emit(FaultRemoved(name=item.active.name, target=item.active.target, why=why, was_active=gone,
                          at_s=ctx.since_inject()))  # fmt: skip
    return True


async def remove_all(ctx: RunContext, why: str, attempts: int = 3) -> None:
    unshift_inputs(ctx, why)
    for _ in range(attempts):
        pending = [i for i in reversed(ctx.injected) if not i.removed and i.active is not None]
        if not pending:
            return
        await asyncio.gather(*(remove_one(ctx, i, why) for i in pending))


async def missing_faults(ctx: RunContext) -> list[str]:
    """Faults of this run that should be in place but the server no longer has (expired, reaped,
    removed by someone else): a recovery while one is missing proves nothing about the rollback."""
    missing = []
    for item in ctx.injected:
        if item.active is None or item.removed or item.backend is None:
            continue
        with contextlib.suppress(DrillkitError):
            present = {(f.target, f.name) for f in await item.backend.list()}
            if (item.active.target, item.active.name) not in present:
                missing.append(f"{item.active.name} on {item.active.target}")
    return missing


async def heartbeat(ctx: RunContext) -> None:
    """Every `HEARTBEAT_S`, heartbeat each server that holds a live dead-man fault of this run:
    every server of the fleet this run injected into, each on its own (one slow server does not
    delay another's heartbeat past its dead-man interval)."""
    assert ctx.backends is not None
    while True:
        beats = []
        for backend in ctx.backends.values():
            if any(i.backend is backend and i.active and i.active.dead_man and not i.removed for i in ctx.injected):
                beats.append(_beat(backend))
        await asyncio.gather(*beats)
        await asyncio.sleep(HEARTBEAT_S)


async def _beat(backend: FaultBackend) -> None:
    with contextlib.suppress(DrillkitError, TimeoutError):
        await asyncio.wait_for(backend.heartbeat(), HEARTBEAT_S * 2)
