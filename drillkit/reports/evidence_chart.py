"""Geometry of the report's chart: rollback time (and time to recover) of each run against the RTO target.

The template draws the SVG from these numbers; nothing here is markup, so every piece of text
(scenario names in tooltips) goes through the template's autoescaping.

Choices, and why:

- a logarithmic time axis: a rollback takes seconds and the RTO target is minutes; on a linear axis
  every rehearsal would sit on the floor and the reader could not compare them;
- runs are spaced evenly in time order, labelled with their date: rehearsals come in bursts (a
  game-day morning), and on a true time axis a quarter's runs would overlap in one spot;
- the target is drawn per run (a step line), since the RTO can change between runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from drillkit.reports.evidence_model import RunRow

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 16, 44
TICKS_S = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


class Tick(BaseModel):
    at: float
    label: str


class Point(BaseModel):
    x: float
    y: float
    kind: str  # rollback | ttr
    verdict: str
    tip: str


class Chart(BaseModel):
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    empty: bool = True
    y_ticks: list[Tick] = []
    x_ticks: list[Tick] = []
    points: list[Point] = []
    target_path: str = ""  # SVG path data: numbers and M/L only
    target_label: str = ""
    target_label_y: float = 0.0
    without_rollback: int = 0
    marker: float = 4.5  # marker radius: smaller when many runs share the width


def seconds_label(s: float) -> str:
    """0.5 s, 10 s, 5 min, 2 h: the way a person reads a duration."""
    if s < 60:
        return f"{_trim(s)} s"
    if s < 3600:
        return f"{_trim(s / 60)} min"
    return f"{_trim(s / 3600)} h"


def _trim(value: float) -> str:
    """One decimal at most, none when it is zero: 0.5, 5, 6.7."""
    return f"{value:.1f}".removesuffix(".0")


def build_chart(runs: list[RunRow]) -> Chart:
    chart = Chart()
    timed = [r for r in runs if r.rollback_s is not None or r.ttr_s is not None]
    chart.without_rollback = sum(r.rollback_s is None for r in runs)
    if not timed:
        return chart
    chart.empty = False
    values = [v for r in timed for v in (r.rollback_s, r.ttr_s, r.rto_target_s) if v is not None and v > 0]
    lo = min(0.5, min(values) / 1.5) if values else 0.5
    hi = max(values) * 1.5 if values else 600
    chart.y_ticks = [Tick(at=_y(chart, t, lo, hi), label=seconds_label(t)) for t in _pick_ticks(lo, hi)]
    step = (chart.right - chart.left) / len(timed)
    chart.marker = round(max(1.5, min(4.5, step / 3)), 1)
    xs = [chart.left + step * (i + 0.5) for i in range(len(timed))]
    last_date = None
    for x, run in zip(xs, timed, strict=True):
        if run.date != last_date:
            chart.x_ticks.append(Tick(at=round(x, 1), label=run.date))
            last_date = run.date
        target = f" (target {seconds_label(run.rto_target_s)})" if run.rto_target_s else ""
        for kind, value in (("rollback", run.rollback_s), ("ttr", run.ttr_s)):
            if value is None:
                continue
            what = "rollback" if kind == "rollback" else "time to recover"
            chart.points.append(
                Point(
                    x=round(x, 1),
                    y=_y(chart, max(value, lo), lo, hi),
                    kind=kind,
                    verdict=run.verdict,
                    tip=f"{run.date} {run.scenario}: {what} {value:.1f} s{target}, {run.verdict}",
                )
            )
    chart.x_ticks = _thin(chart.x_ticks, 8)
    targets = [(x, r.rto_target_s) for x, r in zip(xs, timed, strict=True) if r.rto_target_s]
    if targets:
        chart.target_path = _step_path(chart, targets, step, lo, hi)
        chart.target_label = f"RTO target {seconds_label(targets[-1][1])}"
        chart.target_label_y = _y(chart, targets[-1][1], lo, hi) - 5
    return chart


def _y(chart: Chart, value: float, lo: float, hi: float) -> float:
    span = math.log10(hi) - math.log10(lo)
    frac = (math.log10(value) - math.log10(lo)) / span
    return round(chart.bottom - frac * (chart.bottom - chart.top), 1)


def _pick_ticks(lo: float, hi: float) -> list[float]:
    ticks = [t for t in TICKS_S if lo <= t <= hi]
    while len(ticks) > 7:
        ticks = ticks[::2]
    return ticks


def _thin(ticks: list[Tick], most: int) -> list[Tick]:
    if len(ticks) <= most:
        return ticks
    every = math.ceil(len(ticks) / most)
    return ticks[::every]


def _step_path(chart: Chart, targets: list[tuple[float, float]], step: float, lo: float, hi: float) -> str:
    parts = []
    for i, (x, value) in enumerate(targets):
        y = _y(chart, value, lo, hi)
        x0, x1 = max(chart.left, x - step / 2), min(chart.right, x + step / 2)
        parts.append(f"{'M' if i == 0 else 'L'} {x0:.1f} {y:.1f} L {x1:.1f} {y:.1f}")
    return " ".join(parts)


__all__ = ["Chart", "Point", "Tick", "build_chart", "seconds_label"]
