"""`reset_faults`: what `drillkit chaos reset` does, against real fault servers on ephemeral ports.

The leftovers live on fault servers other than the system's own, so a fault gone from them was
removed from its record, not by resetting the system's layers.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drillkit.config.system import System, load_system
from drillkit.faults.backends import ActiveFault, FaultRequest, LlmProxyBackend, ToxiproxyBackend
from drillkit.gameday import leftovers
from drillkit.gameday.leftovers import FaultRecord, MalformedRecord
from drillkit.gameday.reset import Forgotten, ResetReport, reset_faults
from drillkit.gameday.run import run_lock
from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app
from drillkit.proxy.toxiproxy_api import ToxiproxyServer, create_toxiproxy_app


def fault_servers() -> ServerThread:
    """An L4 and an L7 fault server, each fronting the provider 'primary' (as the demo does)."""
    return ServerThread({"l4": create_toxiproxy_app(ToxiproxyServer()), "l7": create_admin_app(LlmProxyServer())})


def add_primary(urls: dict[str, str]) -> None:
    proxy = {"name": "primary", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}
    assert httpx.post(urls["l4"] + "/proxies", json=proxy).status_code == 201
    route = {"name": "primary", "listen": "127.0.0.1:0", "upstream": "http://127.0.0.1:9", "api": "openai"}
    assert httpx.post(urls["l7"] + "/routes", json=route).status_code == 201


@pytest.fixture
def system_urls() -> Iterator[dict[str, str]]:
    with fault_servers() as urls:
        add_primary(urls)
        yield urls


@pytest.fixture
def other_urls() -> Iterator[dict[str, str]]:
    """Fault servers a killed game-day used that are not the system's."""
    with fault_servers() as urls:
        add_primary(urls)
        yield urls


