"""One load worker process: `python -m drillkit.traffic.worker`, started by `drillkit.traffic.fleet`.

It reads a `WorkerConfig` on stdin, builds a `LoadGenerator` for its share of the schedule
(`share=(offset, stride)`), answers `Ready`, starts on `Go`, and then every `FLUSH_S` writes a
`Batch` to stdout: the times it scheduled, the samples that finished (judged here: live evals,
streamed answers assembled), its counters and CPU time. Messages and framing:
`drillkit.traffic.worker_protocol`.

It stops when the parent says `Stop` (its requests in flight get the stop's timeout; the final
batch and `Done` follow), on SIGTERM (at once, with a final batch), and — without reporting, since
no one is left to read — when its stdin ends or its parent process is gone (reparented), so a
worker never outlives the run that started it. Stray output cannot corrupt the reports: the
original stdout is kept for frames and fd 1 is pointed at stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import signal
import sys
import time
import traceback

from drillkit.traffic.inputs import InputCycle
from drillkit.traffic.load import LoadGenerator
from drillkit.traffic.samples import Sample
from drillkit.traffic.worker_protocol import (
    FLUSH_S,
    Batch,
    Done,
    Failed,
    Go,
    Rate,
    Ready,
    Shift,
    Stop,
    Unshift,
    WorkerConfig,
    frame,
    read_frame,
)

#: How often the worker checks that its parent is still there (seconds).
PARENT_CHECK_S = 0.25
_GONE = "gone"  # the parent's pipe ended or the parent died: stop without reporting
_TERM = "term"  # SIGTERM: stop at once, report


class Worker:
    """The worker's generator and its pending report."""

    def __init__(self, config: WorkerConfig, out: asyncio.WriteTransport) -> None:
        self.config, self.out = config, out
        self.scheduled: list[float] = []
        self.samples: list[Sample] = []
        self.load = LoadGenerator(
            config.url,
            InputCycle(config.bodies, seed=None),
            rate=config.rate,
            concurrency=config.concurrency,
            timeout=config.timeout,
            on_full="drop" if config.on_full == "drop" else "queue",
            max_queue_s=config.max_queue_s,
            evals=config.evals,
            on_sample=self.samples.append,
            on_schedule=self.scheduled.append,
            wire=config.wire,
            stream=config.stream,
            share=(config.offset, config.stride),
        )
        if config.shift is not None:
            self.apply(config.shift)

    def apply(self, message: object) -> None:
        """A control message from the parent (Rate, Shift, Unshift)."""
        if isinstance(message, Rate):
            self.load.follow(message.rate, message.anchor_t, message.anchor_i)
        elif isinstance(message, Shift):
            self.load.inputs.shift(message.bodies, message.share, seed=message.seed + self.config.offset)
        elif isinstance(message, Unshift):
            self.load.inputs.unshift()

    def flush(self, final: bool = False) -> None:
        """Report what happened since the last report (`final`: nothing more will be scheduled)."""
        scheduled, samples = self.scheduled[:], self.samples[:]
        self.scheduled.clear()
        self.samples.clear()
        next_due = math.inf if final else self.load.next_due
        self.out.write(frame(Batch(scheduled, samples, next_due, self.counters(), time.process_time())))

    def counters(self) -> tuple[int, ...]:
        return tuple(self.load.stats.model_dump().values())

    async def flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            self.flush()


async def serve() -> int:
    """The worker's life (module doc); its exit status."""
    loop = asyncio.get_running_loop()
    reader, out = await _pipes(loop)
    config = await read_frame(reader)
    if not isinstance(config, WorkerConfig):
        return 2
    try:
        worker = Worker(config, out)
    except Exception as exc:  # a config this worker cannot use: say why, then go
        out.write(frame(Failed(f"{type(exc).__name__}: {exc}")))
        await _drain(out)
        return 1
    # Everything loaded so far lives as long as the process: keep the collector from walking it
    # again and again (a full collection over it stalled sending for 15–25 ms, measured).
    gc.freeze()
    out.write(frame(Ready(os.getpid())))
    go = await read_frame(reader)
    if not isinstance(go, Go):
        return 0  # the parent gave up before the start
    inbox: asyncio.Queue[object] = asyncio.Queue()
    tasks = [asyncio.create_task(_read_into(reader, inbox)), asyncio.create_task(_watch_parent(os.getppid(), inbox))]
    loop.add_signal_handler(signal.SIGTERM, inbox.put_nowait, _TERM)
    await worker.load.start(at=go.anchor_t)
    worker.load.follow(go.rate, go.anchor_t, go.anchor_i)
    tasks.append(asyncio.create_task(worker.flush_every()))
    try:
        return await _run(worker, inbox, out)
    except Exception:
        out.write(frame(Failed(traceback.format_exc(limit=5).strip().splitlines()[-1])))
        await _drain(out)
        return 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _run(worker: Worker, inbox: asyncio.Queue[object], out: asyncio.WriteTransport) -> int:
    """Apply control messages until a stop; then stop the generator and, unless the parent is gone, report."""
    while True:
        message = await inbox.get()
        if isinstance(message, Stop | str):
            break
        worker.apply(message)
    timeout = message.timeout if isinstance(message, Stop) else 0.0
    await worker.load.stop(timeout)
    if message == _GONE:
        return 0
    worker.flush(final=True)
    out.write(frame(Done(worker.counters(), time.process_time())))
    await _drain(out)
    return 0


async def _read_into(reader: asyncio.StreamReader, inbox: asyncio.Queue[object]) -> None:
    while (message := await read_frame(reader)) is not None:
        inbox.put_nowait(message)
    inbox.put_nowait(_GONE)


async def _watch_parent(parent: int, inbox: asyncio.Queue[object]) -> None:
    """The pipe's end tells the parent is gone, unless another process inherited it: check the pid too."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_S)
    inbox.put_nowait(_GONE)


async def _pipes(loop: asyncio.AbstractEventLoop) -> tuple[asyncio.StreamReader, asyncio.WriteTransport]:
    """stdin as a stream of messages; the original stdout as a transport for reports (fd 1 → stderr)."""
    frames_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(frames_fd, "wb", buffering=0))
    return reader, out


async def _drain(out: asyncio.WriteTransport) -> None:
    """Wait until the reports are written (or the pipe is gone)."""
    while out.get_write_buffer_size() and not out.is_closing():
        await asyncio.sleep(0.005)


def main() -> None:
    # The parent decides when this process stops; a terminal's signals go to it (own session anyway).
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(BrokenPipeError):
        sys.exit(asyncio.run(serve()))


if __name__ == "__main__":
    main()
