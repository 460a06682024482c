"""Redaction: what drillkit stores must be safe to keep, so secrets and personal data are replaced
before anything reaches disk (journals, summaries, incident records, baselines, reports).

    redactor = Redactor.for_system(system)          # built-in rules + the manifest's redaction.rules
    Journal(path, redact=redactor)                   # every entry's data passes through it
    clean = redactor({"q": "mail jane@example.com"}) # -> {"q": "mail <email:1>"} (a deep copy)
    redactor.policy                                  # {"version": "drillkit-redact/1", "rules": [...]}

Contract (policy `drillkit-redact/1`):

- Dict keys are kept; string values are scanned. A value under a secret-ish key (`authorization`,
  `api_key`, `password`, `token`, `cookie`, `*_secret`, …) is replaced whole, whatever it looks
  like; under `email` / `phone` keys whole as well. Numbers and booleans are kept, except an
  integer that is a Luhn-valid card number.
- Each match becomes a placeholder `<rule:n>`: the same value maps to the same placeholder within
  one `Redactor` (one run, one incident), so "the same customer asked twice" stays visible, and
  nothing derived from the value is stored (a plain hash of a phone number is brute-forced in
  seconds). The value → placeholder table lives in memory only.
- Placeholders already in a text are left alone, so redacting twice changes nothing.
- Built-in rules, in priority order (an earlier rule's match wins an overlap): `private_key`
  (PEM blocks, also a truncated one), `jwt`, `bearer` (the token after `Bearer`), `credentials`
  (user:password in a URL), `secret` (the value in `password=…`, `api_key: …`, `token=…`,
  `Authorization: Basic …` text), `api_key` (`sk-…`, `sk-ant-…`, Stripe, GitHub,
  GitLab, Slack, Google, Hugging Face key formats), `aws_key` (AKIA…/ASIA… key ids), `email`,
  `card` (13–19 digits, optionally grouped, Luhn-valid, with a card network's prefix), `phone`
  (international `+…`, North American and leading-zero national formats), `ipv4` and `ipv6`
  (loopback and unspecified addresses are kept: they identify nobody). Then the manifest's rules
  (`redaction.rules[].pattern`, whole match replaced, or only the named group `value` if the
  pattern has one).
- Kept on purpose (tested): dates, ISO timestamps, durations, prices, versions, order ids like
  A1003, SKUs, run ids, trace ids, SHA-256 digests.

Why not `detect-secrets`: measured on the development VM it costs ~170–220 ms to import and its
plugins are built for source lines: the high-entropy plugins only look inside quoted strings (an
unquoted `sk-…` in an answer is missed) and flag every quoted SHA-256 digest and trace id (the
journal's `prev`), the keyword plugin costs 0.1–0.6 ms per line for what a dict key check does
structurally, and its AWS/JWT/private-key plugins are single regexes (its JWT match drops the
signature). The rules here are those regexes, tuned for prose and JSON, and cost ~50–150 µs for a
journal entry carrying an answer (`tests/journal/test_redact.py` measures it).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drillkit.config.system import System

POLICY_VERSION = "drillkit-redact/1"

#: A placeholder this module wrote: never redacted again.
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9_-]*:\d+>")

Span = tuple[int, int]

# -- the rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One way to find sensitive text. `find` yields (start, end) spans to replace with `<name:n>`.

    `hint` is a cheap test that must be true for the rule to have any chance (skips the regex on
    most strings); `near` is a loose, fast pattern: the strict one only runs where it matched (the
    strict patterns' lookarounds are slow to try at every position of a long answer); `accept`
    validates a match (Luhn, octet ranges); `group` is the part replaced.
    """

    name: str
    pattern: re.Pattern[str]
    group: int | str = 0
    hint: Callable[[str], bool] | None = None
    accept: Callable[[str], bool] | None = None
    near: re.Pattern[str] | None = None

    def find(self, text: str) -> Iterator[Span]:
        if self.near is None:
            yield from self._find(text, 0, len(text))
            return
        for candidate in self.near.finditer(text):
            # Lookbehinds see before `pos`; give the lookaheads two characters past the candidate.
            yield from self._find(text, candidate.start(), min(len(text), candidate.end() + 2))

    def _find(self, text: str, pos: int, endpos: int) -> Iterator[Span]:
        for m in self.pattern.finditer(text, pos, endpos):
            if m.group(self.group) is None:
                continue
            start, end = m.span(self.group)
            if start < end and (self.accept is None or self.accept(m.group(self.group))):
                yield start, end


