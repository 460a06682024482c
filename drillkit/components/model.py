"""The model fingerprint: what each provider says it serves, and how it behaves.

For each probed provider (`components.model.providers`, default all), every canary of
`components.model.canaries` is sent at temperature 0 to the provider's base URL — the same URL the
service uses, so the fault proxy's silent swaps are seen — and we keep the reported model names,
the `system_fingerprint` values (null = the provider does not say: *unknown*, never "unchanged")
and each answer. The diff compares answers with the baseline's by token similarity: a swap that
keeps the reported name and fingerprint still changes what the canaries say.

A change is declared when the reported name or a known fingerprint differs, when the service's
active model (the `active` probe) differs, or when the canaries diverge: at least two below
`components.model.similarity`, or the mean below it (one odd answer from a provider that is not
quite deterministic at temperature 0 is noise, not a swap).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx

from drillkit.components.common import (
    active_change,
    describe_http_error,
    probe_active,
    sha256_bytes,
    similarity,
    unchanged,
    unknown,
)
from drillkit.components.types import ComponentDiff
from drillkit.config.components import Canaries, Canary
from drillkit.config.loader import load_model
from drillkit.config.system import Provider, System
from drillkit.config.types import expand_headers
from drillkit.errors import InputError

ANTHROPIC_VERSION = "2023-06-01"


def load_canaries(system: System) -> list[Canary]:
    comp = system.components.model
    path = system.resolve(comp.canaries) if comp and comp.canaries else None
    if path is None:
        return []
    return load_model(path, Canaries).canaries


def probed_providers(system: System) -> dict[str, Provider]:
    comp = system.components.model
    names = comp.providers if comp and comp.providers else list(system.providers)
    unknown_names = [n for n in names if n not in system.providers]
    if unknown_names:
        raise InputError(f"components.model.providers: no provider named {', '.join(unknown_names)} in the manifest")
    return {n: system.providers[n] for n in names}


async def fingerprint(system: System, client: httpx.AsyncClient) -> dict[str, Any]:
    comp = system.components.model
    assert comp is not None
    canaries = load_canaries(system)
    providers = probed_providers(system)
    extra = {name: expand_headers(p.headers, f"providers.{name}.headers") for name, p in providers.items()}
    jobs = {(name, c.id): ask(client, p, c, extra[name]) for name, p in providers.items() for c in canaries}
    answers = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
    data: dict[str, Any] = {"pinned": comp.pinned, "providers": {}}
    for name, provider in providers.items():
        mine = {cid: answers[(n, cid)] for (n, cid) in answers if n == name}
        ok = [a for a in mine.values() if "error" not in a]
        data["providers"][name] = {
            "requested": provider.model,
            "reported": sorted({a["model"] for a in ok if a.get("model")}),
            "system_fingerprint": sorted({a["system_fingerprint"] for a in ok if a.get("system_fingerprint")}) or None,
            "canaries": mine,
        }
    data |= await probe_active(client, comp.active)
    return data


async def ask(
    client: httpx.AsyncClient, provider: Provider, canary: Canary, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """One canary to one provider: `{text, sha256, model, system_fingerprint}` or `{error}`.

    `extra` are the manifest's `providers.<name>.headers` (`${VAR}` expanded); they win over the
    key header built from `api_key_env`. Their values are sent, never recorded.
    """
    base = str(provider.base_url).rstrip("/")
    key = os.environ.get(provider.api_key_env, "") if provider.api_key_env else ""
    chat = canary.chat()
    if provider.api == "anthropic":
        system_text = "\n\n".join(m["content"] for m in chat if m["role"] == "system")
        body: dict[str, Any] = {
            "model": provider.model,
            "max_tokens": canary.max_tokens,
            "temperature": 0,
            "messages": [m for m in chat if m["role"] != "system"],
        }
        if system_text:
            body["system"] = system_text
        url, headers = f"{base}/messages", {"x-api-key": key or "drillkit", "anthropic-version": ANTHROPIC_VERSION}
    else:
        body = {"model": provider.model, "temperature": 0, "max_tokens": canary.max_tokens, "messages": chat}
        url, headers = f"{base}/chat/completions", {"authorization": f"Bearer {key or 'drillkit'}"}
    headers |= extra or {}
    try:
        r = await client.post(url, json=body, headers=headers, timeout=provider.timeout)
        r.raise_for_status()
        reply = r.json()
        if provider.api == "anthropic":
            text = "".join(b.get("text", "") for b in reply.get("content", []) if b.get("type") == "text")
            fp = None
        else:
            text = reply["choices"][0]["message"]["content"] or ""
            fp = reply.get("system_fingerprint")
    except httpx.HTTPError as exc:
        return {"error": describe_http_error(exc)}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return {"error": f"unusable answer: {type(exc).__name__}: {exc}"[:200]}
    return {"text": text, "sha256": sha256_bytes(text.encode()), "model": reply.get("model"), "system_fingerprint": fp}


def compare(base: dict[str, Any], live: dict[str, Any], system: System) -> ComponentDiff:
    comp = system.components.model
    threshold = comp.similarity if comp else 0.9
    evidence: dict[str, Any] = {"providers": {}}
    reasons: list[str] = []
    unknowns: list[str] = []
    score = confidence = 0.0
    for name, was in base.get("providers", {}).items():
        now = live.get("providers", {}).get(name)
        if now is None:
            unknowns.append(f"{name}: not probed now")
            continue
        ev, why, s, c, unk = _compare_provider(name, was, now, threshold)
        evidence["providers"][name] = ev
        reasons += why
        unknowns += unk
        score, confidence = max(score, s), max(confidence, c)
    moved = active_change(base, live)
    if moved is not None:
        evidence["active"] = moved
        reasons.append(f"the service now calls {_moved_models(moved)}")
        score, confidence = max(score, 0.5), max(confidence, 1.0)
    elif "active_error" in live:
        unknowns.append(f"active model: {live['active_error']}")
    if reasons:
        return ComponentDiff(component="model", changed=True, summary="; ".join(reasons), evidence=evidence,
                             confidence=round(confidence, 3), score=round(score, 3))  # fmt: skip
    probed = [n for n, ev in evidence["providers"].items() if ev.get("compared")]
    blind = [n for n, ev in evidence["providers"].items() if not ev.get("compared")]
    if blind or not probed:
        # A provider we could not question may have changed: say unknown, never "unchanged".
        diff = unknown("model", "; ".join(unknowns) or "no canaries answered")
        diff.evidence = evidence
        if probed:
            diff.summary += f" (unchanged on {', '.join(probed)})"
        return diff
    diff = unchanged("model", f"canaries unchanged on {', '.join(probed)}", evidence)
    if unknowns:
        diff.summary += f" ({'; '.join(unknowns)})"
        diff.confidence = 0.8
    return diff


def _compare_provider(
    name: str, was: dict[str, Any], now: dict[str, Any], threshold: float
) -> tuple[dict[str, Any], list[str], float, float, list[str]]:
    ev: dict[str, Any] = {"requested": now.get("requested")}
    why: list[str] = []
    unk: list[str] = []
    score = confidence = 0.0
    if was.get("reported") and now.get("reported") and was["reported"] != now["reported"]:
        ev["reported"] = {"was": was["reported"], "now": now["reported"]}
        why.append(f"{name} reports {', '.join(now['reported'])} (was {', '.join(was['reported'])})")
        score, confidence = max(score, 0.6), 1.0
    fp_was, fp_now = was.get("system_fingerprint"), now.get("system_fingerprint")
    if fp_was and fp_now and fp_was != fp_now:
        ev["system_fingerprint"] = {"was": fp_was, "now": fp_now}
        why.append(f"{name} system_fingerprint {', '.join(fp_now)} (was {', '.join(fp_was)})")
        score, confidence = max(score, 0.5), max(confidence, 0.9)
    elif bool(fp_was) != bool(fp_now):
        ev["system_fingerprint"] = {"was": fp_was, "now": fp_now, "note": "one side unknown (null)"}
    sims = []
    failures: dict[str, int] = {}
    for cid, a in was.get("canaries", {}).items():
        b = now.get("canaries", {}).get(cid)
        if b is not None and "error" in b:
            failures[b["error"]] = failures.get(b["error"], 0) + 1
        if b is None or "text" not in a or "text" not in b:
            continue
        sims.append({"id": cid, "similarity": round(similarity(a["text"], b["text"]), 3)})
    if failures:
        errors = ", ".join(f"{e} ×{n}" if n > 1 else e for e, n in failures.items())
        unk.append(f"{name}: {sum(failures.values())} canaries failed ({errors})")
    ev["canaries"] = sims
    ev["compared"] = len(sims)
    if sims:
        diverged = [s for s in sims if s["similarity"] < threshold]
        mean = sum(s["similarity"] for s in sims) / len(sims)
        ev["mean_similarity"] = round(mean, 3)
        ev["diverged"] = [s["id"] for s in diverged]
        if len(diverged) >= min(2, len(sims)) or mean < threshold:
            share = len(diverged) / len(sims)
            why.append(
                f"{name}: {len(diverged)} of {len(sims)} canaries answer differently "
                f"(mean similarity {mean:.2f}, threshold {threshold:g})"
            )
            score = max(score, min(1.0, 0.4 + share))
            confidence = max(confidence, min(1.0, 0.6 + 0.4 * share))
    return ev, why, score, confidence, unk


def _moved_models(moved: dict[str, Any]) -> str:
    """`primary now sim-pro-2025-11 (was sim-pro)`: only the entries that differ."""
    was, now = moved["was"], moved["now"]
    if isinstance(was, dict) and isinstance(now, dict):
        keys = [k for k in {**was, **now} if was.get(k) != now.get(k)]
        return ", ".join(f"{k} {now.get(k)} (was {was.get(k)})" for k in keys)
    return f"{now} (was {was})"


def problems(data: dict[str, Any]) -> list[str]:
    """What this fingerprint could not see (a baseline with gaps cannot vouch for them)."""
    out = [f"provider {name}: no canary answered" for name, p in data.get("providers", {}).items()
           if p.get("canaries") and not any("text" in c for c in p["canaries"].values())]  # fmt: skip
    return out + ([data["active_error"]] if "active_error" in data else [])
