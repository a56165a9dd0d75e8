"""The ledger entry format: what one signed event looks like on the wire and on disk.

An entry is a JSON object with exactly these members::

    {"actor": str, "body": object, "index": int, "kind": str, "prev": base64,
     "sig": base64, "time": RFC 3339 UTC, "v": 2}

``sig`` is the node's Ed25519 signature over the RFC 8785 bytes of the entry without ``sig``;
``prev`` is the base64 leaf hash of the entry before it (32 zero bytes for the first). The
entry's *leaf data* is the RFC 8785 bytes of the whole entry, and that is what is stored.

Because RFC 8785 sorts members and writes no whitespace, removing the ``sig`` member from the
canonical bytes gives exactly the canonical bytes that were signed; `signed_message` uses that
to verify without re-serialising, once `parse_entry` has checked the bytes are canonical.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

from consortium.crypto.canonical import canonical_bytes, is_canonical, is_plain, parse
from consortium.crypto.keys import NodeKey, b64decode, b64encode
from consortium.ledger.merkle import HASH_SIZE

ENTRY_VERSION = 2
GENESIS_PREV = bytes(HASH_SIZE)
MAX_SAFE_INTEGER = 2**53 - 1
MEMBERS = frozenset({"v", "index", "time", "kind", "actor", "body", "prev", "sig"})
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
ACTOR_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")
TIME_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_SIG_MEMBER = b',"sig":"'
_TIME_MEMBER = b',"time":"'


class EntryError(ValueError):
    """Bytes that are not a well-formed, canonical ledger entry."""


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_entry(
    *,
    index: int,
    kind: str,
    actor: str,
    body: dict[str, Any],
    prev: bytes,
    key: NodeKey,
    time: datetime | None = None,
) -> bytes:
    """Build and sign an entry; return its canonical bytes (the leaf data)."""
    if not KIND_PATTERN.match(kind):
        raise EntryError(f"invalid entry kind {kind!r}")
    if not ACTOR_PATTERN.match(actor):
        raise EntryError(f"invalid actor {actor!r}")
    if len(prev) != HASH_SIZE:
        raise EntryError("prev must be a 32-byte hash")
    message = canonical_bytes(
        {
            "v": ENTRY_VERSION,
            "index": index,
            "time": format_time(time or datetime.now(UTC)),
            "kind": kind,
            "actor": actor,
            "body": body,
            "prev": b64encode(prev),
        }
    )
    sig = b64encode(key.sign(message)).encode()
    # "sig" sorts between "prev" and "time": splice it in rather than canonicalising twice.
    # The last ',"time":"' is the top-level one (only "v" and its number follow it).
    cut = message.rfind(_TIME_MEMBER)
    return message[:cut] + _SIG_MEMBER + sig + b'"' + message[cut:]


class Entry(NamedTuple):
    """A parsed entry with its exact stored bytes (a tuple: audits build millions of these)."""

    data: bytes
    index: int
    time: str
    kind: str
    actor: str
    body: dict[str, Any]
    prev: bytes
    sig: bytes


# The whole shape of a canonical entry, members in RFC 8785 order. The base64 classes also
# pin the final character, so only canonical encodings (zero padding bits) match. The greedy
# body ends at the last '},"index":', which is the top-level one: nothing after it can hold a
# brace.
_B64 = rb"[A-Za-z0-9+/]"
_SHAPE = re.compile(
    rb'\{"actor":"([A-Za-z0-9][A-Za-z0-9._@:-]{0,127})","body":(\{.*\}),'
    rb'"index":(0|[1-9][0-9]{0,15}),"kind":"([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)",'
    rb'"prev":"(' + _B64 + rb"{42}[AEIMQUYcgkosw048]="
    rb')","sig":"(' + _B64 + rb"{85}[AQgw]=="
    rb')","time":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)","v":2\}',
    re.DOTALL,
)


def parse_entry(data: bytes) -> Entry:
    """Parse and check the structure and canonical form of an entry (not its signature).

    Audits run this on every entry, so a well-formed entry is recognised by one regular
    expression plus the canonical check of its parsed value; anything else takes the member by
    member path, which names what is wrong.
    """
    shape = _SHAPE.fullmatch(data)
    if shape is not None:
        try:
            obj = parse(data)
        except ValueError:
            obj = None
        if (
            type(obj) is dict
            and obj.keys() == MEMBERS
            and type(obj["body"]) is dict
            and int(shape[3]) <= MAX_SAFE_INTEGER
            and is_canonical(data, obj, plain=is_plain(obj["body"]))
        ):
            return Entry(
                data,
                obj["index"],
                obj["time"],
                obj["kind"],
                obj["actor"],
                obj["body"],
                binascii.a2b_base64(shape[5]),
                binascii.a2b_base64(shape[6]),
            )
    return _parse_member_by_member(data)


def _parse_member_by_member(data: bytes) -> Entry:
    try:
        obj = parse(data)
    except ValueError as exc:
        raise EntryError(f"not valid JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.keys() != MEMBERS:
        raise EntryError("members must be exactly: " + ", ".join(sorted(MEMBERS)))
    if obj["v"] != ENTRY_VERSION or isinstance(obj["v"], bool):
        raise EntryError(f"unsupported entry version {obj['v']!r}")
    index = obj["index"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise EntryError("index must be a non-negative integer")
    for name, pattern in (("time", TIME_PATTERN), ("kind", KIND_PATTERN), ("actor", ACTOR_PATTERN)):
        if not isinstance(obj[name], str) or not pattern.match(obj[name]):
            raise EntryError(f"malformed {name}")
    if not isinstance(obj["body"], dict):
        raise EntryError("body must be an object")
    try:
        prev = b64decode(obj["prev"], HASH_SIZE)
        sig = b64decode(obj["sig"], 64)
    except ValueError as exc:
        raise EntryError(f"malformed prev or sig: {exc}") from exc
    # The top-level members were type-checked above; only the body can hold awkward values.
    plain = index <= MAX_SAFE_INTEGER and is_plain(obj["body"])
    if not is_canonical(data, obj, plain=plain):
        raise EntryError("bytes are not in RFC 8785 canonical form")
    return Entry(data, index, obj["time"], obj["kind"], obj["actor"], obj["body"], prev, sig)


def signed_message(data: bytes) -> bytes:
    """The bytes the signature covers: the canonical entry without its ``sig`` member.

    Only valid for bytes that `parse_entry` accepted: the members after ``sig`` in canonical
    order (``time``, ``v``) cannot contain the searched sequence, so the last match is the
    top-level one.
    """
    start = data.rfind(_SIG_MEMBER)
    end = data.index(b'"', start + len(_SIG_MEMBER))
    return data[:start] + data[end + 1 :]
