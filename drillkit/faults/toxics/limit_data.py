"""limit_data: close the connection once ``bytes`` bytes have passed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from drillkit.faults.toxics.base import Stub, Toxic


@dataclass
class _Count:
    sent: int = 0  # bytes passed on this connection while the toxic was active


class LimitData(Toxic):
    """Passes data until ``bytes`` have gone through on this connection (counted across updates),
    then closes it; the rest of the chunk that crosses the limit is discarded. With ``bytes`` 0
    the connection closes when the first data arrives.
    """

    type_name: ClassVar[str] = "limit_data"

    bytes: int = Field(0, ge=0, description="bytes")

    def new_state(self) -> _Count:
        return _Count()

    async def pipe(self, stub: Stub) -> None:
        count: _Count = stub.state
        while count.sent < self.bytes or self.bytes == 0:
            data = await stub.read()
            if data is None:
                return
            allowed = data[: max(self.bytes - count.sent, 0)]
            stub.write(allowed)
            count.sent += len(allowed)
            if count.sent >= self.bytes:
                break
        stub.close()
