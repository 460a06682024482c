"""slow_close: delay the close of the stream by ``delay`` milliseconds."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from drillkit.faults.toxics.base import Stub, Toxic


class SlowClose(Toxic):
    """Data passes untouched; the end of stream is passed on ``delay`` ms after it arrives."""

    type_name: ClassVar[str] = "slow_close"

    delay: int = Field(0, ge=0, description="milliseconds")

    async def pipe(self, stub: Stub) -> None:
        while (data := await stub.read()) is not None:
            stub.write(data)
        # Interrupted during the delay, the stub keeps `end`: a restarted pipe reads None again
        # (and delays again), a removal passes the end on. The close is never lost.
        await stub.sleep(self.delay / 1000.0)
