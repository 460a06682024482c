"""The degrade and kill-switch levers (issue 16 item 4): state, answers, metrics, the CLI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import drillkit.demo
from drillkit.demo.answer_modes import STATIC_ANSWER, retrieve
from drillkit.demo.context import parse_document, passage, rank_documents
from drillkit.demo.levers import LeverError, Levers
from drillkit.demo.sim.app import create_sim_app
from drillkit.demo.tool_api import create_tool_app
from drillkit.net.serving import ServerThread
from tests.demo.test_service import LITE, PINNED, RETURNS_Q, make_workdir, metric, service
from tests.running_demo import running_demo

ASSETS = Path(drillkit.demo.__file__).parent / "assets"


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    orders = tmp_path_factory.mktemp("tool") / "orders.json"
    shutil.copyfile(ASSETS / "orders.json", orders)
    apps = {
        "primary": create_sim_app("primary", latency_scale=0),
        "fallback": create_sim_app("fallback", latency_scale=0),
        "tool": create_tool_app(orders),
    }
    with ServerThread(apps) as urls:
        yield urls


@pytest.fixture
def client(tmp_path: Path, upstreams: dict[str, str]) -> Iterator[httpx.Client]:
    with service(make_workdir(tmp_path, upstreams)) as c:
        yield c


def switch(client: httpx.Client, name: str, on: Any) -> httpx.Response:
    return client.post(f"/admin/{name}", json={"on": on})


def corpus() -> list[Any]:
    return [parse_document(p.stem, p.read_bytes()) for p in sorted((ASSETS / "corpus").glob("*.md"))]


# -- the state ------------------------------------------------------------------------------------


def test_switches_are_persisted_order_the_providers_and_reset_turns_them_off(tmp_path: Path) -> None:
    levers = Levers(tmp_path / "state.json", ["primary", "fallback"], tmp_path)
    assert (levers.state.degrade, levers.state.kill_switch) == (False, False)
    levers.set_degrade(True)
    assert levers.provider_order() == ["fallback", "primary"]
    levers.set_route("fallback")
    assert levers.provider_order() == ["fallback", "primary"]
    levers.set_kill_switch(True)
    again = Levers(tmp_path / "state.json", ["primary", "fallback"], tmp_path)  # read back from disk
    assert (again.state.degrade, again.state.kill_switch) == (True, True)
    with pytest.raises(LeverError):
        levers.set_degrade("yes")  # type: ignore[arg-type]
    reset = levers.reset()
    assert (reset.degrade, reset.kill_switch, reset.route) == (False, False, "primary")
    assert levers.provider_order() == ["primary", "fallback"]
    # A state file written before these levers existed reads as both off.
    (tmp_path / "old.json").write_text(json.dumps({"route": "fallback"}))
    old = Levers(tmp_path / "old.json", ["primary", "fallback"], tmp_path).state
    assert (old.route, old.degrade, old.kill_switch) == ("fallback", False, False)


def test_a_degraded_context_is_shorter_and_keeps_the_answering_sentences() -> None:
    docs = corpus()
    full = retrieve(RETURNS_Q, docs, degraded=False)
    cut = retrieve(RETURNS_Q, docs, degraded=True)
    assert [d.id for d in full][:2] == [d.id for d in cut] and len(full) == 3
    assert sum(len(d.text) for d in cut) < sum(len(d.text) for d in full) / 2
    assert "30 days" in cut[0].text
    top = rank_documents(RETURNS_Q, docs, k=1)[0]
    one = passage(RETURNS_Q, top, keep=1)
    assert one.id == top.id and one.title == top.title and "30 days" in one.text and "\n" not in one.text
    assert passage(RETURNS_Q, top, keep=0).text == ""


# -- answers --------------------------------------------------------------------------------------


def test_degrade_answers_from_the_fast_model_with_less_and_says_so(client: httpx.Client) -> None:
    normal = client.post("/v1/answer", json={"question": RETURNS_Q})
    assert normal.status_code == 200 and "x-drillkit-mode" not in normal.headers
    assert normal.json()["model"] == PINNED
    on = switch(client, "degrade", True)
    assert on.status_code == 200, on.text
    assert on.json()["degrade"] is True and on.json()["provider_order"] == ["fallback", "primary"]
    r = client.post("/v1/answer", json={"question": RETURNS_Q})
    assert r.status_code == 200 and r.headers["x-drillkit-mode"] == "degraded"
    body = r.json()
    assert (body["provider"], body["model"]) == ("fallback", LITE)
    assert "30 days" in body["answer"] and body["citations"] == ["returns-policy"]
    assert body["usage"]["input_tokens"] < normal.json()["usage"]["input_tokens"] * 0.8
    chat = client.post(
        "/v1/chat/completions", json={"model": "any", "messages": [{"role": "user", "content": RETURNS_Q}]}
    )
    assert chat.status_code == 200 and chat.headers["x-drillkit-mode"] == "degraded"
    assert chat.headers["x-drillkit-provider"] == "fallback"
    metrics = client.get("/metrics").text
    assert metric(metrics, "drillkit_demo_lever_on", lever="degrade") == 1
    assert metric(metrics, "drillkit_demo_requests_total", provider="fallback", model=LITE, outcome="ok") == 2
    assert switch(client, "degrade", False).json()["degrade"] is False
    assert client.post("/v1/answer", json={"question": RETURNS_Q}).json()["model"] == PINNED


def test_the_kill_switch_answers_a_static_answer_at_once(client: httpx.Client) -> None:
    state = switch(client, "kill-switch", True).json()
    assert state["kill_switch"] is True
    r = client.post("/v1/answer", json={"question": RETURNS_Q})
    assert r.status_code == 200 and r.headers["x-drillkit-mode"] == "kill_switch"
    body = r.json()
    assert body["answer"] == STATIC_ANSWER and body["citations"] == []
    assert (body["model"], body["provider"], body["cost_usd"]) == ("none", "none", 0.0)
    assert body["prompt_version"] == "v3" and body["corpus_version"]
    assert client.post("/v1/answer", json={"nope": 1}).status_code == 400  # still a bad request
    messages = [{"role": "user", "content": RETURNS_Q}]
    chat = client.post("/v1/chat/completions", json={"model": "any", "messages": messages})
    assert chat.status_code == 200 and chat.headers["x-drillkit-provider"] == "none"
    assert chat.json()["choices"][0]["message"]["content"] == STATIC_ANSWER
    streamed = client.post(
        "/v1/chat/completions",
        json={"model": "any", "messages": messages, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert streamed.status_code == 200 and streamed.headers["x-drillkit-mode"] == "kill_switch"
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == STATIC_ANSWER and chunks[-1]["usage"]["completion_tokens"] == 0
    metrics = client.get("/metrics").text
    assert metric(metrics, "drillkit_demo_requests_total", provider="none", outcome="kill_switch") == 3
    assert metric(metrics, "drillkit_demo_lever_on", lever="kill_switch") == 1
    assert metric(metrics, "drillkit_demo_provider_errors_total") == 0  # no provider was called
    reset = client.post("/admin/reset", json={}).json()
    assert (reset["kill_switch"], reset["degrade"]) == (False, False)
    assert client.post("/v1/answer", json={"question": RETURNS_Q}).json()["model"] == PINNED


@pytest.mark.parametrize("body", [{}, {"on": "true"}, {"on": 1}, {"on": None}, ["on"]])
def test_a_switch_needs_true_or_false(client: httpx.Client, body: Any) -> None:
    for name in ("degrade", "kill-switch"):
        r = client.post(f"/admin/{name}", json=body)
        assert r.status_code == 400 and '{"on": true}' in r.json()["error"]
    assert client.get("/admin/state").json()["kill_switch"] is False


# -- the CLI, against a running demo --------------------------------------------------------------


def test_ctl_degrade_and_kill_switch_end_to_end(tmp_path: Path) -> None:
    with running_demo(tmp_path / "home") as demo:
        state = json.loads(demo.ok("demo", "ctl", "degrade", "on", "--json").stdout)
        assert state["degrade"] is True and state["provider_order"][0] == "fallback"
        state = json.loads(demo.ok("demo", "ctl", "kill-switch", "on", "--json").stdout)
        assert state["kill_switch"] is True
        shown = demo.ok("demo", "status").stdout
        assert "degrade   on" in shown and "kill_switch on" in shown
        failing = demo.cli("eval", "run")  # the kill switch is honest: quality collapses
        assert failing.exit_code == 1 and "pass rate 0.0 %" in failing.stdout
        demo.ok("demo", "ctl", "kill-switch", "off")
        degraded = demo.cli("eval", "run")  # a slightly worse answer: still inside the envelope
        assert degraded.exit_code == 0, degraded.stdout
        bad = demo.cli("demo", "ctl", "degrade", "maybe")
        assert bad.exit_code == 2
        demo.ok("demo", "ctl", "reset")
        state = json.loads(demo.ok("demo", "status", "--json").stdout)["state"]
        assert (state["degrade"], state["kill_switch"]) == (False, False)
        assert "degrade   off" in demo.ok("demo", "status").stdout
