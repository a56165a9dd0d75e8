"""The consortium's membership on this node's ledger: founded, proposed, signed, accepted.

Every step is a ledger entry (all public: who the members are is the consortium's public
face): ``membership.proposed`` (a next version this node's admin put forward),
``membership.signature`` (a member's signature over a version, this node's own or one it was
sent) and ``membership.accepted`` (a version with the signatures that make it valid, see
`consortium.federation.document`). An accepted version updates the member list the rest of
the node trusts (`consortium.registry.members`): members it adds are trusted from then on,
members it drops are not.

A node signs at most one document per version: two signatures by one member over different
documents of the same version would let two consortia claim to be the same one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Connection, Engine, Integer, String, delete, insert, select
from sqlalchemy import update as sql_update
from sqlmodel import Field, SQLModel

from consortium.auth.roles import ADMIN, Actor
from consortium.contracts.signing import sign_document
from consortium.crypto.keys import NodeKey, b64encode
from consortium.crypto.note import Verifier
from consortium.errors import Conflict, Invalid, NotFound
from consortium.events import Event, projection_table, projects, record
from consortium.federation import document as rules
from consortium.ledger.log import Ledger
from consortium.registry.members import MEMBER, self_member

PROPOSED, ACCEPTED = "proposed", "accepted"
DEFAULT_THRESHOLD = {"numerator": 2, "denominator": 3}


class MembershipVersion(SQLModel, table=True):
    __tablename__ = "membership_version"

    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    digest: str = Field(sa_column=Column(String(44), nullable=False))
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    changed_at: str = Field(sa_column=Column(String(32), nullable=False))


class MembershipSignature(SQLModel, table=True):
    __tablename__ = "membership_signature"

    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    digest: str = Field(sa_column=Column(String(44), primary_key=True))
    origin: str = Field(sa_column=Column(String(255), primary_key=True))
    signature: str = Field(sa_column=Column(String(88), nullable=False))
    recorded_at: str = Field(sa_column=Column(String(32), nullable=False))


VERSION = projection_table(MembershipVersion.__table__)
SIGNATURE = projection_table(MembershipSignature.__table__)


# --- reading ------------------------------------------------------------------------------------


def current(conn: Connection) -> dict[str, Any] | None:
    """The newest accepted version's document, or None before the node belongs to one."""
    row = conn.execute(
        select(VERSION.c.document).where(VERSION.c.status == ACCEPTED)
        .order_by(VERSION.c.version.desc()).limit(1)
    ).first()  # fmt: skip
    return None if row is None else row.document


def _accepted(conn: Connection, version: int) -> dict[str, Any] | None:
    row = conn.execute(
        select(VERSION.c.document).where(VERSION.c.version == version, VERSION.c.status == ACCEPTED)
    ).first()
    return None if row is None else row.document


def _signatures(conn: Connection, version: int, digest: str) -> list[rules.Signature]:
    rows = conn.execute(
        select(SIGNATURE.c.origin, SIGNATURE.c.signature)
        .where(SIGNATURE.c.version == version, SIGNATURE.c.digest == digest)
        .order_by(SIGNATURE.c.origin)
    )
    return [rules.Signature(r.origin, r.signature) for r in rows]


def versions(engine: Engine) -> list[dict[str, Any]]:
    """Every version this node knows, newest first, with its signatures and what it awaits."""
    with engine.connect() as conn:
        rows = conn.execute(select(VERSION).order_by(VERSION.c.version.desc())).all()
        out = []
        for r in rows:
            signed = _signatures(conn, r.version, r.digest)
            previous = _accepted(conn, r.version - 1)
            view = {
                "version": r.version,
                "digest": r.digest,
                "status": r.status,
                "changed_at": r.changed_at,
                "document": r.document,
                "signatures": [{"origin": s.origin, "signature": s.signature} for s in signed],
            }
            if r.status == PROPOSED:
                view["awaiting"] = rules.missing(previous, r.document, {s.origin for s in signed})
            out.append(view)
        return out


def exported(engine: Engine, version: int) -> dict[str, Any]:
    """A version with its signatures, as another node takes it (`accept`) or signs it."""
    for v in versions(engine):
        if v["version"] == version:
            return {"document": v["document"], "signatures": v["signatures"]}
    raise NotFound(f"this node knows no membership version {version}")


# --- commands -----------------------------------------------------------------------------------


