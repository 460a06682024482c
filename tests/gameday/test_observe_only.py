"""Observe-only game-days (issue 14 item 2): no traffic of drillkit's own, quality from the eval
probe. (PromQL-judged ones run against a real Prometheus: tests/gameday/test_prometheus_e2e.py.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from drillkit.journal.verify import read_journal
from tests.gameday.test_gameday import SWAP, demo_down, gameday, write

PROBED = copy.deepcopy(SWAP)
PROBED["id"] = "swap-probed"
PROBED["traffic"] = {"rate": 0, "eval_probe": {"every": "1s", "cases": 20}}
PROBED["verify"] = {"evals": True}


def test_a_silent_swap_is_caught_by_the_eval_probe_without_traffic(tmp_path: Path) -> None:
    try:
        r = gameday(tmp_path, write(tmp_path, PROBED))
    finally:
        demo_down(tmp_path)
    summary = json.loads(r.stdout)
    assert r.returncode == 0 and summary["verdict"] == "pass", r.stdout + r.stderr
    assert summary["breached"] == ["eval_pass_rate"] and summary["requests"] == {}
    windows = [e.data for e in read_journal(Path(summary["journal"])) if e.kind == "window"]
    probed = [w for w in windows if w["sources"].get("eval_pass_rate") == "probe"]
    assert probed and all(w["eval_count"] >= 20 for w in probed)
    # Between batches quality is unjudged (and said so), never healthy by default; the latency
    # SLOs of the demo's manifest have no signal at all without traffic.
    others = [w for w in windows if w not in probed]
    assert all("eval_pass_rate" in w["unjudged"] for w in others)
    assert all("latency_p95_ms" in w["unjudged"] for w in windows)


def test_no_traffic_and_no_other_signal_is_refused(tmp_path: Path) -> None:
    blind = copy.deepcopy(SWAP)
    blind["traffic"] = {"rate": 0}
    try:
        r = gameday(tmp_path, write(tmp_path, blind))
    finally:
        demo_down(tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "traffic.rate 0 sends no traffic" in r.stdout + r.stderr
