"""The stored log: appends, checkpoints and proofs from stored tree state."""

from __future__ import annotations

import pytest

from consortium.crypto.note import Checkpoint, Verifier
from consortium.ledger import merkle
from consortium.ledger.entry import parse_entry
from consortium.ledger.log import ProofError
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
