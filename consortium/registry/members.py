"""Member institutions of the consortium, as this node knows them: name, origin and key.

A member's verifier key is what this node checks that institution's signatures with (on
contracts, benefit rules and, once nodes federate, its ledger). The node's own institution
becomes a member from its genesis entry; an admin adds the others from the ``vkey`` each
node publishes at ``GET /api/v1/node``, which should be compared out of band (a phone call,
the alliance's member list) before it is trusted.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, validate, validates
from sqlalchemy import Boolean, Column, Connection, Engine, String, insert, select
from sqlmodel import Field, SQLModel

from consortium.auth.roles import ADMIN, Actor
from consortium.crypto.keys import b64encode
from consortium.crypto.note import NoteError, Verifier
from consortium.errors import Conflict, NotFound
from consortium.events import Event, projection_table, projects, record
from consortium.ledger.log import Ledger
from consortium.text import Text


class Member(SQLModel, table=True):
    __tablename__ = "member"

    origin: str = Field(sa_column=Column(String(255), primary_key=True))
    institution: str = Field(sa_column=Column(String(200), nullable=False))
    public_key: str = Field(sa_column=Column(String(44), nullable=False, unique=True))
    vkey: str = Field(sa_column=Column(String(400), nullable=False))
    is_self: bool = Field(sa_column=Column(Boolean, nullable=False))
    added_at: str = Field(sa_column=Column(String(32), nullable=False))


MEMBER = projection_table(Member.__table__)


class MemberSchema(Schema):
    institution = Text(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"example": "Northern Genomics Institute"},
    )
    vkey = Text(
        required=True,
        metadata={
            "description": "The member node's verifier key, from its GET /api/v1/node.",
            "example": "consortium.example/ngi+8a1f5e3b+AbC…",
        },
    )

    @validates("vkey")
    def _vkey(self, value: str, **_: Any) -> None:
        try:
            verifier = Verifier.parse(value)
        except NoteError as exc:
            raise ValidationError(str(exc)) from exc
        if len(verifier.name) > 255:
            raise ValidationError("the origin in the vkey is longer than 255 characters")


def add_member(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    actor.require(ADMIN)
    body = MemberSchema().load(payload)
    verifier = Verifier.parse(body["vkey"])
    public_key = b64encode(verifier.public_key)
    with ledger.transaction() as tx:
        clash = tx.conn.execute(
            select(MEMBER.c.origin).where(
                (MEMBER.c.origin == verifier.name) | (MEMBER.c.public_key == public_key)
            )
        ).first()
        if clash is not None:
            raise Conflict(f"member {clash.origin!r} already has that origin or key")
        return record(
            tx,
            "member.added",
            actor.name,
            {
                "institution": body["institution"],
                "origin": verifier.name,
                "public_key": public_key,
                "vkey": body["vkey"].strip(),
            },
        )


def list_members(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(MEMBER).order_by(MEMBER.c.institution)))


def get_member(conn: Connection, origin: str) -> Any:
    row = conn.execute(select(MEMBER).where(MEMBER.c.origin == origin)).first()
    if row is None:
        raise NotFound(f"no member institution with origin {origin!r}")
    return row


def peer_log_verifier(conn: Connection, origin: str) -> Verifier | None:
    """The key this node trusts for another member's log checkpoints, or None if ``origin``
    is not a recorded member other than this node.

    The one place that says whose logs this node will vouch for (as a witness, and when it
    reads a peer's ledger); this node's own log is not among them, since a cosignature by the
    log's own operator adds nothing a reader can lean on.
    """
    row = conn.execute(
        select(MEMBER.c.vkey).where((MEMBER.c.origin == origin) & MEMBER.c.is_self.is_(False))
    ).first()
    return None if row is None else Verifier.parse(row.vkey)


def self_member(conn: Connection) -> Any:
    return conn.execute(select(MEMBER).where(MEMBER.c.is_self.is_(True))).one()


def _insert(conn: Connection, event: Event, is_self: bool, institution: str) -> None:
    b = event.body
    conn.execute(
        insert(MEMBER).values(
            origin=b["origin"],
            institution=institution,
            public_key=b["public_key"],
            vkey=b["vkey"],
            is_self=is_self,
            added_at=event.time,
        )
    )


@projects("node.genesis")
def _genesis(conn: Connection, event: Event) -> None:
    _insert(conn, event, True, event.body["name"])


@projects("member.added")
def _added(conn: Connection, event: Event) -> None:
    _insert(conn, event, False, event.body["institution"])
