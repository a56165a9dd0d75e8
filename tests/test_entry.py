"""The entry format: canonical bytes, the signed message, and strict parsing."""

from __future__ import annotations

import base64

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from consortium.crypto.keys import NodeKey, verify_signature
from consortium.ledger.entry import (
    GENESIS_PREV,
    EntryError,
    _parse_member_by_member,
    make_entry,
    parse_entry,
    signed_message,
)

KEY = NodeKey.from_seed(bytes(range(32)))


def _entry(body: dict | None = None, key: NodeKey | None = None) -> tuple[bytes, NodeKey]:
    key = key or NodeKey.generate()
    data = make_entry(
        index=3,
        kind="attestation",
        actor="alice",
        body=body or {"statement": "deleted", "sig": "a body may use any member name"},
        prev=GENESIS_PREV,
        key=key,
    )
    return data, key


def test_entry_is_canonical_and_signed_over_the_entry_without_sig() -> None:
    data, key = _entry()
    obj = orjson.loads(data)
    assert data == rfc8785.dumps(obj)
    sig = base64.b64decode(obj.pop("sig"))
    assert signed_message(data) == rfc8785.dumps(obj)
    assert verify_signature(key.public_key, rfc8785.dumps(obj), sig)
    assert obj["prev"] == base64.b64encode(bytes(32)).decode()
    entry = parse_entry(data)
    assert (entry.index, entry.kind, entry.actor) == (3, "attestation", "alice")


@pytest.mark.parametrize(
    "body",
    [
        {"text": 'quotes " and \\ backslashes ,"sig":" inside'},
        {"unicode": "Zürich 北京 😀", "n": [1, -2, 9007199254740991]},
        {"nested": {"sig": "x", "time": "y", "v": {"sig": "z"}}},
    ],
)
def test_signed_message_is_exact_for_awkward_bodies(body: dict) -> None:
    data, _ = _entry(body)
    obj = orjson.loads(data)
    obj.pop("sig")
    assert signed_message(data) == rfc8785.dumps(obj)
    parse_entry(data)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.replace(b'{"actor"', b'{ "actor"'), "canonical"),
        (lambda d: d[:-1] + b',"x":1}', "members"),
        (lambda d: d.replace(b'"v":2', b'"v":1'), "version"),
        (lambda d: d.replace(b'"index":3', b'"index":-3'), "index"),
        (lambda d: d.replace(b'"kind":"attestation"', b'"kind":"Bad Kind"'), "kind"),
        (lambda d: d.replace(b'"actor":"alice"', b'"actor":""'), "actor"),
        (lambda d: d[:10], "JSON"),
        (lambda d: d.replace(b'"time":"', b'"time":"x'), "time"),
    ],
)
def test_malformed_entries_are_refused(mutate, reason: str) -> None:
    data, _ = _entry()
    with pytest.raises(EntryError, match=reason):
        parse_entry(mutate(data))


def test_make_entry_refuses_bad_fields() -> None:
    key = NodeKey.generate()
    with pytest.raises(EntryError):
        make_entry(index=0, kind="x", actor="has space", body={}, prev=GENESIS_PREV, key=key)
    with pytest.raises(EntryError):
        make_entry(index=0, kind="x", actor="a", body={}, prev=b"short", key=key)


def _outcome(parser, data: bytes):
    try:
        return parser(data)
    except EntryError:
        return "refused"


@given(
    body=st.dictionaries(
        st.text(max_size=6),
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
        max_size=4,
    ),
    flip=st.integers(min_value=0, max_value=10_000),
    byte=st.integers(min_value=0, max_value=255),
)
@settings(max_examples=300, deadline=None)
def test_fast_shape_check_agrees_with_member_by_member(body: dict, flip: int, byte: int) -> None:
    data, _ = _entry(body, KEY)
    assert parse_entry(data) == _parse_member_by_member(data)
    mutated = bytearray(data)
    mutated[flip % len(data)] = byte
    mutated = bytes(mutated)
    assert _outcome(parse_entry, mutated) == _outcome(_parse_member_by_member, mutated)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.replace(b'"index":3', b'"index":03'),
        lambda d: d.replace(b'","sig":"', b'","x":{},"sig":"'),
        lambda d: d.replace(b'"body":{', b'"body":{"z":1},"extra":{'),
        lambda d: d[:-2] + b"1}",
    ],
)
def test_fast_shape_check_refuses_lookalikes(mutate) -> None:
    data, _ = _entry()
    with pytest.raises(EntryError):
        parse_entry(mutate(data))


def test_non_canonical_base64_is_refused() -> None:
    data, _ = _entry()
    obj = orjson.loads(data)
    # Same bytes, different text: the padding bits of the last character are not zero.
    last = obj["prev"][-2]
    twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    obj["prev"] = obj["prev"][:-2] + twin[twin.index(last) + 1] + "="
    with pytest.raises(EntryError, match="prev or sig"):
        parse_entry(rfc8785.dumps(obj))


def test_deeply_nested_body_is_malformed_not_a_crash() -> None:
    data, _ = _entry()
    deep = b'{"x":' * 1000 + b"1.5" + b"}" * 1000
    crafted = data.replace(b'"body":{', b'"body":{"deep":' + deep + b",", 1)
    with pytest.raises(EntryError):
        parse_entry(crafted)
