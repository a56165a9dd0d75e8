"""Engines for the node database, with the transaction behaviour the ledger relies on.

SQLite runs in WAL mode with full synchronous commits, so an entry acknowledged to a client
survives a crash. Write transactions on SQLite start with ``BEGIN IMMEDIATE`` so that two
writers queue on the database lock instead of one failing halfway; reads start a normal
deferred transaction and never block writers. PostgreSQL writers serialise on an advisory lock
taken by the ledger (see `consortium.ledger.log`).

Every transaction that writes, on the ledger or beside it (tokens, passwords, read marks,
e-mail addresses), therefore opens with ``writer(engine).begin()``, never ``engine.begin()``:
a deferred SQLite transaction that reads and then writes cannot wait for the lock (SQLite
refuses to upgrade a read snapshot that a committed writer has made stale, to avoid a
deadlock), so it would fail with "database is locked" as soon as the ledger is being written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

WRITE_OPTION = "consortium_write"
SQLITE_BUSY_TIMEOUT_S = 60


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for a ``sqlite:///`` or ``postgresql+psycopg://`` URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    raise ValueError(f"unsupported database URL {parsed.render_as_string()!r}")


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that its transactions take the write lock up front.

    On SQLite they then wait up to the busy timeout for other writers, instead of failing;
    on PostgreSQL the mark changes nothing (row locks and the ledger's advisory lock queue).
    """
    return engine.execution_options(**{WRITE_OPTION: True})


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so we can choose IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
