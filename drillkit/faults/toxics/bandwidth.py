"""bandwidth: let data through at no more than ``rate`` KB/s (1 KB = 1000 bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from drillkit.faults.toxics.base import Stub, Toxic

#: Large chunks go out in slices worth this much time, so the rate holds on short windows too.
SLICE_S = 0.1


@dataclass
class _Wire:
    free_at: float = 0.0  # loop time at which the simulated wire has sent everything so far


class Bandwidth(Toxic):
    """Each slice leaves once the simulated wire has had time to send it at ``rate``.

    ``rate`` 0 lets nothing through (like upstream Toxiproxy, where it stalls): data is held,
    and released if the toxic is removed. The wire's schedule is kept per connection, so an
    update of ``rate`` takes effect without a burst.
    """

    type_name: ClassVar[str] = "bandwidth"

    rate: int = Field(0, ge=0, description="KB/s (1000 bytes per second)")

    def new_state(self) -> _Wire:
        return _Wire()

    async def pipe(self, stub: Stub) -> None:
        wire: _Wire = stub.state
        now = stub.loop_time
        while (data := await stub.read()) is not None:
            try:
                if self.rate == 0:
                    await stub.hold()
                bytes_per_s = self.rate * 1000
                step = max(1, int(bytes_per_s * SLICE_S))
                while data:
                    piece = data[:step]
                    wire.free_at = max(wire.free_at, now()) + len(piece) / bytes_per_s
                    await stub.sleep(wire.free_at - now())
                    stub.write(piece)
                    data = data[len(piece) :]
            finally:
                stub.write(data)  # rule 2: whatever was not sent yet
