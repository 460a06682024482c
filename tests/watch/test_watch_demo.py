"""`drillkit watch` against the running demo (issue 17's Done-when): a corpus edit, a prompt switch and
a silent model swap each reach `changes.jsonl` within two intervals, naming the component; the last
known good does not move while the swap breaks the envelope and moves after the rollback; the
metrics show the drift gauge flip; the webhooks fire; a clean stop records the log in the ledger,
a restart resumes it; and triage without a baseline names exactly what the log says changed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from drillkit.cli import cli
from tests.running_demo import SWAP, Demo, demo, live

__all__ = ["demo", "live"]

EVERY = 2.0
Entry = dict[str, Any]


class Hooks(ThreadingHTTPServer):
    """A webhook receiver on a loopback port: every POSTed JSON body, in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class Watch:
    """A `drillkit watch --json` process on the demo's home (a manifest copy with `notify`)."""

    def __init__(self, d: Demo, *args: str, system: Path | None = None) -> None:
        self.log = d.home / "changes.jsonl"
        self.skip = len(entries(self.log))
        cmd = [sys.executable, "-m", "drillkit", "watch", "--every", f"{EVERY:g}s", "--json", *args]
        cmd += ["--system", str(system)] if system is not None else []
        self.proc = subprocess.Popen(cmd, env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def new(self) -> list[Entry]:
        return entries(self.log)[self.skip :]

    def wait_for(self, want: Callable[[Entry], bool], timeout: float = 4 * EVERY) -> Entry:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.new() if want(e)]
            if found:
                return found[0]
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.05)
        raise AssertionError(f"not in the change log within {timeout:g} s: {[e['kind'] for e in self.new()]}")

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


def entries(path: Path) -> list[Entry]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def changed(component: str, after: float) -> Callable[[Entry], bool]:
    return lambda e: e["kind"] == "input.changed" and e["data"]["component"] == component and epoch(e["ts"]) > after


def epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts).timestamp()


