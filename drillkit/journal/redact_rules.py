"""The kinds of redaction rule (`drillkit.journal.redact`): a `Rule` is a pattern with a cheap hint,
a loose pre-filter and a validator; `CardRule`, `AwsSecretRule`, `IbanRule` and `PhoneRule` add the
searches one regex cannot do (Luhn over digit groups, a secret near a key id, an IBAN cut to its
country's length, a bare number next to a phone word). The built-in table is `redact_patterns`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drillkit.journal.redact_checks import IBAN_LENGTHS, iban_ok, is_card_number, mixed_secret

Span = tuple[int, int]


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
                if m.start() <= last and mixed_secret(m.group()):
                    yield m.span()


_AWS_NEAR = 200


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


# Phone words, found cheaply before the strict `labelled` pattern is tried (see `PhoneRule.find`).
_PHONE_WORD_NEAR = re.compile(r"phone|tel|mob|cell|fax|sms|whatsapp|handy|call|text|ring|reach")
_PHONE_WORD_NEAR_I = re.compile(_PHONE_WORD_NEAR.pattern, re.IGNORECASE)  # when lower() changes the length
_PHONE_SUFFIX = re.compile(r"\((?i:mobile|mob|cell|phone|tel|home|work|fax|landline)\)")
_DIGITS_BEFORE = re.compile(r"(?<![\w.+-])(\d{7,15})\s*\Z")
