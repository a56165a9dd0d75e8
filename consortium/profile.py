"""Profile a tabular dataset where it lives: fingerprint, completeness, direct identifiers.

The profiler runs at the data-holding institution and only its summary leaves: the SHA-256 of
the exact file bytes (so a partner can later prove which file was meant), record and column
counts, per-column completeness, and findings of likely direct identifiers, each with at most
a few *masked* examples. The data itself never leaves and is never held: the file is read once,
in chunks, and only a bounded batch of records is in memory at any time.

Speed comes from doing per-cell work in C: rows are parsed by :mod:`csv` (or :mod:`orjson`),
a batch is transposed into columns, and each column's values are joined into one string that
cheap substring tests ("is there an ``@``?", "are there six digits in a row?") screen before
any regular expression runs. Only candidates found by those expressions are looked at in
Python, to validate check digits and to mask examples.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import operator
import os
import re
import string
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import chain, islice, repeat
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from consortium import __version__

Progress = Callable[[int, int], None]

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
"""File suffixes understood, each optionally followed by ``.gz``."""

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
"""The field separators a CSV file may use, in the order preferred when a sample fits two."""
QUOTES = {'"': "double", "'": "single"}
"""The quote characters a CSV file may use, likewise."""

_READ_SIZE = 1 << 20  # bytes read from the file at a time; also the progress interval
_BATCH = 512  # records per batch: small enough to stay in the CPU cache, large enough to
# make the per-batch Python overhead negligible (measured: larger batches are slower)
_MAX_LINE = 64 << 20  # a JSON line longer than this is refused rather than held
_BIG_INT = 10**40  # longer integers are not identifiers (and str() of huge ones is slow)
_SEP = "\x00"  # joins a column's values; no pattern below matches it, so none spans two values


class ProfileError(Exception):
    """The file cannot be profiled; the message is one line and names the line at fault."""


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    present: int  # records with a non-empty value

    def completeness(self, records: int) -> str:
        """``present / records`` to four decimals, rounded down so that "1.0000" means all.

        A string, not a float: the summary is signed as canonical JSON, which refuses floats.
        """
        if records == 0:
            return "0.0000"
        q = self.present * 10_000 // records
        return f"{q // 10_000}.{q % 10_000:04d}"


@dataclass(frozen=True)
class Finding:
    column: str
    kind: str
    count: int  # values of the column holding this kind of identifier
    examples: tuple[str, ...]  # masked, never the identifier itself


@dataclass(frozen=True)
class Dialect:
    """How a CSV file separates and quotes its fields, and whether that was detected from
    the file (or given by whoever ran the profiler)."""

    delimiter: str
    quotechar: str
    detected: bool

    def describe(self) -> str:
        """``semicolon-separated, double-quoted`` (``, given`` when not detected)."""
        given = "" if self.detected else ", given"
        return f"{DELIMITERS[self.delimiter]}-separated, {QUOTES[self.quotechar]}-quoted{given}"


@dataclass(frozen=True)
class Profile:
    format: str
    sha256: str
    size: int
    records: int
    columns: tuple[ColumnProfile, ...]
    findings: tuple[Finding, ...]
    dialect: Dialect | None = None  # CSV only

    @property
    def direct_identifiers_found(self) -> bool:
        return bool(self.findings)

    def to_summary(self) -> dict[str, Any]:
        """The shareable summary: plain JSON types only (no floats), ready to be signed."""
        summary: dict[str, Any] = {
            "format": self.format,
            "sha256": self.sha256,
            "bytes": self.size,
            "records": self.records,
            "columns": [
                {"name": c.name, "present": c.present, "completeness": c.completeness(self.records)}
                for c in self.columns
            ],
            "identifier_findings": [
                {"column": f.column, "kind": f.kind, "count": f.count, "examples": list(f.examples)}
                for f in self.findings
            ],
            "direct_identifiers_found": self.direct_identifiers_found,
            "profiler": f"consortium {__version__}",
        }
        if self.dialect is not None:
            summary["dialect"] = {
                "delimiter": self.dialect.delimiter,
                "quotechar": self.dialect.quotechar,
                "detected": self.dialect.detected,
            }
        return summary


# --- column names -----------------------------------------------------------------------------

_COLUMN_NAMES = """
name: name full_name fullname patient_name patientname first_name firstname last_name lastname
    surname given_name givenname family_name familyname middle_name maiden_name forename
    forenames person_name 姓名 名字
email: email e_mail email_address emailaddress 邮箱 电子邮件
phone: phone telephone tel phone_number phonenumber telephone_number mobile mobile_number
    mobile_phone cellphone cell_phone fax 电话 手机 手机号 联系电话
address: address street_address home_address postal_address street postcode post_code zip
    zipcode zip_code postal_code 地址 住址
