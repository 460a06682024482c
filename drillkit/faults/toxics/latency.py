"""latency: delay every chunk by ``latency`` ± ``jitter`` milliseconds."""

from __future__ import annotations

import random
from typing import ClassVar

from pydantic import Field

from drillkit.faults.toxics.base import Stub, Toxic


class Latency(Toxic):
    """Each chunk leaves ``latency ± uniform(jitter)`` ms after it reached this stage.

    The delay counts from the chunk's arrival (not from when the previous chunk left), so a burst
    is delayed once, not once per chunk; stacked latency toxics add up.
    """

    type_name: ClassVar[str] = "latency"

    latency: int = Field(0, ge=0, description="milliseconds")
    jitter: int = Field(0, ge=0, description="milliseconds, uniform in [-jitter, +jitter]")

    def delay_s(self) -> float:
        ms = self.latency + (random.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        return max(ms, 0.0) / 1000.0

    async def pipe(self, stub: Stub) -> None:
        loop_time = stub.loop_time
        while (data := await stub.read()) is not None:
            try:
                await stub.sleep(stub.received_at + self.delay_s() - loop_time())
            finally:
                stub.write(data)  # rule 2: forwarded on interrupt too
