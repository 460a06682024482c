"""The embedded Toxiproxy server's dead-man switch: toxics that die with the run that made them.

A drillkit extension of the Toxiproxy API (Go Toxiproxy has neither half of it):

    toxic envelope   "dead_man": true, "heartbeat_interval": seconds > 0 (default 5)
    GET  /heartbeat  200 {"last_heartbeat": iso | null,
                          "dead_man_toxics": [{proxy, toxic, heartbeat_interval, deadline}]}
    POST /heartbeat  the same, after noting a heartbeat now

A dead-man toxic is removed once no heartbeat has arrived within its ``heartbeat_interval`` of
the later of: when it was added (or last changed), and the latest heartbeat. Heartbeats are per
server, as on the LLM fault proxy: the engine running a game-day keeps all its faults alive with
one call, and when it dies (SIGKILL included) its toxics go within the interval plus one reap
period (`REAP_INTERVAL_S`). The switch learns of a toxic when it next looks (every reap, every
heartbeat), at most one reap period after the API added it, so a toxic never goes early.

Removal is the ordinary one (`Proxy.remove_toxic`): what the toxic held is passed on, per the
stream rules. A toxic updated or replaced meanwhile is left alone (its clock restarts).

Clients tell whether a server honours the extension from ``GET /heartbeat``: Go Toxiproxy answers
404 and ignores the two envelope fields, so the same toxic request stays valid there (see
`drillkit.faults.backends.ToxiproxyBackend`). Times inside are ``clock()`` seconds (monotonic by
default; tests inject a fake one and call `reap` themselves); the API reports wall-clock ISO times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from drillkit.faults.toxics import ToxicSpec
from drillkit.proxy.tcp import NotFound, Proxy

log = logging.getLogger(__name__)

#: How often expired dead-man toxics are looked for, in seconds.
REAP_INTERVAL_S = 0.05

Clock = Callable[[], float]


def iso_time(wall: float) -> str:
    """A wall-clock time as the admin APIs report it (ISO 8601, milliseconds, `Z`)."""
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_man_deadline(since: float, last_heartbeat: float | None, interval: float) -> float:
    """When a dead-man fault added (or changed) at `since` goes: `interval` after the later of
    `since` and the last heartbeat. The one rule of both fault servers (this switch and
    `drillkit.proxy.llm_server`)."""
    return max(since, last_heartbeat or since) + interval


class DeadManSwitch:
    """Removes the dead-man toxics of `proxies()` (name → proxy) that missed their heartbeat.

    Runs on the serving loop: `start` launches the periodic reaper (idempotent), `stop` ends it.
    """

    def __init__(self, proxies: Callable[[], Mapping[str, Proxy]], *, clock: Clock | None = None) -> None:
        self._proxies = proxies
        self._clock = clock or time.monotonic
        self.last_heartbeat: float | None = None
        # (proxy, toxic) → (the spec seen, when it was first seen): a new spec object means the
        # toxic was updated or replaced, which restarts its clock.
        self._armed: dict[tuple[str, str], tuple[ToxicSpec, float]] = {}
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._reap_forever(), name="toxiproxy dead-man")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            try:
                await self.reap()
            except Exception:  # a dead reaper would leave every later toxic behind: keep going
                log.exception("dead-man reaper: one round failed")

    # -- the switch ----------------------------------------------------------------------------

    def heartbeat(self) -> dict[str, Any]:
        """Note a heartbeat now; returns `state()`."""
        self._look()
        self.last_heartbeat = self._clock()
        return self.state()

    def state(self) -> dict[str, Any]:
        """The latest heartbeat and every dead-man toxic with its deadline (wall-clock ISO)."""
        self._look()
        offset = time.time() - self._clock()
        watched = [
            {
                "proxy": proxy,
                "toxic": toxic,
                "heartbeat_interval": spec.heartbeat_interval,
                "deadline": iso_time(self._deadline(spec, since) + offset),
            }
            for (proxy, toxic), (spec, since) in self._armed.items()
        ]
        last = iso_time(self.last_heartbeat + offset) if self.last_heartbeat is not None else None
        return {"last_heartbeat": last, "dead_man_toxics": watched}

    async def reap(self) -> list[tuple[str, str]]:
        """Remove the dead-man toxics past their deadline; returns the (proxy, toxic) removed."""
        self._look()
        now, gone = self._clock(), []
        for (proxy_name, toxic), (spec, since) in list(self._armed.items()):
            proxy = self._proxies().get(proxy_name)
            if now < self._deadline(spec, since) or proxy is None:
                continue
            with contextlib.suppress(NotFound):  # removed meanwhile by someone else: fine
                if await proxy.remove_toxic(toxic, if_still=spec):
                    gone.append((proxy_name, toxic))
                    log.warning(
                        "proxy %s: removed dead-man toxic %s (no heartbeat for %.1f s)",
                        proxy_name,
                        toxic,
                        spec.heartbeat_interval,
                    )
        if gone:
            self._look()
        return gone

    def _deadline(self, spec: ToxicSpec, since: float) -> float:
        return dead_man_deadline(since, self.last_heartbeat, spec.heartbeat_interval)

    def _dead_man_toxics(self) -> Iterator[tuple[tuple[str, str], ToxicSpec]]:
        for proxy_name, proxy in self._proxies().items():
            for spec in proxy.ordered_toxics():
                if spec.dead_man:
                    yield (proxy_name, spec.name), spec

    def _look(self) -> None:
        """Arm the dead-man toxics seen for the first time (or changed); forget the gone ones."""
        now, armed = self._clock(), {}
        for key, spec in self._dead_man_toxics():
            known = self._armed.get(key)
            armed[key] = known if known is not None and known[0] is spec else (spec, now)
        self._armed = armed


__all__ = ["REAP_INTERVAL_S", "Clock", "DeadManSwitch", "dead_man_deadline", "iso_time"]