birth_date: dob date_of_birth birth_date birthdate birthday 出生日期 生日
national_id: national_id nationalid national_id_number id_card id_card_number idcard
    resident_id citizen_id national_insurance_number ni_number nino sfzh 身份证 身份证号 身份证号码
us_ssn: ssn social_security_number social_security_no sin
nhs_number: nhs_number nhs_no nhsnumber nhs chi_number
passport: passport passport_number passport_no passportnumber 护照 护照号
mrn: mrn medical_record_number medical_record_no medical_record_id hospital_number hospital_no
    patient_mrn 病历号 住院号
iban: iban bank_account account_number
"""
_NAME_KINDS = {
    name: kind
    for kind, names in re.findall(r"^(\w+):((?:.|\n    )*)", _COLUMN_NAMES, re.MULTILINE)
    for name in names.split()
}
"""Column names that on their own mark a column as holding direct identifiers.

Matched after normalising case, camelCase and punctuation to ``snake_case``, either as the
whole name or as its last word(s) (``home_phone``, ``patient_surname``, ``contact_email``).
Bare words that often name harmless columns (``name`` in ``drug_name``, ``cell``) only count
as the whole name.
"""

_SUFFIX_KINDS = {
    k: v
    for k, v in _NAME_KINDS.items()
    if k not in {"name", "tel", "nhs", "sin", "zip", "street", "fax", "nino", "sfzh"}
}


def _snake(column: str) -> str:
    """``Patient Name``, ``patientName``, ``patient-name`` -> ``patient_name``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column.strip())
    return re.sub(r"[^\w]+|_+", "_", snake.lower()).strip("_")


def _name_kind(column: str) -> str | None:
    """The identifier kind a column's name implies, or None."""
    snake = _snake(column)
    if snake in _NAME_KINDS:
        return _NAME_KINDS[snake]
    words = snake.split("_")
    for start in range(1, len(words)):
        kind = _SUFFIX_KINDS.get("_".join(words[start:]))
        if kind is not None:
            return kind
    if words[-1] == "name" and len(words) > 1 and words[-2] in _PERSON_WORDS:
        return "name"
    return None


_PERSON_WORDS = {"patient", "person", "subject", "participant", "mother", "father", "nok"}
_PSEUDONYMS = """
pseudonym pseudo_id pseudonym_id study_key study_id study_code research_id subject_id subject_key
participant_id participant_key sample_id specimen_id token key_hash
"""
_PSEUDONYM_NAMES = frozenset(_PSEUDONYMS.split())


def _is_pseudonym_column(column: str) -> bool:
    """Whether a column's name says it holds pseudonyms (study keys), not hospital numbers."""
    snake = _snake(column)
    return any(snake == n or snake.endswith("_" + n) for n in _PSEUDONYM_NAMES)


# --- masking ----------------------------------------------------------------------------------


def _mask(value: str, head: int = 0, tail: int = 2) -> str:
    """Replace every letter and digit by ``*`` except the first ``head`` and last ``tail``.

    Separators stay, so the example shows the identifier's format but not the identifier.
    """
    positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    if len(positions) < head + tail + 3:  # too short to show anything safely
        head = tail = 0
    keep = set(positions[:head]) | set(positions[len(positions) - tail :])
    return "".join(ch if i in keep or not ch.isalnum() else "*" for i, ch in enumerate(value))


def _mask_email(value: str) -> str:
    """``j***@e***.org``: the first letter of the mailbox and domain, and the top-level domain."""
    local, _, domain = value.rpartition("@")
    labels = domain.split(".")
    return f"{local[:1]}***@{labels[0][:1]}***.{labels[-1]}"


def _mask_phone(value: str) -> str:
    """Keep an international prefix (``+44``) and the last three digits: ``+44 **** ***123``."""
    code = re.match(r"\+(\d{1,3})\D", value)
    return _mask(value, head=len(code[1]) if code else 0, tail=3)


def _mask_passport(value: str) -> str:
    return _mask(value, head=sum(ch.isalpha() for ch in value))


def _mask_iban(value: str) -> str:
    return _mask(value, head=2)


def _mask_mrn(value: str) -> str:
    return _mask(value, head=3)


def _mask_words(value: str) -> str:
    """For a column flagged by its name: ``A*** L***`` for "Ada Lovelace", ``****-**-**`` for
    a date. Initials of words of three letters or more only, not their length; digits hidden."""
    return _WORD.sub(_mask_word, value[:64])


_WORD = re.compile(r"\w+")


def _mask_word(m: re.Match[str]) -> str:
    word = m[0]
    if len(word) > 2 and word.isalpha():
        return word[0] + "***"
    return "*" * len(word)


# --- identifier patterns ----------------------------------------------------------------------
# CPython's regular expressions are slow next to str methods (about 20 ns for each character
# where a match could start, against well under 1 ns for str.translate or a substring test),
# so they only see what a substring test on the batch's *shape* (digits as 0, separators as -,
# letters in lower case) points at: a family of patterns runs on a column batch only if the
# shape holds its trigger, over the whole batch when many values do, else only over the values
# (or the window) around each trigger.

