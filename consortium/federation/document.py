"""The membership document: who the consortium's members are, and how it changes.

A consortium is defined by a versioned RFC 8785 JSON document::

    {"type": "consortium.membership/v1", "consortium": name, "version": N,
     "previous": base64 SHA-256 of version N-1's canonical bytes, or null for version 1,
     "members": [{"institution", "origin", "url", "vkey"}, ...],
     "witnesses": {"members": [origin, ...], "quorum": K},
     "threshold": {"numerator": p, "denominator": q}}

Each version is signed by members with their node keys over its canonical bytes. Version 1 is
signed by every member it lists (the founders agree). A later version needs the signatures of
at least ``ceil(p/q × n)`` of the *previous* version's ``n`` members, under the previous
version's threshold, and of every member it adds, whose signature proves it holds the key the
document names for it. The threshold must be more than a half, so two different documents
can never both be accepted as the same version, and at most one, so no member alone can block
the consortium unless it is the only one.

These are pure functions over documents; `consortium.federation.membership` records them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from consortium.contracts.signing import document_digest
from consortium.crypto.canonical import canonical_bytes
from consortium.crypto.keys import b64decode, verify_signature
from consortium.crypto.note import NoteError, Verifier
from consortium.errors import Invalid

TYPE = "consortium.membership/v1"
MEMBERS = frozenset({"type", "consortium", "version", "previous", "members", "witnesses",
                     "threshold"})  # fmt: skip
MEMBER_FIELDS = frozenset({"institution", "origin", "url", "vkey"})
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_DIGEST = re.compile(r"^[A-Za-z0-9+/]{43}=$")


@dataclass(frozen=True)
class Signature:
    origin: str
    signature: str


def check(document: Any) -> dict[str, Any]:
    """``document`` if it is a well-formed membership document; else `Invalid` naming every
    field that is wrong."""
    errors: dict[str, list[str]] = {}

    def wrong(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not isinstance(document, dict):
        raise Invalid("a membership document is a JSON object", {"document": ["not an object"]})
    for name in sorted(set(document) - MEMBERS):
        wrong(name, "unknown field")
    for name in sorted(MEMBERS - set(document)):
        wrong(name, "is required")
    if errors:
        raise Invalid("the membership document is not valid", errors)
    if document["type"] != TYPE:
        wrong("type", f"must be {TYPE!r}")
    name = document["consortium"]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        wrong("consortium", "a name of 1 to 200 characters")
    version = document["version"]
    if type(version) is not int or version < 1:
        wrong("version", "a whole number from 1")
    previous = document["previous"]
    if version == 1 and previous is not None:
        wrong("previous", "version 1 has no previous version: null")
    if version != 1 and not (isinstance(previous, str) and _DIGEST.match(previous)):
        wrong("previous", "the base64 SHA-256 of the previous version")
    origins = _check_members(document["members"], wrong)
    _check_witnesses(document["witnesses"], origins, wrong)
    _check_threshold(document["threshold"], wrong)
    if errors:
        raise Invalid("the membership document is not valid", errors)
    return document


def _check_members(members: Any, wrong: Any) -> set[str]:
    if not isinstance(members, list) or not members:
        wrong("members", "a list of at least one member")
        return set()
    origins: set[str] = set()
    keys: set[bytes] = set()
    for i, m in enumerate(members):
        at = f"members.{i}"
        if not isinstance(m, dict) or set(m) != MEMBER_FIELDS:
            wrong(at, "an object with exactly: " + ", ".join(sorted(MEMBER_FIELDS)))
            continue
        if not isinstance(m["institution"], str) or not 0 < len(m["institution"].strip()) <= 200:
            wrong(f"{at}.institution", "a name of 1 to 200 characters")
        if not isinstance(m["url"], str) or not _URL.match(m["url"]):
            wrong(f"{at}.url", "the node's base URL, http(s)://host[:port][/path]")
        try:
            verifier = Verifier.parse(m["vkey"]) if isinstance(m["vkey"], str) else None
        except NoteError as exc:
            wrong(f"{at}.vkey", str(exc))
            continue
        if verifier is None:
            wrong(f"{at}.vkey", "a verifier key (name+hex id+base64 key)")
            continue
        if verifier.name != m["origin"]:
            wrong(f"{at}.origin", "must be the name in its vkey")
        if m["origin"] in origins:
            wrong(f"{at}.origin", "appears twice")
        if verifier.public_key in keys:
            wrong(f"{at}.vkey", "the same key as another member")
        origins.add(m["origin"])
        keys.add(verifier.public_key)
    return origins


def _check_witnesses(witnesses: Any, origins: set[str], wrong: Any) -> None:
    if not isinstance(witnesses, dict) or set(witnesses) != {"members", "quorum"}:
        wrong("witnesses", 'an object {"members": [origin, ...], "quorum": K}')
        return
    listed = witnesses["members"]
    if not isinstance(listed, list) or not all(isinstance(o, str) for o in listed):
        wrong("witnesses.members", "a list of member origins")
        return
    for origin in sorted(set(listed) - origins):
        wrong("witnesses.members", f"{origin!r} is not a member")
    if len(set(listed)) != len(listed):
        wrong("witnesses.members", "an origin appears twice")
    quorum = witnesses["quorum"]
    if type(quorum) is not int or not 0 <= quorum <= len(listed):
        wrong("witnesses.quorum", f"a whole number from 0 to {len(listed)}, the witnesses")


def _check_threshold(threshold: Any, wrong: Any) -> None:
    if not isinstance(threshold, dict) or set(threshold) != {"numerator", "denominator"}:
        wrong("threshold", 'an object {"numerator": p, "denominator": q}')
        return
    p, q = threshold["numerator"], threshold["denominator"]
    if (
        type(p) is not int
        or type(q) is not int
        or q < 1
        or not Fraction(1, 2) < Fraction(p, q) <= 1
    ):
        wrong("threshold", "a fraction p/q above 1/2 and at most 1, e.g. 2/3")


def digest(document: Mapping[str, Any]) -> str:
    return document_digest(dict(document))


def keys(document: Mapping[str, Any]) -> dict[str, bytes]:
    """Each member's public key, by origin."""
    return {m["origin"]: Verifier.parse(m["vkey"]).public_key for m in document["members"]}


