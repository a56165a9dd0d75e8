"""Party signatures over documents: contracts and benefit rules.

A party signs the RFC 8785 bytes of the whole document with its node key, on the instruction
of someone with the right role there. The bytes are the document and nothing else, so any
implementation that can canonicalise JSON can check a signature with the party's public key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Column, Connection, Engine, Integer, String, insert, select
from sqlmodel import Field, SQLModel

from consortium.crypto.canonical import canonical_bytes
from consortium.crypto.keys import NodeKey, b64decode, b64encode, verify_signature
from consortium.errors import Conflict, Invalid
from consortium.events import Event, projection_table


def document_digest(document: dict[str, Any]) -> str:
    """Base64 SHA-256 of the canonical bytes: how entries refer to a signed document."""
    return b64encode(hashlib.sha256(canonical_bytes(document)).digest())


def sign_document(key: NodeKey, document: dict[str, Any]) -> str:
    return b64encode(key.sign(canonical_bytes(document)))


def check_signature(public_key: str, document: dict[str, Any], signature: str) -> None:
    """Refuse (422, on the ``signature`` field) a signature that is not the party's."""
    try:
        raw = b64decode(signature, 64)
    except ValueError as exc:
        raise Invalid("malformed signature", {"signature": [str(exc)]}) from exc
    if not verify_signature(b64decode(public_key, 32), canonical_bytes(document), raw):
        raise Invalid(
            "the signature does not verify",
            {"signature": ["not a valid signature of this document by this party's key"]},
        )


class Countersignature(SQLModel, table=True):
    """Documents this node signed as a party to another node's proposal.

    One signature per document id and version: a node that signed two different documents
    under the same id and version would be equivocating, so the second is refused.
    """

    __tablename__ = "countersignature"

    document_type: str = Field(sa_column=Column(String(64), primary_key=True))
    ref: str = Field(sa_column=Column(String(64), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    digest: str = Field(sa_column=Column(String(44), nullable=False))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    signature: str = Field(sa_column=Column(String(88), nullable=False))
    signed_by: str = Field(sa_column=Column(String(128), nullable=False))
    signed_at: str = Field(sa_column=Column(String(32), nullable=False))


COUNTERSIGNATURE = projection_table(Countersignature.__table__)


def check_not_countersigned(conn: Connection, document_type: str, ref: str, version: int) -> None:
    done = conn.execute(
        select(COUNTERSIGNATURE.c.digest).where(
            COUNTERSIGNATURE.c.document_type == document_type,
            COUNTERSIGNATURE.c.ref == ref,
            COUNTERSIGNATURE.c.version == version,
        )
    ).first()
    if done is not None:
        raise Conflict(
            f"this node already signed version {version} of {ref!r} (digest {done.digest}); "
            "it signs one document per id and version"
        )


def list_countersigned(engine: Engine, document_type: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(COUNTERSIGNATURE)
            .where(COUNTERSIGNATURE.c.document_type == document_type)
            .order_by(COUNTERSIGNATURE.c.signed_at)
        )
        return [r._asdict() for r in rows]


def project_countersignature(
    conn: Connection, event: Event, document_type: str, ref: str, title: str
) -> None:
    b = event.body
    conn.execute(
        insert(COUNTERSIGNATURE).values(
            document_type=document_type,
            ref=ref,
            version=b["version"],
            digest=b["digest"],
            title=title,
            signature=b["signature"],
            signed_by=event.actor,
            signed_at=event.time,
        )
    )
