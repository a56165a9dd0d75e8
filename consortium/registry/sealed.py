"""Sealed documents: metadata the ledger commits to without showing it.

A node's ledger is readable by anyone who can reach the node, and it is replicated to every
peer, but a restricted dataset's description may itself be sensitive (a rare-disease cohort
names the disease and the hospital). So for anything but public metadata the entry carries
only ``SHA-256(RFC 8785({"salt": …, "document": …}))`` and the node keeps the salted
document in its own table. The salt stops anyone from confirming a guess of the content
from the hash; whoever is shown the sealed document can check it against the signed entry.
Projections are rebuilt from the ledger plus this table, which is why it is never cleared.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import Column, Connection, LargeBinary, String, insert, select
from sqlmodel import Field, SQLModel

from consortium.crypto.canonical import canonical_bytes, parse
from consortium.crypto.keys import b64encode


class SealedDocument(SQLModel, table=True):
    __tablename__ = "sealed_document"

    digest: str = Field(sa_column=Column(String(44), primary_key=True))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


SEALED = SealedDocument.__table__


class SealError(RuntimeError):
    """A sealed document is missing or does not match the digest on the ledger."""


def seal(conn: Connection, document: Any) -> str:
    """Store ``document`` salted and return the base64 digest to put on the ledger."""
    data = canonical_bytes({"salt": b64encode(secrets.token_bytes(16)), "document": document})
    digest = b64encode(hashlib.sha256(data).digest())
    conn.execute(insert(SEALED).values(digest=digest, data=data))
    return digest


def unseal(conn: Connection, digest: str) -> Any:
    """The document behind ``digest``, checked against it."""
    data = conn.execute(select(SEALED.c.data).where(SEALED.c.digest == digest)).scalar()
    if data is None:
        raise SealError(f"sealed document {digest} is missing from this node")
    data = bytes(data)
    if b64encode(hashlib.sha256(data).digest()) != digest:
        raise SealError(f"sealed document {digest} does not match its digest")
    return parse(data)["document"]


def sealed_bytes(conn: Connection, digest: str) -> bytes | None:
    """The exact stored bytes, for a reader allowed to check them against the ledger."""
    data = conn.execute(select(SEALED.c.data).where(SEALED.c.digest == digest)).scalar()
    return None if data is None else bytes(data)
