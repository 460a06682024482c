"""What a rollback cost users (DESIGN §9.4): the windows after it began, measured like any other.

A rollback is a change made under pressure; restarting a gateway or flipping a router can hurt
users more than the fault did. From the first window that overlaps the rollback's start to the end
of the traffic, the tracker keeps, per configured SLO, the worst value any window could judge, and
the SLOs those windows breached that no window between the injection and the rollback had
breached: the breaches the rollback started.

`expect.rollback_impact` bounds the worst values with the SLO keys (`{error_rate: 0.05}`);
exceeding a bound fails the rehearsal. Without a bound, a breach the rollback started is a finding
stated next to the verdict, never silently part of a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drillkit.gameday.results import ImpactResult
from drillkit.traffic.slo import SloEvaluator, SloWindow, worse


@dataclass
class ImpactTracker:
    """Fed every window after the injection (`observe`); read by the summary."""

    before: set[str] = field(default_factory=set)  # SLOs breached after injection, before the rollback
    windows: list[int] = field(default_factory=list)  # indices of the windows after the rollback began
    worst: dict[str, float] = field(default_factory=dict)
    started: dict[str, int] = field(default_factory=dict)  # SLO → first window it breached in, if new

    def observe(self, window: SloWindow, evaluator: SloEvaluator, rollback_at: float | None) -> None:
        if rollback_at is None or window.end <= rollback_at:
            self.before.update(window.breached)
            return
        self.windows.append(window.index)
        for name in window.breached:
            if name not in self.before:
                self.started.setdefault(name, window.index)
        if window.state == "insufficient":
            return
        metrics = window.model_dump()
        for name in evaluator.objectives:
            value = evaluator.judgeable(name, metrics)
            if value is not None and (name not in self.worst or worse(name, value, self.worst[name])):
                self.worst[name] = value

    def data(self) -> dict[str, Any] | None:
        """`summary.json`'s `rollback_impact`: None when no window followed a rollback."""
        if not self.windows:
            return None
        return {
            "windows": len(self.windows),
            "first_window": self.windows[0],
            "slos": {name: round(value, 6) for name, value in self.worst.items()},
            "breached": sorted(self.started, key=self.started.__getitem__),
        }

    def exceeded(self, bounds: dict[str, float]) -> list[str]:
        """One reason per bound the worst value went past (unjudged SLOs cannot exceed: said so)."""
        reasons = []
        for name, bound in bounds.items():
            value = self.worst.get(name)
            if value is None:
                if self.windows:
                    reasons.append(
                        f"rollback impact on {name} unknown: no window after the rollback began could judge it "
                        f"(expect.rollback_impact bounds it at {bound:g})"
                    )
            elif worse(name, value, bound):
                reasons.append(
                    f"the rollback cost users more than expect.rollback_impact allows: {name} reached {value:g} "
                    f"(bound {bound:g}) in the windows after it began"
                )
        return reasons

    def findings(self, bounds: dict[str, float]) -> list[str]:
        """Breaches the rollback started that no bound judges, for the verdict line."""
        return [
            f"the rollback breached {name} (from window {index}; no window between the injection and the rollback "
            f"had; worst {_fmt(self.worst.get(name))}); bound it with expect.rollback_impact"
            for name, index in sorted(self.started.items(), key=lambda kv: kv[1])
            if name not in bounds
        ]

    def judge(self, bounds: dict[str, float] | None) -> ImpactResult:
        bounds = bounds or {}
        return ImpactResult(reasons=tuple(self.exceeded(bounds)), findings=tuple(self.findings(bounds)))

    def over(self, bounds: dict[str, float]) -> list[str]:
        """The bounded SLOs whose worst value went past their bound."""
        return [name for name, bound in bounds.items() if name in self.worst and worse(name, self.worst[name], bound)]


def _fmt(value: float | None) -> str:
    return "unjudged" if value is None else f"{value:g}"
