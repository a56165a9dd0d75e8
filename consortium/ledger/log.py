"""Log mechanics: append signed entries, cut checkpoints, answer proofs from stored tree state.

This module knows what an entry looks like but not what it means; the domain decides kinds and
bodies. Every write happens inside `Ledger.transaction`, which takes the single write lock
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL) before reading the tree head,
so concurrent writers (threads or processes) queue and can never fork, duplicate or skip an
index. Projections written through the same transaction commit or roll back with the entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from consortium.crypto.keys import NodeKey, verify_signature
from consortium.crypto.note import Checkpoint
from consortium.db.engine import is_sqlite, writer
from consortium.ledger import merkle
from consortium.ledger.entry import (
    GENESIS_PREV,
    EntryError,
    make_entry,
    parse_entry,
    signed_message,
)
from consortium.ledger.tables import CheckpointRecord, LedgerEntry, MerkleNode

ENTRY = LedgerEntry.__table__
NODE = MerkleNode.__table__
CHECKPOINT = CheckpointRecord.__table__

# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises ledger writers.
_PG_WRITE_LOCK = 0x636F6E736F727431

log = logging.getLogger(__name__)


class ProofError(ValueError):
    """A proof was asked for sizes or indexes the log cannot prove."""


class LedgerIntegrityError(RuntimeError):
    """The stored entries no longer hash to the tree a checkpoint was about to sign."""


@dataclass(frozen=True)
class Appended:
    """What a writer gets back: enough to show the client and to ask for a proof later."""

    index: int
    leaf_hash: bytes
    data: bytes


def _mark(engine: Engine | Connection) -> str:
    """The driver's positional placeholder (qmark for sqlite3, format for psycopg)."""
    return "?" if engine.dialect.paramstyle == "qmark" else "%s"


