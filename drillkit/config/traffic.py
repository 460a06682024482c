"""`traffic` (contract): the load a game-day sends, or the real traffic it only watches.

`Traffic` is a scenario's `traffic:` block (rate, concurrency, inputs, streaming, workers, the
engine, a rate profile); `EvalProbe` measures quality when the traffic is someone else's
(`rate: 0`). The rate profile itself is `drillkit.config.traffic_profile`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from drillkit.config.traffic_profile import Profile, RateChange
from drillkit.config.types import MAX_CONCURRENCY, MAX_RATE, Duration, Strict


class EvalProbe(Strict):
    """Quality measured by drillkit while the traffic is someone else's: `cases` eval cases every `every`."""

    every: Duration = Field(default=5.0, description="How often a batch of cases runs (> 0); its result counts once.")
    cases: int = Field(default=10, ge=1, le=1000, description="Cases per batch, taken in turn from the suite.")

    @model_validator(mode="after")
    def _positive(self) -> EvalProbe:
        if self.every <= 0:
            raise ValueError("every: expected a duration > 0")
        return self


class Traffic(Strict):
    """The load sent to the service for the whole run, and judged window by window against the SLOs."""

    rate: float = Field(
        default=10,
        ge=0,
        le=MAX_RATE,
        description="Requests per second, open loop: sent on schedule whatever the service does. 0: an observe-only "
        "game-day that sends nothing and rehearses on real traffic: SLOs from `promql`, quality from `eval_probe`.",
    )
    profile: Profile = Field(
        default=[],
        description="Changes of the rate during the run, in time order, e.g. a launch surge `[{at: 0s, rate: 60, "
        "ramp: 5s}, {at: 30s, rate: 20}]`: each begins `at` a time counted from the end of the warmup (like a "
        "fault's), as a step or, with `ramp`, a straight line from the rate before; the warmup runs at `rate`. Each "
        "window is judged on the rate it was sent at. Needs `rate` > 0; `workers` is chosen from `rate`.",
    )

    @field_validator("profile")
    @classmethod
    def _profile_needs_traffic(cls, v: list[RateChange], info: ValidationInfo) -> list[RateChange]:
        if v and info.data.get("rate") == 0:
            raise ValueError("traffic.rate 0 sends no traffic of drillkit's own: there is no rate to change")
        return v

    concurrency: int = Field(
        default=64,
        ge=1,
        le=MAX_CONCURRENCY,
        description="Most requests in flight at once; beyond it requests queue, and one queued too long is dropped "
        "(an error).",
    )
    inputs: str = Field(
        default="system",
        description="`system` (the manifest's `components.inputs.sample`) or a JSON-lines file of request bodies, "
        "looked up next to the scenario first.",
    )
    stream: bool = Field(
        default=False,
        description="Send streaming requests (SSE; needs `service.api` openai-chat or anthropic-messages): time to "
        "first token is measured (`ttft_*` SLOs) and the assembled answer is judged.",
    )
    eval_probe: EvalProbe | None = Field(
        default=None,
        description="Run a few eval cases against the service every so often and judge `eval_pass_rate` on them "
        "(for observe-only game-days, whose answers drillkit never sees).",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Processes that send the load, each a share of the schedule, merged into one set of windows; "
        "unset: the machine's core count (one process below a rate one core sustains).",
    )
    engine: Literal["drillkit", "locust"] = Field(
        default="drillkit",
        description="What sends the load: `drillkit` (its own generator) or `locust` (a Locust master and `workers` "
        "local worker processes, more on other hosts: see `drillkit.traffic.locust_engine`); the same schedule, "
        "windows and live evals either way. Needs Locust installed (`pip install locust`).",
    )

    @model_validator(mode="after")
    def _locust_sends_no_streams(self) -> Traffic:
        if self.engine == "locust" and self.stream:
            raise ValueError("engine 'locust' does not send streamed requests; use engine 'drillkit' for `stream`")
        return self


__all__ = ["EvalProbe", "Traffic"]
