"""The node's side of disclosure: seal a body before it is signed, reveal an entry after.

Sealed documents live in the node-local ``sealed_document`` table (never cleared by a
rebuild); pseudonyms are a column of the ``person`` projection, set from the clear
``person`` member of each ``person.added`` entry. Erasing a person deletes their personal
documents and leaves a tombstone (``sealed_erasure``), so that a missing document can be told
from a deleted one: the first is tampering and fails, the second reads as erased.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Connection, String, column, select, table
from sqlmodel import Field, SQLModel

from consortium.crypto.canonical import canonical_bytes, parse
from consortium.disclosure.sealing import (
    SEALED,
    DisclosureError,
    join,
    open_document,
    person_paths,
    sealed_digests,
    split,
    substitute,
)
from consortium.disclosure.table import SEALED_CLASSES
from consortium.registry.sealed import SEALED as SEALED_TABLE
from consortium.registry.sealed import SealError, seal

# Actors that are not people: the node itself and the operator at the console.
SYSTEM_ACTORS = frozenset({"node", "operator"})

# The person projection, named here without importing the module that records people
# (which imports the event machinery that imports this).
_PERSON = table("person", column("username"), column("pseudonym"))


class SealedErasure(SQLModel, table=True):
    """Node-local: the digests of sealed documents deleted on purpose, and when."""

    __tablename__ = "sealed_erasure"

    digest: str = Field(sa_column=Column(String(44), primary_key=True))
    erased_at: str = Field(sa_column=Column(String(32), nullable=False))


ERASURE = SealedErasure.__table__


def pseudonym_of(conn: Connection, username: str) -> str:
    if username in SYSTEM_ACTORS:
        return username
    found = conn.execute(select(_PERSON.c.pseudonym).where(_PERSON.c.username == username)).scalar()
    if found is None:
        raise DisclosureError(f"{username!r} is not a person of this node: no pseudonym")
    return found


def username_of(conn: Connection, pseudonym: str) -> str:
    found = conn.execute(
        select(_PERSON.c.username).where(_PERSON.c.pseudonym == pseudonym)
    ).scalar()
    return pseudonym if found is None else found


def seal_body(
    conn: Connection, kind: str, actor: str, body: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The actor and body to sign: usernames as pseudonyms, non-public members sealed."""
    substituted = parse_copy(body)
    substitute(substituted, person_paths(kind), lambda name: pseudonym_of(conn, name))
    clear, groups = split(kind, substituted)
    if groups:
        clear[SEALED] = {cls: seal(conn, groups[cls]) for cls in SEALED_CLASSES if cls in groups}
    return pseudonym_of(conn, actor), clear


def parse_copy(body: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy through canonical JSON: exactly what a reader of the entry will parse."""
    return parse(canonical_bytes(dict(body)))


def documents(
    conn: Connection, body: Mapping[str, Any], classes: Iterable[str]
) -> dict[str, dict[str, Any] | None]:
    """The sealed documents of ``classes`` that ``body`` commits to, checked against their
    digests; ``None`` for one erased on purpose."""
    out: dict[str, dict[str, Any] | None] = {}
    for cls, digest in sealed_digests(body).items():
        if cls not in classes:
            continue
        data = sealed_data(conn, digest)
        out[cls] = None if data is None else open_document(data, digest)
    return out


def sealed_data(conn: Connection, digest: str) -> bytes | None:
    """The exact stored bytes behind ``digest``; None if erased; an error if just missing."""
    data = conn.execute(select(SEALED_TABLE.c.data).where(SEALED_TABLE.c.digest == digest)).scalar()
    if data is not None:
        return bytes(data)
    if conn.execute(select(ERASURE.c.digest).where(ERASURE.c.digest == digest)).first():
        return None
    raise SealError(f"sealed document {digest} is missing from this node")


def sealed_documents(conn: Connection, digests: list[str]) -> dict[str, bytes]:
    """The stored bytes behind each of ``digests`` that is here, in one query."""
    rows = conn.execute(
        select(SEALED_TABLE.c.digest, SEALED_TABLE.c.data).where(SEALED_TABLE.c.digest.in_(digests))
    )
    return {digest: bytes(data) for digest, data in rows}


def reveal(
    conn: Connection, kind: str, actor: str, body: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Everything an entry says, as this node's projections fold it: every sealed document
    joined back and pseudonyms read as usernames."""
    full = join(body, documents(conn, body, SEALED_CLASSES), kind)
    full.pop(SEALED, None)
    substitute(full, person_paths(kind), lambda p: username_of(conn, p))
    return username_of(conn, actor), full
