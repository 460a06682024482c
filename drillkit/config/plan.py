"""A game-day plan (`kind: GameDay`, contract: DESIGN §9.5): the quarterly game-day as one thing.

Scenarios run in order against one system, with one stop policy keyed on each run's outcome (a
control that failed as designed never stops the day) and one record of the day.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr

from drillkit.config.notify import Notify
from drillkit.config.types import Strict

Purpose = Literal["rehearsal", "control", "exploratory"]


class PlanEntry(Strict):
    """One scenario of the day."""

    scenario: str = Field(
        min_length=1, description="A shipped scenario's id, or a scenario file relative to this plan."
    )
    purpose: Purpose | None = Field(
        default=None, description="Overrides the scenario's `purpose` for this run (e.g. `control`)."
    )


class GamePlan(Strict):
    """A game-day: scenarios in order against one system, one stop policy, one record."""

    apiVersion: Literal["drillkit/v1"] = Field(description="The file format's version: `drillkit/v1`.")
    kind: Literal["GameDay"] = Field(description="Always `GameDay`.")
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="The plan's id (in run ids).")
    title: str = Field(min_length=1, description="What the day is, as shown in reviews and notifications.")
    system: str | None = Field(
        default=None,
        description="The system every scenario acts on: `demo`, or a manifest relative to this plan; wins over the "
        "scenarios' own `system:` (`gameday run --system` wins over it).",
    )
    owner: str | None = Field(default=None, description="Who runs the day (shown in the review and notifications).")
    scenarios: list[PlanEntry] = Field(min_length=1, description="The scenarios, run in this order.")
    on_fail: Literal["continue", "stop"] = Field(
        default="continue",
        description="After a run whose outcome is unexpected (a rehearsal that failed, a control that passed): "
        "`continue` with the next scenario, or `stop` and skip the rest.",
    )
    notify: list[Notify] = Field(default=[], description="Webhooks told when the day starts, each verdict, the end.")

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        return self._base_dir


__all__ = ["GamePlan", "PlanEntry"]
