"""`consortium verify`'s auditor against real tampering of a stored ledger."""

from __future__ import annotations

import orjson
import pytest
import rfc8785
from sqlalchemy import delete, select, update

from consortium.crypto.keys import NodeKey
from consortium.ledger import merkle
from consortium.ledger.audit import AuditReport, audit, database_batches
from consortium.ledger.entry import make_entry
from consortium.ledger.log import CHECKPOINT, ENTRY, NODE, iter_entries, stored_level
from consortium.node import Node


def _fill(node: Node, count: int = 20) -> None:
    with node.ledger.transaction() as tx:
        for i in range(count):
            tx.append("attestation", "alice", {"statement": f"statement {i}"})
        tx.checkpoint()


def _audit(node: Node, *, signatures: bool = True, workers: int = 2) -> AuditReport:
    return node.audit(signatures=signatures, workers=workers)


def _data(node: Node, index: int) -> bytes:
    with node.engine.connect() as conn:
        return conn.execute(select(ENTRY.c.data).where(ENTRY.c.idx == index)).scalar_one()


def _store(node: Node, index: int, data: bytes) -> None:
    with node.engine.begin() as conn:
        conn.execute(update(ENTRY).where(ENTRY.c.idx == index).values(data=data))


def _edit_body(node: Node, index: int) -> None:
    obj = orjson.loads(_data(node, index))
    obj["body"]["statement"] = "something the node never said"
    _store(node, index, rfc8785.dumps(obj))


def test_intact_ledger_passes_every_check(node: Node) -> None:
    _fill(node)
    report = _audit(node)
    assert report.ok, report.problems
    assert report.size == 21
    assert report.checkpoints_checked == 2
    assert report.stored_nodes_checked == 18  # 21 leaves complete 21 - popcount(21) nodes
    assert report.root == node.ledger.root(21)


@pytest.mark.parametrize("signatures", [True, False], ids=["full", "quick"])
def test_edited_body_is_named_at_its_index(node: Node, signatures: bool) -> None:
    _fill(node)
    _edit_body(node, 7)
    report = _audit(node, signatures=signatures)
    assert not report.ok
    assert report.first.index == 7
    assert report.first.kind == ("edited" if signatures else "broken-chain")


def test_edited_last_entry_is_caught_by_the_checkpoint(node: Node) -> None:
    _fill(node)
    _edit_body(node, 20)
    report = _audit(node)
    assert (report.first.index, report.first.kind) == (20, "edited")
    quick = _audit(node, signatures=False)
    assert (quick.first.index, quick.first.kind) == (20, "checkpoint")


def test_entry_signed_by_another_key_is_a_bad_signature(node: Node) -> None:
    _fill(node)
    # An intruder who can write to the database but lacks the node key appends an entry
    # that chains correctly: only the signature gives it away.
    forged = make_entry(
        index=21,
        kind="attestation",
        actor="mallory",
        body={"statement": "forged"},
        prev=merkle.leaf_hash(_data(node, 20)),
        key=NodeKey.generate(),
    )
    with node.engine.begin() as conn:
        conn.execute(ENTRY.insert().values(idx=21, data=forged))
    report = _audit(node)
    assert (report.first.index, report.first.kind) == (21, "bad-signature")


def test_validly_signed_but_unlinked_entry_is_a_broken_chain(node: Node) -> None:
    _fill(node)
    # Even the key holder cannot rewrite history unnoticed: a re-signed entry 5 with a
    # different prev breaks the chain (and the checkpoints).
    obj = orjson.loads(_data(node, 5))
    replacement = make_entry(
        index=5,
        kind=obj["kind"],
        actor=obj["actor"],
        body=obj["body"],
        prev=bytes(32),
        key=node.key,
    )
    _store(node, 5, replacement)
    report = _audit(node)
    assert (report.first.index, report.first.kind) == (5, "broken-chain")


def test_missing_entry_is_named(node: Node) -> None:
    _fill(node)
    with node.engine.begin() as conn:
        conn.execute(delete(ENTRY).where(ENTRY.c.idx == 9))
    report = _audit(node)
    assert (report.first.index, report.first.kind) == (9, "missing")


def test_truncated_log_is_caught_by_its_checkpoint(node: Node) -> None:
    _fill(node)
    with node.engine.begin() as conn:
        conn.execute(delete(ENTRY).where(ENTRY.c.idx >= 18))
    report = _audit(node)
    assert (report.first.index, report.first.kind) == (18, "missing")


