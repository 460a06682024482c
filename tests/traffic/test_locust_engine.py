"""`traffic.engine: locust` without Locust: the scenario field, a missing or failing `locust`, and how
the master's reports become samples. (With a real Locust: `tests/traffic/test_locust.py`, tier e2e.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drillkit.config.traffic import Traffic
from drillkit.errors import InputError
from drillkit.evals.suite import Assertion
from drillkit.evals.wire import Wire
from drillkit.traffic import Sample
from drillkit.traffic.locust_engine import LocustFailed, LocustLoad, LocustMissing
from drillkit.traffic.locust_feed import Feed
from drillkit.traffic.locust_processes import BIN_ENV, BIND_ENV, REMOTE_ENV, master_bind


def test_the_engine_is_drillkit_unless_the_scenario_says_locust() -> None:
    assert Traffic().engine == "drillkit" and Traffic(engine="locust", workers=2).engine == "locust"
    with pytest.raises(ValueError, match="engine 'locust' does not send streamed requests"):
        Traffic(engine="locust", stream=True)
    with pytest.raises(ValueError, match="'drillkit' or 'locust'"):
        Traffic(engine="k6")


def test_a_missing_locust_is_an_input_error_that_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BIN_ENV, "/nonexistent/locust")
    load = LocustLoad("http://127.0.0.1:9/ask", [{"question": "q"}], rate=10, workers=1)
    with pytest.raises(LocustMissing, match="pip install locust") as caught:
        asyncio.run(load.start())
    assert isinstance(caught.value, InputError) and load._files is None  # no config written


def test_a_locust_that_fails_at_start_is_reported_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "locust"
    fake.write_text("#!/bin/sh\necho 'locust: no such option --master' >&2\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setenv(BIN_ENV, str(fake))
    load = LocustLoad("http://127.0.0.1:9/ask", [{"question": "q"}], rate=10, workers=1)

    async def main() -> None:
        with pytest.raises(LocustFailed, match=r"Locust master \(pid \d+\) exited with code 2: locust: no such"):
            await load.start()
        assert not load.running
        await load.stop()  # nothing left to stop: no error

    asyncio.run(main())
    assert load._files is not None and not Path(load._files.folder).exists()  # the config is gone too


def test_remote_workers_are_declared_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert master_bind() == ("127.0.0.1", 0, 0)
    monkeypatch.setenv(BIND_ENV, "10.0.0.5:5557")
    monkeypatch.setenv(REMOTE_ENV, "4")
    assert master_bind() == ("10.0.0.5", 5557, 4)
    monkeypatch.setenv(REMOTE_ENV, "some")
    with pytest.raises(InputError, match=REMOTE_ENV):
        master_bind()


def test_the_masters_reports_become_judged_samples_in_schedule_order() -> None:
    records = [{"question": "returns?"}, {"question": "hello?"}]
    evals = {"returns?": [Assertion.model_validate({"type": "icontains", "value": "30 days"})]}
    scheduled: list[float] = []
    samples: list[Sample] = []

    async def main() -> Feed:
        feed = Feed(2, records, offset=1000.0, evals=evals, wire=Wire(), on_schedule=scheduled.append,
                    on_sample=samples.append)  # fmt: skip
        answer = '{"answer": "You have 30 days.", "model": "sim", "cost_usd": 0.002}'
        ok = {"i": 0, "r": 0, "s": 1001.0, "st": 1001.001, "f": 1001.011, "c": 200, "b": answer, "h": {}}
        down = {"i": 2, "r": 0, "s": 1001.1, "st": 1001.1, "f": 1001.2, "e": "connect: refused"}
        late = {"i": 1, "r": 1, "s": 1001.05, "st": None, "f": 1002.0, "d": True, "e": "queued 1.00 s, cap 4 full"}
        counters = {"scheduled": 2, "sent": 2, "completed": 2}
        feed.handle({"t": "batch", "w": 0, "scheduled": [1001.0, 1001.1], "samples": [ok, down], "next_due": 1001.2,
                     "counters": counters, "cpu_s": 0.5})  # fmt: skip
        assert scheduled == [] and samples == []  # worker 1 has not reported: nothing is released yet
        feed.handle({"t": "batch", "w": 1, "scheduled": [1001.05], "samples": [late], "next_due": 1001.15,
                     "counters": {"scheduled": 1, "dropped": 1, "completed": 1}, "cpu_s": 0.4})  # fmt: skip
        feed.handle({"t": "go", "t0": 1001.0})
        assert feed.go.result() == pytest.approx(1.0)
        return feed

    feed = asyncio.run(main())
    assert scheduled == pytest.approx([1.0, 1.05, 1.1])
    first, dropped, failed = samples
    assert first.ok and first.eval_passed is True and first.model == "sim" and first.cost_usd == 0.002
    assert first.latency_ms == pytest.approx(11.0) and first.queued_ms == pytest.approx(1.0)
    assert dropped.dropped and dropped.error == "dropped: queued 1.00 s, cap 4 full" and dropped.started is None
    assert not failed.ok and failed.error == "connect: refused" and failed.status is None
    assert feed.stats().model_dump() == {"scheduled": 3, "sent": 2, "completed": 3, "dropped": 1,
                                              "cancelled": 0, "in_flight": 0, "max_in_flight": 0}  # fmt: skip
