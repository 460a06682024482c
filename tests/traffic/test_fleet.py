"""The load generator in several processes, against a real loopback service (issue 14: scale on one machine)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from drillkit.bench import load as bench
from drillkit.cli import cli
from drillkit.config.system import Slos
from drillkit.evals import EvalSuite
from drillkit.evals.wire import Wire
from drillkit.net.serving import ServerThread
from drillkit.traffic import LoadGenerator, Sample, SloEvaluator, SloWindow, SloWindows, assertions_by_question
from drillkit.traffic.fleet import ONE_PROCESS_RPS, WorkerFailed, cores, resolve_workers

GOOD, BAD, PLAIN, BROKEN = "returns window?", "refund timing?", "hello?", "broken?"
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


def _answer_for(question: str) -> str:
    return "You have 30 days." if question != BAD else "I have no information."


async def answer(request: Request) -> Response:
    question = (await request.json())["question"]
    if question == BROKEN:
        return JSONResponse({"error": {"code": "overloaded"}}, 503)
    return JSONResponse({"answer": _answer_for(question), "provider": "primary", "model": "sim", "cost_usd": 0.001})


async def chat(request: Request) -> Response:
    """OpenAI-shaped, streamed: the answer in two chunks, then [DONE]."""
    body = await request.json()
    text = _answer_for(body["messages"][-1]["content"])

    async def events() -> Any:
        for part in (text[:8], text[8:]):
            yield f"data: {json.dumps({'model': 'sim', 'choices': [{'delta': {'content': part}}]})}\n\n"
            await asyncio.sleep(0.005)
        yield f"data: {json.dumps({'choices': [{'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    app = Starlette(routes=[Route("/v1/answer", answer, methods=["POST"]), Route("/v1/chat", chat, methods=["POST"])])
    with ServerThread({"svc": app}) as urls:
        yield urls["svc"]


def worker_children(parent: int | None = None) -> list[int]:
    """Live (not zombie) load-worker processes whose parent is `parent` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    return [pid for pid in _workers_alive() if _ppid(pid) == parent]


def _workers_alive() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"drillkit.traffic.worker" in cmdline and state != "Z":
            found.append(int(entry))
    return found


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if pid in _workers_alive()]


def run(load: LoadGenerator, seconds: float, stop_timeout: float = 5.0) -> list[Sample]:
    """Drive `load` for `seconds` after its start, stop it; the samples, and no worker left behind."""
    samples: list[Sample] = []
    load.on_sample = samples.append

    async def main() -> None:
        await load.start()
        assert len(worker_children()) == load.workers
        await asyncio.sleep(seconds)
        await load.stop(stop_timeout)

    asyncio.run(main())
    assert worker_children() == []
    return samples


def rate_of(times: list[float]) -> float:
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0])


def test_workers_resolve_from_the_rate() -> None:
    assert resolve_workers(None, ONE_PROCESS_RPS, 64) == 1  # one process holds this rate
    assert resolve_workers(None, ONE_PROCESS_RPS + 1, 64) == cores()
    assert resolve_workers(3, 10, 64) == 3 and resolve_workers(8, 10, 2) == 2  # each worker needs a slot
    load = LoadGenerator("http://127.0.0.1:9/", [{"question": PLAIN}], rate=10, workers=None, clock=time.monotonic)
    assert load.workers == 1
    with pytest.raises(ValueError, match="default clock and no client"):
        LoadGenerator("http://127.0.0.1:9/", [{"question": PLAIN}], rate=10, workers=2, clock=lambda: 0.0)