_SHAPE = str.maketrans(
    {
        **dict.fromkeys(string.digits, "0"),
        **dict.fromkeys(" .-/()", "-"),
        **{c: c.lower() for c in string.ascii_uppercase},
    }
)
_SPARSE = 128  # fewer triggers than one per this many characters: look only around them

# Every pattern below starts with a single character class or literal, so that the engine
# skips straight to the characters that can begin a match (a pattern that starts with a
# look-behind, a repeat or alternatives starting differently is tried at every character).
# What may not come before a match is therefore checked in Python, on the few matches (see
# _Scanner._run); what may not come after is a look-ahead.
# A number must not be part of a longer number, word, decimal or code ("1.5", "A-123", "3/4").
_AFTER = r"(?![\w-]|[.,/]\d)"
_GLUED_NUMBER = frozenset(string.ascii_letters + string.digits + "_.,/+-")
_GLUED_CODE = frozenset(string.ascii_letters + string.digits + "_-")
_GLUED_WORD = frozenset(string.ascii_letters + string.digits + "_")
_NONE: frozenset[str] = frozenset()  # the e-mail pattern checks for itself

# The e-mail pattern keeps its look-behind: without it the engine would read ahead for an "@"
# from every letter of every word.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][\w.%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])",
    re.ASCII,
)
_INTL_PHONE = re.compile(r"\+\d(?:[ ().-]{0,2}\d){8,14}" + _AFTER, re.ASCII)
_MRN = re.compile(r"[Mm][Rr][Nn][ :#.=-]{0,3}[A-Za-z]{0,3}\d{4,12}(?!\w)", re.ASCII)
# A hospital's own record number: the site's letters, then digits (RGH-10421, KCH0048213).
# Two letters need the hyphen, so that passport numbers (E1234567, AB1234567) stay apart.
_SITE_MRN = re.compile(r"[A-Z](?:[A-Z]{1,4}-\d{5,10}|[A-Z]{2,4}\d{5,10})(?![\w-])", re.ASCII)
# Letters before digits that name registries, standards and classifications, not patients.
_NON_SITES = """
NCT ISRCTN EUCTR PMID PMC ISBN ISSN ORCID ISO IEC EN DIN BS ICD ATC LOINC SNOMED CAS EC GO HP
MONDO OMIM ORPHA HGNC RS
"""
_NOT_SITES = frozenset(_NON_SITES.split())
_NUMBER = re.compile(r"\d(?:\d{16}[Xx]|\d{8,})" + _AFTER, re.ASCII)
# Alternatives that all start with the same class are factored by the parser into one class.
_SEPARATED = re.compile(
    r"(?:\d\d\d \d\d\d \d{4}"  # 943 476 5919: an NHS number
    r"|\d\d\d-\d\d-\d{4}"  # 123-45-6789: a US social security number
    r"|\d\d\d([-.])\d\d\d\1\d{4}"  # 212-555-1234, 212.555.1234: phones from here on
    r"|\d(?<=0)\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}"  # 020 7946 0958, 07700 900123
    r"|\d(?<=1)[3-9]\d[ -]\d{4}[ -]\d{4}"  # 138 0013 8000 (mobile, China)
    r")" + _AFTER,
    re.ASCII,
)
_PARENTHESISED = re.compile(r"\(\d{3}\) ?\d{3}[-. ]\d{4}" + _AFTER, re.ASCII)  # (212) 555-1234
_CODED = re.compile(
    r"[A-Z](?:[A-Z]?[1-9]\d{5,8}"  # a passport number: one or two letters, six to nine digits
    r"|[A-Z]\d\d(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"  # an IBAN: GB82 WEST 1234 …
    r")(?![\w-])",
    re.ASCII,
)
# Capital letters as A, digits 1-9 as 1: a passport number needs "A1", an IBAN "A1" or "AA0";
# zero-padded study IDs such as P0001234 are neither.
_CAPS = str.maketrans(
    {
        **dict.fromkeys(string.ascii_uppercase, "A"),
        **dict.fromkeys("123456789", "1"),
    }
)

_NHS_WEIGHTS = bytes(range(10, 1, -1))
_NHS_DECIDE = 1000  # ten-digit numbers after which a column's NHS verdict is settled
_CN_WEIGHTS = bytes((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2))
_CN_CHECK = "10X98765432"


def _weighted(digits: str, weights: bytes) -> int:
    """Sum of digit x weight, pairwise, over as many digits as there are weights."""
    return sum(map(operator.mul, digits.encode("ascii"), weights)) - 48 * sum(weights)