def lookup_nodes(conn: Connection, nodes: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
    """Hashes of complete subtrees: level 0 from the entry bytes, the rest from storage.

    Plain SQL on the primary keys, at most two statements per call: proofs and appends run
    this constantly, and building SQLAlchemy expressions would cost more than the queries.
    """
    found: dict[merkle.Node, bytes] = {}
    mark = _mark(conn)
    leaves = [i for level, i in nodes if level == 0]
    inner = [(level, i) for level, i in nodes if level > 0]
    if leaves:
        sql = f"SELECT idx, data FROM ledger_entry WHERE idx IN ({', '.join([mark] * len(leaves))})"
        rows = conn.exec_driver_sql(sql, tuple(leaves))
        found.update({(0, i): merkle.leaf_hash(d) for i, d in rows})
    if inner:
        where = " OR ".join([f"(level = {mark} AND idx = {mark})"] * len(inner))
        rows = conn.exec_driver_sql(
            f"SELECT level, idx, hash FROM merkle_node WHERE {where}",
            tuple(v for node in inner for v in node),
        )
        found.update({(lv, i): bytes(h) for lv, i, h in rows})
    missing = [n for n in nodes if n not in found]
    if missing:
        raise LookupError(f"stored tree is missing nodes {missing[:5]}")
    return found


def log_size(conn: Connection) -> int:
    last = conn.execute(select(func.max(ENTRY.c.idx))).scalar()
    return 0 if last is None else last + 1


class LedgerTransaction:
    """One write transaction on the log: appends and checkpoints commit together."""

    def __init__(
        self, conn: Connection, origin: str, key: NodeKey, clock: Callable[[], datetime]
    ) -> None:
        self.conn = conn
        self.clock = clock
        self._origin = origin
        self._key = key
        # The head of the log in two reads: the last entry (size and chain link), then the
        # interior peaks of the tree (a lone level-0 peak is that same last entry).
        last = conn.execute(
            select(ENTRY.c.idx, ENTRY.c.data).order_by(ENTRY.c.idx.desc()).limit(1)
        ).first()
        self.size = 0 if last is None else last.idx + 1
        self._prev = GENESIS_PREV if last is None else merkle.leaf_hash(last.data)
        peaks = merkle.peak_nodes(self.size)
        hashes = lookup_nodes(conn, [n for n in peaks if n[0] > 0])
        if self.size:
            hashes[(0, self.size - 1)] = self._prev
        self._tree = merkle.RootAccumulator.resume(self.size, [hashes[n] for n in peaks])
        self._entries: list[dict[str, Any]] = []
        self._nodes: list[dict[str, Any]] = []

    def append(self, kind: str, actor: str, body: dict[str, Any]) -> Appended:
        index = self.size
        data = make_entry(
            index=index,
            kind=kind,
            actor=actor,
            body=body,
            prev=self._prev,
            key=self._key,
            time=self.clock(),
        )
        leaf = merkle.leaf_hash(data)
        self._entries.append({"idx": index, "data": data})
        self._nodes.extend(
            {"level": lv, "idx": i, "hash": h} for lv, i, h in self._tree.append(leaf)
        )
        self.size += 1
        self._prev = leaf
        return Appended(index, leaf, data)

    def flush(self) -> None:
        """Write the appended entries and tree nodes (batched; done at the latest on commit)."""
        if self._entries:
            self.conn.execute(insert(ENTRY), self._entries)
            self._entries = []
        if self._nodes:
            self.conn.execute(insert(NODE), self._nodes)
            self._nodes = []

    def checkpoint(self) -> str | None:
        """Sign and store a checkpoint for the current size, unless one exists already."""
        self.flush()
        latest = self.conn.execute(select(func.max(CHECKPOINT.c.size))).scalar()
        if self.size == 0 or (latest is not None and latest >= self.size):
            return None
        root = self._tree.root()
        problem = self._unsigned_problem(root)
        if problem is not None:
            message = f"refusing to sign a checkpoint at size {self.size}: {problem}"
            log.error(message)
            raise LedgerIntegrityError(message)
        note = Checkpoint(self._origin, self.size, root).sign(self._key)
        self.conn.execute(
            insert(CHECKPOINT).values(
                size=self.size, root=root, note=note, created_at=datetime.now(UTC)
            )
        )
        return note

    def _unsigned_problem(self, root: bytes) -> str | None:
        """What is wrong, if anything, with the entries a checkpoint at this size would sign
        for the first time, recomputed from their stored bytes.

        A signature over a root vouches for every entry under it; an entry row edited in the
        database since it was appended must not get one. So, from the last signed checkpoint
        on: the stored tree still gives that checkpoint's root; each stored entry is in its
        place, well formed, signed by this node and chained to the one before; the tree nodes
        they complete are the stored ones; and together they give ``root``. The entries
        before the last checkpoint were checked when it was signed (and `consortium verify`
        checks them all), so the cost is one signature check per new entry.
        """
        conn = self.conn
        last = conn.execute(
            select(CHECKPOINT.c.size, CHECKPOINT.c.root).order_by(CHECKPOINT.c.size.desc()).limit(1)
        ).first()
        start = 0 if last is None else last.size
        known = lookup_nodes(conn, merkle.peak_nodes(start) + ([(0, start - 1)] if start else []))
        tree = merkle.RootAccumulator.resume(start, [known[n] for n in merkle.peak_nodes(start)])
        if last is not None and tree.root() != bytes(last.root):
            return f"the stored tree no longer gives the root signed at size {start}"
        prev = known[(0, start - 1)] if start else GENESIS_PREV
        public_key = self._key.public_key
        completed: list[tuple[int, int, bytes]] = []
        expected = start
        rows = conn.execute(
            select(ENTRY.c.idx, ENTRY.c.data)
            .where(ENTRY.c.idx >= start, ENTRY.c.idx < self.size)
            .order_by(ENTRY.c.idx)
        )
        for index, stored in rows:
            data = bytes(stored)
            if index != expected:
                return f"entry {expected} is missing"
            try:
                entry = parse_entry(data)
            except EntryError as exc:
                return f"entry {index} is malformed: {exc}"
            if entry.index != index:
                return f"entry {index} says it is entry {entry.index}"
            if entry.prev != prev:
                return f"entry {index} does not chain to entry {index - 1}"
            if not verify_signature(public_key, signed_message(data), entry.sig):
                return f"entry {index} was changed after it was signed"
            prev = merkle.leaf_hash(data)
            completed.extend(tree.append(prev))
            expected += 1
        if expected != self.size:
            return f"entry {expected} is missing"
        differing = next(_stored_differences(conn, completed), None)
        if differing is not None:
            level, i = differing
            return f"the stored tree node (level {level}, index {i}) does not match the entries"
        if tree.root() != root:
            return "the entries do not give the root about to be signed"
        return None


def _stored_differences(
    conn: Connection, computed: list[tuple[int, int, bytes]]
) -> Iterator[tuple[int, int]]:
    """The nodes among ``computed`` whose stored copy is missing or different, read one
    range per level (a run of appends completes a range of nodes on each level)."""
    by_level: dict[int, dict[int, bytes]] = {}
    for level, index, hashed in computed:
        by_level.setdefault(level, {})[index] = hashed
    for level, nodes in sorted(by_level.items()):
        rows = conn.execute(
            select(NODE.c.idx, NODE.c.hash).where(
                NODE.c.level == level, NODE.c.idx >= min(nodes), NODE.c.idx <= max(nodes)
            )
        )
        stored = {index: bytes(hashed) for index, hashed in rows}
        for index, hashed in sorted(nodes.items()):
            if stored.get(index) != hashed:
                yield level, index


def utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """A node's ledger in its database. Reads need no key; writes need the node key.

    ``clock`` stamps entries and is what the domain asks when something depends on the
    ledger's "now" (has a period ended?); it is the system clock except where a test or a
    simulation moves time on.
    """

    def __init__(
        self,
        engine: Engine,
        origin: str,
        key: NodeKey | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.origin = origin
        self.clock = clock
        self._key = key
        self._writer = writer(engine)

    def on(self, engine: Engine) -> Ledger:
        """This ledger's identity and key over another database, e.g. a scratch copy."""
        return Ledger(engine, self.origin, self._key, self.clock)

    # --- writes ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """Hold the write lock for one transaction; everything in it commits atomically."""
        if self._key is None:
            raise RuntimeError("this ledger was opened without the node key")
        with self._writer.begin() as conn:
            if not is_sqlite(self.engine):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
            tx = LedgerTransaction(conn, self.origin, self._key, self.clock)
            yield tx
            tx.flush()

    def append(self, kind: str, actor: str, body: dict[str, Any]) -> Appended:
        with self.transaction() as tx:
            return tx.append(kind, actor, body)

    def checkpoint(self) -> str | None:
        with self.transaction() as tx:
            return tx.checkpoint()

    # --- reads -------------------------------------------------------------------------------

    def size(self) -> int:
        with self.engine.connect() as conn:
            return log_size(conn)

    def entries(self, start: int, end: int) -> list[bytes]:
        """Stored bytes of entries ``start <= index < end``, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ENTRY.c.data)
                .where(ENTRY.c.idx >= start, ENTRY.c.idx < end)
                .order_by(ENTRY.c.idx)
            )
            return [bytes(d) for (d,) in rows]

    def latest_checkpoint(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(CHECKPOINT.c.note).order_by(CHECKPOINT.c.size.desc()).limit(1)
            ).scalar()

    def checkpoints(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(CHECKPOINT.c.note).order_by(CHECKPOINT.c.size)).scalars()
            )

    def root(self, tree_size: int) -> bytes:
        with self.engine.connect() as conn:
            self._check_size(conn, tree_size)
            if tree_size == 0:
                return merkle.EMPTY_ROOT
            return merkle.prove([(0, tree_size)], lambda n: lookup_nodes(conn, n))[0]

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        with self.engine.connect() as conn:
            self._check_size(conn, tree_size)
            if not 0 <= index < tree_size:
                raise ProofError(f"index {index} is not below tree_size {tree_size}")
            ranges = merkle.inclusion_ranges(index, tree_size)
            return merkle.prove(ranges, lambda n: lookup_nodes(conn, n))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        with self.engine.connect() as conn:
            self._check_size(conn, second)
            if not 1 <= first <= second:
                raise ProofError(f"first must be between 1 and second ({second})")
            ranges = merkle.consistency_ranges(first, second)
            return merkle.prove(ranges, lambda n: lookup_nodes(conn, n))

    @staticmethod
    def _check_size(conn: Connection, tree_size: int) -> None:
        size = log_size(conn)
        if not 0 <= tree_size <= size:
            raise ProofError(f"tree_size {tree_size} is beyond the log's {size} entries")


def iter_entries(
    engine: Engine, start: int = 0, end: int | None = None, batch: int = 10_000
) -> Iterator[tuple[int, bytes]]:
    """Every stored entry ``(index, data)`` in index order, read in pages by key.

    This is the audit's hot path, so it uses the driver's cursor directly: SQLAlchemy's row
    objects would double the cost per entry.
    """
    mark = _mark(engine)
    sql = f"SELECT idx, data FROM ledger_entry WHERE idx > {mark} AND idx < {mark} "
    sql += f"ORDER BY idx LIMIT {int(batch)}"
    stop = 2**62 if end is None else end
    after = start - 1
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            while True:
                cursor.execute(sql, (after, stop))
                rows = cursor.fetchall()
                if not rows:
                    return
                yield from rows
                after = rows[-1][0]
        finally:
            cursor.close()


def stored_level(engine: Engine, level: int, count: int) -> tuple[list[int], bytes]:
    """Indexes and concatenated hashes of the stored nodes ``(level, 0 <= idx < count)``."""
    mark = _mark(engine)
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                f"SELECT idx, hash FROM merkle_node WHERE level = {mark} AND idx < {mark} "
                "ORDER BY idx",
                (level, count),
            )
            rows = cursor.fetchall()
        finally:
            cursor.close()
    return [i for i, _ in rows], b"".join(bytes(h) for _, h in rows)
