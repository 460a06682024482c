"""`traffic.engine: locust` (issue 14 item 4): a real Locust master and two local workers send the traffic.

Locust (PyPI `locust`) is installed by `.ci/run`; these tests skip without it, and fail instead
when `DRILLKIT_E2E_REQUIRED=1`. The test process never imports Locust (gevent would patch it):
Locust only runs in the processes the engine starts.

Run: `pytest -m e2e -n 0 tests/traffic/test_locust.py` (about a minute).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit.evals import EvalSuite
from drillkit.evals.wire import Wire
from drillkit.journal.verify import read_journal
from drillkit.net.serving import ServerThread
from drillkit.traffic import Sample, assertions_by_question
from drillkit.traffic.locust_engine import LocustLoad
from drillkit.traffic.locust_processes import LocustMissing, RunFiles, locust_bin
from tests.gameday.test_gameday import SWAP, demo_down, gameday, journal_of, start, wait_for_kind, write

pytestmark = pytest.mark.e2e
GOOD, BAD, BROKEN = "returns window?", "refund timing?", "broken?"
SUITE = EvalSuite.model_validate(
    {
        "apiVersion": "drillkit/v1",
        "kind": "EvalSuite",
        "name": "t",
        "cases": [
            {"id": "good", "question": GOOD, "assert": [{"type": "icontains", "value": "30 days"}]},
            {"id": "bad", "question": BAD, "assert": [{"type": "icontains", "value": "5 business days"}]},
        ],
    }
)
SECRET = "Bearer sk-locust-test-0123456789"
AUTHORIZATIONS: set[str | None] = set()  # every authorization header the service saw


@pytest.fixture(scope="module", autouse=True)
def locust() -> str:
    try:
        return locust_bin()
    except LocustMissing as exc:
        if os.environ.get("DRILLKIT_E2E_REQUIRED") == "1":
            pytest.fail(f"{exc} (.ci/run installs it)")
        pytest.skip(f"{exc}: run .ci/run, or set DRILLKIT_LOCUST_BIN")


async def chat(request: Request) -> Response:
    """OpenAI-shaped: what drillkit's wire sends for `openai-chat`, answered as OpenAI does."""
    AUTHORIZATIONS.add(request.headers.get("authorization"))
    question = (await request.json())["messages"][-1]["content"]
    if question == BROKEN:
        return JSONResponse({"error": {"code": "overloaded"}}, 503)
    text = "You have 30 days." if question != BAD else "I have no information."
    message = {"role": "assistant", "content": text}
    return JSONResponse({"model": "sim", "choices": [{"message": message}]}, headers={"x-trace-id": "tr-1"})


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with ServerThread({"svc": Starlette(routes=[Route("/v1/chat", chat, methods=["POST"])])}) as urls:
        yield urls["svc"]


def locust_processes(marker: str) -> list[int]:
    """Live Locust processes of this suite's runs: those whose environment holds `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if not entry.isdigit() or b"locustfile.py" not in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry))
    return found


def test_locust_sends_the_schedule_through_the_wire_and_drillkit_judges_it(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: list[int] = []
    write_config = RunFiles.write

    def spy(self: RunFiles, config: dict[str, Any]) -> str:
        path = write_config(self, config)
        modes.append(stat.S_IMODE(os.stat(path).st_mode) | stat.S_IMODE(os.stat(self.folder).st_mode) << 9)
        return path

    monkeypatch.setattr(RunFiles, "write", spy)
    wire = Wire(api="openai-chat", model="m", headers={"authorization": SECRET})
    bodies = [{"question": GOOD}, {"question": BAD}, {"question": "hello?"}, {"question": BROKEN}]
    load = LocustLoad(base + "/v1/chat", bodies, rate=40, concurrency=8, timeout=5, wire=wire,
                      evals=assertions_by_question(SUITE), workers=2)  # fmt: skip
    samples: list[Sample] = []
    scheduled: list[float] = []
    load.on_sample, load.on_schedule = samples.append, scheduled.append
    shifted_at: list[float] = []

    async def main() -> None:
        await load.start()
        assert load._files is not None and not Path(load._files.folder).exists()  # read, then deleted
        assert len(locust_processes(f"DRILLKIT_LOCUST_PARENT={os.getpid()}")) == 3
        await asyncio.sleep(1.5)
        shifted_at.append(time.monotonic())
        load.inputs.shift([{"question": GOOD}], share=1.0)
        await asyncio.sleep(1.0)
        await load.stop(timeout=2)

    asyncio.run(main())
    assert modes == [0o700 << 9 | 0o600]
    assert set(AUTHORIZATIONS) == {SECRET}
    assert locust_processes(f"DRILLKIT_LOCUST_PARENT={os.getpid()}") == []
    assert load.t0 is not None and scheduled == sorted(scheduled) and len(scheduled) == len(samples)
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(sorted(s.scheduled for s in samples))}
    assert gaps == {0.025}, gaps  # the open loop: every 1/40 s, both workers' shares interleaved
    assert 90 <= len(samples) <= 110 and {s.index % 2 for s in samples} == {0, 1}
    before = [s for s in samples if s.scheduled < shifted_at[0]]
    after = [s for s in samples if s.scheduled > shifted_at[0] + 0.1]
    by_index = {s.index % 4: s for s in before}
    assert by_index[0].eval_passed is True and by_index[1].eval_passed is False and by_index[2].eval_passed is None
    assert by_index[3].ok is False and by_index[3].error == "HTTP 503 overloaded"
    assert by_index[0].model == "sim" and by_index[0].trace_id == "tr-1" and by_index[0].latency_ms > 0
    assert after and all(s.ok and s.eval_passed is True for s in after)
    assert load.stats.scheduled == load.stats.completed == len(samples) and load.stats.cancelled == 0


def test_a_rate_change_reaches_every_worker(base: str) -> None:
    """`set_rate` (what a `traffic.profile` uses) re-anchors the one schedule both workers follow."""
    samples: list[Sample] = []
    load = LocustLoad(base + "/v1/chat", [{"question": GOOD}], rate=20, concurrency=8, timeout=5,
                      wire=Wire(api="openai-chat", model="m"), on_sample=samples.append, workers=2)  # fmt: skip

    async def main() -> None:
        await load.start()
        await asyncio.sleep(0.8)
        load.set_rate(100)
        await asyncio.sleep(0.8)
        await load.stop(timeout=1)

    asyncio.run(main())
    assert sorted(s.index for s in samples) == list(range(len(samples)))  # nothing skipped, nothing twice
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(sorted(s.scheduled for s in samples))]
    assert set(gaps[:10]) == {0.05} and set(gaps[-50:]) == {0.01} and all(s.ok for s in samples)


PARENT = """
import asyncio, sys
from drillkit.traffic.locust_engine import LocustLoad

