"""The stored log: appends, checkpoints and proofs from stored tree state."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from consortium.crypto.note import Checkpoint, Verifier
from consortium.ledger import merkle
from consortium.ledger.entry import parse_entry
from consortium.ledger.log import ENTRY, NODE, LedgerIntegrityError, ProofError
from consortium.node import Node


def _fill(node: Node, count: int) -> None:
    with node.ledger.transaction() as tx:
        for i in range(count):
            tx.append("attestation", "alice", {"statement": f"statement {i}"})


def test_genesis_entry_publishes_the_node_key(node: Node) -> None:
    [data] = node.ledger.entries(0, 1)
    genesis = parse_entry(data)
    assert genesis.kind == "node.genesis"
    assert genesis.prev == bytes(32)
    assert genesis.body["vkey"] == node.vkey
    note = node.ledger.latest_checkpoint()
    assert Checkpoint.open(note, Verifier.parse(node.vkey)).size == 1


def test_proofs_from_storage_match_the_reference(node: Node) -> None:
    _fill(node, 70)
    leaves = [merkle.leaf_hash(d) for d in node.ledger.entries(0, 71)]
    assert len(leaves) == 71
    for size in (1, 2, 3, 8, 13, 32, 33, 64, 71):
        root = node.ledger.root(size)
        assert root == merkle.root_hash(leaves[:size])
        for index in {0, size // 2, size - 1}:
            proof = node.ledger.inclusion_proof(index, size)
            assert proof == merkle.inclusion_proof(leaves[:size], index)
            assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
        for first in {1, size // 3 or 1, size - 1 or 1}:
            proof = node.ledger.consistency_proof(first, size)
            assert proof == merkle.consistency_proof(leaves[:size], first)
            old = merkle.root_hash(leaves[:first])
            assert merkle.verify_consistency(first, size, proof, old, root)


def test_entries_chain_and_checkpoints_cover_the_log(node: Node) -> None:
    _fill(node, 5)
    assert node.ledger.checkpoint() is not None
    assert node.ledger.checkpoint() is None  # nothing new: no second checkpoint
    entries = [parse_entry(d) for d in node.ledger.entries(0, 10)]
    assert [e.index for e in entries] == list(range(6))
    for before, after in zip(node.ledger.entries(0, 6), entries[1:], strict=False):
        assert after.prev == merkle.leaf_hash(before)
    cp = Checkpoint.open(node.ledger.latest_checkpoint(), Verifier.parse(node.vkey))
    assert (cp.size, cp.root) == (6, node.ledger.root(6))


def test_failed_transaction_writes_nothing(node: Node) -> None:
    with pytest.raises(RuntimeError), node.ledger.transaction() as tx:
        tx.append("attestation", "alice", {"statement": "half"})
        raise RuntimeError("the projection update failed")
    assert node.ledger.size() == 1
    done = node.ledger.append("attestation", "alice", {"statement": "whole"})
    assert done.index == 1


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("inclusion_proof", (1, 1)),
        ("inclusion_proof", (0, 2)),
        ("inclusion_proof", (-1, 1)),
        ("consistency_proof", (0, 1)),
        ("consistency_proof", (2, 1)),
        ("consistency_proof", (1, 5)),
        ("root", (2,)),
    ],
)
def test_out_of_range_proofs_are_refused(node: Node, call: str, args: tuple) -> None:
    with pytest.raises(ProofError):
        getattr(node.ledger, call)(*args)


def _edit_entry(node: Node, index: int) -> None:
    [data] = node.ledger.entries(index, index + 1)
    with node.engine.begin() as conn:
        conn.execute(
            update(ENTRY).where(ENTRY.c.idx == index).values(data=data.replace(b"ment", b"MENT"))
        )


def _edit_node(node: Node, _: int) -> None:
    with node.engine.begin() as conn:
        conn.execute(update(NODE).where(NODE.c.level == 1, NODE.c.idx == 3).values(hash=bytes(32)))


@pytest.mark.parametrize(
    ("tamper", "at", "reason"),
    [
        (_edit_entry, 5, "entry 5 was changed after it was signed"),
        (_edit_entry, 8, "entry 8 was changed after it was signed"),  # the newest
        (_edit_node, 0, "the stored tree node (level 1, index 3) does not match the entries"),
    ],
    ids=["edited-entry", "edited-newest-entry", "edited-tree-node"],
)
def test_a_checkpoint_is_not_signed_over_an_edited_row(
    node: Node, tamper, at: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Entries appended since the last checkpoint are checked from their stored bytes before
    a checkpoint vouches for them: a row edited in between is refused, and nothing signed."""
    _fill(node, 8)  # entries 1 to 8, after the genesis checkpoint at size 1
    tamper(node, at)
    before = node.ledger.checkpoints()
    with pytest.raises(LedgerIntegrityError, match=f"at size 9: {re.escape(reason)}"):
        node.ledger.checkpoint()
    assert node.ledger.checkpoints() == before
    assert f"refusing to sign a checkpoint at size 9: {reason}" in caplog.text


def test_checkpoints_check_only_what_they_sign_first(node: Node) -> None:
    """An entry already under a signed checkpoint is the audit's to find; the next checkpoint
    checks the entries after it, and signs when they are intact."""
    _fill(node, 4)
    node.ledger.checkpoint()
    _fill(node, 3)
    assert node.ledger.checkpoint() is not None
    assert [Checkpoint.parse_text(n.split("\n\n")[0] + "\n").size
            for n in node.ledger.checkpoints()] == [1, 5, 8]  # fmt: skip
