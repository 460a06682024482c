"""noop: passes every byte through untouched (also the hidden head of every chain)."""

from __future__ import annotations

from typing import ClassVar

from drillkit.faults.toxics.base import Stub, Toxic


class Noop(Toxic):
    """No attributes. Useful as a placeholder, and as the head stage the link interrupts."""

    type_name: ClassVar[str] = "noop"

    async def pipe(self, stub: Stub) -> None:
        while (data := await stub.read()) is not None:
            stub.write(data)
