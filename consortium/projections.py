"""Every projection, and rebuilding them all from the ledger.

Importing this module registers every projector. `rebuild` holds the ledger's write lock,
empties the projection tables and folds every entry again, in order; `snapshot` reads all of
them in a stable order so a test (or an operator after a rebuild) can compare states; `check`
does the same fold in a scratch space and names every live row that differs from it
(`consortium verify --projections`).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

import consortium.access.consent
import consortium.access.grants
import consortium.access.incidents
import consortium.access.obligations
import consortium.access.outputs
import consortium.access.requests
import consortium.alliance.compensation
import consortium.alliance.contributions
import consortium.auth.people
import consortium.contracts.benefit_rules
import consortium.contracts.lifecycle
import consortium.federation.membership
import consortium.notifications
import consortium.registry.datasets
import consortium.registry.members
import consortium.registry.settings  # noqa: F401  (each registers its projectors)
from consortium.db.engine import is_sqlite, make_engine
from consortium.events import PROJECTION_TABLES, apply, event_from_entry
from consortium.ledger.log import Ledger, LedgerTransaction, iter_entries


def rebuild(ledger: Ledger, progress: Callable[[int], None] | None = None) -> int:
    """Recreate every projection from the ledger; returns the number of entries folded."""
    with ledger.transaction() as tx:
        return _refold(tx, ledger.engine, progress)


def _refold(tx: LedgerTransaction, engine: Engine, progress: Callable[[int], None] | None) -> int:
    """Empty every projection table in ``tx`` and fold the ledger of ``engine`` into them."""
    folded = 0
    for table in reversed(PROJECTION_TABLES):
        tx.conn.execute(delete(table))
    for index, data in iter_entries(engine, 0, tx.size):
        apply(tx.conn, event_from_entry(tx.conn, index, bytes(data)))
        folded += 1
        if progress is not None and folded % 1000 == 0:
            progress(1000)
    if progress is not None:
        progress(folded % 1000)
    return folded


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection row, table by table, in primary-key order."""
    with engine.connect() as conn:
        return _rows(conn)


def _rows(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table.name: [
            tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))
        ]
        for table in PROJECTION_TABLES
    }


@dataclass(frozen=True)
class RowDifference:
    """A projection row that is not what the ledger gives. ``column`` is None when the whole
    row is on one side only; ``live`` and ``rebuilt`` are then "present" or "absent"."""

    table: str
    key: Any
    column: str | None
    live: Any
    rebuilt: Any

    def __str__(self) -> str:
        where = f"{self.table} {self.key!r}"
        if self.column is None:
            if self.rebuilt == ABSENT:
                return f"{where}: a row the ledger does not give"
            return f"{where}: missing (the ledger gives it)"
        return f"{where}: {self.column}: live {self.live!r}, rebuilt {self.rebuilt!r}"


PRESENT, ABSENT = "present", "absent"


def check(ledger: Ledger, progress: Callable[[int], None] | None = None) -> list[RowDifference]:
    """Fold the whole ledger into projections in a scratch space and name every live row that
    differs from them: the tables the API answers from, checked against the ledger.

    The live tables are never changed. On SQLite the fold runs in a copy of the database (the
    backup API, in the system's temporary directory), so writers are not held up; on
    PostgreSQL it runs inside the ledger's write transaction, which is rolled back, so writers
    wait for it as they do for `rebuild`. Either way the live rows and the ledger are read at
    the same moment.
    """
    with _scratch(ledger) as (tx, engine):
        live = _rows(tx.conn)
        _refold(tx, engine, progress)
        rebuilt = _rows(tx.conn)
    return differences(live, rebuilt)


class _Discard(Exception):
    """Leaves a scratch transaction by rolling it back."""


@contextmanager
def _scratch(ledger: Ledger) -> Iterator[tuple[LedgerTransaction, Engine]]:
    """A write transaction over a consistent copy of the node's tables, then thrown away, and
    the engine whose ledger it folds."""
    try:
        if is_sqlite(ledger.engine):
            with tempfile.TemporaryDirectory(prefix="consortium-check-") as tmp:
                engine = _sqlite_copy(ledger.engine, Path(tmp) / "scratch.db")
                try:
                    with ledger.on(engine).transaction() as tx:
                        yield tx, engine
                        raise _Discard
                finally:
                    engine.dispose()
        else:
            with ledger.transaction() as tx:
                yield tx, ledger.engine
                raise _Discard
    except _Discard:
        pass


def _sqlite_copy(engine: Engine, path: Path) -> Engine:
    """A copy of a SQLite database as it is at one moment (SQLite's online backup)."""
    source = engine.raw_connection()
    try:
        target = sqlite3.connect(path)
        try:
            source.driver_connection.backup(target)  # type: ignore[union-attr]
        finally:
            target.close()
    finally:
        source.close()
    return make_engine(f"sqlite:///{path}")


def differences(
    live: dict[str, list[tuple[Any, ...]]], rebuilt: dict[str, list[tuple[Any, ...]]]
) -> list[RowDifference]:
    """Every row and column in which two snapshots of the projections differ."""
    found: list[RowDifference] = []
    for table in PROJECTION_TABLES:
        columns = [c.name for c in table.columns]
        key_at = [columns.index(c.name) for c in table.primary_key.columns]

        def keyed(rows: list[tuple[Any, ...]], at: list[int] = key_at) -> dict[Any, tuple]:
            return {(r[at[0]] if len(at) == 1 else tuple(r[i] for i in at)): r for r in rows}

        ours, theirs = keyed(live[table.name]), keyed(rebuilt[table.name])
        for key in sorted(ours.keys() | theirs.keys(), key=repr):
            a, b = ours.get(key), theirs.get(key)
            if a is None or b is None:
                sides = (ABSENT, PRESENT) if a is None else (PRESENT, ABSENT)
                found.append(RowDifference(table.name, key, None, *sides))
                continue
            found.extend(
                RowDifference(table.name, key, column, x, y)
                for column, x, y in zip(columns, a, b, strict=True)
                if x != y
            )
    return found
