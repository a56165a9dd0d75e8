"""Opening and creating nodes.

`init_node` is all-or-nothing: if any step fails, the files it created are removed and the
data directory is left as it was, so the operator can fix the cause and run it again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from consortium.crypto.canonical import parse
from consortium.crypto.keys import KeyFileError, NodeKey, b64encode
from consortium.crypto.note import NoteError, check_key_name, vkey
from consortium.db.engine import make_engine
from consortium.db.migrate import current_revision, pending, upgrade
from consortium.events import record
from consortium.ledger.entry import ENTRY_VERSION
from consortium.ledger.log import ENTRY, Ledger, log_size, stored_level
from consortium.node.config import CONFIG_FILE, NodeConfig, NodeConfigError, default_origin

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from consortium.ledger.audit import AuditReport, Progress

GENESIS_KIND = "node.genesis"
NODE_ACTOR = "node"


@dataclass
class Node:
    """A node's configuration with its key, database engine and ledger."""

    config: NodeConfig
    key: NodeKey
    engine: Engine

    @classmethod
    def open(cls, data_dir: Path, *, migrate: bool = False) -> Node:
        config = NodeConfig.load(data_dir)
        try:
            key = NodeKey.read(config.key_path)
        except KeyFileError as exc:
            raise NodeConfigError(str(exc)) from exc
        engine = make_engine(config.effective_database_url())
        try:
            if migrate:
                before = current_revision(engine)
                with engine.connect() as conn:
                    _refuse_old_protocol(conn)
                upgrade(engine)
                _fill_new_projections(engine, config.origin, key, before)
            elif pending(engine):
                raise NodeConfigError(
                    "the database schema is out of date: run `consortium db upgrade`"
                )
        except SQLAlchemyError as exc:
            engine.dispose()
            raise NodeConfigError(
                f"cannot open the node database: {exc.__class__.__name__}: "
                f"{exc.orig if hasattr(exc, 'orig') else exc}"
            ) from exc
        except NodeConfigError:
            engine.dispose()
            raise
        return cls(config, key, engine)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def origin(self) -> str:
        return self.config.origin

    @property
    def public_key(self) -> bytes:
        return self.key.public_key

    @property
    def vkey(self) -> str:
        return vkey(self.origin, self.public_key)

    @property
    def witness_name(self) -> str:
        """The name this node cosigns its peers' checkpoints under, as a C2SP witness."""
        return f"{self.origin}/witness"

    @cached_property
    def witness_key(self) -> NodeKey:
        """The witness key: a second Ed25519 key, apart from the node key.

        C2SP tlog-cosignature asks for a key per cosigner, and witnesses in the wild keep
        theirs apart from any log key; so a cosignature never shares a key with the entries
        and checkpoints this node signs as a log. Created at ``consortium init``; a data
        directory from before witnessing gets one, owner-only, the first time it is needed.
        """
        try:
            return NodeKey.read_or_create(self.config.witness_key_path)
        except (KeyFileError, OSError) as exc:
            raise NodeConfigError(f"witness key: {exc}") from exc

    @property
    def witness_vkey(self) -> str:
        from consortium.crypto.cosignature import witness_vkey

        return witness_vkey(self.witness_name, self.witness_key.public_key)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.engine, self.origin, self.key)

    def audit(
        self,
        *,
        signatures: bool = True,
        workers: int | None = None,
        progress: Progress | None = None,
    ) -> AuditReport:
        """Audit this node's own ledger, as `consortium verify` does.

        The full audit (``signatures=True``) also compares the stored tree nodes that proofs
        are served from with the entries.
        """
        from consortium.ledger.audit import audit, database_batches

        # Checkpoints first: every entry they cover is then within the size read next, even
        # while the node keeps appending.
        checkpoints = self.ledger.checkpoints()
        size = self.ledger.size()
        return audit(
            database_batches(self.engine, size),
            public_key=self.public_key,
            origin=self.origin,
            checkpoints=checkpoints,
            signatures=signatures,
            workers=workers,
            progress=progress,
            stored_nodes=(
                (lambda level: stored_level(self.engine, level, size >> level))
                if signatures
                else None
            ),
        )

    def close(self) -> None:
        self.engine.dispose()


