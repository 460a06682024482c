"""The game-day engine's building blocks: traffic, SLO windows, detection.

    bodies = InputCycle(load_inputs(scenario.traffic.inputs, system, base_dir), seed=0)
    evaluator = SloEvaluator.for_scenario(scenario, system)
    windows = SloWindows(evaluator, origin=t0, window_s=scenario.timeline.window, grace_s=2.0)
    detector = Detector(scenario.timeline.bad_windows, scenario.timeline.healthy_windows)
    load = LoadGenerator(url, bodies, rate=..., concurrency=..., evals=assertions_by_question(suite),
                         on_schedule=windows.scheduled, on_sample=windows.add)
    await load.start(at=t0)
    ... for w in windows.poll(time.monotonic()): detector.observe(w) ...
    await load.stop()

All times are seconds on one monotonic clock (`time.monotonic` unless a clock is injected);
latencies are milliseconds; costs US dollars. Contracts are in each module's docstring.
"""

from __future__ import annotations

from drillkit.traffic.detect import Breach, Detector, Recovery
from drillkit.traffic.inputs import SYSTEM_INPUTS, InputCycle, assertions_by_question, inputs_path, load_inputs
from drillkit.traffic.load import LoadGenerator, LoadStats, OnFull, Sample
from drillkit.traffic.slo import (
    MIN_EVAL_SAMPLES,
    SloEvaluator,
    SloWindow,
    WindowState,
    effective_slos,
    measure,
    percentile,
)
from drillkit.traffic.windows import SloWindows

__all__ = [
    "MIN_EVAL_SAMPLES",
    "SYSTEM_INPUTS",
    "Breach",
    "Detector",
    "InputCycle",
    "LoadGenerator",
    "LoadStats",
    "OnFull",
    "Recovery",
    "Sample",
    "SloEvaluator",
    "SloWindow",
    "SloWindows",
    "WindowState",
    "assertions_by_question",
    "effective_slos",
    "inputs_path",
    "load_inputs",
    "measure",
    "percentile",
]