def create(ledger: Ledger, key: NodeKey, actor: Actor, payload: dict[str, Any]) -> Event:
    """Found a consortium with this node as its first member (admin): version 1, signed by
    this node alone, accepted at once. Others join through later versions."""
    actor.require(ADMIN)
    with ledger.transaction() as tx:
        if current(tx.conn) is not None or tx.conn.execute(select(VERSION.c.version)).first():
            raise Conflict("this node already belongs to a consortium; propose a new version")
        me = self_member(tx.conn)
        document = rules.check(
            {
                "type": rules.TYPE,
                "consortium": payload.get("consortium"),
                "version": 1,
                "previous": None,
                "members": [
                    {
                        "institution": me.institution,
                        "origin": me.origin,
                        "url": payload.get("url"),
                        "vkey": me.vkey,
                    }
                ],
                "witnesses": {"members": [me.origin], "quorum": payload.get("quorum", 0)},
                "threshold": payload.get("threshold", DEFAULT_THRESHOLD),
            }
        )
        signature = rules.Signature(me.origin, sign_document(key, document))
        _record_signature(tx.conn, tx, actor, document, signature)
        return _accept(tx, actor, None, document, [signature])


def propose(ledger: Ledger, actor: Actor, document: Any) -> Event:
    """Put forward the next version (admin): admit or remove members, change the witnesses or
    the threshold. It takes effect once signed as `consortium.federation.document` says."""
    actor.require(ADMIN)
    document = rules.check(document)
    with ledger.transaction() as tx:
        previous = current(tx.conn)
        if previous is None:
            raise Conflict("this node belongs to no consortium yet: create one, or accept one")
        rules.follows(previous, document)
        existing = tx.conn.execute(
            select(VERSION.c.digest).where(VERSION.c.version == document["version"])
        ).first()
        if existing is not None:
            raise Conflict(
                f"version {document['version']} was proposed already (digest {existing.digest})"
            )
        return record(
            tx,
            "membership.proposed",
            actor.name,
            {
                "version": document["version"],
                "digest": rules.digest(document),
                "document": document,
            },
        )


def sign(ledger: Ledger, key: NodeKey, actor: Actor, document: Any) -> str:
    """This node's signature over a version (admin), recorded; once per version."""
    actor.require(ADMIN)
    document = rules.check(document)
    with ledger.transaction() as tx:
        me = self_member(tx.conn).origin
        previous = current(tx.conn)
        listed = {m["origin"] for m in document["members"]}
        if previous is not None:
            rules.follows(previous, document)
            if me not in listed | {m["origin"] for m in previous["members"]}:
                raise Invalid("this node is not a member of that version or the one before")
        elif me not in listed:
            raise Invalid("this node is not a member of that version: nothing to sign")
        signature = rules.Signature(me, sign_document(key, document))
        _record_signature(tx.conn, tx, actor, document, signature)
        _accept_if_signed(tx, actor, document["version"])
        return signature.signature


def add_signature(
    ledger: Ledger, actor: Actor, version: int, origin: str, signature: str
) -> Event | None:
    """Record another member's signature over a version proposed here (admin); accepts the
    version once it has enough. Returns the acceptance entry, if it happened."""
    actor.require(ADMIN)
    with ledger.transaction() as tx:
        row = tx.conn.execute(
            select(VERSION).where(VERSION.c.version == version, VERSION.c.status == PROPOSED)
        ).first()
        if row is None:
            raise NotFound(f"no membership version {version} is waiting for signatures here")
        previous = _accepted(tx.conn, version - 1)
        given = rules.Signature(origin, signature)
        rules.valid_signers(previous, row.document, [given])
        _record_signature(tx.conn, tx, actor, row.document, given)
        return _accept_if_signed(tx, actor, version)


def accept(ledger: Ledger, actor: Actor, chain: list[Any]) -> list[int]:
    """Take versions signed elsewhere (admin), oldest first: how a joining node learns the
    consortium, and how a member that missed versions catches up. Each must follow the last
    one this node accepted and carry enough valid signatures; nothing is recorded otherwise."""
    actor.require(ADMIN)
    if not isinstance(chain, list) or not chain:
        raise Invalid("give the versions as a list of {document, signatures}, oldest first")
    with ledger.transaction() as tx:
        me = self_member(tx.conn).origin
        previous = current(tx.conn)
        done = []
        for i, item in enumerate(chain):
            if not isinstance(item, dict) or set(item) != {"document", "signatures"}:
                raise Invalid("each version is {document, signatures}", {str(i): ["malformed"]})
            document = rules.check(item["document"])
            if previous is not None and document["version"] <= previous["version"]:
                known = _accepted(tx.conn, document["version"]) or {}
                if rules.digest(document) != rules.digest(known):
                    raise Conflict(
                        f"version {document['version']} differs from the one this node accepted"
                    )
                continue
            rules.follows(previous, document)
            signatures = _parse_signatures(item["signatures"])
            signed = rules.valid_signers(previous, document, signatures)
            gaps = rules.missing(previous, document, signed)
            if gaps:
                raise Invalid(
                    f"version {document['version']} is not accepted yet: it needs "
                    + "; ".join(gaps)
                )
            _accept(tx, actor, previous, document, signatures)
            previous = document
            done.append(document["version"])
        if previous is None or me not in {m["origin"] for m in previous["members"]}:
            raise Invalid("this node is not a member of the newest version given")
        return done


