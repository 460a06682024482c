"""slicer: cut chunks into pieces of about ``average_size`` bytes, ``delay`` µs apart."""

from __future__ import annotations

import random
from typing import ClassVar

from pydantic import Field

from drillkit.faults.toxics.base import Stub, Toxic


class Slicer(Toxic):
    """Every chunk is sent as pieces of ``average_size ± size_variation`` bytes (at least 1),
    with ``delay`` microseconds between pieces: it simulates data trickling in as small
    segments. All bytes arrive, in order.
    """

    type_name: ClassVar[str] = "slicer"

    average_size: int = Field(0, ge=0, description="bytes")
    size_variation: int = Field(0, ge=0, description="bytes")
    delay: int = Field(0, ge=0, description="microseconds between pieces")

    def piece_size(self) -> int:
        variation = random.randint(-self.size_variation, self.size_variation) if self.size_variation else 0
        return max(1, self.average_size + variation)

    async def pipe(self, stub: Stub) -> None:
        while (data := await stub.read()) is not None:
            try:
                while data:
                    size = self.piece_size()
                    stub.write(data[:size])
                    data = data[size:]
                    if data:
                        await stub.sleep(self.delay / 1_000_000)
            finally:
                stub.write(data)  # rule 2: the rest of the chunk
