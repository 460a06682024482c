"""Served vs pinned: is the model behind the service the version the team pinned? No baseline needed.

`components.model.pinned` names the version the team vouches for (e.g. `sim-pro-2025-06`). For
the providers it applies to — whose `model` is the pinned name or an alias it extends
(`sim-pro` → `sim-pro-2025-06`), or that the service says it calls the pinned version on; when
none is, the first probed provider — the canaries are sent twice at temperature 0: once to the
model the service calls now (the `active` probe's answer, else the manifest's `model`) and once
to the pinned version, through the same base URL. Different answers mean the name the service
calls no longer serves the pinned weights: the silent swap, seen without any baseline.

Also a change: the service calls a model that is neither the manifest's nor the pinned one; a
provider reports serving a model other than the one asked for and the pinned one; the two
`system_fingerprint`s differ. The canary rule is the baseline diff's: at least two answers below
`components.model.similarity`, or the mean below it. Agreement is `unchanged` with high
confidence for the providers compared; where the service calls the pinned name itself, only the
reported names can be checked (medium).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from drillkit.components.common import probe_active, similarity, unknown
from drillkit.components.model import ask, load_canaries, probed_providers
from drillkit.components.types import ComponentDiff
from drillkit.config.components import Canary
from drillkit.config.system import Provider, System
from drillkit.config.types import expand_headers


@dataclass
class _Found:
    """What the comparison found so far: evidence, reasons for a change, how sure and how large."""

    evidence: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    confidence: float = 0.0
    score: float = 0.0

    def change(self, reason: str, confidence: float, score: float) -> None:
        self.reasons.append(reason)
        self.confidence, self.score = max(self.confidence, confidence), max(self.score, score)


async def served_vs_pinned(system: System, client: httpx.AsyncClient) -> ComponentDiff | None:
    """The model verdict against `components.model.pinned`; None when nothing is pinned."""
    comp = system.components.model
    if comp is None or not comp.pinned:
        return None
    pinned = comp.pinned
    providers = probed_providers(system)
    state = await probe_active(client, comp.active)
    called = _called(providers, state.get("active"))
    found = _Found(evidence={"pinned": pinned, "calls": called, "providers": {}})
    if "active_error" in state:
        found.evidence["active_error"] = state["active_error"]
    for name, model in called.items():
        if model not in (providers[name].model, pinned):
            found.change(f"the service calls {model} on {name} (manifest: {providers[name].model}, pinned: {pinned})",
                         1.0, 0.5)  # fmt: skip
    canaries = load_canaries(system)
    names = _applies(providers, called, pinned)
    jobs = [_check(client, n, providers[n], called[n], pinned, canaries, comp.similarity) for n in names]
    for name, one in zip(names, await asyncio.gather(*jobs), strict=True):
        found.evidence["providers"][name] = one.evidence
        for reason in one.reasons:
            found.change(f"{name}: {reason}", one.confidence, one.score)
    return _verdict(found, comp.similarity)


def _verdict(found: _Found, threshold: float) -> ComponentDiff:
    evidence, pinned = found.evidence, found.evidence["pinned"]
    if found.reasons:
        return ComponentDiff(component="model", changed=True, summary="; ".join(found.reasons), evidence=evidence,
                             confidence=round(found.confidence, 3), score=round(found.score, 3),
                             basis="pinned")  # fmt: skip
    compared = {n: ev for n, ev in evidence["providers"].items() if ev.get("compared")}
    by_name = [n for n, ev in evidence["providers"].items() if ev.get("by_name")]
    if not compared and not by_name:
        problems = "; ".join(ev.get("problem", "") for ev in evidence["providers"].values()) or "no canary answered"
        diff = unknown("model", f"cannot compare the served model with the pinned {pinned}: {problems}")
        diff.evidence, diff.basis = evidence, "pinned"
        return diff
    parts = [
        f"{n} answers the canaries as the pinned {pinned} does "
        f"(mean similarity {ev['mean_similarity']:.2f}, threshold {threshold:g})"
        for n, ev in compared.items()
    ]
    parts += [f"{n} is called by the pinned name {pinned}; the weights behind a name cannot be checked "
              "without a baseline" for n in by_name]  # fmt: skip
    return ComponentDiff(component="model", changed=False, summary="; ".join(parts), evidence=evidence,
                         confidence=0.8 if compared else 0.5, basis="pinned")  # fmt: skip


def _called(providers: dict[str, Provider], active: Any) -> dict[str, str]:
    """The model the service calls on each provider: the `active` probe's, else the manifest's."""
    called = {name: p.model for name, p in providers.items()}
    if isinstance(active, dict):
        called |= {n: m for n, m in active.items() if n in called and isinstance(m, str) and m}
    elif isinstance(active, str) and active and called:
        called[next(iter(called))] = active
    return called


def _applies(providers: dict[str, Provider], called: dict[str, str], pinned: str) -> list[str]:
    """The providers the pinned version is about (see the module doc)."""
    mine = [
        n
        for n, p in providers.items()
        if p.model == pinned or pinned.startswith(p.model + "-") or called.get(n) == pinned
    ]
    return mine or list(providers)[:1]


async def _check(
    client: httpx.AsyncClient,
    name: str,
    provider: Provider,
    model: str,
    pinned: str,
    canaries: list[Canary],
    threshold: float,
) -> _Found:
    """One provider: the canaries asked of `model` and of `pinned`, compared."""
    extra = expand_headers(provider.headers, f"providers.{name}.headers")
    jobs = [ask(client, provider.model_copy(update={"model": model}), c, extra) for c in canaries]
    if model != pinned:
        jobs += [ask(client, provider.model_copy(update={"model": pinned}), c, extra) for c in canaries]
    answers = await asyncio.gather(*jobs)
    served, reference = answers[: len(canaries)], answers[len(canaries) :]
    found = _Found(evidence={"calls": model})
    reported = sorted({a["model"] for a in served if a.get("model")} - {model, pinned, provider.model})
    if reported:
        found.evidence["reported"] = reported
        found.change(f"{model} reports serving {', '.join(reported)} (pinned: {pinned})", 0.9, 0.6)
    if not reference:
        found.evidence["by_name"] = any("text" in a for a in served)
        if not found.evidence["by_name"]:
            found.evidence["problem"] = _failures(served) or "no canary answered"
        return found
    _fingerprints(found, served, reference, model, pinned)
    sims = [
        {"id": c.id, "similarity": round(similarity(a["text"], b["text"]), 3)}
        for c, a, b in zip(canaries, served, reference, strict=True)
        if "text" in a and "text" in b
    ]
    found.evidence["canaries"], found.evidence["compared"] = sims, len(sims)
    if not sims:
        said = {pinned: _failures(reference), model: _failures(served)}
        found.evidence["problem"] = "; ".join(f"{m}: {e or 'answered'}" for m, e in said.items())
        return found
    diverged = [s["id"] for s in sims if s["similarity"] < threshold]
    mean = sum(s["similarity"] for s in sims) / len(sims)
    found.evidence["mean_similarity"], found.evidence["diverged"] = round(mean, 3), diverged
    if len(diverged) >= min(2, len(sims)) or mean < threshold:
        share = len(diverged) / len(sims)
        found.change(f"{model} answers {len(diverged)} of {len(sims)} canaries differently from the pinned {pinned} "
                     f"(mean similarity {mean:.2f}, threshold {threshold:g})",
                     min(1.0, 0.6 + 0.4 * share), min(1.0, 0.4 + share))  # fmt: skip
    return found


def _fingerprints(
    found: _Found, served: list[dict[str, Any]], reference: list[dict[str, Any]], model: str, pinned: str
) -> None:
    """Known `system_fingerprint`s that differ between the served model and the pinned one."""
    now = sorted({a["system_fingerprint"] for a in served if a.get("system_fingerprint")})
    ref = sorted({a["system_fingerprint"] for a in reference if a.get("system_fingerprint")})
    if now and ref and now != ref:
        found.evidence["system_fingerprint"] = {"served": now, "pinned": ref}
        found.change(f"{model} reports system_fingerprint {', '.join(now)}, the pinned {pinned} {', '.join(ref)}",
                     0.8, 0.5)  # fmt: skip


def _failures(answers: list[dict[str, Any]]) -> str:
    return ", ".join(sorted({a["error"] for a in answers if "error" in a}))


__all__ = ["served_vs_pinned"]
