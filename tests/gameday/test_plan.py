"""Game-day plans (issue 16): scenarios in order against one system, one record of the day,
webhooks told what happened; the shipped quarterly plan end to end (slow)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from drillkit.data import shipped_dir
from drillkit.journal.verify import read_journal
from drillkit.net.serving import bind_socket
from tests.gameday.test_gameday import SWAP, demo_down, env_for

NOOP = copy.deepcopy(SWAP)
NOOP["id"] = "swap-noop"
NOOP["rollback"]["steps"] = [{"name": "no-op", "run": [sys.executable, "-c", "pass"]}]
NOOP["expect"] = {**SWAP["expect"], "recover_within": "8s"}  # it never recovers: fail sooner


class Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def dead_url() -> str:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    return f"http://127.0.0.1:{port}/hook"


def write_plan(folder: Path, entries: list[dict[str, Any]], **extra: Any) -> Path:
    for name, scenario in (("swap.yaml", SWAP), ("noop.yaml", NOOP)):
        (folder / name).write_text(yaml.safe_dump(scenario, sort_keys=False))
    plan = {"apiVersion": "drillkit/v1", "kind": "GameDay", "id": "test-day", "title": "Test day", "system": "demo",
            "owner": "sre@acme.example", "scenarios": entries, **extra}  # fmt: skip
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def run(home: Path, plan: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillkit", "gameday", "run", str(plan), "--auto", "--no-live", "--json",
         "--latency-scale", "0", *extra],
        env=env_for(home), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_a_plan_runs_a_rehearsal_and_a_control_and_tells_the_webhooks(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    notify = [{"webhook": url}, {"webhook": dead_url(), "retries": 1, "timeout": "1s"}]
    plan = write_plan(tmp_path, [{"scenario": "swap.yaml"}, {"scenario": "noop.yaml", "purpose": "control"}],
                      notify=notify)  # fmt: skip
    junit = tmp_path / "plan.xml"
    try:
        r = run(tmp_path, plan, "--junit", str(junit))
    finally:
        demo_down(tmp_path)
    summary = json.loads(r.stdout)
    assert r.returncode == 0 and summary["verdict"] == "pass", r.stdout[-3000:] + r.stderr[-3000:]
    assert [(x["scenario"], x["purpose"], x["verdict"], x["outcome"]) for x in summary["runs"]] == [
        ("swap-test", "rehearsal", "pass", "as_expected"),
        ("swap-noop", "control", "fail", "as_expected"),
    ]
    # The webhook heard the day start, each verdict and the end; the dead one changed nothing.
    assert [e["event"] for e in received] == ["started", "verdict", "verdict", "finished"]
    assert all(isinstance(e["text"], str) and e["text"] for e in received)
    sent = [e.data for e in read_journal(Path(summary["journal"])) if e.kind == "notify.sent"]
    assert sorted((s["ok"], s["event"]) for s in sent if not s["ok"]) == [
        (False, "finished"), (False, "started"), (False, "verdict"), (False, "verdict")
    ]  # fmt: skip
    # One JUnit case per scenario, failures by outcome: the control that failed is not one.
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "0"
    ledger = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in ledger if e.get("id") == summary["plan_run_id"]] == ["plan"]
    # One review of the day; every row cites the plan journal entry it was read from.
    review = subprocess.run([sys.executable, "-m", "drillkit", "review", "draft", summary["plan_run_id"], "--json"],
                            env=env_for(tmp_path), capture_output=True, text=True, timeout=60)  # fmt: skip
    day = json.loads(review.stdout)
    entries = {f"{summary['plan_run_id']}#{e.seq}": e for e in read_journal(Path(summary["journal"]))}
    for row in day["runs"]:
        cited = entries[row["cite"]]
        assert cited.kind == "plan.run" and cited.data["run_id"] == row["run_id"]
    text = subprocess.run([sys.executable, "-m", "drillkit", "review", "draft", summary["plan_run_id"]],
                          env=env_for(tmp_path), capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    assert "swap-noop (control) fail: proves the rehearsal can fail" in text


def test_on_fail_stop_skips_the_rest_after_an_unexpected_outcome(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [{"scenario": "noop.yaml"}, {"scenario": "swap.yaml"}], on_fail="stop")
    try:
        r = run(tmp_path, plan)
    finally:
        demo_down(tmp_path)
    summary = json.loads(r.stdout)
    assert r.returncode == 1 and summary["verdict"] == "fail", r.stdout[-3000:] + r.stderr[-3000:]
    assert [x["scenario"] for x in summary["runs"]] == ["swap-noop"]
    assert summary["skipped"] == [{"index": 1, "scenario": "swap.yaml", "why": summary["skipped"][0]["why"]}]
    assert summary["skipped"][0]["why"].startswith("on_fail: stop after swap-noop")


def test_a_plan_naming_a_missing_scenario_is_bad_input(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [{"scenario": "nowhere.yaml"}])
    r = run(tmp_path, plan)
    assert r.returncode == 2 and "nowhere.yaml" in r.stderr, r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("way", ["shipped", "no-op"])
def test_the_quarterly_plan(tmp_path: Path, way: str) -> None:
    folder = tmp_path / "gamedays"
    shutil.copytree(shipped_dir("gamedays"), folder)
    plan = folder / "quarterly.yaml"
    if way == "no-op":  # the retrieval rehearsal with a rollback that does nothing
        data = yaml.safe_load((shipped_dir("scenarios") / "retrieval-drift.yaml").read_text())
        data["rollback"]["steps"] = [{"name": "no-op", "run": [sys.executable, "-c", "pass"]}]
        (folder / "retrieval-drift.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        text = plan.read_text().replace("{scenario: retrieval-drift}", "{scenario: retrieval-drift.yaml}")
        plan.write_text(text)
    env = {**env_for(tmp_path), "DRILLKIT_OPERATOR": "Dana SRE"}

    def due() -> tuple[int, dict[str, bool]]:
        r = subprocess.run([sys.executable, "-m", "drillkit", "gameday", "due", "--json"], env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        return r.returncode, {p["path"]: p["overdue"] for p in json.loads(r.stdout)["paths"]}

    try:
        r = subprocess.run([sys.executable, "-m", "drillkit", "gameday", "run", str(plan), "--auto", "--no-live",
                            "--json"], env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
        after = due()  # the demo's manifest, while the demo is still up
    finally:
        demo_down(tmp_path)
    summary = json.loads(r.stdout)
    assert summary["operator"] == "Dana SRE" and summary["duration_s"] < 600
    if way == "shipped":
        assert r.returncode == 0 and summary["verdict"] == "pass", r.stdout[-3000:] + r.stderr[-3000:]
        assert len(summary["runs"]) == 8 and not summary["skipped"]
        # every path the demo designs was proved once: the degradation drill by its own lever
        paths = ["model", "prompt", "retrieval", "provider", "degradation"]
        assert after == (0, dict.fromkeys(paths, False)), after
    else:
        assert r.returncode == 1 and summary["verdict"] == "fail", r.stdout[-3000:]
        (bad,) = [x for x in summary["runs"] if x["outcome"] == "unexpected"]
        assert bad["scenario"] == "retrieval-drift" and bad["verdict"] == "fail"
        assert after[0] == 1 and [p for p, overdue in after[1].items() if overdue] == ["retrieval"], after
    assert os.path.exists(summary["journal"])
