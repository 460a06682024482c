"""What the game-day phases find, as values: each phase that judges something returns one of these,
`run.py` collects them in an `Outcome`, and `summary.py` reads the outcome (no phase writes its
findings into the shared `RunContext`).

A phase's `reasons` are why it fails the rehearsal; the run's reasons are the phases' in the order
they ran (after the stop reason, if the run was stopped).

What the window monitor measures in the background (the breach, the recovery and their times) is
not a phase's result: it lives on the context while the run goes on (`observe.py`), and the
summary reads it from there, also when the run was stopped before the phase that waits for it
returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drillkit.traffic.detect import Breach, Recovery


@dataclass(frozen=True)
class DetectResult:
    """The detect phase: the breach the monitor declared before the deadline (None: no breach)."""

    breach: Breach | None = None
    absorbed: bool = False  # an `expect.absorb` rehearsal that held
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class RollbackResult:
    """The rollback phase. `ok` is None when it was skipped (`skipped` says why); `rollback_s` is
    None when it never ran to its end (no steps, skipped)."""

    mode: str
    ok: bool | None = None
    rollback_s: float | None = None
    skipped: str | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecoverResult:
    """The recover phase: the recovery declared before its deadline (None: none, or nothing to
    recover from), and the faults found gone before it (it then proves nothing)."""

    recovery: Recovery | None = None
    lost: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyResult:
    """The verify phase: the eval suite's result and the fingerprint checks, when configured."""

    evals: dict[str, Any] | None = None
    fingerprint: dict[str, Any] | None = None
    reasons: tuple[str, ...] = ()

    def data(self) -> dict[str, Any]:
        """The `verify` journal entry and `summary.json`'s `verify`: only the checks that ran."""
        return {k: v for k, v in (("evals", self.evals), ("fingerprint", self.fingerprint)) if v is not None}


@dataclass(frozen=True)
class ImpactResult:
    """What the rollback cost users, judged against `expect.rollback_impact` once verify is done
    (`impact.py`): a reason per bound exceeded; `findings` are the breaches it started that no bound
    covers (stated next to the verdict, not a failure)."""

    reasons: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanupResult:
    """Cleanup: whatever it could not put back (a failed restore step, a fault still in place)."""

    reasons: tuple[str, ...] = ()


@dataclass
class Outcome:
    """The results of one run's phases as they return (`run.py` fills it, `summary.py` reads it).

    A phase the run never reached, or that was stopped, leaves its slot None.
    """

    detect: DetectResult | None = None
    rollback: RollbackResult | None = None
    recover: RecoverResult | None = None
    verify: VerifyResult | None = None
    impact: ImpactResult | None = None
    cleanup: CleanupResult | None = None
    completed: bool = False  # every phase ran to its end: the only way to a `pass`
    exit_code: int | None = None  # 2 when the run stopped on bad input found mid-run

    @property
    def reasons(self) -> list[str]:
        found = (self.detect, self.rollback, self.recover, self.verify, self.impact, self.cleanup)
        return [reason for result in found if result is not None for reason in result.reasons]