async def main():
    load = LocustLoad(sys.argv[1], [{"question": "hello?"}], rate=50, concurrency=4, workers=2)
    await load.start()
    print("started", flush=True)
    try:
        await asyncio.sleep(60)
    finally:
        await load.stop(timeout=1)
        print("stopped", flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_no_locust_process_outlives_the_run(base: str, how: signal.Signals) -> None:
    """Ctrl-C: drillkit stops master and workers; drillkit killed outright: they notice and quit."""
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(PARENT), base + "/v1/chat"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    marker = f"DRILLKIT_LOCUST_PARENT={parent.pid}"
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "started"
        assert len(locust_processes(marker)) == 3
        parent.send_signal(how)
        parent.wait(20)
        deadline = time.monotonic() + 10
        while locust_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert locust_processes(marker) == []
        if how == signal.SIGINT:
            assert parent.stdout.read().strip() == "stopped"
    finally:
        parent.kill()
        parent.communicate()
        for pid in locust_processes(marker):
            os.kill(pid, signal.SIGKILL)


LOCUST_SWAP = {**SWAP, "id": "swap-locust", "traffic": {**SWAP["traffic"], "engine": "locust", "workers": 2}}


def test_a_locust_driven_game_day_with_two_workers_passes(tmp_path: Path) -> None:
    r = gameday(tmp_path, write(tmp_path, LOCUST_SWAP), timeout=180)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        summary = json.loads(r.stdout)
        assert summary["verdict"] == "pass" and summary["breached"] == ["eval_pass_rate"], summary
        entries = read_journal(tmp_path / "runs" / summary["run_id"] / "journal.jsonl")
        windows = [e.data for e in entries if e.kind == "window"]
        sent = [w for w in windows if w["count"]]
        full = sent[1:-1]  # the first starts before the workers are up; the last is cut by cleanup
        shape = [(w["index"], w["count"], w.get("early"), w.get("pending"), w["state"]) for w in windows]
        # Two workers hold the one schedule: 20 requests a window (19/21 when a slot sits on a
        # boundary). A window closed `early` (its breach already certain, windows.py) counts its
        # unanswered requests as `pending` stand-ins; an earlier version of this test refused
        # those and failed once in CI (not reproduced; `shape` now says which window).
        assert full and all(19 <= w["count"] <= 21 for w in full), shape
        assert all(w["breached"] for w in full if w.get("early")), shape
        assert all(w["eval_count"] for w in full)  # live evals on every window's answers
        assert any(w["eval_pass_rate"] < 0.9 for w in full) and full[-1]["eval_pass_rate"] == 1.0
        stopped = next(e.data for e in entries if e.kind == "traffic.stopped")
        assert stopped["completed"] == stopped["scheduled"] > 100 and stopped["dropped"] == stopped["cancelled"] == 0
        assert locust_processes(f"DRILLKIT_HOME={tmp_path}") == []
    finally:
        demo_down(tmp_path)


def test_sigterm_to_a_locust_driven_game_day_stops_master_and_workers(tmp_path: Path) -> None:
    proc = start(tmp_path, write(tmp_path, {**LOCUST_SWAP, "id": "swap-locust-term"}))
    marker = f"DRILLKIT_HOME={tmp_path}"
    try:
        deadline = time.monotonic() + 90
        while not (tmp_path / "runs").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        wait_for_kind(journal_of(tmp_path), "fault.injected", timeout=90)
        assert len(locust_processes(marker)) == 3
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        assert locust_processes(marker) == []
        finished = read_journal(journal_of(tmp_path))[-1]
        assert finished.kind == "run.finished" and finished.data["verdict"] == "aborted"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        for pid in locust_processes(marker):
            os.kill(pid, signal.SIGKILL)
        demo_down(tmp_path)