def needed(previous: Mapping[str, Any] | None, document: Mapping[str, Any]) -> tuple[int, set[str]]:
    """How many of the previous version's members must sign ``document``, and which members
    must sign it whatever the count (the founders of version 1, the newcomers of a later one).
    """
    listed = {m["origin"] for m in document["members"]}
    if previous is None:
        return 0, listed
    before = {m["origin"] for m in previous["members"]}
    t = previous["threshold"]
    count = math.ceil(Fraction(t["numerator"], t["denominator"]) * len(before))
    return count, listed - before


def follows(previous: Mapping[str, Any] | None, document: Mapping[str, Any]) -> None:
    """Refuse a document that is not the next version after ``previous`` (None: none yet)."""
    if previous is None:
        if document["version"] != 1:
            raise Invalid(
                f"this node knows no earlier version: it starts from version 1, not "
                f"{document['version']}",
                {"version": ["must be 1"]},
            )
        return
    if document["version"] != previous["version"] + 1:
        raise Invalid(
            f"the next version is {previous['version'] + 1}, not {document['version']}",
            {"version": [f"must be {previous['version'] + 1}"]},
        )
    if document["consortium"] != previous["consortium"]:
        raise Invalid("a consortium keeps its name", {"consortium": ["must not change"]})
    if document["previous"] != digest(previous):
        raise Invalid(
            f"previous must be the digest of version {previous['version']}",
            {"previous": [f"must be {digest(previous)}"]},
        )


def valid_signers(
    previous: Mapping[str, Any] | None,
    document: Mapping[str, Any],
    signatures: Iterable[Signature],
) -> set[str]:
    """The origins whose signature over ``document`` verifies under the key that counts: the
    previous version's for its members, ``document``'s own for the members it adds. A
    signature that does not verify is refused, not ignored."""
    counted = {**keys(document), **(keys(previous) if previous is not None else {})}
    message = canonical_bytes(dict(document))
    valid = set()
    for s in signatures:
        key = counted.get(s.origin)
        if key is None:
            raise Invalid(
                f"{s.origin!r} is not a member of this version or the one before",
                {"signatures": [f"{s.origin}: not a member"]},
            )
        try:
            raw = b64decode(s.signature, 64)
        except ValueError as exc:
            raise Invalid("malformed signature", {"signatures": [f"{s.origin}: {exc}"]}) from exc
        if not verify_signature(key, message, raw):
            raise Invalid(
                f"the signature of {s.origin} does not verify for version {document['version']}",
                {"signatures": [f"{s.origin}: not a signature of this document by its key"]},
            )
        valid.add(s.origin)
    return valid


def missing(
    previous: Mapping[str, Any] | None, document: Mapping[str, Any], signed: set[str]
) -> list[str]:
    """What still stands between ``document`` and acceptance, in words; empty once accepted."""
    count, required = needed(previous, document)
    gaps = [f"{o} (it is new, its signature proves its key)" if previous else o
            for o in sorted(required - signed)]  # fmt: skip
    if previous is not None:
        before = {m["origin"] for m in previous["members"]}
        have = len(signed & before)
        if have < count:
            gaps.append(
                f"{count - have} more of the {len(before)} members of version "
                f"{previous['version']} ({have} of the {count} needed have signed)"
            )
    return gaps