def nhs_number_valid(digits: str) -> bool:
    """The NHS number's modulus 11 check: weights 10..2 on the first nine digits; the tenth is
    11 minus the remainder (11 means 0; 10 means the number is never issued)."""
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        return False
    return (11 - _weighted(digits, _NHS_WEIGHTS) % 11) % 11 == int(digits[9])


def cn_resident_id_valid(value: str) -> bool:
    """China's 18-character resident identity number: a region code, a real date of birth, and
    the ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X``)."""
    body = value[:17]
    if len(value) != 18 or not (body.isascii() and body.isdigit()) or value[0] == "0":
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > date.today():
        return False
    return _CN_CHECK[_weighted(body, _CN_WEIGHTS) % 11] == value[17].upper()


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    """Numbers the SSA never issues: area 000, 666 or 9xx, group 00, serial 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _iban_valid(value: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    compact = value.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


KINDS = (
    "name",
    "email",
    "phone",
    "address",
    "birth_date",
    "national_id",
    "cn_resident_id",
    "us_ssn",
    "nhs_number",
    "passport",
    "mrn",
    "iban",
)
"""Every kind a finding can report, in the order findings are listed within a column."""

Masker = Callable[[str], str]
Hits = set[tuple[str, int]]  # (kind, start of the value): each value counts once per kind


class _Scanner:
    """Per-column identifier counts, built one column batch at a time."""

    def __init__(self, sample: int) -> None:
        self.sample = sample
        self.counts: list[dict[str, int]] = []
        self.examples: list[dict[str, list[str]]] = []
        # The NHS check is weak: one random ten-digit number in eleven passes it. So a column
        # is only reported when most of its ten-digit numbers pass, and once a thousand have
        # shown that they mostly do not (timestamps, order numbers), they are not checked again.
        self.nhs_seen: list[int] = []
        self.nhs_valid: list[int] = []
        self.nhs_rejected: list[bool] = []
        self.site_codes: list[bool] = []  # whether a column's site-style codes count as MRNs

    def add_column(self, name: str) -> None:
        # A pseudonym column (study_key: SK-000184) holds codes of the same shape as a
        # site's record numbers; its name says which they are.
        self.site_codes.append(not _is_pseudonym_column(name))
        self.counts.append({})
        self.examples.append({})
        self.nhs_seen.append(0)
        self.nhs_valid.append(0)
        self.nhs_rejected.append(False)

    def scan(self, col: int, text: str, count: int) -> None:
        """Scan one batch of a column: ``count`` values joined by ``_SEP``."""
        shape = text.translate(_SHAPE)
        hits: Hits = set()
        six = "000000" in shape
        if six and shape.count("0") + count - 1 == len(shape):  # whole numbers only
            self._integers(col, hits, text, shape)
            return
        if "@" in text:
            self._run(col, hits, text, text, "@", _EMAILS)
        if "+" in text:
            self._run(col, hits, text, text, "+", _INTL_PHONES)
        if "mrn" in shape:
            self._run(col, hits, text, shape, "mrn", _MRNS)
        if six and "0" * 9 in shape:
            self._run(col, hits, text, shape, "0" * 9, _NUMBERS)
        separated = "0-0000" in shape  # 943 476 5919, 123-45-6789, (212) 555-1234, …
        if separated:
            self._run(col, hits, text, shape, "0-0000", _SEPARATED_NUMBERS)
            self._run(col, hits, text, shape, "0-0000", _PARENTHESISED_PHONES)
        caps = None
        if six or separated:
            caps = text.translate(_CAPS)
            for trigger in ("A1", "AA0"):
                if trigger in caps:
                    self._run(col, hits, text, caps, trigger, _CODES)
        if "00000" in shape and self.site_codes[col]:  # RGH-10421 (capitals as A, 1-9 as 1)
            caps = caps or text.translate(_CAPS)
            for trigger in ("A-1", "A-0", "AAA1", "AAA0"):
                if trigger in caps:
                    self._run(col, hits, text, caps, trigger, _SITE_MRNS)

    def _run(
        self, col: int, hits: Hits, text: str, shape: str, trigger: str, family: _Family
    ) -> None:
        """Run a family's pattern over the values whose shape holds ``trigger`` (or over a
        window around it), or over the rest of the batch at once when such values turn out to
        be many: per-value calls then cost more than the regex engine."""
        pattern, handle, glued, reach = family
        budget = len(text) // _SPARSE
        at = shape.find(trigger)
        while at >= 0:
            start = text.rfind(_SEP, 0, at) + 1
            if budget == 0:
                for m in pattern.finditer(text, start):
                    if not ((i := m.start()) and text[i - 1] in glued):
                        handle(self, col, hits, text.rfind(_SEP, 0, i) + 1, m)
                return
            budget -= 1
            end = text.find(_SEP, at)
            end = len(text) if end < 0 else end
            low, high = (
                (max(start, at - reach[0]), min(end, at + reach[1])) if reach else (start, end)
            )
            for m in pattern.finditer(text, low, high):
                if not ((i := m.start()) and text[i - 1] in glued):
                    handle(self, col, hits, start, m)
            at = shape.find(trigger, high)

    def _integers(self, col: int, hits: Hits, text: str, shape: str) -> None:
        """A batch of whole numbers only (an ID or timestamp column): skip the regexes, and
        the values too unless one could be a phone number, NHS number or ID card number."""
        if "0" * 9 not in shape:
            return
        tens = "0" * 10 in shape and not self.nhs_rejected[col]
        longer = "0" * 11 in shape
        leading_zero = text.startswith("0") or _SEP + "0" in text
        if not (tens or longer or leading_zero):
            return
        start = 0
        for value in text.split(_SEP):
            if len(value) >= 9:
                self._digits(col, hits, start, value, value)
            start += len(value) + 1

    def _digits(self, col: int, hits: Hits, start: int, digits: str, found: str) -> None:
        n = len(digits)
        if n == 18:
            if cn_resident_id_valid(digits):
                self._hit(col, hits, "cn_resident_id", start, found, _mask)
        elif n == 10 and digits[0] != "0":
            self._nhs(col, hits, start, digits, found)
        elif (digits[0] == "0" and digits[1] != "0" and n <= 13) or (
            n == 11 and digits[0] == "1" and digits[1] in "3456789"
        ):
            self._hit(col, hits, "phone", start, found, _mask_phone)

    def _nhs(self, col: int, hits: Hits, start: int, digits: str, found: str) -> None:
        if self.nhs_rejected[col]:
            return
        seen = self.nhs_seen[col] = self.nhs_seen[col] + 1
        if nhs_number_valid(digits):
            self.nhs_valid[col] += 1
            self._hit(col, hits, "nhs_number", start, found, _mask)
        elif seen >= _NHS_DECIDE and self.nhs_valid[col] * 2 < seen:
            self.nhs_rejected[col] = True

    def _email(self, col: int, hits: Hits, start: int, m: re.Match[str]) -> None:
        self._hit(col, hits, "email", start, m[0], _mask_email)

    def _mrn(self, col: int, hits: Hits, start: int, m: re.Match[str]) -> None:
        self._hit(col, hits, "mrn", start, m[0], _mask_mrn)

    def _site_mrn(self, col: int, hits: Hits, start: int, m: re.Match[str]) -> None:
        found = m[0]
        site = found[: len(found) - len(found.lstrip(string.ascii_uppercase))]
        if site not in _NOT_SITES:
            self._hit(col, hits, "mrn", start, found, _mask_mrn)

    def _number(self, col: int, hits: Hits, start: int, m: re.Match[str]) -> None:
        self._digits(col, hits, start, m[0], m[0])

    def _phone(self, col: int, hits: Hits, start: int, m: re.Match[str]) -> None:
        self._hit(col, hits, "phone", start, m[0], _mask_phone)

    def _separated(self, col: int, hits: Hits, start: int, m: re.Match[str]) -> None:
        found = m[0]
        if len(found) == 12 and found[3] == found[7] == " ":
            self._nhs(col, hits, start, found.replace(" ", ""), found)
        elif len(found) == 11 and found[3] == found[6] == "-":
            if _ssn_valid(found[:3], found[4:6], found[7:]):
                self._hit(col, hits, "us_ssn", start, found, _mask)
        elif 9 <= sum(ch.isdigit() for ch in found) <= 12:
            self._hit(col, hits, "phone", start, found, _mask_phone)

    def _coded(self, col: int, hits: Hits, start: int, m: re.Match[str]) -> None:
        found = m[0]
        if len(found) <= 11:
            self._hit(col, hits, "passport", start, found, _mask_passport)
        elif _iban_valid(found):
            self._hit(col, hits, "iban", start, found, _mask_iban)

    def _hit(self, col: int, hits: Hits, kind: str, start: int, found: str, mask: Masker) -> None:
        if (kind, start) in hits:
            return
        hits.add((kind, start))
        counts = self.counts[col]
        count = counts[kind] = counts.get(kind, 0) + 1
        examples = self.examples[col].setdefault(kind, [])
        # Look for distinct examples among the first few values only: masks often coincide.
        if len(examples) < self.sample and count <= 8 * self.sample:
            masked = mask(found)
            if masked not in examples:
                examples.append(masked)

    def value_findings(self, col: int) -> dict[str, tuple[int, list[str]]]:
        found = {k: (n, self.examples[col][k]) for k, n in self.counts[col].items()}
        if "nhs_number" in found and self.nhs_valid[col] * 2 < self.nhs_seen[col]:
            del found["nhs_number"]
        return found


class _Family(NamedTuple):
    """A pattern, what to do with its matches, the characters that may not precede a match,
    and how far around a trigger a match can reach (None: anywhere in the value)."""

    pattern: re.Pattern[str]
    handle: Callable[[_Scanner, int, Hits, int, re.Match[str]], None]
    glued: frozenset[str]
    reach: tuple[int, int] | None = None


# An address is at most 64 characters before the "@" and, in practice, well under 190 after.
_EMAILS = _Family(_EMAIL, _Scanner._email, _NONE, (64, 190))
_INTL_PHONES = _Family(_INTL_PHONE, _Scanner._phone, _GLUED_WORD | {"+"})
_MRNS = _Family(_MRN, _Scanner._mrn, _GLUED_WORD)
_SITE_MRNS = _Family(_SITE_MRN, _Scanner._site_mrn, _GLUED_CODE)
_NUMBERS = _Family(_NUMBER, _Scanner._number, _GLUED_NUMBER)
_SEPARATED_NUMBERS = _Family(_SEPARATED, _Scanner._separated, _GLUED_NUMBER)
_PARENTHESISED_PHONES = _Family(_PARENTHESISED, _Scanner._phone, _GLUED_NUMBER)
_CODES = _Family(_CODED, _Scanner._coded, _GLUED_CODE)


# --- reading ----------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    """A raw binary stream that hashes, counts and reports every byte read through it.

    Hashing here, below any decoding, makes the fingerprint that of the exact file bytes.
    """

    def __init__(self, raw: io.RawIOBase, total: int, progress: Progress | None) -> None:
        self._raw = raw
        self._total = total
        self._progress = progress
        self._reported = 0
        self.hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self.hash.update(memoryview(buffer)[:n])
            self.size += n
            if self._progress is not None and self.size - self._reported >= _READ_SIZE:
                self._reported = self.size
                self._progress(self.size, self._total)
        return n or 0

    def finish(self) -> None:
        """Hash whatever the parser left unread, so the fingerprint covers the whole file."""
        buffer = bytearray(_READ_SIZE)
        while self.readinto(buffer):
            pass
        if self._progress is not None:
            self._progress(self.size, max(self._total, self.size))


def _detect_format(path: Path) -> tuple[str, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes.pop()
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        known = ", ".join(sorted(FORMATS))
        raise ProfileError(f"{path.name}: unsupported file type (expected {known}, maybe .gz)")
    return kind, compressed


def profile_file(
    path: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    sample_findings: int = 5,
    delimiter: str | None = None,
    quotechar: str | None = None,
) -> Profile:
    """Profile a ``.csv`` or ``.jsonl`` file (optionally ``.gz``) in one streaming pass.

    ``progress(bytes_done, total_bytes)`` is called about every MiB of the file read.
    ``sample_findings`` caps the masked examples kept per column and kind.
    A CSV file's ``delimiter`` (one of `DELIMITERS`) and ``quotechar`` (one of `QUOTES`) are
    detected from its beginning unless given.
    Raises ProfileError, with a one-line message, for any file it cannot read or parse.
    """
    path = Path(path)
    kind, compressed = _detect_format(path)
    for value, allowed, what in (
        (delimiter, DELIMITERS, "delimiter"),
        (quotechar, QUOTES, "quote"),
    ):
        if value is not None and value not in allowed:
            raise ProfileError(f"unsupported {what} {value!r} (expected one of {list(allowed)})")
    if kind != "csv" and (delimiter or quotechar):
        raise ProfileError(f"{path.name}: a delimiter or quote applies to CSV files only")
    scanner = _Scanner(sample_findings)
    dialect: Dialect | None = None
    try:
        with open(path, "rb", buffering=0) as raw:
            reader = _HashingReader(raw, os.fstat(raw.fileno()).st_size, progress)
            buffered = io.BufferedReader(reader, _READ_SIZE)
            stream = gzip.GzipFile(fileobj=buffered) if compressed else buffered
            if kind == "csv":
                dialect, rows = _open_csv(stream, delimiter, quotechar)
                names, present, records, samples = _profile_csv(rows, scanner, sample_findings)
            else:
                names, present, records, samples = _profile_jsonl(stream, scanner, sample_findings)
            reader.finish()
    except UnicodeDecodeError as exc:
        line = _decode_error_line(path, compressed)
        raise ProfileError(f"line {line}: not valid UTF-8 ({exc.reason})") from None
    except (OSError, EOFError, zlib.error) as exc:  # unreadable, or a broken .gz
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ProfileError(f"cannot read {path}: {reason}") from None
    return Profile(
        format=kind + (".gz" if compressed else ""),
        sha256=reader.hash.hexdigest(),
        size=reader.size,
        records=records,
        columns=tuple(ColumnProfile(n, p) for n, p in zip(names, present, strict=True)),
        findings=tuple(_findings(names, present, scanner, samples)),
        dialect=dialect,
    )


def _findings(
    names: Sequence[str], present: Sequence[int], scanner: _Scanner, samples: list[list[str]]
) -> Iterator[Finding]:
    """Merge what column names and values say, one finding per column and kind."""
    for col, name in enumerate(names):
        found = scanner.value_findings(col)
        by_name = _name_kind(name)
        if by_name is not None and present[col]:
            # Every value of such a column counts, whatever its form; the examples are masked
            # pattern matches if there are any, else masked values.
            _, examples = found.get(by_name, (0, samples[col]))
            found[by_name] = (present[col], examples)
        for kind in KINDS:
            if kind in found:
                count, examples = found[kind]
                yield Finding(name, kind, count, tuple(examples))


# --- CSV ----------------------------------------------------------------------------------------


Profiled = tuple[list[str], list[int], int, list[list[str]]]


_SNIFF_CHARS = 64 << 10  # characters read to detect a CSV dialect
_SNIFF_ROWS = 200  # rows of that sample compared


def _open_csv(
    stream: io.BufferedIOBase, delimiter: str | None, quotechar: str | None
) -> tuple[Dialect, Any]:
    """The file's dialect and a reader of its rows.

    The dialect is detected on a sample of whole lines from the beginning (spreadsheets
    export with ``;`` where the decimal separator is a comma, databases with tabs or ``|``).
    The sample is then read again from memory, followed by the rest of the stream, so the
    file is still read once and line numbers in errors still count from its start.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    sample = text.read(_SNIFF_CHARS)
    if len(sample) == _SNIFF_CHARS:
        sample += text.readline()  # end on a line boundary: a row is never split in two
    detected = _detect_dialect(sample, delimiter, quotechar, complete=len(sample) < _SNIFF_CHARS)
    lines = chain(io.StringIO(sample, newline=""), text)
    rows = csv.reader(
        lines, delimiter=detected.delimiter, quotechar=detected.quotechar, strict=True
    )
    return detected, rows


