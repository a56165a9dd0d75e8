"""Nonces of member nodes' requests this node has answered, so that each is answered once.

A signed request is valid for minutes (`signatures.MAX_LIFETIME_S`); someone who copies one
off the wire could send it again within that time. So the node keeps every accepted
``(keyid, nonce)`` under a unique key until the request could no longer be accepted anyway
(its ``expires`` plus the clock skew), and refuses a request whose nonce is already there.
Rows past that are deleted as new requests arrive. The table is node-local: never on the
ledger, never rebuilt, and it holds nothing but what the requests carried in the clear.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Engine, String, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from consortium.db.engine import writer
from consortium.federation.signatures import (
    CLOCK_SKEW_S,
    MAX_KEYID_LENGTH,
    MAX_NONCE_LENGTH,
    SignatureError,
    Verified,
)


class SeenNonce(SQLModel, table=True):
    """Node-local: never on the ledger, never rebuilt."""

    __tablename__ = "seen_nonce"

    keyid: str = Field(sa_column=Column(String(MAX_KEYID_LENGTH), primary_key=True))
    nonce: str = Field(sa_column=Column(String(MAX_NONCE_LENGTH), primary_key=True))
    expires: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))


SEEN = SeenNonce.__table__


def remember(engine: Engine, verified: Verified, now: int, skew: int = CLOCK_SKEW_S) -> None:
    """Record the nonce of a verified request; SignatureError if it was seen before.

    The unique key decides, so two copies of a request arriving at once are not both
    answered: the second insert waits for the first and then fails. A refusal rolls back
    the whole transaction, the pruning included, so it writes nothing.
    """
    try:
        with writer(engine).begin() as conn:
            conn.execute(delete(SEEN).where(SEEN.c.expires < now - skew))
            conn.execute(
                insert(SEEN).values(
                    keyid=verified.keyid, nonce=verified.nonce, expires=verified.expires
                )
            )
    except IntegrityError as exc:
        raise SignatureError("the nonce was used before: a request is answered once") from exc
