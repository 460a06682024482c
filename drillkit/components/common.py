"""Helpers shared by the component fingerprints: hashing, the `active` probe, similarity."""

from __future__ import annotations

import difflib
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from drillkit.components.types import Component, ComponentDiff, Fingerprint
from drillkit.config.system import ActiveProbe
from drillkit.errors import InputError

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_manifest(root: Path) -> dict[str, dict[str, Any]]:
    """`{relative path: {sha256, size}}` of every regular file under `root` (dotfiles skipped).

    `root` may be a single file (then its name is the only key). Missing root: FileNotFoundError.
    """
    if root.is_file():
        files = [root]
        base = root.parent
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root)))
        base = root
    else:
        raise FileNotFoundError(f"{root} does not exist")
    out = {}
    for path in files:
        data = path.read_bytes()
        out[path.relative_to(base).as_posix()] = {"sha256": sha256_bytes(data), "size": len(data)}
    return out


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def compare_manifests(base: dict[str, dict[str, Any]], live: dict[str, dict[str, Any]]) -> dict[str, list]:
    """Which entries were added, removed or changed (by hash) between two `file_manifest`s."""
    added = sorted(live.keys() - base.keys())
    removed = sorted(base.keys() - live.keys())
    changed = [
        {"id": k, "was": {"sha256": base[k]["sha256"], "size": base[k]["size"]},
         "now": {"sha256": live[k]["sha256"], "size": live[k]["size"]}}
        for k in sorted(base.keys() & live.keys())
        if base[k]["sha256"] != live[k]["sha256"]
    ]  # fmt: skip
    return {"added": added, "removed": removed, "changed": changed}


def json_pointer(doc: Any, pointer: str) -> Any:
    """Resolve an RFC 6901 pointer (`""` is the whole document). KeyError when it points nowhere."""
    if pointer == "":
        return doc
    node = doc
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(pointer)
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(pointer)
    return node


async def probe_active(client: httpx.AsyncClient, probe: ActiveProbe | None) -> dict[str, Any]:
    """`{"active": value}` from the system's own state endpoint, or `{"active_error": why}`; {} without a probe."""
    if probe is None:
        return {}
    try:
        r = await client.get(str(probe.url), timeout=probe.timeout)
        r.raise_for_status()
        return {"active": json_pointer(r.json(), probe.pointer)}
    except KeyError:
        return {"active_error": f"{probe.url}: no value at {probe.pointer!r}"}
    except (httpx.HTTPError, ValueError) as exc:
        return {"active_error": f"{probe.url}: {describe_http_error(exc)}"}


def describe_http_error(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def active_change(base: dict[str, Any], live: dict[str, Any]) -> dict[str, Any] | None:
    """`{"was", "now"}` when both snapshots read the active version and it differs."""
    if "active" in base and "active" in live and base["active"] != live["active"]:
        return {"was": base["active"], "now": live["active"]}
    return None


def active_unknown(diff: ComponentDiff, base: dict[str, Any], live: dict[str, Any]) -> ComponentDiff:
    """An unchanged verdict that could not read the active version is only partly sure."""
    if diff.changed is False and "active" in base and "active_error" in live:
        diff.summary += f" (active version unknown: {live['active_error']})"
        diff.confidence = 0.6
    return diff


def similarity(a: str, b: str) -> float:
    """How alike two answers are, 0..1: the matching share of their word/punctuation tokens."""
    if a == b:
        return 1.0
    ta, tb = _WORD.findall(a), _WORD.findall(b)
    if not ta and not tb:
        return 1.0
    return difflib.SequenceMatcher(None, ta, tb, autojunk=False).ratio()


async def timed(component: Component, work: Callable[[], Awaitable[dict[str, Any]]]) -> Fingerprint:
    """Run one fingerprint; any failure becomes a Fingerprint with `ok=False` and the reason."""
    start = time.perf_counter()
    try:
        data = await work()
    except InputError:
        raise  # a bad file (canaries, contracts, inputs sample) is bad input, not an unreachable part
    except Exception as exc:  # one component failing must not sink the others
        return Fingerprint(component=component, ok=False, error=_reason(exc), took_s=time.perf_counter() - start)
    return Fingerprint(component=component, data=data, took_s=round(time.perf_counter() - start, 4))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPError):
        return describe_http_error(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def unknown(component: Component, reason: str) -> ComponentDiff:
    return ComponentDiff(component=component, changed=None, summary=f"unknown: {reason}", reason=reason)


def unchanged(component: Component, summary: str, evidence: dict[str, Any] | None = None) -> ComponentDiff:
    return ComponentDiff(component=component, changed=False, summary=summary, evidence=evidence or {}, confidence=1.0)
