"""reset_peer: reset the connection (TCP RST) ``timeout`` ms after data first arrives."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from drillkit.faults.toxics.base import Stub, Toxic


class ResetPeer(Toxic):
    """On the first chunk, wait ``timeout`` ms, then abort both sockets with SO_LINGER 0, so
    both peers see "connection reset by peer". The chunk is discarded (a reset loses unsent
    data); if the toxic is interrupted during the wait, it is forwarded instead (rule 2).
    """

    type_name: ClassVar[str] = "reset_peer"

    timeout: int = Field(0, ge=0, description="milliseconds")

    async def pipe(self, stub: Stub) -> None:
        data = await stub.read()
        if data is None:
            return
        try:
            await stub.sleep(self.timeout / 1000.0)
        except BaseException:
            stub.write(data)
            raise
        stub.reset()
