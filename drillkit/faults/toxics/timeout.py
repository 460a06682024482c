"""timeout: hold all data, and close the connection after ``timeout`` ms (0: never close)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import Field

from drillkit.faults.toxics.base import Stub, Toxic


@dataclass
class _Started:
    at: float | None = field(default=None)  # loop time the toxic first ran on this connection


class Timeout(Toxic):
    """Nothing passes while the toxic is active: data waits on the input (TCP back-pressure
    reaches the sender once the link's buffer is full). After ``timeout`` ms, counted from when
    the toxic first ran on this connection (updates and re-wiring do not restart the clock),
    the connection is closed. With ``timeout`` 0 it is held until the toxic goes away; then the
    held data flows on, in order. Upstream Toxiproxy drops the data instead and closes the
    connection when the toxic is removed; holding loses nothing.
    """

    type_name: ClassVar[str] = "timeout"

    timeout: int = Field(0, ge=0, description="milliseconds; 0 = hold forever")

    def new_state(self) -> _Started:
        return _Started()

    async def pipe(self, stub: Stub) -> None:
        started: _Started = stub.state
        if started.at is None:
            started.at = stub.loop_time()
        if self.timeout == 0:
            await stub.hold()
        await stub.sleep(started.at + self.timeout / 1000.0 - stub.loop_time())
        stub.close()
