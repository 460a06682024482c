"""run_suite and `drillkit eval` against a tiny real service on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from drillkit.cli import cli
from drillkit.cli.evals import eval_progress
from drillkit.cli.options import Env
from drillkit.errors import InputError
from drillkit.evals import EvalSuite, load_suite, run_suite
from drillkit.evals.runner import is_loopback_url
from drillkit.net.serving import ServerThread

ANSWERS: dict[str, dict[str, Any]] = {
    f"q{i}": {"answer": f"Answer {i}: you have 30 days.", "citations": ["returns-policy"], "cost_usd": 0.0004}
    for i in range(9)
}
ANSWERS["wrong"] = {"answer": "I have no information about that.", "citations": [], "cost_usd": 0.0004}


class Service:
    """Answers from ANSWERS; `boom` → 500, `text` → a non-JSON body, `slow` → sleeps 0.5 s.

    Every question also sleeps `delay` seconds, and the service records the most requests it saw in
    flight at once (one event loop, so a plain counter is safe).
    """

    def __init__(self) -> None:
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.seen: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/answer", self.answer, methods=["POST"])])

    async def answer(self, request: Request) -> Response:
        body = await request.json()
        self.seen.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            question = body.get("question")
            if question == "boom":
                return JSONResponse({"error": "upstream exploded"}, status_code=500)
            if question == "text":
                return PlainTextResponse("all good")
            if question == "slow":
                await asyncio.sleep(0.5)
            return JSONResponse(ANSWERS.get(question, ANSWERS["wrong"]))
        finally:
            self.in_flight -= 1


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[Service, str]]:
    svc = Service()
    with ServerThread({"svc": svc.app}) as urls:
        yield svc, urls["svc"] + "/v1/answer"


@pytest.fixture(autouse=True)
def _reset(service: tuple[Service, str]) -> None:
    svc, _ = service
    svc.delay, svc.max_in_flight, svc.seen = 0.0, 0, []


def suite_yaml(questions: list[str], *, weights: dict[str, float] | None = None) -> str:
    """A suite asking each question (case id = question) with the same assertions."""
    cases = ""
    for q in questions:
        weight = f"\n    weight: {weights[q]}" if weights and q in weights else ""
        cases += f"  - id: {q}\n    question: {q}\n    tags: [{'good' if q.startswith('q') else 'bad'}]{weight}\n"
        cases += (
            "    assert:\n      - {type: icontains, value: 30 days}\n      - {type: cites, value: returns-policy}\n"
        )
    head = """\
        apiVersion: drillkit/v1
        kind: EvalSuite
        name: tiny
        defaults:
          assert:
            - {type: not-icontains, value: no information}
            - {type: max-cost-usd, value: 0.01}
        cases:
        """
    return textwrap.dedent(head) + cases


def make_suite(tmp_path: Path, questions: list[str], **kw: Any) -> EvalSuite:
    path = tmp_path / "suite.yaml"
    path.write_text(suite_yaml(questions, **kw), encoding="utf-8")
    return load_suite(path)


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}/v1/answer"


# -- run_suite ---------------------------------------------------------------------------------------


def test_all_pass(service: tuple[Service, str], tmp_path: Path) -> None:
    svc, url = service
    suite = make_suite(tmp_path, [f"q{i}" for i in range(8)])
    result = asyncio.run(run_suite(suite, url, threshold=0.9))
    assert (result.total, result.passed, result.failed, result.errored) == (8, 8, 0, 0)
    assert result.pass_rate == 1.0 and result.inside_envelope and not result.unreachable
    assert [c.case.id for c in result.cases] == [f"q{i}" for i in range(8)]  # file order kept
    assert sorted(b["question"] for b in svc.seen) == sorted(f"q{i}" for i in range(8))
    case = result.cases[0]
    assert case.status == 200 and case.latency_ms is not None and case.latency_ms > 0
    assert [c.assertion.type for c in case.checks] == ["not-icontains", "max-cost-usd", "icontains", "cites"]


def test_failures_errors_and_weighted_rate(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    questions = ["q0", "q1", "q2", "wrong", "boom", "text"]
    suite = make_suite(tmp_path, questions, weights={"q0": 4})  # 4+1+1 of 9 pass
    result = asyncio.run(run_suite(suite, url, threshold=0.6))
    by_id = {c.case.id: c for c in result.cases}
    assert (result.passed, result.failed, result.errored) == (3, 3, 2)
    assert result.pass_rate == pytest.approx(6 / 9)
    assert result.inside_envelope

    wrong = by_id["wrong"]
    assert wrong.error is None and not wrong.passed
    assert [c.assertion.type for c in wrong.failures] == ["not-icontains", "icontains", "cites"]
    assert wrong.score == pytest.approx(1 / 4)
    assert by_id["boom"].error == 'HTTP 500: {"error":"upstream exploded"}'
    assert (by_id["boom"].error_kind, by_id["boom"].status) == ("http", 500)
    assert by_id["text"].error == "response is not JSON: all good"

    data = json.loads(json.dumps(result.to_dict()))
    assert data["counts"] == {"total": 6, "passed": 3, "failed": 3, "errored": 2}
    assert data["pass_rate"] == round(6 / 9, 4) and data["threshold"] == 0.6 and data["inside_envelope"] is True
    wrong_dict = next(c for c in data["cases"] if c["id"] == "wrong")
    assert wrong_dict["answer"] == "I have no information about that."
    assert wrong_dict["assertions"][0] == {
        "type": "not-icontains",
        "value": "no information",
        "path": "answer",
        "weight": 1.0,
        "passed": False,
        "detail": "answer contains 'no information': 'I have no information about that.'",
    }


def test_envelope_boundary_and_tags(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    suite = make_suite(tmp_path, [*(f"q{i}" for i in range(8)), "wrong", "boom"])
    result = asyncio.run(run_suite(suite, url, threshold=0.8))
    assert result.pass_rate == pytest.approx(0.8) and result.inside_envelope
    result = asyncio.run(run_suite(suite, url, threshold=0.81))
    assert not result.inside_envelope
    bad = asyncio.run(run_suite(suite, url, tags=["bad"]))
    assert [c.case.id for c in bad.cases] == ["wrong", "boom"] and bad.tags == ["bad"]
    with pytest.raises(InputError, match="no case in suite 'tiny' has any of the tags nope"):
        asyncio.run(run_suite(suite, url, tags=["nope"]))


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_is_bounded(service: tuple[Service, str], tmp_path: Path, concurrency: int) -> None:
    svc, url = service
    svc.delay = 0.05
    suite = make_suite(tmp_path, [f"q{i}" for i in range(6)])
    seen: list[tuple[str, int, int]] = []
    result = asyncio.run(
        run_suite(suite, url, concurrency=concurrency, progress=lambda r, d, t: seen.append((r.case.id, d, t)))
    )
    assert result.passed == 6
    assert svc.max_in_flight == concurrency
    assert [(d, t) for _, d, t in seen] == [(i, 6) for i in range(1, 7)]
    # 6 requests of 0.05 s in waves of `concurrency` (generous upper bound for slow machines).
    assert 0.05 * 6 / concurrency * 0.9 <= result.duration_s < 0.05 * 6 / concurrency + 1.0


def test_timeout_is_a_failed_case(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    suite = make_suite(tmp_path, ["q0", "slow"])
    result = asyncio.run(run_suite(suite, url, timeout=0.1))
    slow = result.cases[1]
    assert (slow.error_kind, slow.passed) == ("timeout", False)
    assert slow.error is not None and slow.error.startswith("no response within 0.1 s")
    assert result.cases[0].passed


def test_loopback_service_bypasses_the_environment_proxy(
    service: tuple[Service, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = service
    dead_proxy = closed_port_url().removesuffix("/v1/answer")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    suite = make_suite(tmp_path, ["q0", "q1"])
    result = asyncio.run(run_suite(suite, url))
    assert result.passed == 2, [c.error for c in result.cases]
    assert is_loopback_url(url) and is_loopback_url("http://localhost:8710/v1/answer")
    assert is_loopback_url("http://[::1]:8710/") and is_loopback_url("http://127.1.2.3/")
    assert not is_loopback_url("https://support.example.com/v1/answer")


def test_unreachable_service(tmp_path: Path) -> None:
    suite = make_suite(tmp_path, ["q0", "q1"])
    result = asyncio.run(run_suite(suite, closed_port_url()))
    assert result.unreachable and result.errored == 2 and result.pass_rate == 0.0
    assert all(c.error_kind == "connect" and c.error and c.error.startswith("connection failed") for c in result.cases)


# -- the CLI -----------------------------------------------------------------------------------------


def write_system(tmp_path: Path, url: str, questions: list[str], *, slos: str = "{eval_pass_rate: 0.9}") -> Path:
    (tmp_path / "suite.yaml").write_text(suite_yaml(questions), encoding="utf-8")
    manifest = tmp_path / "drillkit.yaml"
    manifest.write_text(
        f"apiVersion: drillkit/v1\nkind: System\nname: t\nservice: {{url: {url}}}\nslos: {slos}\nevals: suite.yaml\n",
        encoding="utf-8",
    )
    return manifest


def invoke(*args: str) -> Any:
    """Run `drillkit ARGS`; a wide virtual terminal keeps table cells on one line."""
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, list(args))


def test_cli_inside_envelope(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    manifest = write_system(tmp_path, url, [*(f"q{i}" for i in range(9)), "boom"])
    result = invoke("eval", "run", "--system", str(manifest), "--home", str(tmp_path / "home"))
    assert result.exit_code == 0, result.output
    assert "failing cases" in result.stdout and "boom" in result.stdout and "HTTP 500" in result.stdout
    assert "pass rate 90.0 % (9/10), envelope ≥ 90 %: inside" in result.stdout
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    assert "│ good │     9 │      9 │   100.0 % │" in result.stdout  # the per-tag summary
    assert "│ bad  │     1 │      0 │     0.0 % │" in result.stdout


def test_cli_tag_summary_when_everything_passes(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    manifest = write_system(tmp_path, url, ["q0", "q1"])
    result = invoke("eval", "run", "--system", str(manifest))
    assert result.exit_code == 0, result.output
    assert "by tag" in result.stdout and "│ good │     2 │      2 │   100.0 % │" in result.stdout
    assert "failing cases" not in result.stdout
    data = json.loads(invoke("eval", "run", "--system", str(manifest), "--json").stdout)
    assert data["by_tag"] == {"good": {"total": 2, "passed": 2, "pass_rate": 1.0}}


def test_cli_outside_envelope(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    manifest = write_system(tmp_path, url, ["q0", "q1", "wrong", "boom"])
    result = invoke("eval", "run", "--system", str(manifest))
    assert result.exit_code == 1, result.output
    assert "pass rate 50.0 % (2/4), envelope ≥ 90 %: outside" in result.stdout
    assert "│ wrong │ bad  │ • not-icontains 'no information': answer contains 'no information'" in result.stdout
    assert "failed: pass rate 50.0 % is outside the envelope (≥ 90 %)" in result.stderr
    # --threshold overrides the manifest's envelope; --tag narrows the cases.
    assert invoke("eval", "run", "--system", str(manifest), "--threshold", "0.5").exit_code == 0
    tagged = invoke("eval", "run", "--system", str(manifest), "--tag", "good", "--tag", "nope")
    assert tagged.exit_code == 0 and "(2/2)" in tagged.stdout and "tags: good, nope" in tagged.stdout


def test_cli_json(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    manifest = write_system(tmp_path, url, ["q0", "wrong"], slos="{}")
    result = invoke("eval", "run", str(tmp_path / "suite.yaml"), "--system", str(manifest), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["threshold"] == 0.9  # the default when the manifest sets no eval_pass_rate
    assert data["counts"]["passed"] == 1 and data["inside_envelope"] is False
    assert [c["id"] for c in data["cases"]] == ["q0", "wrong"]
    ok = invoke("eval", "run", "--system", str(manifest), "--json", "--threshold", "0.5", "--concurrency", "1")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["pass_rate"] == 0.5


def test_cli_bad_input(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    manifest = write_system(tmp_path, url, ["q0"])
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite.read_text().replace("type: cites", "type: citez"), encoding="utf-8")
    result = invoke("eval", "run", "--system", str(manifest))
    assert result.exit_code == 2
    assert f"{suite}:14:" in result.stderr and "did you mean 'cites'?" in result.stderr
    assert "Traceback" not in result.output
    assert invoke("eval", "run", "--system", str(tmp_path / "missing.yaml")).exit_code == 2
    assert invoke("eval", "run", "--system", str(manifest), "--threshold", "90").exit_code == 2
    no_evals = tmp_path / "bare.yaml"
    no_evals.write_text(manifest.read_text().replace("evals: suite.yaml\n", ""), encoding="utf-8")
    result = invoke("eval", "run", "--system", str(no_evals))
    assert result.exit_code == 2 and "no 'evals' path in the manifest" in result.stderr


def test_cli_unreachable(tmp_path: Path) -> None:
    url = closed_port_url()
    manifest = write_system(tmp_path, url, ["q0"])
    result = invoke("eval", "run", "--system", str(manifest))
    assert result.exit_code == 1
    assert f"cannot reach the service at {url}" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_cli_validate(tmp_path: Path) -> None:
    manifest = write_system(tmp_path, "http://127.0.0.1:9/v1/answer", ["q0", "q1"])
    good = tmp_path / "suite.yaml"
    result = invoke("eval", "validate", str(good))
    assert result.exit_code == 0
    assert "eval suite 'tiny': 2 case(s), 8 assertion(s); tags good" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("id: q1", "id: q0"), encoding="utf-8")
    result = invoke("eval", "validate", str(good), str(bad))
    assert result.exit_code == 2 and "duplicate case id 'q0'" in result.stderr
    assert manifest.exists()


def test_progress_only_on_a_terminal(service: tuple[Service, str], tmp_path: Path) -> None:
    _, url = service
    suite = make_suite(tmp_path, ["q0", "q1", "q2"])
    for terminal in (True, False):
        err = Console(file=io.StringIO(), force_terminal=terminal, width=100)
        env = Env(home=tmp_path, out=Console(file=io.StringIO()), err=err)
        with eval_progress(env, 3) as advance:
            assert (advance is not None) is terminal
            asyncio.run(run_suite(suite, url, progress=advance))
        shown = err.file.getvalue()
        assert ("3/3" in shown) is terminal, shown


def test_cli_help_teaches() -> None:
    for args in (["eval"], ["eval", "run"], ["eval", "validate"]):
        result = invoke(*args, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout, args
    assert "slos.eval_pass_rate" in invoke("eval", "run", "--help").stdout