def _detect_dialect(
    sample: str, delimiter: str | None, quotechar: str | None, complete: bool
) -> Dialect:
    """The delimiter and quote that split the sample's rows most consistently into as many
    fields as its header, preferring more fields, then fewer fields left wrapped in quotes,
    then the usual choices.

    Only what is not given is tried. A file that no candidate splits into several fields
    (a single column) is read as comma-separated, double-quoted.
    """
    delimiters = [delimiter] if delimiter else list(DELIMITERS)
    quotes = [quotechar] if quotechar else list(QUOTES)
    best: tuple[tuple[float, int, int, int], str, str] | None = None
    for rank, (d, q) in enumerate((d, q) for d in delimiters for q in quotes):
        rows = _sample_rows(sample, d, q, complete)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        fit = sum(len(row) == width for row in rows) / len(rows)
        # Fields still wrapped in quotes were quoted with the other character.
        wrapped = sum(len(f) > 1 and f[0] == f[-1] and f[0] in QUOTES for row in rows for f in row)
        score = (fit, width, -wrapped, -rank)
        if best is None or score > best[0]:
            best = (score, d, q)
    if best is None:
        return Dialect(delimiters[0], quotes[0], delimiter is None or quotechar is None)
    return Dialect(best[1], best[2], delimiter is None or quotechar is None)