@pytest.fixture
def system(tmp_path: Path, system_urls: dict[str, str]) -> System:
    path = tmp_path / "drillkit.yaml"
    path.write_text(
        "apiVersion: drillkit/v1\nkind: System\nname: t\n"
        "service: {url: 'http://127.0.0.1:1/v1/answer'}\n"
        "providers: {primary: {base_url: 'http://127.0.0.1:1/v1', model: m}}\n"
        f"chaos: {{toxiproxy: '{system_urls['l4']}', llm_proxy: '{system_urls['l7']}'}}\n"
    )
    return load_system(path)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def closed_port_url() -> str:
    """A loopback URL nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def inject(urls: dict[str, str], layer: str, request: FaultRequest) -> ActiveFault:
    async def go() -> ActiveFault:
        if layer == "l4":
            return await ToxiproxyBackend(urls["l4"]).inject(request)
        backend = LlmProxyBackend(urls["l7"])
        try:
            return await backend.inject(request)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def faults_on(urls: dict[str, str]) -> tuple[list[object], list[object]]:
    return (
        httpx.get(urls["l4"] + "/proxies/primary/toxics").json(),
        httpx.get(urls["l7"] + "/routes/primary/faults").json(),
    )


def reset(home: Path, system: System, **kwargs: bool) -> ResetReport:
    return asyncio.run(reset_faults(home, system, **kwargs))


def test_recorded_faults_are_removed_from_their_servers_and_reported(
    home: Path, system: System, system_urls: dict[str, str], other_urls: dict[str, str]
) -> None:
    toxic = inject(other_urls, "l4", FaultRequest(type="latency", target="primary", attributes={"latency": 5}))
    l7 = inject(other_urls, "l7", FaultRequest(type="http_error", target="primary", attributes={"status": 503}))
    gone = ActiveFault(layer="l4", server=other_urls["l4"], target="primary", name="never_there", type="latency")
    for fault in (toxic, l7, gone):
        leftovers.record(home, "killed-run", fault)
    leftovers._write(home, [*leftovers.read(home), "not a record"])
    on_system = inject(system_urls, "l7", FaultRequest(type="http_error", target="primary", attributes={"status": 500}))
    assert on_system.layer == "l7" and faults_on(system_urls)[1]
    assert all(faults_on(other_urls))

    report = reset(home, system)

    assert faults_on(other_urls) == ([], [])  # gone from the servers themselves
    assert faults_on(system_urls) == ([], [])  # and the system's layers reset
    assert leftovers.read(home) == []
    assert not report.game_day_running and report.forgotten is None
    assert [(r.layer, r.server, r.name) for r in report.removed if isinstance(r, FaultRecord)] == [
        ("l4", other_urls["l4"], "latency_downstream"),
        ("l7", other_urls["l7"], l7.name),
    ]
    assert report.removed[-1] == MalformedRecord(malformed="not a record")
    assert [r.name for r in report.already_gone] == ["never_there"]
    assert report.stuck == [] and report.restores == []
    assert {k: (v.url, v.reset) for k, v in report.layers.items()} == {
        "l4": (system_urls["l4"], True),
        "l7": (system_urls["l7"], True),
    }
    assert report.ok and report.unreachable == [] and report.problems() == []
    # The `chaos reset --json` document, as it always was.
    doc = report.to_dict()
    assert list(doc) == ["leftovers", "l4", "l7"]
    assert doc["leftovers"]["reset"] is True and doc["leftovers"]["problems"] == []
    assert doc["leftovers"]["removed"][0] == {
        "run_id": "killed-run",
        "layer": "l4",
        "server": other_urls["l4"],
        "target": "primary",
        "name": "latency_downstream",
        "type": "latency",
    }
    assert doc["leftovers"]["removed"][-1] == {"malformed": "not a record"}
    assert doc["l4"] == {"url": system_urls["l4"], "reset": True}


def test_an_unreachable_server_is_reported_and_forget_drops_its_records(home: Path, system: System) -> None:
    dead = closed_port_url()
    leftovers.record(home, "killed-run", ActiveFault("l7", dead, "primary", "http_error_x", "http_error"))

    report = reset(home, system)

    assert not report.ok and report.layers["l4"].reset and report.layers["l7"].reset
    (stuck,) = report.stuck
    assert stuck.record.server == dead and stuck.record.name == "http_error_x" and stuck.error
    assert report.unreachable == [dead]
    assert report.problems() == [f"http_error_x on primary ({dead}): {stuck.error}"]
    assert report.to_dict()["leftovers"] == {"removed": [], "problems": report.problems(), "reset": False}
    assert [e["name"] for e in leftovers.read(home)] == ["http_error_x"]  # kept for another try

    leftovers.owe_restore(home, "killed-run", [{"name": "never-run", "run": ["false"]}])
    report = reset(home, system, forget=True)

    assert report.forgotten == Forgotten(faults=1, restores=1)
    assert report.ok and report.stuck == [] and report.restores == [] and report.unreachable == []
    assert leftovers.read(home) == [] and leftovers.read_pending(home) == []
    assert list(report.to_dict()) == ["forgotten", "l4", "l7"]


def test_an_unreachable_fault_layer_of_the_system_is_reported(home: Path, tmp_path: Path) -> None:
    dead = closed_port_url()
    path = tmp_path / "dead.yaml"
    path.write_text(
        "apiVersion: drillkit/v1\nkind: System\nname: t\n"
        "service: {url: 'http://127.0.0.1:1/v1/answer'}\n"
        "providers: {primary: {base_url: 'http://127.0.0.1:1/v1', model: m}}\n"
        f"chaos: {{toxiproxy: '{dead}', llm_proxy: '{dead}'}}\n"
    )
    report = reset(home, load_system(path))
    assert not report.ok and not report.layers["l4"].reset and report.layers["l4"].error
    assert report.unreachable == [dead]


def test_owed_restores_run_and_are_paid_only_when_every_step_succeeds(home: Path, system: System) -> None:
    marker = "import os, pathlib; pathlib.Path(os.environ['DRILLKIT_HOME'], 'restored').write_text('yes')"
    leftovers.owe_restore(home, "paid-run", [{"name": "put-back", "run": [sys.executable, "-c", marker]}])
    failing = [
        {"name": "fine", "run": [sys.executable, "-c", "pass"]},
        {"name": "broken", "run": [sys.executable, "-c", "import sys; print('no way'); sys.exit(3)"]},
    ]
    leftovers.owe_restore(home, "unpaid-run", failing)

    report = reset(home, system)

    assert (home / "restored").read_text() == "yes"  # the step ran, with this home
    paid, unpaid = report.restores
    assert (paid.run_id, paid.paid, [(s.name, s.ok) for s in paid.steps]) == ("paid-run", True, [("put-back", True)])
    assert unpaid.run_id == "unpaid-run" and not unpaid.paid
    assert [(s.name, s.ok) for s in unpaid.steps] == [("fine", True), ("broken", False)]  # every step runs
    assert [e["run_id"] for e in leftovers.read_pending(home)] == ["unpaid-run"]  # still owed
    assert not report.ok
    (problem,) = report.problems()
    assert problem.startswith("restore step 'broken' failed:") and "no way" in problem
    assert report.to_dict()["leftovers"]["removed"] == [{"restored_for": "paid-run", "steps": ["put-back"]}]


def test_a_failing_owed_restore_is_tried_three_times_then_reported(home: Path, system: System) -> None:
    counter = "import os, pathlib; p = pathlib.Path(os.environ['DRILLKIT_HOME'], 'tries'); "
    counter += "p.write_text(str(int(p.read_text()) + 1 if p.exists() else 1)); raise SystemExit(3)"
    leftovers.owe_restore(home, "stuck-run", [{"name": "restart gateway", "run": [sys.executable, "-c", counter]}])
    for attempt in (1, 2, 3):
        (owed,) = reset(home, system).restores
        assert not owed.paid and owed.error is None
        assert leftovers.read_pending(home)[0]["attempts"] == attempt
    (owed,) = reset(home, system).restores  # the fourth time it is not run: it is reported
    assert (home / "tries").read_text() == "3"
    assert "failed 3 times" in (owed.error or "") and "drillkit chaos reset --forget" in (owed.error or "")
    reset(home, system, forget=True)
    assert leftovers.read_pending(home) == []


def test_unreadable_owed_steps_are_reported_not_raised(home: Path, system: System) -> None:
    leftovers._write_pending(home, [{"run_id": "odd", "steps": [{"name": "neither run nor http"}]}])
    report = reset(home, system)
    (owed,) = report.restores
    assert not owed.paid and owed.steps == [] and "cannot be read" in (owed.error or "")
    assert report.problems()[0].startswith("restore for run 'odd': ")
    assert [e["run_id"] for e in leftovers.read_pending(home)] == ["odd"]


def test_a_running_game_day_keeps_its_records(
    home: Path, system: System, system_urls: dict[str, str], other_urls: dict[str, str]
) -> None:
    toxic = inject(other_urls, "l4", FaultRequest(type="latency", target="primary", attributes={"latency": 5}))
    leftovers.record(home, "running", toxic)
    leftovers.owe_restore(home, "running", [{"name": "not-now", "run": ["false"]}])
    inject(system_urls, "l4", FaultRequest(type="latency", target="primary", attributes={"latency": 5}))

    with run_lock(home):  # what a running game-day holds
        report = reset(home, system, forget=True)

    assert report.game_day_running and report.forgotten is None
    assert report.removed == [] and report.restores == [] and report.ok
    assert [e["name"] for e in leftovers.read(home)] == ["latency_downstream"]
    assert [e["run_id"] for e in leftovers.read_pending(home)] == ["running"]
    assert faults_on(other_urls)[0]  # its fault stays
    assert faults_on(system_urls)[0] == []  # the system's layers are reset all the same
    doc = report.to_dict()
    assert list(doc) == ["note", "l4", "l7"] and doc["note"]["reset"] is True
    # Once the run is over, the lock is free again.
    assert not reset(home, system).game_day_running
