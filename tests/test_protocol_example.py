"""The worked example in docs/protocol.md is what the code produces, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from consortium.crypto.keys import NodeKey, b64encode
from consortium.crypto.note import Checkpoint, vkey
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