def gauges(url: str) -> dict[tuple[str, str], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, next(iter(s.labels.values()), "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def baseline(d: Demo) -> dict[str, Any]:
    return json.loads((d.home / "baseline.json").read_text())


def notify_manifest(d: Demo, hooks: Hooks) -> Path:
    """The demo's manifest with webhooks for `changed` and `envelope_broken`, next to it."""
    path = d.workdir / "drillkit-watch.yaml"
    text = (d.workdir / "drillkit.yaml").read_text()
    path.write_text(text + f"notify: [{{webhook: '{hooks.url}', events: [changed, envelope_broken]}}]\n")
    return path


def detect(w: Watch, component: str, act: Callable[[], object]) -> tuple[Entry, float]:
    """Do `act`, wait for the change it makes; the entry and the latency in intervals, from the
    moment `act` returned (a `drillkit demo ctl` or `chaos` command takes 1-4 s of its own)."""
    before = time.time()
    act()
    done = time.time()
    entry = w.wait_for(changed(component, before))
    return entry, (epoch(entry["ts"]) - done) / EVERY


def test_every_change_is_logged_within_two_intervals_and_the_baseline_moves_only_while_the_evals_hold(
    live: Demo, hooks: Hooks
) -> None:
    w = Watch(live, "--metrics", "127.0.0.1:0", system=notify_manifest(live, hooks))
    try:
        started = w.wait_for(lambda e: e["kind"] == "watch.started")
        metrics = started["data"]["metrics"]
        deadline = time.monotonic() + 3 * EVERY
        while ("drillkit_watch_eval_pass_rate", "") not in gauges(metrics) and time.monotonic() < deadline:
            time.sleep(0.1)  # the first look
        assert gauges(metrics)[("drillkit_watch_up", "")] == 1.0
        busy = subprocess.run([sys.executable, "-m", "drillkit", "watch", "--once"], env=live.env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert busy.returncode == 2 and "another drillkit watch is running with this home (pid " in busy.stderr
        run_the_three_changes(live, w, metrics)
        code, out, err = w.stop()
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
    assert code == 0, err
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert summary["reason"] == "SIGTERM" and summary["changed"] == ["model", "prompt", "retrieval"]
    assert summary["envelope"] == "pass" and summary["ledger_error"] is None
    kinds = [e["kind"] for e in w.new()]
    assert kinds[-1] == "watch.stopped" and "notify.sent" in kinds
    events = {(b["event"], b.get("component")) for b in hooks.bodies}
    assert {("changed", "retrieval"), ("changed", "prompt"), ("changed", "model"), ("envelope_broken", None)} <= events
    broken = next(b for b in hooks.bodies if b["event"] == "envelope_broken")
    assert broken["text"].startswith("acme-support: Evals OUTSIDE the envelope") and broken["pending"] == ["model"]
    resumes_and_is_in_the_ledger(live)


def cli_in(d: Demo, *args: str) -> Any:
    from click.testing import CliRunner

    return CliRunner().invoke(cli, list(args), env={"DRILLKIT_HOME": str(d.home)})


def run_the_three_changes(d: Demo, w: Watch, metrics: str) -> None:
    doc = d.workdir / "corpus" / "returns-policy.md"
    entry, intervals = detect(w, "retrieval", lambda: doc.write_text(doc.read_text().replace("30 days", "14 days")))
    assert intervals <= 2, intervals
    assert "edited returns-policy.md" in entry["data"]["summary"] and entry["data"]["eval"]["total"] == 20
    w.wait_for(lambda e: e["kind"] == "baseline.moved" and "retrieval" in e["data"]["accepted"])

    entry, intervals = detect(w, "prompt", lambda: d.ok("demo", "ctl", "prompt", "v2"))
    assert intervals <= 2 and "active prompt version v2 (was v3)" in entry["data"]["summary"]
    w.wait_for(lambda e: e["kind"] == "baseline.moved" and "prompt" in e["data"]["accepted"])
    assert gauges(metrics)[("drillkit_watch_component_changed", "model")] == 0.0

    good = baseline(d)
    entry, intervals = detect(w, "model", lambda: d.ok(*SWAP))
    assert intervals <= 2 and "canaries answer differently" in entry["data"]["summary"]
    assert entry["data"]["eval"]["pass_rate"] < entry["data"]["eval"]["threshold"]
    broken = w.wait_for(lambda e: e["kind"] == "envelope.changed")
    assert broken["data"]["holds"] is False and broken["data"]["pending"] == ["model"]
    seen = gauges(metrics)
    assert seen[("drillkit_watch_component_changed", "model")] == 1.0  # the drift gauge flipped
    assert seen[("drillkit_watch_canary_similarity", "primary")] < 0.9
    assert seen[("drillkit_watch_eval_pass_rate", "")] < 0.9
    time.sleep(2 * EVERY)  # two more looks with the swap in place: the last known good stays
    assert baseline(d) == good
    assert not [e for e in w.new() if e["kind"] == "baseline.moved" and epoch(e["ts"]) > epoch(broken["ts"])]

    entry, intervals = detect(w, "model", lambda: d.ok("chaos", "remove", "provider:primary"))
    assert intervals <= 2 and entry["data"]["back_to_good"] is True
    moved = w.wait_for(lambda e: e["kind"] == "baseline.moved" and e["data"]["accepted"] == ["model"])
    assert baseline(d)["taken_at"] == moved["data"]["taken_at"] != good["taken_at"] and baseline(d)["healthy"] is True
    assert gauges(metrics)[("drillkit_watch_component_changed", "model")] == 0.0  # and back


def resumes_and_is_in_the_ledger(d: Demo) -> None:
    ledger = [json.loads(line) for line in (d.home / "ledger.jsonl").read_text().splitlines()]
    ours = [e for e in ledger if e["kind"] == "changes"]
    assert ours and ours[-1]["entries"] == len(entries(d.home / "changes.jsonl"))
    assert cli_in(d, "evidence", "verify").exit_code == 0
    again = Watch(d, "--once")
    _, err = again.proc.communicate(timeout=60)
    assert again.proc.returncode == 0, err
    session = again.new()
    assert [e["kind"] for e in session] == ["watch.started", "watch.stopped"]  # nothing logged twice
    assert session[0]["data"]["resumed_after_seq"] == again.skip
    ledger = [json.loads(line) for line in (d.home / "ledger.jsonl").read_text().splitlines()]
    assert ledger[-1]["kind"] == "changes" and ledger[-1]["extends"] == ours[-1]["seq"]
    verified = cli_in(d, "evidence", "verify")
    assert verified.exit_code == 0, verified.output


def test_triage_without_a_baseline_names_exactly_what_the_change_log_says_changed(live: Demo, tmp_path: Path) -> None:
    time.sleep(1.1)  # the demo re-reads its corpus at most every second: the previous test's restore
    home = tmp_path / "home"
    env = {**live.env, "DRILLKIT_HOME": str(home), "DRILLKIT_SYSTEM": str(live.workdir / "drillkit.yaml")}

    def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "drillkit", *args], env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    first = drillkit("watch", "--once")
    assert first.returncode == 0, first.stderr
    assert json.loads((home / "baseline.json").read_text())["healthy"] is True  # the first last known good
    live.swap_model()
    live.ok("demo", "ctl", "prompt", "v2")
    second = drillkit("watch", "--once")
    assert second.returncode == 1 and "the evals are outside the envelope" in second.stderr
    (home / "baseline.json").unlink()
    r = drillkit("triage", "--auto", "--json")
    out = json.loads(r.stdout)
    assert out["changed"] == ["model", "prompt"] and out["unknown"] == [], out["evidence"]
    assert {n: (e["changed"], e["basis"]) for n, e in out["evidence"].items()} == {
        "model": (True, "change log"),
        "prompt": (True, "change log"),
        "retrieval": (False, "change log"),
        "tools": (False, "change log"),
        "inputs": (False, "change log"),
    }
    step = next(s for s in out["steps"] if s["step"] == "what-changed")
    assert "change log since the last good evaluation: " in step["detail"]
    assert " model: primary: 10 of 10 canaries answer differently" in step["detail"]
    assert " prompt: active prompt version v2 (was v3)" in step["detail"]
    assert set(out["revert_order"]) == {"model", "prompt"} and r.returncode == 1