def test_workers_send_the_scheduled_count_at_the_merged_rate(base: str) -> None:
    scheduled: list[float] = []
    load = LoadGenerator(base + "/v1/answer", [{"question": PLAIN}], rate=200, concurrency=32, workers=2,
                         on_schedule=scheduled.append)  # fmt: skip
    samples = run(load, 1.5)
    stats = load.stats
    assert load.workers == 2 and stats.scheduled == len(scheduled) == len(samples) + stats.cancelled
    assert 280 <= len(samples) <= 320 and all(s.ok and s.provider == "primary" for s in samples)
    assert scheduled == sorted(scheduled)  # announced in time order, whichever worker sent it
    assert {s.index % 2 for s in samples} == {0, 1}
    # One schedule, interleaved: request i is due at t0 + i / rate, whichever worker sends it.
    assert load.t0 is not None
    assert all(abs(s.scheduled - (load.t0 + s.index / 200)) < 1e-9 for s in samples)
    assert rate_of([s.started for s in samples if s.started is not None]) == pytest.approx(200, rel=0.05)
    assert sorted(s.queued_ms for s in samples)[len(samples) // 2] < 20


def test_windows_merge_the_workers_samples(base: str) -> None:
    closed: list[tuple[SloWindow, float]] = []

    async def main() -> SloWindows:
        load = LoadGenerator(base + "/v1/answer", [{"question": PLAIN}], rate=200, workers=2)
        await load.start()
        assert load.t0 is not None
        windows = SloWindows(SloEvaluator(Slos(error_rate=0.1), rate=200, window_s=0.25), origin=load.t0,
                             window_s=0.25, grace_s=2.0)  # fmt: skip
        load.on_schedule, load.on_sample = windows.scheduled, windows.add
        while time.monotonic() < load.t0 + 1.6:
            closed.extend((w, time.monotonic()) for w in windows.poll(time.monotonic()))
            await asyncio.sleep(0.02)
        await load.stop()
        return windows

    windows = asyncio.run(main())
    assert len(closed) >= 5
    for window, at in closed:
        assert window.pending == 0 and window.state == "healthy" and 49 <= window.count <= 51
        assert at - window.end < 0.3  # closed once complete, not after the 2 s grace
    assert windows.late == 0 and windows.ignored == 0
    assert worker_children() == []


def test_samples_carry_the_workers_eval_results(base: str) -> None:
    bodies = [{"question": q} for q in (GOOD, BAD, PLAIN, BROKEN)]
    load = LoadGenerator(base + "/v1/answer", bodies, rate=80, evals=assertions_by_question(SUITE), workers=2)
    by_question: dict[str, set[Any]] = {}
    for s in run(load, 0.8):
        question = bodies[s.index % 4]["question"]  # request i gets body i, as in one process
        by_question.setdefault(question, set()).add((s.ok, s.eval_passed, tuple(s.eval_failed), s.error))
    assert by_question[GOOD] == {(True, True, (), None)}
    assert by_question[BAD] == {(True, False, ("icontains '5 business days'",), None)}
    assert by_question[PLAIN] == {(True, None, (), None)}
    assert by_question[BROKEN] == {(False, None, (), "HTTP 503 overloaded")}


def test_streamed_traffic_through_workers_is_judged(base: str) -> None:
    wire, evals = Wire(api="openai-chat", model="m"), assertions_by_question(SUITE)
    bodies = [{"question": GOOD}, {"question": BAD}]
    load = LoadGenerator(base + "/v1/chat", bodies, rate=40, stream=True, wire=wire, evals=evals, workers=2)
    samples = run(load, 0.8)
    assert len(samples) >= 25 and all(s.ok for s in samples), {s.error for s in samples}
    assert all(s.ttft_ms is not None and s.ttft_ms <= s.latency_ms for s in samples)
    assert {(s.index % 2, s.eval_passed) for s in samples} == {(0, True), (1, False)}


def test_rate_changes_and_input_shifts_reach_every_worker(base: str) -> None:
    load = LoadGenerator(base + "/v1/answer", [{"question": PLAIN}], rate=20, evals=assertions_by_question(SUITE),
                         workers=2)  # fmt: skip
    samples: list[Sample] = []
    load.on_sample = samples.append
    marks: dict[str, float] = {}

    async def main() -> None:
        await load.start()
        await asyncio.sleep(0.5)
        load.set_rate(100)
        await asyncio.sleep(0.3)
        marks["shift"] = time.monotonic()
        load.inputs.shift([{"question": GOOD}], share=1.0)
        await asyncio.sleep(0.3)
        await load.stop()

    asyncio.run(main())
    assert load.t0 is not None
    scheduled = sorted(s.scheduled - load.t0 for s in samples)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(scheduled)]
    assert set(gaps[:9]) == {0.05} and set(gaps[-40:]) == {0.01}
    before = {s.eval_passed for s in samples if s.scheduled < marks["shift"]}
    after = [s for s in samples if s.scheduled > marks["shift"] + 0.05]
    assert before == {None} and after and all(s.eval_passed is True for s in after)
    assert {s.index % 2 for s in after} == {0, 1}
    assert worker_children() == []


