"""What a rollback costs users (DESIGN §9.4, issue 15): measured after it begins, bounded by
`expect.rollback_impact`, and never hidden inside a pass.

The end-to-end case rehearses the silent swap with a rollback that, like a gateway restart, takes
both provider paths down for a few seconds before the pin lands (two LLM faults with a TTL,
injected by the rollback's own steps): users get errors from the rollback, not from the fault.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

from drillkit.config.system import Slos
from drillkit.gameday.impact import ImpactTracker
from drillkit.journal.verify import read_journal
from drillkit.traffic import Sample, SloEvaluator
from tests.gameday.test_gameday import SWAP, demo_down, env_for, gameday, write

EVALUATOR = SloEvaluator(Slos(error_rate=0.02, eval_pass_rate=0.9), rate=20, window_s=1.0)


def window(index: int, *, errors: int = 0, failed_evals: int = 0):
    samples = []
    for i in range(20):
        ok = i >= errors
        samples.append(
            Sample(index=i, scheduled=index + i / 20, started=index + i / 20, finished=index + i / 20 + 0.1,
                   latency_ms=100, status=200 if ok else 503, ok=ok, error=None if ok else "HTTP 503",
                   eval_passed=(i >= errors + failed_evals) if ok else None)
        )  # fmt: skip
    return EVALUATOR.judge(index, float(index), float(index + 1), samples)


def test_the_tracker_keeps_the_worst_after_the_rollback_and_the_breaches_it_started() -> None:
    tracker = ImpactTracker()
    tracker.observe(window(5, failed_evals=10), EVALUATOR, rollback_at=7.5)  # the fault: quality breaches
    tracker.observe(window(6, failed_evals=10), EVALUATOR, rollback_at=7.5)
    assert tracker.data() is None  # nothing after the rollback yet
    tracker.observe(window(7, failed_evals=10), EVALUATOR, rollback_at=7.5)  # overlaps the rollback
    tracker.observe(window(8, errors=15), EVALUATOR, rollback_at=7.5)  # the rollback takes the path down
    tracker.observe(window(9), EVALUATOR, rollback_at=7.5)
    data = tracker.data()
    assert data is not None
    assert (data["windows"], data["first_window"], data["breached"]) == (3, 7, ["error_rate"])
    assert data["slos"]["error_rate"] == 0.75 and data["slos"]["eval_pass_rate"] == 0.5
    # Unbounded, the breach it started is a finding; bounded, exceeding the bound is a reason.
    unbounded = tracker.judge(None)
    assert unbounded.reasons == () and "the rollback breached error_rate (from window 8" in unbounded.findings[0]
    bounded = tracker.judge({"error_rate": 0.05})
    assert bounded.findings == ()
    assert bounded.reasons == (
        "the rollback cost users more than expect.rollback_impact allows: error_rate reached 0.75 (bound 0.05) in "
        "the windows after it began",
    )
    assert tracker.judge({"error_rate": 0.8}).reasons == ()


def test_a_bound_on_an_slo_no_window_could_judge_is_unknown_not_met() -> None:
    tracker = ImpactTracker()
    tracker.observe(window(3), EVALUATOR, rollback_at=2.0)
    (reason,) = tracker.judge({"latency_p95_ms": 800}).reasons
    assert reason.startswith("rollback impact on latency_p95_ms unknown")


RESTART = copy.deepcopy(SWAP)
RESTART["id"] = "swap-restart"
RESTART["rollback"]["steps"] = [
    {"name": f"{provider} path restarts", "run": ["drillkit", "chaos", "inject", f"provider:{provider}", "http_error",
                                                  "--set", "status=503", "--ttl", "4s", "--name", "restart"]}
    for provider in ("primary", "fallback")
] + RESTART["rollback"]["steps"]  # fmt: skip
RESTART["expect"] = {**RESTART["expect"], "rollback_impact": {"error_rate": 0.05}}


def test_a_rollback_that_takes_the_service_down_fails_its_bound(tmp_path: Path) -> None:
    try:
        r = gameday(tmp_path, write(tmp_path, RESTART))
    finally:
        demo_down(tmp_path)
    summary = json.loads(r.stdout)
    assert r.returncode == 1 and summary["verdict"] == "fail", r.stdout + r.stderr
    impact = summary["rollback_impact"]
    assert impact["slos"]["error_rate"] > 0.05 and "error_rate" in impact["breached"], impact
    assert any(reason.startswith("the rollback cost users more") for reason in summary["reasons"]), summary
    assert summary["ttr_s"] is not None  # it recovered: the failure is the cost, nothing else
    (entry,) = [e for e in read_journal(Path(summary["journal"])) if e.kind == "rollback.impact"]
    assert entry.data["exceeded"] == ["error_rate"] and entry.data["slos"] == impact["slos"]
    # The review says so where people read it: under "What went poorly".
    review = subprocess.run(
        [sys.executable, "-m", "drillkit", "review", "draft", summary["run_id"], "--home", str(tmp_path), "--json"],
        env=env_for(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    poorly = json.loads(review.stdout)["went_poorly"]
    assert any(line.startswith("The rollback itself breached error_rate") for line in poorly), poorly
