"""This node as a C2SP tlog-witness for its peers' logs (``add-checkpoint``).

A peer that has signed a new checkpoint sends it here with a consistency proof from the
last size this node cosigned for it. The witness checks, in the order C2SP tlog-witness
gives, and answers with the status that names the first problem:

- 404: the origin is not a log this node witnesses (a recorded member other than itself);
- 403: no signature on the note verifies under the member's recorded key;
- 400: ``old`` is greater than the checkpoint's size (or the body is malformed);
- 409: ``old`` is not the size this node last cosigned for that origin (its answer names
  the size, so the log can retry with the right proof); or the same size with another root;
- 422: the consistency proof from the stored checkpoint to the new one does not verify.

Otherwise it stores the checkpoint as the latest for that origin and returns its
cosignature. Checking and storing happen in one transaction that writes only if the stored
row is still the one the checks read (SQLite takes the write lock up front; on PostgreSQL
the conditional write is the guard), so two requests for one origin can never both advance
it, nor a late one roll it back. The stored state is node-local, like a witness's own
database: it is this node's memory of what it vouched for, not a fact of its own ledger.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    LargeBinary,
    Row,
    String,
    Text,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from consortium.crypto.cosignature import cosign
from consortium.crypto.keys import NodeKey, b64decode
from consortium.crypto.note import Checkpoint, NoteError, open_note, parse_note
from consortium.db.engine import is_sqlite, writer
from consortium.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from consortium.ledger import merkle
from consortium.registry.members import peer_log_verifier

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD_LINE = re.compile(r"old (0|[1-9][0-9]*)")


class WitnessedCheckpoint(SQLModel, table=True):
    """Node-local: the latest checkpoint this node cosigned, per witnessed log."""

    __tablename__ = "witnessed_checkpoint"

    origin: str = Field(sa_column=Column(String(255), primary_key=True))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    cosigned_at: int = Field(sa_column=Column(BigInteger, nullable=False))


WITNESSED = WitnessedCheckpoint.__table__


class SizeConflict(Conflict):
    """409: the request does not start from the witness's latest checkpoint for the log."""

    def __init__(self, message: str, latest: int) -> None:
        super().__init__(message)
        self.latest = latest


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request body."""

    old: int
    proof: list[bytes]
    note: str
    text: str  # the note's text: what a cosignature covers, extension lines included
    checkpoint: Checkpoint


def parse_request(body: bytes) -> AddCheckpoint:
    """Parse ``old N``, up to 63 base64 proof lines, a blank line and a checkpoint note.

    Raises `DomainError` (400) with the reason for anything that is not of that form.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DomainError("the request body is not UTF-8 text") from exc
    split = text.find("\n\n")
    if split < 0:
        raise DomainError("the request needs an old size line, proof lines and a blank line")
    lines = text[:split].split("\n")
    match = _OLD_LINE.fullmatch(lines[0])
    if match is None or len(match.group(1)) > 20:
        raise DomainError("the first line must be `old` and a size in decimal")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise DomainError(f"a consistency proof has at most {MAX_PROOF_LINES} lines")
    proof: list[bytes] = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            proof.append(b64decode(line, merkle.HASH_SIZE))
        except ValueError as exc:
            raise DomainError(f"line {number} is not a base64 SHA-256 hash: {exc}") from exc
    note = text[split + 2 :]
    try:
        checkpoint_text, _ = parse_note(note)
        checkpoint = Checkpoint.parse_text(checkpoint_text)
    except NoteError as exc:
        raise DomainError(f"the checkpoint is malformed: {exc}") from exc
    return AddCheckpoint(int(match.group(1)), proof, note, checkpoint_text, checkpoint)


def latest_size(conn: Connection, origin: str) -> int:
    """The size this node last cosigned for ``origin`` (0 if never)."""
    size = conn.execute(select(WITNESSED.c.size).where(WITNESSED.c.origin == origin)).scalar()
    return size or 0


def _check_signed(engine: Engine, request: AddCheckpoint) -> None:
    origin = request.checkpoint.origin
    with engine.connect() as conn:
        verifier = peer_log_verifier(conn, origin)
    if verifier is None:
        raise NotFound(f"this node does not witness a log with origin {origin!r}")
    try:
        open_note(request.note, verifier)
    except NoteError as exc:
        raise Forbidden(f"the checkpoint carries no valid signature by {origin}: {exc}") from exc


def _check_consistent(request: AddCheckpoint, stored: Row[Any] | None) -> None:
    """The spec's 409 and 422 checks against the stored checkpoint (``None``: none yet)."""
    cp = request.checkpoint
    latest = stored.size if stored is not None else 0
    if request.old != latest:
        raise SizeConflict(
            f"the old size {request.old} is not the latest this witness cosigned for "
            f"{cp.origin} ({latest})",
            latest,
        )
    if stored is not None and cp.size == latest:
        if cp.root != stored.root:
            raise SizeConflict(
                f"this witness cosigned {cp.origin} at size {latest} with another root hash",
                latest,
            )
        if request.proof:
            raise Invalid("a checkpoint of the size already cosigned needs an empty proof")
    elif request.old == 0:
        if request.proof:
            raise Invalid("the consistency proof from size 0 must be empty")
    elif stored is None or not merkle.verify_consistency(
        request.old, cp.size, request.proof, stored.root, cp.root
    ):
        raise Invalid(f"the consistency proof from size {request.old} to {cp.size} does not verify")


def add_checkpoint(
    engine: Engine, key: NodeKey, name: str, body: bytes, *, now: int | None = None
) -> str:
    """Check an add-checkpoint request, store the checkpoint, and return the cosignature
    line(s) by witness ``name``; raise a `DomainError` with the spec's status otherwise."""
    request = parse_request(body)
    _check_signed(engine, request)
    cp = request.checkpoint
    if request.old > cp.size:
        raise DomainError(f"the old size {request.old} is greater than the checkpoint's {cp.size}")
    timestamp = int(time.time()) if now is None else now
    with writer(engine).begin() as conn:
        stored = conn.execute(select(WITNESSED).where(WITNESSED.c.origin == cp.origin)).first()
        _check_consistent(request, stored)
        cosignature = cosign(request.text, name, key, timestamp)
        values = {"size": cp.size, "root": cp.root, "note": request.note, "cosigned_at": timestamp}
        if stored is None:
            insert = (sqlite if is_sqlite(engine) else postgresql).insert
            statement = insert(WITNESSED).values(origin=cp.origin, **values)
            statement = statement.on_conflict_do_nothing()
        else:
            statement = (
                update(WITNESSED)
                .where(
                    (WITNESSED.c.origin == cp.origin)
                    & (WITNESSED.c.size == stored.size)
                    & (WITNESSED.c.root == stored.root)
                )
                .values(**values)
            )
        # RETURNING rather than rowcount, which drivers do not all report for upserts.
        written = conn.execute(statement.returning(WITNESSED.c.origin)).first() is not None
        if not written:
            # Another request for this origin committed since the read: it won.
            latest = latest_size(conn, cp.origin)
            raise SizeConflict(
                f"another checkpoint for {cp.origin} was cosigned meanwhile (size {latest})",
                latest,
            )
    return cosignature
