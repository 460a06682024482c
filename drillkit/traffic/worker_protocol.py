"""What the load generator's parent and its worker processes say to each other, and how it is framed.

A worker (`python -m drillkit.traffic.worker`) reads messages from its stdin and writes messages
to its stdout; each message is one frame: a 4-byte big-endian length, then the message pickled.
Both ends are drillkit processes of the same install, joined by pipes no one else holds, so
pickle is safe here (it is never used on anything read from a file or a socket).

    parent → worker:  WorkerConfig, then Go, then any of Rate, Shift, Unshift; Stop last
    worker → parent:  Ready, then Batch every `FLUSH_S`, then Done (or Failed)

A worker's share of the schedule is every slot `i` with `i % stride == offset`: slot `i` is due at
`anchor_t + (i - anchor_i) / rate` (seconds on `time.monotonic`, which every process on the machine
shares). `Batch.next_due` promises that every slot of that worker due before it has been scheduled
and reported (in this batch or an earlier one): the parent merges the workers' reports up to the
smallest such promise (`drillkit.traffic.fleet`).

The config carries the service's headers (`Wire.headers`, secrets): they travel over the pipe only,
never on a command line or in the environment.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drillkit.evals.suite import Assertion
from drillkit.evals.wire import Wire
from drillkit.traffic.samples import Sample

#: How often a worker reports its scheduled times and samples (seconds).
FLUSH_S = 0.02
_HEADER = 4
#: No message is this large; a longer length means the stream is not ours (or is corrupt).
MAX_FRAME = 1 << 30


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything a worker needs to build its `LoadGenerator` (see `LoadGenerator` for the fields)."""

    url: str
    bodies: Sequence[dict[str, Any]]  # the worker's own order: slot offset, offset+stride, ... cycled
    rate: float
    offset: int
    stride: int
    concurrency: int
    timeout: float
    on_full: str
    max_queue_s: float
    evals: Mapping[str, Sequence[Assertion]]
    wire: Wire
    stream: bool
    shift: Shift | None = None  # an input shift already in force when the worker starts


@dataclass(frozen=True, slots=True)
class Go:
    """Start sending: follow the schedule `anchor_t + (i - anchor_i) / rate`."""

    rate: float
    anchor_t: float
    anchor_i: int


@dataclass(frozen=True, slots=True)
class Rate:
    """From now on follow the schedule `anchor_t + (i - anchor_i) / rate`."""

    rate: float
    anchor_t: float
    anchor_i: int


@dataclass(frozen=True, slots=True)
class Shift:
    """`InputCycle.shift(bodies, share, seed)` in the worker."""

    bodies: Sequence[dict[str, Any]]
    share: float
    seed: int


@dataclass(frozen=True, slots=True)
class Unshift:
    """`InputCycle.unshift()` in the worker."""


@dataclass(frozen=True, slots=True)
class Stop:
    """`LoadGenerator.stop(timeout)`, then report Done and exit."""

    timeout: float


@dataclass(frozen=True, slots=True)
class Ready:
    """The worker is up and waits for Go."""

    pid: int


@dataclass(frozen=True, slots=True)
class Batch:
    """What happened since the last batch: scheduled times (in order) and finished samples."""

    scheduled: list[float]
    samples: list[Sample]
    next_due: float  # every slot of this worker due before it is in this batch or an earlier one
    counters: tuple[int, ...]  # `Counters` as a tuple, in field order
    cpu_s: float  # CPU seconds the worker process has used


@dataclass(frozen=True, slots=True)
class Done:
    """The worker stopped: its final counters (its last Batch came before this)."""

    counters: tuple[int, ...]
    cpu_s: float


@dataclass(frozen=True, slots=True)
class Failed:
    """The worker hit an error it cannot go on from."""

    error: str


def frame(message: object) -> bytes:
    """`message` as one frame."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(payload).to_bytes(_HEADER, "big") + payload


async def read_frame(reader: asyncio.StreamReader) -> Any | None:
    """The next message, or None at the end of the stream (also when it ends mid-frame)."""
    try:
        header = await reader.readexactly(_HEADER)
        size = int.from_bytes(header, "big")
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes: not a drillkit worker stream")
        return pickle.loads(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        return None


__all__ = [
    "FLUSH_S",
    "Batch",
    "Done",
    "Failed",
    "Go",
    "Rate",
    "Ready",
    "Shift",
    "Stop",
    "Unshift",
    "WorkerConfig",
    "frame",
    "read_frame",
]
