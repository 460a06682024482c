"""The inputs fingerprint: the distribution of the inputs sample, and its drift from the baseline.

`components.inputs.sample` is JSON lines of request bodies (the same file game-day traffic uses);
each record's text is its string values joined. We keep no raw input, only its distribution:

- length (characters) quantiles and a histogram over fixed bins;
- the script mix of its letters (Latin, Cyrillic, CJK, Arabic, …) — a language shift shows here;
- the top terms (lower-cased words of 3+ letters, common English stop words left out).

The
term PSI uses the baseline's 10 top terms plus an `(other)` bin, smoothed (see `term_bins`).

Drift is the Population Stability Index, PSI = Σ (live − base) · ln(live / base) over the bins of
each distribution (shares smoothed by 1e-4 so an empty bin is finite); the score is the largest of
the three. Above `components.inputs.drift_threshold` (default 0.2, the usual "significant shift"
mark; 0.1–0.2 is "moderate") the inputs changed. A sample file edited without shifting the
distribution is reported, but not as a change.
"""

from __future__ import annotations

import asyncio
import math
import re
import unicodedata
from collections import Counter
from typing import Any

import httpx

from drillkit.components.common import sha256_bytes
from drillkit.components.types import ComponentDiff
from drillkit.config.system import System
from drillkit.evals.wire import question_of
from drillkit.traffic.inputs import load_inputs

LENGTH_EDGES = (16, 32, 64, 128, 256, 512, 1024)
TOP_TERMS = 30  # kept as evidence
PSI_TERMS = 10  # compared: more bins make a small sample's noise look like drift
TERM_ALPHA = 0.5
EPSILON = 1e-4
_TERM = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = """
the and for are but not you your with this that have has had was were will would can could
what when where which who whom why how all any our out from they them their there then than
into about over just also its it's does did doing been being more most some such only own same
very should shall may might must let get got please thanks thank
"""
STOP_WORDS = frozenset(_STOP.split())
SCRIPTS = ("latin", "cyrillic", "greek", "arabic", "hebrew", "devanagari", "cjk", "hangul", "thai", "other")


def script_of(ch: str) -> str:
    """The writing system of one letter, from its Unicode name (cheap and good enough for a mix)."""
    name = unicodedata.name(ch, "")
    for script, marker in (
        ("latin", "LATIN"), ("cyrillic", "CYRILLIC"), ("greek", "GREEK"), ("arabic", "ARABIC"),
        ("hebrew", "HEBREW"), ("devanagari", "DEVANAGARI"), ("hangul", "HANGUL"), ("thai", "THAI"),
    ):  # fmt: skip
        if name.startswith(marker):
            return script
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA")):
        return "cjk"
    return "other"


def text_of(record: Any) -> str:
    """What users wrote: a record's question (`question`, or its last user message), else all of
    its text. A chat body's system prompt is the same on every request and would hide a shift."""
    question = question_of(record)
    if question is not None:
        return question
    return _all_text(record)


def _all_text(record: Any) -> str:
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        return " ".join(_all_text(v) for v in record.values())
    if isinstance(record, list):
        return " ".join(_all_text(v) for v in record)
    return ""


def profile(records: list[Any]) -> dict[str, Any]:
    """The distribution of a list of request bodies (see module doc)."""
    texts = [text_of(r) for r in records]
    lengths = sorted(len(t) for t in texts)
    bins = Counter(_bin(n) for n in lengths)
    scripts: Counter[str] = Counter()
    terms: Counter[str] = Counter()
    for t in texts:
        scripts.update(script_of(ch) for ch in t if ch.isalpha())
        terms.update(w for w in (m.lower() for m in _TERM.findall(t)) if w not in STOP_WORDS)
    n_letters = sum(scripts.values()) or 1
    n_terms = sum(terms.values()) or 1
    return {
        "records": len(texts),
        "length": {
            "mean": round(sum(lengths) / len(lengths), 1) if lengths else 0,
            **{f"p{q}": _quantile(lengths, q / 100) for q in (10, 50, 90, 99)},
        },
        "length_bins": {label: round(bins.get(label, 0) / max(len(lengths), 1), 4) for label in _bin_labels()},
        "scripts": {s: round(c / n_letters, 4) for s, c in scripts.most_common()},
        "terms": {w: round(c / n_terms, 4) for w, c in terms.most_common(TOP_TERMS)},
        "terms_total": sum(terms.values()),
    }


