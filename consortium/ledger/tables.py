"""Storage of the ledger: entries as their exact canonical bytes, tree nodes, checkpoints.

``merkle_node`` holds every complete subtree hash of level 1 and above, written in the same
transaction as the entry that completes it; it is what lets proofs at a million entries be
answered with a handful of lookups. Level-0 hashes are recomputed from the entry bytes, so the
stored tree never duplicates (and can never contradict unnoticed) the entries themselves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Integer, LargeBinary, SmallInteger, Text
from sqlmodel import Field, SQLModel

# INTEGER PRIMARY KEY is SQLite's rowid: the cheapest possible ordered key.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entry"

    idx: int = Field(sa_column=Column(_BIG_ID, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MerkleNode(SQLModel, table=True):
    __tablename__ = "merkle_node"
    __table_args__ = {"sqlite_with_rowid": False}

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CheckpointRecord(SQLModel, table=True):
    __tablename__ = "checkpoint"

    size: int = Field(sa_column=Column(_BIG_ID, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
