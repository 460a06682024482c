"""Redaction: what drillkit stores must be safe to keep, so secrets and personal data are replaced
before anything reaches disk (journals, summaries, incident records, baselines, reports).

    redactor = Redactor.for_system(system)          # built-in rules + the manifest's redaction.rules
    Journal(path, redact=redactor)                   # every entry's data passes through it
    clean = redactor({"q": "mail jane@example.com"}) # -> {"q": "mail <email:1>"} (a deep copy)
    redactor.policy                                  # {"version": "drillkit-redact/1", "rules": [...]}

Contract (policy `drillkit-redact/1`):

- Dict keys are kept; string values are scanned. A value under a secret-ish key (`authorization`,
  `api_key`, `password`, `token`, `cookie`, `*_secret`, …) is replaced whole, whatever it looks
  like; under `email` / `phone` / `iban` / `SecretAccessKey` keys whole as well (labelled `email`,
  `phone`, `iban`, `aws_secret`). Numbers and booleans are kept, except an integer that is a
  Luhn-valid card number.
- Each match becomes a placeholder `<rule:n>`: the same value maps to the same placeholder within
  one `Redactor` (one run, one incident), so "the same customer asked twice" stays visible, and
  nothing derived from the value is stored (a plain hash of a phone number is brute-forced in
  seconds). The value → placeholder table lives in memory only.
- Placeholders already in a text are left alone, so redacting twice changes nothing.
- Built-in rules, in priority order (an earlier rule's match wins an overlap): `private_key`
  (PEM blocks, also a truncated one), `jwt`, `bearer` (the token after `Bearer`), `credentials`
  (user:password in a URL), `aws_secret` (AWS secret access keys, 40 characters of
  `[A-Za-z0-9/+]`: any such value after a label — `aws_secret_access_key = …`,
  `AWS_SECRET_ACCESS_KEY=…`, `SecretAccessKey: …`, JSON `"SecretAccessKey": "…"`,
  `AWS Secret Access Key [None]: …` — and, unlabelled, one that starts within 200 characters of
  an AKIA/ASIA/ABIA/ACCA key id and mixes upper and lower case letters, a digit or `/`/`+`, and a
  non-hex letter, so a git SHA-1 next to a key id is kept), `secret` (the value in `password=…`,
  `api_key: …`, `token=…`, `Authorization: Basic …` text), `api_key` (`sk-…`, `sk-ant-…`,
  Stripe, GitHub, GitLab, Slack, Google, Hugging Face key formats), `aws_key` (AKIA…/ASIA… key
  ids), `email`, `iban` (ISO 13616: registered country code and length, check digits, mod-97
  valid, in groups of four or not; upper case; before `card` and `phone`, so no part of one is
  taken for a phone number), `card` (13–19 digits, optionally grouped, Luhn-valid, with a card
  network's prefix), `phone` (international `+…`, North American `(415) 555-2671` /
  `415-555-2671` / `415.555.2671`, leading-zero national `020 7946 0958` / `030 12345678` /
  `07911 123456`; a bare run of 7–15 digits only right after a phone word — `phone:`,
  `phone number is`, `tel.`, `mobile`, `cell`, `fax`, `sms`, `whatsapp`, `call me at`,
  `text me on`, `"phone_number": "…"` — or before `(mobile)`, `(home)`, …), `ipv4` and `ipv6`
  (loopback and unspecified addresses are kept: they identify nobody). Then the manifest's rules
  (`redaction.rules[].pattern`, whole match replaced, or only the named group `value` if the
  pattern has one).
- Kept on purpose (tested): dates, ISO timestamps, epoch seconds and other bare digit runs with no
  phone word before them (ids, sizes, counters), durations, prices, ports, versions, order ids
  like A1003 or ORD-10023, SKUs, run ids, trace ids, SHA-1 and SHA-256 digests, IBAN look-alikes
  that fail the checksum or their country's length.
- Not detected (known gaps): postal addresses and personal names (no pattern tells them from
  prose; add manifest rules for your own formats); an AWS secret access key printed with neither
  a label nor a key id within 200 characters; lower-case IBANs and IBANs split other than in
  groups of four; bare phone numbers without a phone word next to them (`4155552671` alone, by
  design: it is also an epoch second), national numbers in formats not listed above (`030/1234567`);
  tokens of unknown formats; a four-part version string such as `1.2.3.4` is redacted as an IP
  address, and an unlabelled 40-character mixed-case string near a key id (a long path) as a secret.
- The policy version stays `drillkit-redact/1` while rules are added (it names the contract
  above); `policy["rules"]` lists the rules in force, so a journal says which rules it went through.

Why not `detect-secrets`: measured on the development VM it costs ~170–220 ms to import and its
plugins are built for source lines: the high-entropy plugins only look inside quoted strings (an
unquoted `sk-…` in an answer is missed) and flag every quoted SHA-256 digest and trace id (the
journal's `prev`), the keyword plugin costs 0.1–0.6 ms per line for what a dict key check does
structurally, and its AWS/JWT/private-key plugins are single regexes (its JWT match drops the
signature). The rules here are those regexes, tuned for prose and JSON, and cost ~50–150 µs for a
journal entry carrying an answer (`tests/journal/test_redact.py` measures it); a 1 MB text takes
~0.3–0.4 s, linear in the number of matches.

Where the rules live: `redact_patterns` (the built-in table, in the order above), `redact_rules`
(the kinds of rule: card, AWS secret, IBAN and phone searches), `redact_checks` (the validators:
IBAN registry and mod-97, Luhn and card prefixes, IP ranges). This module is the policy: key labels,
placeholders and the `Redactor`.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
from typing import TYPE_CHECKING, Any

from drillkit.journal.redact_checks import IBAN_LENGTHS, iban_ok, is_card_number, luhn_ok
from drillkit.journal.redact_patterns import BUILTIN_RULES
from drillkit.journal.redact_rules import Rule

if TYPE_CHECKING:
    from drillkit.config.system import System

POLICY_VERSION = "drillkit-redact/1"

#: A placeholder this module wrote: never redacted again.
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9_-]*:\d+>")

# -- keys whose values are replaced whole ------------------------------------------------------

_SECRET_KEYS = frozenset(
    {"authorization", "proxyauthorization", "apikey", "xapikey", "token", "password", "passwd", "passphrase",
     "secret", "cookie", "setcookie", "privatekey", "secretkey", "accesskey", "credentials",
     "sessiontoken", "accesstoken", "refreshtoken", "idtoken", "clientsecret"}
)  # fmt: skip
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "apikey", "privatekey", "credentials", "cookie")
_LABELLED_KEYS = {"email": "email", "emailaddress": "email", "phone": "phone", "phonenumber": "phone",
                  "tel": "phone", "telephone": "phone", "mobile": "phone", "iban": "iban",
                  "awssecretaccesskey": "aws_secret", "secretaccesskey": "aws_secret",
                  "awssecretkey": "aws_secret"}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def key_label(key: str) -> str | None:
    """The placeholder label for every value under `key` ("secret", "email", "phone", "iban",
    "aws_secret"), or None."""
    norm = re.sub(r"[^a-z0-9]", "", key.lower())
    label = _LABELLED_KEYS.get(norm)
    if label is not None:
        return label
    if norm in _SECRET_KEYS or norm.endswith(_SECRET_SUFFIXES):
        return "secret"
    return None


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
        # Spans taken so far (placeholders, earlier rules' matches): disjoint, kept sorted by start.
        starts: list[int] = []
        ends: list[int] = []
        for m in PLACEHOLDER.finditer(text):
            starts.append(m.start())
            ends.append(m.end())
        found: list[tuple[int, int, str]] = []
        for rule in self.rules:
            if rule.hint is not None and not rule.hint(text):
                continue
            for start, end in rule.find(text):
                i = bisect.bisect_right(starts, start)
                if (i and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
                    continue  # overlaps a span taken before: the earlier rule wins
                starts.insert(i, start)
                ends.insert(i, end)
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


__all__ = [
    "BUILTIN_RULES",
    "IBAN_LENGTHS",
    "PLACEHOLDER",
    "POLICY_VERSION",
    "Redactor",
    "Rule",
    "iban_ok",
    "is_card_number",
    "key_label",
    "luhn_ok",
]
