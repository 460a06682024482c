"""The two sides of `eval compare`, and running the suite (and sampled inputs) against live ones.

    load_side(arg, …)    saved results (`eval run --json`: a `RunRecord`), a manifest (`System`),
                         or a URL: the other side's manifest with another service.url
    await measure(suite, [Target.of(a), Target.of(b)], sample=…)  →  [Measured, Measured]

Live sides run at the same time (each with its own `concurrency`), so a load spike or a slow minute
on a shared provider falls on both, not on whichever ran second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import HttpUrl, ValidationError

from drillkit.config.system import System, load_system
from drillkit.errors import InputError
from drillkit.evals.record import RunRecord, looks_like_results
from drillkit.evals.runner import DEFAULT_THRESHOLD, ProgressCallback, SuiteResult, run_suite
from drillkit.evals.suite import EvalSuite, load_suite
from drillkit.evals.wire import Wire


def is_url(arg: str) -> bool:
    return arg.startswith(("http://", "https://"))


def load_side(arg: str, option: str, base: Callable[[], System]) -> RunRecord | System:
    """One side of a comparison: saved results (a JSON object with `cases`), a manifest, or a URL =
    `base()` (the other side's manifest, or the default one) with that service.url. InputError
    (exit 2) when it is none of them."""
    if is_url(arg):
        try:
            url = HttpUrl(arg)
        except ValidationError:
            raise InputError(f"{option} {arg}: not a valid http(s) URL") from None
        system = base()
        return system.model_copy(update={"service": system.service.model_copy(update={"url": url})})
    path = Path(arg)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{option} {arg}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{option} {arg}: not a text file") from None
    return RunRecord.load(path) if looks_like_results(text) else load_system(path)


def suite_of(system: System, given: str | None, manifest: Path | str) -> EvalSuite:
    """The suite file given, else the manifest's `evals` (InputError when it names none)."""
    path = Path(given) if given is not None else system.resolve(system.evals)
    if path is None:
        raise InputError(f"{manifest}: no 'evals' path in the manifest; pass a suite file")
    return load_suite(path)


@dataclass(frozen=True)
class Target:
    """Where one side's requests go, in which wire format, with which per-request timeout (s)."""

    label: str
    url: str
    wire: Wire
    timeout: float

    @classmethod
    def of(cls, system: System, label: str) -> Target:
        """InputError (exit 2) when a `${VAR}` in service.headers is not set."""
        return cls(label, str(system.service.url), Wire.of(system), system.service.timeout)


@dataclass(frozen=True)
class Measured:
    target: Target
    result: SuiteResult
    sampled: SuiteResult | None

    @property
    def unreachable(self) -> bool:
        return self.result.unreachable

    def record(self) -> RunRecord:
        return RunRecord.of(self.result, self.sampled)


async def measure(
    suite: EvalSuite,
    targets: Sequence[Target],
    *,
    sample: EvalSuite | None = None,
    concurrency: int = 8,
    tags: Sequence[str] = (),
    threshold: float = DEFAULT_THRESHOLD,
    progress: ProgressCallback | None = None,
) -> list[Measured]:
    """Run `suite` (then `sample`, if any) against every target, all targets at once."""

    async def one(target: Target) -> Measured:
        async def run(s: EvalSuite, selected: Sequence[str]) -> SuiteResult:
            return await run_suite(
                s,
                target.url,
                concurrency=concurrency,
                timeout=target.timeout,
                tags=selected,
                threshold=threshold,
                progress=progress,
                wire=target.wire,
            )

        result = await run(suite, tags)
        sampled = await run(sample, ()) if sample is not None and not result.unreachable else None
        return Measured(target, result, sampled)

    return list(await asyncio.gather(*(one(t) for t in targets)))


__all__ = ["Measured", "Target", "is_url", "load_side", "measure", "suite_of"]