class CardRule(Rule):
    """Card numbers: a run of digit groups (spaces or dashes between), Luhn-valid, with a network
    prefix. A longer run (a table of numbers) is searched for consecutive groups that make one."""

    def _find(self, text: str, pos: int, endpos: int) -> Iterator[Span]:
        for m in self.pattern.finditer(text, pos, endpos):
            if m.end() - m.start() < 13:  # fewer than 13 digits: not a card (most matches)
                continue
            groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", m.group())]
            base = m.start()
            i = 0
            while i < len(groups):
                for j in range(min(len(groups), i + 8) - 1, i - 1, -1):  # longest first
                    digits = "".join(m.group()[s:e] for s, e in groups[i : j + 1])
                    if is_card_number(digits):
                        yield base + groups[i][0], base + groups[j][1]
                        i = j
                        break
                i += 1


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Card networks' prefixes (IIN ranges): Visa 4; Mastercard 51–55, 2221–2720; Amex 34, 37;
# Discover 6011, 64, 65; JCB 35; Diners 30, 36, 38, 39; UnionPay 62; Maestro 50, 56–58, 67.
_IIN = re.compile(r"4|5[0-8]|2[2-7]|3[0456789]|6[0-9]")


def is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _IIN.match(digits) is not None and luhn_ok(digits)


def _ipv4_ok(text: str) -> bool:
    octets = text.split(".")
    if any(len(o) > 1 and o[0] == "0" for o in octets) or any(int(o) > 255 for o in octets):
        return False
    address = ipaddress.IPv4Address(text)
    return not (address.is_loopback or address.is_unspecified)


def _ipv6_ok(text: str) -> bool:
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def _phone_ok(text: str) -> bool:
    return 8 <= sum(ch.isdigit() for ch in text) <= 15


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


_SECRET_WORDS = (
    r"password|passwd|passphrase|secret|client[_-]?secret|secret[_-]?key|private[_-]?key|api[_-]?key|apikey"
    r"|x-api-key|access[_-]?token|refresh[_-]?token|auth[_-]?token|id[_-]?token|session[_-]?token|token"
    r"|aws[_-]?secret[_-]?access[_-]?key|authorization"
)

_DOTTED = re.compile(r"\.\d{1,3}\.\d")  # starts with a literal: sre skips to each "." fast
_API_KEY_PREFIXES = ("sk-", "k_live_", "k_test_", "gh", "github_pat_", "glpat-", "xox", "AIza", "hf_")

BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(
        "private_key",
        re.compile(
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
            r"|(?:[A-Za-z0-9+/=]{16,}\r?\n)+-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----",
            re.DOTALL,
        ),
        hint=lambda t: "PRIVATE KEY" in t,
    ),
    Rule(
        "jwt",
        re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"),
        hint=lambda t: "eyJ" in t,
    ),
    Rule(
        "bearer",
        re.compile(r"(?i:\bbearer)\s+((?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,})"),
        group=1,
        hint=lambda t: "earer" in t or "EARER" in t,
    ),
    Rule(
        "credentials",
        re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://([^/\s:@]+:[^/\s@]+)@"),
        group=1,
        hint=lambda t: "://" in t,
    ),
    Rule(
        "secret",
        re.compile(
            rf"(?i)(?<![\w-])(?:{_SECRET_WORDS})[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?"
            r"([^\s\"'&,;<>]{4,})"
        ),
        group=1,
        hint=lambda t: (
            ("=" in t or ":" in t) and any(w in t.lower() for w in ("pass", "secret", "key", "token", "auth"))
        ),
    ),
    Rule(
        "api_key",
        re.compile(
            r"(?<![\w-])(?:sk-[A-Za-z0-9_-]{16,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{30,}"
            r"|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
            r"|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,})"
        ),
        hint=lambda t: any(p in t for p in _API_KEY_PREFIXES),
    ),
    Rule(
        "aws_key",
        re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
        hint=lambda t: any(p in t for p in ("AKIA", "ASIA", "ABIA", "ACCA", "AROA", "AIDA")),
    ),
    Rule(
        "email",
        re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"),
        hint=lambda t: "@" in t,
    ),
    CardRule(
        "card",
        re.compile(r"(?<![\w.,+-])\d+(?:[ -]\d+)*(?![\w]|[.,]\d)"),
        hint=_has_digit,
        near=re.compile(r"\d(?:[ -]?\d){12,}"),
    ),
    Rule(
        "phone",
        re.compile(
            r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w]|[.-]\d)"
            r"|(?<![\w.+-])(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w]|[.-]\d)"
            r"|(?<![\w.+-])0\d{1,4}[ -]\d{3,4}[ -]\d{3,4}(?![\w]|[.-]\d)"
        ),
        hint=_has_digit,
        accept=_phone_ok,
        near=re.compile(r"[+(\d][\d ().-]{7,}\d"),
    ),
    Rule(
        "ipv4",
        re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"),
        hint=lambda t: t.count(".") >= 3 and _DOTTED.search(t) is not None,
        accept=_ipv4_ok,
        near=re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
    ),
    Rule(
        "ipv6",
        re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"),
        hint=lambda t: t.count(":") >= 2,
        accept=_ipv6_ok,
    ),
)

# -- keys whose values are replaced whole ------------------------------------------------------

