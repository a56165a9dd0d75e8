"""Benefit rules: the alliance's signed formula for turning ledger events into credit.

The alliance lead proposes a version (the weight of each kind of contribution event and the
allocation method); every member institution accepts it by signing the document with its
node key. The version in force is the one accepted last — signed by every member it names —
so no member can be held to a rule it did not sign, and a new member joins the rules by
signing the next version.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import JSON, Column, Connection, Engine, Integer, String, func, insert, select
from sqlalchemy import update as sql_update
from sqlmodel import Field, SQLModel

from consortium.auth.roles import ADMIN, LEAD, Actor
from consortium.contracts.signing import (
    check_not_countersigned,
    check_signature,
    document_digest,
    project_countersignature,
    sign_document,
)
from consortium.crypto.keys import NodeKey
from consortium.errors import Conflict, Invalid, NotFound, flatten_messages
from consortium.events import Event, projection_table, projects, record
from consortium.ledger.log import Ledger
from consortium.registry.members import MEMBER, self_member
from consortium.text import MAX_ID, PlainDict, Text

DOCUMENT_TYPE = "consortium.benefit-rules/v1"
RULES_DOCUMENT = "benefit-rules"
EVENT_TYPES = (
    "dataset.published",
    "grant.issued",
    "output.publication",
    "output.preprint",
    "output.derived_dataset",
    "output.software",
    "output.citation",
    "cost.recorded",
    "contribution.declared",
)
METHODS = ("shapley", "proportional", "leave-one-out", "equal")
WEIGHT = r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,4})?$"
KEEP = r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$"
DEFAULT_KEEP = "0.5"


class BenefitRules(SQLModel, table=True):
    __tablename__ = "benefit_rules"

    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    digest: str = Field(sa_column=Column(String(44), nullable=False))
    proposed_by: str = Field(sa_column=Column(String(128), nullable=False))
    proposed_at: str = Field(sa_column=Column(String(32), nullable=False))
    accepted_at: str | None = Field(sa_column=Column(String(32), nullable=True))


class BenefitRulesSignature(SQLModel, table=True):
    __tablename__ = "benefit_rules_signature"

    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    member: str = Field(sa_column=Column(String(255), primary_key=True))
    signature: str = Field(sa_column=Column(String(88), nullable=False))
    recorded_by: str = Field(sa_column=Column(String(128), nullable=False))
    recorded_at: str = Field(sa_column=Column(String(32), nullable=False))


RULES = projection_table(BenefitRules.__table__)
RULES_SIGNATURE = projection_table(BenefitRulesSignature.__table__)


class ProposalSchema(Schema):
    event_weights = PlainDict(
        keys=Text(validate=validate.OneOf(EVENT_TYPES)),
        values=Text(validate=validate.Regexp(WEIGHT, error="a decimal number such as 1 or 2.5")),
        required=True,
        validate=validate.Length(min=1),
        metadata={
            "description": "Weight of each contribution event: " + ", ".join(EVENT_TYPES),
            "example": {"dataset.published": "1", "grant.issued": "2", "output.publication": "5"},
        },
    )
    method = Text(
        required=True,
        validate=validate.OneOf(METHODS),
        metadata={"description": "How shares are computed: " + ", ".join(METHODS)},
    )
    derived_keep = Text(
        validate=validate.Regexp(KEEP, error="a decimal number from 0 to 1 such as 0.5"),
        metadata={
            "description": "The share of credit a derived dataset keeps; the rest flows to "
            "its sources by their weights. " + DEFAULT_KEEP + " if not given.",
            "example": DEFAULT_KEEP,
        },
    )
    notes = Text(validate=validate.Length(max=4000))


class RulesSignatureSchema(Schema):
    member = Text(required=True, metadata={"description": "The member's origin."})
    signature = Text(required=True)


def _row(conn: Connection, version: int) -> Any:
    row = None
    if 1 <= version <= MAX_ID:  # beyond the column's range nothing can match
        row = conn.execute(select(RULES).where(RULES.c.version == version)).first()
    if row is None:
        raise NotFound(f"no benefit rules version {version}")
    return row


def _view(conn: Connection, row: Any) -> dict[str, Any]:
    signed = {
        s.member: s
        for s in conn.execute(
            select(RULES_SIGNATURE).where(RULES_SIGNATURE.c.version == row.version)
        )
    }
    return {
        "version": row.version,
        "digest": row.digest,
        "proposed_by": row.proposed_by,
        "proposed_at": row.proposed_at,
        "accepted_at": row.accepted_at,
        "document": row.document,
        "signatures": [
            {"member": m, "signature": s.signature, "recorded_at": s.recorded_at}
            for m, s in sorted(signed.items())
        ],
        "awaiting": [m["origin"] for m in row.document["members"] if m["origin"] not in signed],
    }


def list_rules(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [_view(conn, r) for r in conn.execute(select(RULES).order_by(RULES.c.version))]


def get_rules(engine: Engine, version: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return _view(conn, _row(conn, version))


def rules_in_force(engine: Engine) -> dict[str, Any] | None:
    """The version accepted last (signed by every member it names), or None: the one runs
    and reports apply to a period ending now."""
    with engine.connect() as conn:
        row = conn.execute(
            select(RULES)
            .where(RULES.c.accepted_at.is_not(None))
            .order_by(RULES.c.accepted_at.desc(), RULES.c.version.desc())
            .limit(1)
        ).first()
        return None if row is None else _view(conn, row)


def propose_rules(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    actor.require(LEAD)
    data = ProposalSchema().load(payload)
    with ledger.transaction() as tx:
        latest = tx.conn.execute(select(func.max(RULES.c.version))).scalar() or 0
        members = [
            {"origin": m.origin, "institution": m.institution, "public_key": m.public_key}
            for m in tx.conn.execute(select(MEMBER).order_by(MEMBER.c.origin))
        ]
        document = {
            "type": DOCUMENT_TYPE,
            "proposer": self_member(tx.conn).origin,
            "version": latest + 1,
            "event_weights": dict(sorted(data["event_weights"].items())),
            "method": data["method"],
            "derived_keep": data.get("derived_keep", DEFAULT_KEEP),
            "members": members,
            "notes": data.get("notes", ""),
        }
        return record(
            tx, "benefit_rules.proposed", actor.name, {"version": latest + 1, "document": document}
        )


def _signature_event(tx: Any, actor: Actor, version: int, member: str, signature: str) -> Event:
    row = _row(tx.conn, version)
    keys = {m["origin"]: m["public_key"] for m in row.document["members"]}
    if member not in keys:
        raise Invalid("not a member", {"member": [f"{member!r} is not named in version {version}"]})
    done = tx.conn.execute(
        select(RULES_SIGNATURE.c.member).where(
            RULES_SIGNATURE.c.version == version, RULES_SIGNATURE.c.member == member
        )
    ).first()
    if done is not None:
        raise Conflict(f"{member!r} has signed version {version} already")
    check_signature(keys[member], row.document, signature)
    return record(
        tx,
        "benefit_rules.signed",
        actor.name,
        {"version": version, "digest": row.digest, "member": member, "signature": signature},
    )


def sign_rules(ledger: Ledger, key: NodeKey, actor: Actor, version: int) -> Event:
    """This institution accepts the rules: its admin instructs the node to sign."""
    actor.require(ADMIN)
    with ledger.transaction() as tx:
        document = _row(tx.conn, version).document
        own = self_member(tx.conn).origin
        return _signature_event(tx, actor, version, own, sign_document(key, document))


def add_rules_signature(ledger: Ledger, actor: Actor, version: int, payload: dict) -> Event:
    """Record another member's acceptance, signed on its own node."""
    actor.require(ADMIN, LEAD)
    data = RulesSignatureSchema().load(payload)
    with ledger.transaction() as tx:
        return _signature_event(tx, actor, version, data["member"], data["signature"])


