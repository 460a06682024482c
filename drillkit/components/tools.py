"""The tools fingerprint: each tool's contract tests, run against the live tool.

`components.tools.contracts` names a `kind: ToolContracts` file: per tool, requests with the
status they must answer and a JSON Schema their body must satisfy. A tool's base URL comes from
the manifest's `tools.<name>.base_url` (where the service reaches it: through the fault proxies in
the demo, so a contract break injected there is seen).

Per endpoint we keep pass/fail, the status, the schema violations and the *shape* of the body
(its key paths), so the diff can name the contract that broke and how — a dropped field, a new
status code — and also catch a shape change the schema still tolerates. A 502 or 504 nobody
expects comes from a gateway in front of the tool, not from the tool: unreachable (unknown),
not a contract change.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from drillkit.components.common import describe_http_error, unchanged, unknown
from drillkit.components.types import ComponentDiff
from drillkit.config.components import Endpoint, ToolContracts
from drillkit.config.loader import load_model
from drillkit.config.system import System
from drillkit.config.types import expand_headers
from drillkit.errors import InputError

MAX_VIOLATIONS = 5
GATEWAY_ERRORS = (502, 504)  # Bad Gateway, Gateway Timeout: an intermediary speaking, not the tool


def load_contracts(system: System) -> ToolContracts:
    comp = system.components.tools
    assert comp is not None
    path = system.resolve(comp.contracts)
    assert path is not None
    contracts = load_model(path, ToolContracts)
    missing = [name for name in contracts.tools if name not in system.tools]
    if missing:
        raise InputError(
            f"{path}: tool(s) {', '.join(missing)} have contracts but no base URL in the manifest "
            f"(add tools.<name>.base_url to {system.name}'s drillkit.yaml)"
        )
    return contracts


async def fingerprint(system: System, client: httpx.AsyncClient) -> dict[str, Any]:
    contracts = load_contracts(system)
    jobs = {
        (tool, ep.name): check(
            client,
            str(system.tools[tool].base_url).rstrip("/"),
            ep,
            expand_headers(system.tools[tool].headers, f"tools.{tool}.headers"),
        )
        for tool, contract in contracts.tools.items()
        for ep in contract.endpoints
    }
    results = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
    out: dict[str, dict[str, Any]] = {}
    for (tool, name), result in results.items():
        out.setdefault(tool, {})[name] = result
    return {"tools": out}


async def check(
    client: httpx.AsyncClient, base: str, ep: Endpoint, tool_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run one contract test: `{ok, status, violations, shape}` or `{error}` when unreachable.

    `tool_headers` (the manifest's `tools.<name>.headers`, `${VAR}` expanded) go with every
    request; the endpoint's own `headers` win over them.
    """
    headers = {**(tool_headers or {}), **ep.headers}
    try:
        r = await client.request(
            ep.method, base + ep.path, json=ep.json_body, headers=headers or None, timeout=ep.timeout
        )
    except httpx.HTTPError as exc:
        return {"error": describe_http_error(exc)}
    if r.status_code in GATEWAY_ERRORS and r.status_code not in ep.statuses():
        # Said by a proxy in front of the tool, not by the tool: it cannot be reached.
        return {"error": f"HTTP {r.status_code} from a gateway: the tool cannot be reached"}
    violations: list[str] = []
    if r.status_code not in ep.statuses():
        violations.append(f"status {r.status_code}, expected {' or '.join(map(str, ep.statuses()))}")
    body: Any = None
    try:
        body = r.json()
    except ValueError:
        if ep.schema_ is not None:
            violations.append("body is not JSON")
    if ep.schema_ is not None and body is not None:
        errors = sorted(Draft202012Validator(ep.schema_).iter_errors(body), key=lambda e: list(e.absolute_path))
        for e in errors[:MAX_VIOLATIONS]:
            where = "/".join(map(str, e.absolute_path)) or "(root)"
            violations.append(f"{where}: {e.message}")
        if len(errors) > MAX_VIOLATIONS:
            violations.append(f"... and {len(errors) - MAX_VIOLATIONS} more")
    return {"ok": not violations, "status": r.status_code, "violations": violations, "shape": shape(body)}


def shape(value: Any, prefix: str = "") -> list[str]:
    """Sorted key paths of a JSON value with their JSON types, e.g. `items[].sku:string`."""
    out: set[str] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            out.add(f"{path or '$'}:object")
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            out.add(f"{path or '$'}:array")
            for item in node:
                walk(item, f"{path}[]")
        else:
            kind = {bool: "boolean", int: "number", float: "number", str: "string", type(None): "null"}
            out.add(f"{path or '$'}:{kind.get(type(node), 'other')}")

    if value is not None:
        walk(value, prefix)
    return sorted(out)


def compare(base: dict[str, Any], live: dict[str, Any], system: System) -> ComponentDiff:
    broken: list[dict[str, Any]] = []
    reshaped: list[dict[str, Any]] = []
    unreachable: list[str] = []
    checked = 0
    for tool, endpoints in base.get("tools", {}).items():
        for name, was in endpoints.items():
            now = live.get("tools", {}).get(tool, {}).get(name)
            label = f"{tool}/{name}"
            if now is None or "error" in now:
                unreachable.append(f"{label}: {now['error'] if now else 'no longer in the contracts'}")
                continue
            if "error" in was:
                continue  # nothing to compare with
            checked += 1
            if was.get("ok") and not now.get("ok"):
                broken.append({"contract": label, "status": {"was": was["status"], "now": now["status"]},
                               "violations": now["violations"]})  # fmt: skip
            elif was.get("status") != now.get("status") or was.get("shape") != now.get("shape"):
                gone = sorted(set(was.get("shape", [])) - set(now.get("shape", [])))
                new = sorted(set(now.get("shape", [])) - set(was.get("shape", [])))
                status = {"was": was.get("status"), "now": now.get("status")}
                reshaped.append({"contract": label, "status": status, "fields_gone": gone, "fields_new": new,
                                 "violations": now.get("violations", [])})  # fmt: skip
    evidence: dict[str, Any] = {"broken": broken, "reshaped": reshaped, "unreachable": unreachable, "checked": checked}
    if broken or reshaped:
        lines = [f"{b['contract']} breaks its contract ({'; '.join(b['violations'][:2])})" for b in broken]
        lines += [f"{r['contract']} answers a different shape" + _shape_note(r) for r in reshaped]
        score = 1.0 if broken else 0.4
        return ComponentDiff(component="tools", changed=True, summary="; ".join(lines), evidence=evidence,
                             confidence=1.0 if broken else 0.8, score=score)  # fmt: skip
    if not checked:
        return unknown("tools", "; ".join(unreachable) or "no contract could be compared")
    diff = unchanged("tools", f"{checked} contract test(s) pass as before", evidence)
    if unreachable:
        diff.summary += f" (unreachable: {'; '.join(unreachable)})"
        diff.confidence = 0.6
    return diff


def _shape_note(r: dict[str, Any]) -> str:
    bits = []
    if r["status"]["was"] != r["status"]["now"]:
        bits.append(f"status {r['status']['now']}, was {r['status']['was']}")
    if r["fields_gone"]:
        bits.append("gone: " + ", ".join(r["fields_gone"][:4]))
    if r["fields_new"]:
        bits.append("new: " + ", ".join(r["fields_new"][:4]))
    return f" ({'; '.join(bits)})" if bits else ""


def problems(data: dict[str, Any]) -> list[str]:
    return [f"{tool}/{name}: {r['error']}" for tool, eps in data.get("tools", {}).items()
            for name, r in eps.items() if "error" in r]  # fmt: skip