def _parse_signatures(value: Any) -> list[rules.Signature]:
    if not isinstance(value, list):
        raise Invalid("signatures are a list of {origin, signature}")
    out = []
    for s in value:
        if not isinstance(s, dict) or set(s) != {"origin", "signature"}:
            raise Invalid("signatures are a list of {origin, signature}")
        out.append(rules.Signature(str(s["origin"]), str(s["signature"])))
    return out


def _record_signature(
    conn: Connection, tx: Any, actor: Actor, document: dict[str, Any], s: rules.Signature
) -> None:
    digest = rules.digest(document)
    other = conn.execute(
        select(SIGNATURE.c.digest).where(
            SIGNATURE.c.version == document["version"], SIGNATURE.c.origin == s.origin
        )
    ).first()
    if other is not None:
        if other.digest == digest:
            return
        raise Conflict(
            f"{s.origin} signed another document as version {document['version']} "
            f"({other.digest}); a member signs one document per version"
        )
    record(
        tx,
        "membership.signature",
        actor.name,
        {"version": document["version"], "digest": digest, "origin": s.origin,
         "signature": s.signature},
    )  # fmt: skip


def _accept_if_signed(tx: Any, actor: Actor, version: int) -> Event | None:
    row = tx.conn.execute(
        select(VERSION).where(VERSION.c.version == version, VERSION.c.status == PROPOSED)
    ).first()
    if row is None:
        return None
    previous = _accepted(tx.conn, version - 1)
    signatures = _signatures(tx.conn, version, row.digest)
    signed = rules.valid_signers(previous, row.document, signatures)
    if rules.missing(previous, row.document, signed):
        return None
    return _accept(tx, actor, previous, row.document, signatures)


def _accept(
    tx: Any,
    actor: Actor,
    previous: dict[str, Any] | None,
    document: dict[str, Any],
    signatures: list[rules.Signature],
) -> Event:
    return record(
        tx,
        "membership.accepted",
        actor.name,
        {
            "version": document["version"],
            "digest": rules.digest(document),
            "document": document,
            "signatures": [{"origin": s.origin, "signature": s.signature} for s in signatures],
        },
    )


# --- projectors ---------------------------------------------------------------------------------


@projects("membership.proposed")
def _proposed(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(VERSION).values(
            version=b["version"], digest=b["digest"], document=b["document"], status=PROPOSED,
            changed_at=event.time,
        )
    )  # fmt: skip


@projects("membership.signature")
def _signature(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(SIGNATURE).values(
            version=b["version"], digest=b["digest"], origin=b["origin"],
            signature=b["signature"], recorded_at=event.time,
        )
    )  # fmt: skip


@projects("membership.accepted")
def _accepted_version(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(delete(VERSION).where(VERSION.c.version == b["version"]))
    conn.execute(
        insert(VERSION).values(
            version=b["version"], digest=b["digest"], document=b["document"], status=ACCEPTED,
            changed_at=event.time,
        )
    )  # fmt: skip
    for s in b["signatures"]:
        known = conn.execute(
            select(SIGNATURE.c.origin).where(
                SIGNATURE.c.version == b["version"], SIGNATURE.c.digest == b["digest"],
                SIGNATURE.c.origin == s["origin"],
            )
        ).first()  # fmt: skip
        if known is None:
            conn.execute(
                insert(SIGNATURE).values(
                    version=b["version"], digest=b["digest"], origin=s["origin"],
                    signature=s["signature"], recorded_at=event.time,
                )
            )  # fmt: skip
    _trust(conn, b["document"], event.time)


def _trust(conn: Connection, document: dict[str, Any], at: str) -> None:
    """The member list the node checks signatures with follows the accepted version: members
    it lists are trusted with its keys, others no longer (the node itself always stays)."""
    listed = {m["origin"]: m for m in document["members"]}
    rows = {r.origin: r for r in conn.execute(select(MEMBER))}
    for origin, row in rows.items():
        if origin not in listed and not row.is_self:
            conn.execute(delete(MEMBER).where(MEMBER.c.origin == origin))
    for origin, m in listed.items():
        verifier = Verifier.parse(m["vkey"])
        values = {"institution": m["institution"], "public_key": b64encode(verifier.public_key),
                  "vkey": m["vkey"]}  # fmt: skip
        if origin in rows:
            if not rows[origin].is_self:
                conn.execute(sql_update(MEMBER).where(MEMBER.c.origin == origin).values(**values))
        else:
            conn.execute(insert(MEMBER).values(origin=origin, is_self=False, added_at=at, **values))