_SECRET_KEYS = frozenset(
    {"authorization", "proxyauthorization", "apikey", "xapikey", "token", "password", "passwd", "passphrase",
     "secret", "cookie", "setcookie", "privatekey", "secretkey", "accesskey", "credentials",
     "awssecretaccesskey", "sessiontoken", "accesstoken", "refreshtoken", "idtoken", "clientsecret"}
)  # fmt: skip
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "apikey", "privatekey", "credentials", "cookie")
_LABELLED_KEYS = {"email": "email", "emailaddress": "email", "phone": "phone", "phonenumber": "phone",
                  "tel": "phone", "telephone": "phone", "mobile": "phone"}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def key_label(key: str) -> str | None:
    """The placeholder label for every value under `key` ("secret", "email", "phone"), or None."""
    norm = re.sub(r"[^a-z0-9]", "", key.lower())
    if norm in _SECRET_KEYS or norm.endswith(_SECRET_SUFFIXES):
        return "secret"
    return _LABELLED_KEYS.get(norm)


# -- the redactor ------------------------------------------------------------------------------

_CACHE_MAX_ENTRIES = 4096
_CACHE_MAX_CHARS = 4096


class Redactor:
    """Redacts JSON-like data with one placeholder table (see the module doc). Thread-safe.

    Build one per run or incident with `for_system`, and use it for every file that run writes,
    so a value has the same placeholder in the journal, the summary and the review.
    """

    def __init__(self, extra_rules: list[Rule] | tuple[Rule, ...] = ()) -> None:
        self.rules: tuple[Rule, ...] = (*BUILTIN_RULES, *extra_rules)
        self._tokens: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_system(cls, system: System | None) -> Redactor:
        """The built-in rules plus the manifest's `redaction.rules` (none when `system` is None)."""
        extra: list[Rule] = []
        if system is not None:
            for rule in system.redaction.rules:
                pattern = re.compile(rule.pattern)
                extra.append(Rule(rule.name, pattern, group="value" if "value" in pattern.groupindex else 0))
        return cls(extra)

    @property
    def policy(self) -> dict[str, Any]:
        """What to record in `run.started` / `incident.started`: the policy version and rule names."""
        return {"version": POLICY_VERSION, "rules": [r.name for r in self.rules]}

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        """A redacted deep copy of `data` (the `Journal(redact=...)` signature)."""
        return {k: self._value(v, key_label(k) if isinstance(k, str) else None) for k, v in data.items()}

    def value(self, value: Any) -> Any:
        """A redacted deep copy of any JSON-like value."""
        return self._value(value, None)

    def text(self, text: str) -> str:
        """`text` with every match of the rules replaced by its placeholder."""
        if len(text) < 6:  # nothing a rule finds is this short
            return text
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        result = self._scan(text)
        if len(text) <= _CACHE_MAX_CHARS:
            if len(self._cache) >= _CACHE_MAX_ENTRIES:
                self._cache.clear()
            self._cache[text] = result
        return result

    # -- internals -----------------------------------------------------------------------------

    def _value(self, value: Any, label: str | None) -> Any:
        if isinstance(value, dict):
            if label is not None:  # everything under a secret-ish key is secret
                return {k: self._value(v, label) for k, v in value.items()}
            return {k: self._value(v, key_label(k) if isinstance(k, str) else None) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._value(v, label) for v in value]
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value
        if isinstance(value, int):
            if label is not None:
                return self._token(label, str(value))
            return self._token("card", str(value)) if value > 10**12 and is_card_number(str(value)) else value
        if isinstance(value, str):
            if label is not None and value and not PLACEHOLDER.fullmatch(value):
                return self._token(label, value)
            return self.text(value)
        return value

    def _scan(self, text: str) -> str:
        taken: list[tuple[int, int, str]] = [(m.start(), m.end(), "") for m in PLACEHOLDER.finditer(text)]
        found: list[tuple[int, int, str]] = []
        for rule in self.rules:
            if rule.hint is not None and not rule.hint(text):
                continue
            for start, end in rule.find(text):
                if all(end <= s or start >= e for s, e, _ in taken):
                    taken.append((start, end, rule.name))
                    found.append((start, end, rule.name))
        if not found:
            return text
        found.sort()
        out, pos = [], 0
        for start, end, name in found:
            out.append(text[pos:start])
            out.append(self._token(name, text[start:end]))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _token(self, label: str, value: str) -> str:
        key = (label, value)
        token = self._tokens.get(key)
        if token is None:
            with self._lock:
                token = self._tokens.get(key)
                if token is None:
                    n = self._counts.get(label, 0) + 1
                    self._counts[label] = n
                    token = self._tokens[key] = f"<{label}:{n}>"
        return token


__all__ = ["BUILTIN_RULES", "PLACEHOLDER", "POLICY_VERSION", "Redactor", "Rule", "is_card_number", "key_label"]
