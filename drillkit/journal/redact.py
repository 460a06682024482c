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
"""

from __future__ import annotations

import bisect
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


#: Where a token may start: not right after a letter or digit, except right after an escape (`\n`,
#: `\t`) in text that carries an encoded JSON document: `…\nAKIA…` starts a key id, `…nAKIA…` does not.
_START = r"(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))"


@dataclass(frozen=True)
class AwsSecretRule(Rule):
    """AWS secret access keys: 40 characters of `[A-Za-z0-9/+]`. Labelled (`aws_secret_access_key = …`,
    `SecretAccessKey: …`, `"SecretAccessKey": "…"`, `AWS Secret Access Key [None]: …`): any such value,
    hex included. Unlabelled: only within `_AWS_NEAR` characters of an access key id (AKIA/ASIA/ABIA/
    ACCA, as `aws configure`, `create-access-key --output text` or a credentials CSV print them), and
    only with upper and lower case letters, a digit, `/` or `+`, and a non-hex letter: a git SHA-1
    (40 hex digits) next to a key id is kept."""

    key_id: re.Pattern[str] | None = None
    candidate: re.Pattern[str] | None = None

    def find(self, text: str) -> Iterator[Span]:
        if "ecret" in text or "ECRET" in text:
            yield from self._find(text, 0, len(text))  # the labelled pattern
        if self.key_id is None or self.candidate is None:
            return
        for key in self.key_id.finditer(text):
            # Candidates that start within _AWS_NEAR characters of the key id, either side. `endpos`
            # leaves one character after the last possible candidate: its lookahead sees real text.
            last = key.end() + _AWS_NEAR
            for m in self.candidate.finditer(text, max(0, key.start() - _AWS_NEAR), last + 41):
                if m.start() <= last and _mixed_secret(m.group()):
                    yield m.span()


_AWS_NEAR = 200
_HEX_CHARS = frozenset("0123456789abcdefABCDEF")


def _mixed_secret(value: str) -> bool:
    upper = lower = other = non_hex = False
    for ch in value:
        if ch.isupper():
            upper = True
        elif ch.islower():
            lower = True
        else:
            other = True
        if ch not in _HEX_CHARS:
            non_hex = True
    return upper and lower and other and non_hex


@dataclass(frozen=True)
class IbanRule(Rule):
    """IBANs (ISO 13616): a country code, two check digits and the BBAN, written in groups of four or
    not. A candidate is cut to its country's registered length (the run may go on with other
    numbers), must end there, and must pass the mod-97 check. `near` finds where one may start."""

    def find(self, text: str) -> Iterator[Span]:
        candidates = self.near.finditer(text) if self.near is not None else self.pattern.finditer(text)
        for candidate in candidates:
            m = self.pattern.match(text, candidate.start())
            if m is None:
                continue
            run = m.group()
            length = IBAN_LENGTHS.get(run[:2].upper())
            if length is None:
                continue
            count, end = 0, None
            for i, ch in enumerate(run):
                if ch != " ":
                    count += 1
                    if count == length:
                        end = i + 1
                        break
            if end is None or (end < len(run) and run[end] != " "):
                continue
            if iban_ok(run[:end]):
                yield m.start(), m.start() + end


@dataclass(frozen=True)
class PhoneRule(Rule):
    """Formatted phone numbers (`pattern`), and bare digit runs (7–15 digits) only where a phone word
    labels them (`labelled`: `phone: 4155552671`, `call me at …`, `4155552671 (mobile)`)."""

    labelled: re.Pattern[str] | None = None

    def find(self, text: str) -> Iterator[Span]:
        yield from super().find(text)
        if self.labelled is None:
            return
        # Where a phone word starts: found in the lower-cased text (a case-insensitive scan is ~8×
        # slower), then the strict pattern is tried there on the text itself.
        lowered = text.lower()
        # ("İ".lower() is two characters: when lowering shifts positions, scan case-insensitively.)
        same = len(lowered) == len(text)
        words = _PHONE_WORD_NEAR.finditer(lowered) if same else _PHONE_WORD_NEAR_I.finditer(text)
        for word in words:
            m = self.labelled.match(text, word.start())
            if m is not None:
                yield m.span(1)
        for label in _PHONE_SUFFIX.finditer(text):  # 4155552671 (mobile)
            m = _DIGITS_BEFORE.search(text, max(0, label.start() - 32), label.start())
            if m is not None:
                yield m.span(1)


# ISO 13616 IBAN lengths by country (SWIFT IBAN registry; territories that use their own code
# with their parent's format are listed with it: AX → FI, GF/GP/MQ/RE/… → FR, IM/JE/GG → GB).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    "AX": 18, "GF": 27, "GP": 27, "MQ": 27, "RE": 27, "PF": 27, "TF": 27, "YT": 27, "NC": 27, "BL": 27,
    "MF": 27, "PM": 27, "WF": 27, "IM": 22, "JE": 22, "GG": 22,
}  # fmt: skip


def iban_ok(text: str) -> bool:
    """A valid IBAN (spaces ignored): registered country and length, check digits 02–98, mod 97 = 1."""
    iban = text.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit() or not "02" <= iban[2:4] <= "98":
        return False
    if not iban[4:].isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


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
    return 8 <= sum(map(str.isdigit, text)) <= 15


_DIGIT = re.compile(r"\d")


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None


_SECRET_WORDS = (
    r"password|passwd|passphrase|secret|client[_-]?secret|secret[_-]?key|private[_-]?key|api[_-]?key|apikey"
    r"|x-api-key|access[_-]?token|refresh[_-]?token|auth[_-]?token|id[_-]?token|session[_-]?token|token"
    r"|(?:aws[_-]?)?secret[_-]?access[_-]?key|authorization"
)

_AWS_KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AROA", "AIDA")

# Phone words that label a bare digit run (a bare run is a phone number only next to one of them).
_PHONE_WORDS = (
    r"(?:mobile[_ -]?|cell[_ -]?|home[_ -]?|work[_ -]?|contact[_ -]?)?(?:tele)?phone(?:[_ -]?(?:number|no|num|nr))?"
    r"|tel|mobile|mob|cell|cellphone|fax|sms|whatsapp|handy"
    r"|(?:call|text|ring|reach)\s+(?:me|us|him|her|them|back)(?:\s+(?:at|on))?|call\s+(?:at|on)"
)
_PHONE_WORD_NEAR = re.compile(r"phone|tel|mob|cell|fax|sms|whatsapp|handy|call|text|ring|reach")
_PHONE_WORD_NEAR_I = re.compile(_PHONE_WORD_NEAR.pattern, re.IGNORECASE)  # when lower() changes the length
_PHONE_SUFFIX = re.compile(r"\((?i:mobile|mob|cell|phone|tel|home|work|fax|landline)\)")
_DIGITS_BEFORE = re.compile(r"(?<![\w.+-])(\d{7,15})\s*\Z")
# Between the word and the number: punctuation, `number`, `is`, `at`, `on`, `my`, … (at most 6).
_PHONE_GAP = r"(?:[\s:=#\"'()\-]|\.(?!\d)|\b(?:number|no|num|nr|is|at|on|my|our|his|her|their)\b\.?){0,6}"

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
    AwsSecretRule(
        "aws_secret",
        re.compile(
            r"(?i:(?<![A-Za-z0-9])(?:aws[_ -]?secret[_ -]?(?:access[_ -]?)?|secret[_ -]?access[_ -]?)key)"
            r"[\"']?(?:\s*\[[^\]\n]{0,20}\])?"
            r"\s*(?:[:=]|\bis\b)?\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        group=1,
        key_id=re.compile(rf"{_START}(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{{16}}(?![A-Za-z0-9])"),
        candidate=re.compile(r"(?:(?<![A-Za-z0-9/+=])|(?<=\\[nrt]))[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
        hint=lambda t: "ecret" in t or "ECRET" in t or any(p in t for p in _AWS_KEY_PREFIXES[:4]),
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
        re.compile(rf"{_START}(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{{16}}(?![A-Za-z0-9])"),
        hint=lambda t: any(p in t for p in _AWS_KEY_PREFIXES),
    ),
    Rule(
        "email",
        re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"),
        hint=lambda t: "@" in t,
    ),
    IbanRule(
        "iban",
        re.compile(rf"{_START}[A-Z]{{2}}\d\d(?: ?[A-Z0-9]{{4}}){{2,7}}(?: ?[A-Z0-9]{{1,4}})?"),
        hint=_has_digit,
        near=re.compile(r"[A-Z]{2}\d\d"),  # short: a failed candidate must not swallow the next one
    ),
    CardRule(
        "card",
        re.compile(r"(?<![\w.,+-])\d+(?:[ -]\d+)*(?![\w]|[.,]\d)"),
        hint=_has_digit,
        near=re.compile(r"\d(?:[ -]?\d){12,}"),
    ),
    PhoneRule(
        "phone",
        re.compile(
            r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w]|[.-]\d)"
            r"|(?<![\w.+-])(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w]|[.-]\d)"
            r"|(?<![\w.+-])0\d{1,4}[ -]\d{3,4}[ -]\d{3,4}(?![\w]|[.-]\d)"
            r"|(?<![\w.+-])(?<!\d )0[1-9]\d{1,3}[ -]\d{5,8}(?![\w]|[.-]\d)"  # 030 12345678, 07911 123456
        ),
        hint=_has_digit,
        accept=_phone_ok,
        near=re.compile(r"[+(\d][\d ().-]{7,}\d"),
        labelled=re.compile(
            rf"(?i)(?<![A-Za-z0-9])(?:{_PHONE_WORDS})(?![A-Za-z0-9]){_PHONE_GAP}(?<![\w.+-])(\d{{7,15}})(?![\w]|[.,-]\d)"
        ),
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


__all__ = ["BUILTIN_RULES", "PLACEHOLDER", "POLICY_VERSION", "Redactor", "Rule", "is_card_number", "key_label"]