def test_a_failed_worker_is_reported_at_stop_and_the_others_still_stop(base: str) -> None:
    samples: list[Sample] = []

    async def main() -> None:
        load = LoadGenerator(base + "/v1/answer", [{"question": PLAIN}], rate=100, workers=2, on_sample=samples.append)
        await load.start()
        await asyncio.sleep(0.2)
        os.kill(sorted(worker_children())[0], signal.SIGKILL)
        await asyncio.sleep(0.3)
        with pytest.raises(WorkerFailed, match=r"load worker \d \(pid \d+\): exited with code -9"):
            await load.stop()

    asyncio.run(main())
    assert samples and worker_children() == []


PARENT = """
import asyncio, os, sys
from drillkit.traffic import LoadGenerator

async def main():
    load = LoadGenerator(sys.argv[1], [{"question": "hello?"}], rate=100, workers=2)
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
def test_no_worker_outlives_its_parent(base: str, how: signal.Signals) -> None:
    """Ctrl-C stops the workers through the parent; a parent killed outright leaves its workers
    their pipe's end, and they exit by themselves."""
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(PARENT), base + "/v1/answer"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "started"
        workers = worker_children(parent.pid)
        assert len(workers) == 2
        parent.send_signal(how)
        parent.wait(10)
        deadline = time.monotonic() + 5
        while alive(workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alive(workers) == []
        if how == signal.SIGINT:
            assert parent.stdout.read().strip() == "stopped"  # the parent's stop() ran and reaped them
    finally:
        parent.kill()
        parent.communicate()


def test_bench_load_reports_each_worker() -> None:
    result = asyncio.run(bench.bench_load(rate=200, seconds=0.5, warmup_s=0.2, wrk=False, workers=2))
    load = result["load"]
    assert result["workers"] == load["workers"] == 2 and load["errors"] == load["dropped"] == 0
    assert [w["worker"] for w in load["per_worker"]] == [0, 1]
    assert sum(w["scheduled"] for w in load["per_worker"]) == load["scheduled"] >= 90
    assert all(w["sent_rps"] == pytest.approx(100, rel=0.15) and w["slip_p99_ms"] is not None
               for w in load["per_worker"])  # fmt: skip
    assert load["generator_cpu"] >= load["parent_cpu"] >= 0
    assert worker_children() == []


def test_sigterm_to_the_command_stops_its_workers(tmp_path: Path) -> None:
    """drillkit's own stop-signal policy (exit 3): the benchmark's workers go with it."""
    env = {**os.environ, "DRILLKIT_HOME": str(tmp_path)}
    argv = [sys.executable, "-m", "drillkit", "bench", "load", "--rate", "500", "--workers", "2", "--seconds", "30"]
    command = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while len(workers := worker_children(command.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        command.send_signal(signal.SIGTERM)
        _, err = command.communicate(timeout=15)
        assert command.returncode == 3 and err.strip().endswith("aborted") and "Traceback" not in err
        assert alive(workers) == []
    finally:
        command.kill()
        command.communicate()


def test_bench_load_compares_settings_in_one_run(tmp_path: Path) -> None:
    args = ["bench", "load", "--rate", "200", "--seconds", "0.5", "--workers", "1", "--workers", "2"]
    runner = CliRunner()
    table = runner.invoke(cli, [*args, "--home", str(tmp_path)], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "1 process" in table.output and "2 workers" in table.output and "per worker" in table.output
    as_json = runner.invoke(cli, [*args, "--home", str(tmp_path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    runs = json.loads(as_json.stdout)["runs"]
    assert [r["workers"] for r in runs] == [1, 2] and [len(r["load"]["per_worker"]) for r in runs] == [0, 2]
    assert runs[0]["wrk"].get("skipped") and worker_children() == []