def _refuse_old_protocol(conn: Connection) -> None:
    """A ledger written under another protocol version is never continued in this one: its
    entries would mix two formats, and version 1 wrote in clear what version 2 seals."""
    if not inspect(conn).has_table(ENTRY.name):
        return
    data = conn.execute(select(ENTRY.c.data).where(ENTRY.c.idx == 0)).scalar()
    if data is None:
        return
    version = parse(bytes(data)).get("v")
    if version != ENTRY_VERSION:
        raise NodeConfigError(
            f"this node's ledger was written in protocol version {version}; this release "
            f"writes version {ENTRY_VERSION} and cannot continue it. Nothing was changed. "
            "Keep the old release to read that ledger, and start a new node with "
            "`consortium init`."
        )


def _fill_new_projections(engine: Engine, origin: str, key: NodeKey, before: str | None) -> None:
    """After an upgrade, fold the existing ledger into the projection tables it created.

    Projections are a cache of the ledger, so rebuilding them all is always correct; it is
    done only when the schema changed, and leaves node-local tables (credentials, sealed
    documents, read marks) alone.
    """
    from consortium.projections import rebuild

    if current_revision(engine) == before:
        return
    with engine.connect() as conn:
        if not log_size(conn):
            return
    rebuild(Ledger(engine, origin, key))


def _validate_new(name: str, origin: str) -> None:
    if not name.strip() or len(name) > 200:
        raise NodeConfigError("the node name must be 1 to 200 characters")
    try:
        check_key_name(origin)
    except NoteError as exc:
        raise NodeConfigError(f"invalid origin: {exc}") from exc


@contextmanager
def _undo_on_failure(data_dir: Path) -> Iterator[list[Path]]:
    """Track created paths and remove them if the block fails."""
    created: list[Path] = []
    try:
        yield created
    except BaseException:
        for path in reversed(created):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def init_node(
    data_dir: Path, name: str, *, origin: str | None = None, database_url: str | None = None
) -> Node:
    """Create a node: data directory, key (0600), config, database, and the genesis entry."""
    origin = origin or default_origin(name)
    _validate_new(name, origin)
    if (data_dir / CONFIG_FILE).exists():
        raise NodeConfigError(f"{data_dir} already holds a node ({CONFIG_FILE} exists)")
    config = NodeConfig(data_dir=data_dir, name=name, origin=origin, database_url=database_url)
    url = config.effective_database_url()
    with _undo_on_failure(data_dir) as created:
        if not data_dir.exists():
            data_dir.mkdir(parents=True, mode=0o700)
            created.append(data_dir)
        for leftover in (config.key_path, config.witness_key_path, data_dir / "node.db"):
            if leftover.exists():
                raise NodeConfigError(f"{leftover} exists already; refusing to overwrite it")
        key = NodeKey.generate()
        key.write(config.key_path)
        created.append(config.key_path)
        NodeKey.generate().write(config.witness_key_path)
        created.append(config.witness_key_path)
        config.write()
        created.append(config.path)
        if url.startswith("sqlite"):
            created.extend(data_dir / f"node.db{suffix}" for suffix in ("", "-wal", "-shm"))
        engine = make_engine(url)
        try:
            upgrade(engine)
            if (data_dir / "node.db").exists():
                # The database holds token hashes: owner-only, like the key. SQLite gives its
                # -wal and -shm files the same mode as the database file.
                (data_dir / "node.db").chmod(0o600)
            node = Node(config, key, engine)
            with node.ledger.transaction() as tx:
                if log_size(tx.conn):
                    raise NodeConfigError("the database already holds a ledger")
                record(
                    tx,
                    GENESIS_KIND,
                    NODE_ACTOR,
                    {
                        "name": name,
                        "origin": origin,
                        "public_key": b64encode(key.public_key),
                        "vkey": node.vkey,
                    },
                )
                tx.checkpoint()
        except SQLAlchemyError as exc:
            engine.dispose()
            raise NodeConfigError(f"cannot initialise the database: {exc}") from exc
        except BaseException:
            engine.dispose()
            raise
    return node