def _sample_rows(sample: str, delimiter: str, quotechar: str, complete: bool) -> list[list[str]]:
    """The sample's non-blank rows read with one candidate dialect; the last is left out
    when the sample stops before the end of the file (it may be cut inside a quoted field)."""
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar=quotechar)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) > _SNIFF_ROWS:
                break
    except csv.Error:
        return rows
    if not complete and len(rows) > 1:
        rows.pop()
    return rows[:_SNIFF_ROWS]


def _profile_csv(rows: Any, scanner: _Scanner, sample: int) -> Profiled:
    try:
        header = next(filter(None, rows), [])  # blank lines before the header are skipped
        names = _check_names(header, rows.line_num)
        ncols = len(names)
        for name in names:
            scanner.add_column(name)
        present = [0] * ncols
        samples: list[list[str]] = [[] for _ in names]
        flagged = [c for c, name in enumerate(names) if _name_kind(name) is not None]
        records = 0
        while True:
            first_line = rows.line_num + 1
            batch = list(islice(rows, _BATCH))
            if not batch:
                break
            if set(map(len, batch)) != {ncols}:
                batch = _check_rows(batch, ncols, first_line)
                if not batch:
                    continue
            size = len(batch)
            records += size
            flat = list(chain.from_iterable(batch))
            for col in range(ncols):
                values = flat[col::ncols]
                empty = values.count("")
                present[col] += size - empty
                if empty < size:
                    scanner.scan(col, _SEP.join(values), size)
            for col in flagged:
                _keep_samples(samples[col], flat[col::ncols], sample)
    except csv.Error as exc:
        reason = str(exc)
        if reason == "unexpected end of data":
            reason = "the file ends inside a quoted field"
        raise ProfileError(f"line {rows.line_num}: malformed CSV ({reason})") from None
    return names, present, records, samples