def _bin(n: int) -> str:
    for edge in LENGTH_EDGES:
        if n < edge:
            return f"<{edge}"
    return f">={LENGTH_EDGES[-1]}"


def _bin_labels() -> list[str]:
    return [f"<{e}" for e in LENGTH_EDGES] + [f">={LENGTH_EDGES[-1]}"]


def _quantile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return round(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo), 1)


def psi(base: dict[str, float], live: dict[str, float]) -> float:
    """Population Stability Index of two share distributions over the union of their bins."""
    total = 0.0
    for key in base.keys() | live.keys():
        b = max(base.get(key, 0.0), EPSILON)
        a = max(live.get(key, 0.0), EPSILON)
        total += (a - b) * math.log(a / b)
    return total


def term_bins(profile: dict[str, Any], keep: list[str]) -> dict[str, float]:
    """Term shares over `keep` plus one `(other)` bin, additively smoothed by their counts.

    Smoothing (TERM_ALPHA per bin) keeps a term that a smaller sample happens to miss from
    counting as a shift: without it, re-drawing half of the same sample scores PSI 0.2–0.5.
    """
    total = profile.get("terms_total", 0)
    counts = {t: profile.get("terms", {}).get(t, 0.0) * total for t in keep}
    counts["(other)"] = max(0.0, total - sum(counts.values()))
    denom = total + TERM_ALPHA * len(counts)
    return {t: (c + TERM_ALPHA) / denom for t, c in counts.items()}


async def fingerprint(system: System, client: httpx.AsyncClient) -> dict[str, Any]:
    comp = system.components.inputs
    assert comp is not None
    path = system.resolve(comp.sample)
    assert path is not None
    raw = await asyncio.to_thread(path.read_bytes)
    records = await asyncio.to_thread(load_inputs, path)
    return {"sample": str(path), "sha256": sha256_bytes(raw), **profile(records)}


def compare(base: dict[str, Any], live: dict[str, Any], system: System) -> ComponentDiff:
    comp = system.components.inputs
    threshold = comp.drift_threshold if comp else 0.2
    top = list(base.get("terms", {}))[:PSI_TERMS]
    scores = {
        "length": psi(base.get("length_bins", {}), live.get("length_bins", {})),
        "scripts": psi(base.get("scripts", {}), live.get("scripts", {})),
        # Terms: the baseline's top terms plus one bin for every other word.
        "terms": psi(term_bins(base, top), term_bins(live, top)),
    }
    drift = max(scores.values())
    evidence = {
        "psi": {k: round(v, 4) for k, v in scores.items()},
        "drift": round(drift, 4),
        "threshold": threshold,
        "records": {"was": base.get("records"), "now": live.get("records")},
        "length_p50": {"was": base.get("length", {}).get("p50"), "now": live.get("length", {}).get("p50")},
        "scripts": {"was": base.get("scripts"), "now": live.get("scripts")},
        "new_top_terms": [t for t in list(live.get("terms", {}))[:10] if t not in base.get("terms", {})],
        "sample_changed": base.get("sha256") != live.get("sha256"),
    }
    worst = max(scores, key=lambda k: scores[k])
    if drift >= threshold:
        return ComponentDiff(
            component="inputs", changed=True,
            summary=f"inputs drifted: PSI {drift:.2f} on {worst} (threshold {threshold:g})",
            evidence=evidence, confidence=round(min(1.0, 0.5 + drift / (4 * threshold)), 3),
            score=round(min(1.0, drift / (2 * threshold)), 3),
        )  # fmt: skip
    note = "sample edited, distribution holds" if evidence["sample_changed"] else "sample unchanged"
    return ComponentDiff(
        component="inputs", changed=False, summary=f"{note} (PSI {drift:.2f} < {threshold:g})", evidence=evidence,
        confidence=round(max(0.5, 1.0 - drift / threshold / 2), 3), score=round(drift / (2 * threshold), 3),
    )  # fmt: skip


def problems(data: dict[str, Any]) -> list[str]:
    return [] if data.get("records") else ["the inputs sample is empty"]
