"""The worked example in docs/protocol.md is what the code produces, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from consortium.crypto.keys import NodeKey, b64encode
from consortium.crypto.note import Checkpoint, vkey
from consortium.disclosure.sealing import seal_document, split
from consortium.disclosure.table import published_table
from consortium.ledger import merkle
from consortium.ledger.entry import GENESIS_PREV, make_entry, parse_entry

PROTOCOL = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")


def test_documented_genesis_entry_and_checkpoint() -> None:
    key = NodeKey.from_seed(bytes(range(32)))
    origin = "ledger.example.org"
    body = {
        "name": "Example Hospital",
        "origin": origin,
        "public_key": b64encode(key.public_key),
        "vkey": vkey(origin, key.public_key),
    }
    data = make_entry(
        index=0,
        kind="node.genesis",
        actor="node",
        body=body,
        prev=GENESIS_PREV,
        key=key,
        time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    parse_entry(data)
    leaf = merkle.leaf_hash(data)
    assert data.decode() in PROTOCOL
    assert f"`{b64encode(leaf)}`" in PROTOCOL
    assert Checkpoint(origin, 1, leaf).sign(key) in PROTOCOL


def test_documented_sealed_entry() -> None:
    """§13's worked example: the split, the salted documents, their digests and the entry."""
    key = NodeKey.from_seed(bytes(range(32)))
    genesis = next(line for line in PROTOCOL.splitlines() if line.startswith('{"actor":"node"'))
    clear, groups = split(
        "cost.recorded",
        {"cost": "cost-7q2m4k9x1c", "amount": "1200.00", "currency": "EUR",
         "dataset": "ds-4m2369s62n", "description": "Secure enclave hosting, 2026"},
    )  # fmt: skip
    salts = {"members": b64encode(bytes(16)), "parties": b64encode(bytes([1] * 16))}
    clear["sealed"] = {}
    for cls, group in groups.items():
        digest, data = seal_document(group, salts[cls])
        assert data.decode() in PROTOCOL and f"`{digest}`" in PROTOCOL
        clear["sealed"][cls] = digest
    entry = make_entry(
        index=1,
        kind="cost.recorded",
        actor="p-7q2m4k9x1c",
        body=clear,
        prev=merkle.leaf_hash(genesis.encode()),
        key=key,
        time=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert entry.decode() in PROTOCOL
    # The published table is the one the node enforces, row for row.
    for row in published_table():
        assert row in PROTOCOL, row