def _check_names(header: list[str], line: int) -> list[str]:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise ProfileError(f"line {line}: column name {name!r} appears twice")
        seen.add(name)
    return header


def _check_rows(batch: list[list[str]], ncols: int, first_line: int) -> list[list[str]]:
    """Drop blank lines from a batch, or fail on the first row with the wrong field count."""
    line = first_line
    kept = []
    for row in batch:
        if row and len(row) != ncols:
            raise ProfileError(f"line {line}: {len(row)} fields where the header has {ncols}")
        if row:
            kept.append(row)
        line += 1 + sum(f.count("\n") + f.count("\r") - f.count("\r\n") for f in row)
    return kept


def _keep_samples(kept: list[str], values: Iterable[Any], sample: int) -> None:
    """Keep up to ``sample`` distinct masked values of a column flagged by its name."""
    if len(kept) >= sample:
        return
    for value in islice(filter(None, values), 4 * sample):
        if len(kept) >= sample:
            return
        masked = _mask_words(value if isinstance(value, str) else _json_text(value))
        if masked not in kept:
            kept.append(masked)


def _decode_error_line(path: Path, compressed: bool) -> int:
    """Find the line of the first invalid UTF-8 byte by reading the file again.

    Only on the error path: the streaming pass cannot tell which line a decoder chunk began on.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    opener = gzip.open if compressed else open
    with opener(path, "rb") as fh:
        while chunk := fh.read(_READ_SIZE):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return lines + chunk[: max(0, exc.start - pending)].count(b"\n")
            lines += chunk.count(b"\n")
    return lines


# --- JSON Lines ---------------------------------------------------------------------------------


def _profile_jsonl(stream: io.BufferedIOBase, scanner: _Scanner, sample: int) -> Profiled:
    names: list[str] = []
    index: dict[str, int] = {}
    present: list[int] = []
    samples: list[list[str]] = []
    flagged: list[int] = []
    records = 0
    line = 0
    batch: list[dict[str, Any]] = []
    for raw in iter(lambda: stream.readline(_MAX_LINE), b""):
        line += 1
        record = _parse_line(raw, line)
        if record is None:
            continue
        if not index.keys() >= record.keys():
            for key in record:
                if key not in index:
                    index[key] = len(names)
                    names.append(key)
                    present.append(0)
                    samples.append([])
                    scanner.add_column(key)
                    if _name_kind(key) is not None:
                        flagged.append(index[key])
        batch.append(record)
        if len(batch) == _BATCH:
            _jsonl_batch(batch, names, present, scanner, samples, flagged, sample)
            records += len(batch)
            batch = []
    _jsonl_batch(batch, names, present, scanner, samples, flagged, sample)
    records += len(batch)
    return names, present, records, samples


def _parse_line(raw: bytes, line: int) -> dict[str, Any] | None:
    """One JSON object, or None for a blank line."""
    if len(raw) == _MAX_LINE and not raw.endswith(b"\n"):
        raise ProfileError(f"line {line}: longer than {_MAX_LINE >> 20} MiB")
    if line == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        record = _parse_slowly(raw, line)
        if record is None:
            return None
    if not isinstance(record, dict):
        raise ProfileError(f"line {line}: expected a JSON object, found {type(record).__name__}")
    return record


def _parse_slowly(raw: bytes, line: int) -> Any:
    """What orjson refused: a blank line, bad UTF-8, bad JSON, or JSON beyond its limits
    (integers over 64 bits) that the standard library still reads."""
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"line {line}: not valid UTF-8 ({exc.reason})") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise ProfileError(f"line {line}: invalid JSON ({message})") from None


def _jsonl_batch(
    batch: list[dict[str, Any]],
    names: list[str],
    present: list[int],
    scanner: _Scanner,
    samples: list[list[str]],
    flagged: list[int],
    sample: int,
) -> None:
    for col, name in enumerate(names):
        values = list(map(dict.get, batch, repeat(name)))
        filled = len(values) - values.count(None) - values.count("")
        present[col] += filled
        texts = list(_scannable(values)) if filled else []
        if texts:
            scanner.scan(col, _SEP.join(texts), len(texts))
    for col in flagged:
        _keep_samples(samples[col], (r.get(names[col]) for r in batch), sample)


def _scannable(values: list[Any]) -> Iterator[str]:
    """The text of values that can hold an identifier: strings, integers (an NHS number
    stored as a number), and nested values as compact JSON."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif type(value) is int and -_BIG_INT < value < _BIG_INT:
            yield str(value)
        elif isinstance(value, (dict, list)):
            yield _json_text(value)


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits, from the standard library's parser
        return json.dumps(value, ensure_ascii=False)