@projects("benefit_rules.proposed")
def _proposed(conn: Connection, event: Event) -> None:
    document = event.body["document"]
    conn.execute(
        insert(RULES).values(
            version=event.body["version"],
            document=document,
            digest=document_digest(document),
            proposed_by=event.actor,
            proposed_at=event.time,
        )
    )


@projects("benefit_rules.signed")
def _signed(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(RULES_SIGNATURE).values(
            version=b["version"],
            member=b["member"],
            signature=b["signature"],
            recorded_by=event.actor,
            recorded_at=event.time,
        )
    )
    row = _row(conn, b["version"])
    signed = set(
        conn.execute(
            select(RULES_SIGNATURE.c.member).where(RULES_SIGNATURE.c.version == b["version"])
        ).scalars()
    )
    if signed >= {m["origin"] for m in row.document["members"]}:
        conn.execute(
            sql_update(RULES).where(RULES.c.version == b["version"]).values(accepted_at=event.time)
        )


class _MemberSchema(Schema):
    origin = Text(required=True, validate=validate.Length(min=1, max=255))
    institution = Text(required=True, validate=validate.Length(min=1, max=200))
    public_key = Text(required=True, validate=validate.Regexp(r"^[A-Za-z0-9+/]{43}=$"))


class RulesDocumentSchema(ProposalSchema):
    """A whole benefit-rules document, as another member's node proposed it: checked in full
    before this node's key goes under it, because the signature covers every byte."""

    type = Text(required=True, validate=validate.Equal(DOCUMENT_TYPE))
    proposer = Text(required=True, validate=validate.Length(min=1, max=255))
    version = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_ID))
    members = fields.List(
        fields.Nested(_MemberSchema), required=True, validate=validate.Length(min=1)
    )
    notes = Text(required=True, validate=validate.Length(max=4000))


def countersign_rules(ledger: Ledger, key: NodeKey, actor: Actor, document: dict) -> str:
    """Accept rules proposed on another member's node; the signature goes back there."""
    actor.require(ADMIN)
    try:
        RulesDocumentSchema().load(document)
    except ValidationError as exc:
        raise Invalid("not a valid benefit-rules document", flatten_messages(exc.messages)) from exc
    with ledger.transaction() as tx:
        own = self_member(tx.conn)
        if document["proposer"] == own.origin:
            raise Conflict("these rules were proposed on this node; accept them with `rules sign`")
        if not any(
            m["origin"] == own.origin and m["public_key"] == own.public_key
            for m in document["members"]
        ):
            raise Invalid("not a member", {"members": ["this institution is not named"]})
        version = document["version"]
        ref = document["proposer"]
        check_not_countersigned(tx.conn, RULES_DOCUMENT, ref, version)
        signature = sign_document(key, document)
        record(
            tx,
            "benefit_rules.countersigned",
            actor.name,
            {
                "proposer": ref,
                "version": version,
                "digest": document_digest(document),
                "title": f"benefit rules version {version} proposed by {ref}",
                "signature": signature,
            },
        )
        return signature


@projects("benefit_rules.countersigned")
def _countersigned(conn: Connection, event: Event) -> None:
    b = event.body
    project_countersignature(conn, event, RULES_DOCUMENT, b["proposer"], b["title"])