def test_forged_checkpoint_is_refused(node: Node) -> None:
    _fill(node)
    with node.engine.begin() as conn:
        note = conn.execute(select(CHECKPOINT.c.note).where(CHECKPOINT.c.size == 21)).scalar()
        conn.execute(
            update(CHECKPOINT)
            .where(CHECKPOINT.c.size == 21)
            .values(note=note.replace("\n21\n", "\n20\n"))
        )
    report = _audit(node)
    assert not report.ok
    assert report.first.kind == "checkpoint"


@pytest.mark.parametrize(
    ("tamper", "index", "what"),
    [
        (
            update(NODE).where(NODE.c.level == 2, NODE.c.idx == 1).values(hash=bytes(32)),
            4,
            "does not match",
        ),
        (delete(NODE).where(NODE.c.level == 1, NODE.c.idx == 3), 6, "is missing"),
    ],
    ids=["changed", "deleted"],
)
def test_tampered_stored_tree_is_found(node: Node, tamper, index: int, what: str) -> None:
    _fill(node)
    with node.engine.begin() as conn:
        conn.execute(tamper)
    report = _audit(node)
    assert (report.first.index, report.first.kind) == (index, "stored-tree")
    assert what in report.first.detail


def test_non_canonical_bytes_are_malformed(sqlite_node: Node) -> None:
    _fill(sqlite_node, 3)
    _store(sqlite_node, 2, _data(sqlite_node, 2).replace(b'{"actor"', b'{ "actor"'))
    report = _audit(sqlite_node)
    assert (report.first.index, report.first.kind) == (2, "malformed")


def test_signatures_are_checked_in_one_or_many_processes(sqlite_node: Node) -> None:
    _fill(sqlite_node, 300)
    _edit_body(sqlite_node, 150)
    for workers in (1, 3):
        report = _audit(sqlite_node, workers=workers)
        assert (report.first.index, report.first.kind) == (150, "edited")


@pytest.mark.parametrize("missing", [[7], [8], [7, 8], [15, 16, 17]])
def test_gaps_at_batch_edges_are_found(sqlite_node: Node, missing: list[int]) -> None:
    _fill(sqlite_node)
    with sqlite_node.engine.begin() as conn:
        conn.execute(delete(ENTRY).where(ENTRY.c.idx.in_(missing)))
    for workers in (1, 2):
        report = audit(
            database_batches(sqlite_node.engine, sqlite_node.ledger.size(), step=8),
            public_key=sqlite_node.public_key,
            origin=sqlite_node.origin,
            checkpoints=sqlite_node.ledger.checkpoints(),
            workers=workers,
        )
        assert (report.first.index, report.first.kind) == (missing[0], "missing")
        if len(missing) > 1:
            assert f"entries {missing[0]} to {missing[-1]} are missing" in report.first.detail
        assert [p.kind for p in report.problems].count("missing") == 1


def test_row_batches_audit_like_database_batches(sqlite_node: Node) -> None:
    _fill(sqlite_node, 50)
    from consortium.ledger.audit import row_batches

    report = audit(
        row_batches(iter_entries(sqlite_node.engine)),
        public_key=sqlite_node.public_key,
        origin=sqlite_node.origin,
        checkpoints=sqlite_node.ledger.checkpoints(),
    )
    assert report.ok and report.size == 51
    assert report.root == _audit(sqlite_node).root


@pytest.mark.parametrize("size", [1, 3, 5, 8, 13])
def test_any_batching_gives_the_same_tree(sqlite_node: Node, size: int) -> None:
    """Batches that do not start on a power-of-two boundary join the tree leaf by leaf."""
    with sqlite_node.ledger.transaction() as tx:
        for i in range(40):
            tx.append("attestation", "alice", {"statement": str(i)})
            if i % 7 == 0:
                tx.checkpoint()
    rows = list(iter_entries(sqlite_node.engine))
    for workers in (1, 2):
        report = audit(
            [rows[i : i + size] for i in range(0, len(rows), size)],
            public_key=sqlite_node.public_key,
            origin=sqlite_node.origin,
            checkpoints=sqlite_node.ledger.checkpoints(),
            workers=workers,
            stored_nodes=lambda level: stored_level(sqlite_node.engine, level, 41 >> level),
        )
        assert report.ok, report.problems
        assert report.checkpoints_checked == 7
        assert report.root == sqlite_node.ledger.root(41)
        assert report.stored_nodes_checked == 41 - (41).bit_count()
