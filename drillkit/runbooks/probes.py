"""Generic probes a runbook step can run: an HTTP request, a command (argv), a PromQL query.

| probe | pass | fail | error |
| --- | --- | --- | --- |
| `http` | status in `expect_status` | another status | no answer (connect, timeout) |
| `command` | exit code == `expect_exit` | another exit code | cannot run it, timed out |
| `promql` | every sample satisfies `op value` | some sample does not | no answer, query error |

A `promql` query that returns no samples (an empty vector) comes to the check's `empty` outcome:
`unknown` unless the runbook says `pass` or `fail`. No samples is not a broken query: the series
may not exist yet, or not be scraped, or (`absent(...)`, `ALERTS{...}`) its absence is the answer.

PromQL goes to the Prometheus HTTP API (`GET <url>/api/v1/query?query=…`, answered with
`{"status": "success", "data": {"resultType": "vector"|"scalar", "result": …}}`), so the same
runbook reads a team's real Prometheus, Thanos or Mimir. Requests to loopback never use a proxy
from the environment; other hosts do.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import httpx

from drillkit.config.runbook import CommandCheck, HttpCheck, PromqlCheck
from drillkit.evals.runner import is_loopback_url
from drillkit.runbooks.outcome import StepResult
from drillkit.traffic.steps import run_step

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
BODY_TAIL = 300


async def run_http(check: HttpCheck) -> StepResult:
    url = str(check.url)
    expected = check.expect_status if isinstance(check.expect_status, list) else [check.expect_status]
    try:
        async with httpx.AsyncClient(timeout=check.timeout, trust_env=not is_loopback_url(url)) as client:
            response = await client.request(check.method, url)
    except httpx.HTTPError as exc:
        return StepResult("error", f"{check.method} {url}: {type(exc).__name__}: {exc}".rstrip(": "))
    result = {"status": response.status_code, "body": response.text[:BODY_TAIL]}
    verdict = "pass" if response.status_code in expected else "fail"
    wanted = " or ".join(map(str, expected))
    return StepResult(verdict, f"{check.method} {url} → {response.status_code} (expected {wanted})", result)


async def run_command(check: CommandCheck) -> StepResult:
    name = " ".join(check.run)
    done = await run_step(name, run=list(check.run), timeout=check.timeout)
    result = {"argv": list(check.run), "exit_code": done.exit_code, "output": done.detail}
    if done.exit_code is None:
        return StepResult("error", f"{name}: {done.detail}", result)
    verdict = "pass" if done.exit_code == check.expect_exit else "fail"
    last = done.detail.strip().splitlines()[-1][:200] if done.detail.strip() else ""
    return StepResult(verdict, f"{name} → exit {done.exit_code} (expected {check.expect_exit}): {last}", result)


async def run_promql(check: PromqlCheck) -> StepResult:
    base = str(check.url).rstrip("/")
    url = base if base.endswith("/api/v1/query") else base + "/api/v1/query"
    try:
        async with httpx.AsyncClient(timeout=check.timeout, trust_env=not is_loopback_url(url)) as client:
            response = await client.get(url, params={"query": check.query})
    except httpx.HTTPError as exc:
        return StepResult("error", f"cannot query {url}: {type(exc).__name__}: {exc}".rstrip(": "))
    try:
        body = response.json()
    except ValueError:
        return StepResult("error", f"{url} answered {response.status_code} without JSON: {response.text[:BODY_TAIL]}")
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        kind = body.get("errorType") if isinstance(body, dict) else None
        return StepResult("error", f"query failed ({response.status_code} {kind or ''}): {error or body}".strip())
    try:
        samples = _samples(body.get("data") or {})
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return StepResult("error", f"unexpected answer from {url}: {exc}")
    result = {"query": check.query, "op": check.op, "value": check.value, "samples": samples[:20]}
    if not samples:
        why = {"pass": "absence passes", "fail": "absence fails", "unknown": "is the metric scraped?"}[check.empty]
        return StepResult(check.empty, f"{check.query}: the query returned no samples ({why})", result)
    test = OPS[check.op]
    bad = [s for s in samples if math.isnan(s["value"]) or not test(s["value"], check.value)]
    shown = ", ".join(_show(s) for s in (bad or samples)[:3])
    if bad:
        return StepResult("fail", f"{check.query}: {shown} not {check.op} {check.value:g}", result)
    return StepResult("pass", f"{check.query}: {shown} {check.op} {check.value:g}", result)


def _samples(data: dict[str, Any]) -> list[dict[str, Any]]:
    """(labels, value) of an instant query's answer; a range query's matrix uses its last point."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return [{"metric": {}, "value": float(result[1])}]  # type: ignore[index]
    if kind == "vector":
        return [{"metric": r.get("metric", {}), "value": float(r["value"][1])} for r in result or []]
    if kind == "matrix":
        return [
            {"metric": r.get("metric", {}), "value": float(r["values"][-1][1])} for r in result or [] if r["values"]
        ]
    raise ValueError(f"resultType {kind!r} is not a number (expected vector or scalar)")


def _show(sample: dict[str, Any]) -> str:
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample["metric"].items()) if k != "__name__")
    return f"{{{labels}}} {sample['value']:g}" if labels else f"{sample['value']:g}"


__all__ = ["OPS", "run_command", "run_http", "run_promql"]
