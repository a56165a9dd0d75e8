"""Grants: a time-limited right to use dataset versions for stated purposes, under stated
conditions, signed by the node that owns the data.

The grant document is self-contained: anyone holding the issuing node's verifier key can
check it offline (`consortium grant verify FILE --vkey VKEY`) — its signature is Ed25519 over
the RFC 8785 bytes of the document, like contracts. The key must come from the person checking
or their node, never from the file: a forger would sign with a key of their own. Whether it
has been revoked since is a question for the issuing node (its ledger), which the offline
check says plainly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import Schema, validate
from sqlalchemy import JSON, Column, Connection, Engine, String, insert, select, update
from sqlmodel import Field, SQLModel

from consortium.access.compatibility import OBLIGATION, REVIEW, add_months
from consortium.auth.roles import ADMIN, AUDITOR, DIRECTOR, STEWARD, Actor
from consortium.contracts.lifecycle import ACTIVE as CONTRACT_ACTIVE
from consortium.contracts.lifecycle import CONTRACT, contract_status
from consortium.contracts.signing import check_signature, document_digest, sign_document
from consortium.crypto.keys import NodeKey, b64encode
from consortium.errors import Conflict, Forbidden, Invalid, NotFound
from consortium.events import Event, projection_table, projects, record
from consortium.ledger.log import Ledger, LedgerTransaction
from consortium.registry.keyring import Keyring
from consortium.registry.members import self_member
from consortium.text import Text

DOCUMENT_TYPE = "consortium.grant/v1"
ACTIVE = "active"
SUSPENDED = "suspended"
REVOKED = "revoked"
EXPIRED = "expired"
STATUSES = (ACTIVE, SUSPENDED, REVOKED, EXPIRED)
READERS = frozenset({STEWARD, DIRECTOR, ADMIN, AUDITOR})


class Grant(SQLModel, table=True):
    __tablename__ = "access_grant"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    request_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    holder: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    signature: str = Field(sa_column=Column(String(88), nullable=False))
    valid_until: str = Field(sa_column=Column(String(10), nullable=False))
    issued_at: str = Field(sa_column=Column(String(32), nullable=False))
    ended_at: str | None = Field(sa_column=Column(String(32), nullable=True))
    end_reason: str | None = Field(sa_column=Column(String(2000), nullable=True))
    review_reason: str | None = Field(sa_column=Column(String(2000), nullable=True))
    deletion_attested_at: str | None = Field(sa_column=Column(String(32), nullable=True))
    publication_reminded_at: str | None = Field(sa_column=Column(String(32), nullable=True))
    deletion_reminded_at: str | None = Field(sa_column=Column(String(32), nullable=True))


GRANT = projection_table(Grant.__table__)


REASON_MAX = 2000  # characters of a revocation's reason (the grant's end_reason column)


class RevokeSchema(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=REASON_MAX))


class DeletionSchema(Schema):
    statement = Text(
        required=True,
        validate=validate.Length(min=1, max=4000),
        metadata={"example": "All copies, including backups, were deleted on 2027-01-10."},
    )


def check_grantable(conn: Connection, datasets: list[dict[str, Any]]) -> None:
    """Refuse (409) to approve access under a contract no longer in force, or to data
    withdrawn, or whose consent was withdrawn, since the request was checked."""
    from consortium.registry.datasets import DATASET, WITHDRAWN

    for d in datasets:
        status = contract_status(conn, d["contract"], d["contract_version"])
        if status != CONTRACT_ACTIVE:
            raise Conflict(
                f"contract {d['contract']!r} v{d['contract_version']} is {status}: no grant"
            )
        row = conn.execute(select(DATASET).where(DATASET.c.id == d["id"])).one()
        if row.status == WITHDRAWN:
            raise Conflict(f"dataset {d['id']!r} has been withdrawn: no grant")
        if row.consent_withdrawn_at is not None:
            raise Conflict(
                f"consent for {d['id']!r} was withdrawn on {row.consent_withdrawn_at[:10]}: "
                "no grant"
            )


def issue_grant(tx: LedgerTransaction, key: NodeKey, actor: Actor, request: Any) -> Event:
    """Write and sign the grant for an approved request, in the approval's transaction."""
    check_grantable(tx.conn, request.datasets)
    today = datetime.now(UTC).date()
    details = request.details
    terms = [
        tx.conn.execute(
            select(CONTRACT.c.document).where(
                CONTRACT.c.id == d["contract"], CONTRACT.c.version == d["contract_version"]
            )
        ).scalar_one()["term"]
        for d in request.datasets
    ]
    # A grant starts no earlier than every contract it rests on, and ends with the first.
    start = max([today, *(date.fromisoformat(t["start"]) for t in terms)])
    until = min(
        [
            add_months(start, details["duration_months"]),
            *(date.fromisoformat(t["end"]) for t in terms),
        ]
    )
    conditions = sorted(
        {
            f["reason"]
            for found in request.findings.values()
            for f in found
            if f["verdict"] in (OBLIGATION, REVIEW)
        }
    )
    grant_id = request.id.replace("req-", "gr-", 1)
    document = {
        "type": DOCUMENT_TYPE,
        "id": grant_id,
        "issuer": self_member(tx.conn).origin,
        "request": request.id,
        "holder": {
            "username": request.researcher,
            "investigator": details["investigator"],
            "institution": details["institution"],
        },
        "project_title": details["project_title"],
        "purposes": details["purposes"],
        "commercial": details["commercial"],
        "datasets": request.datasets,
        "conditions": conditions,
        "valid_from": start.isoformat(),
        "valid_until": until.isoformat(),
    }
    return record(
        tx,
        "grant.issued",
        actor.name,
        {"grant": grant_id, "document": document, "signature": sign_document(key, document)},
    )


def _row(conn: Connection, grant_id: str) -> Any:
    row = conn.execute(select(GRANT).where(GRANT.c.id == grant_id)).first()
    if row is None:
        raise NotFound(f"no grant {grant_id!r}")
    return row


def _view(row: Any) -> dict[str, Any]:
    return {**row._asdict(), "digest": document_digest(row.document)}


def get_grant(engine: Engine, actor: Actor, grant_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = _row(conn, grant_id)
    if not (actor.has(*READERS) or row.holder == actor.name):
        raise NotFound(f"no grant {grant_id!r}")
    return _view(row)


def grant_status(engine: Engine, grant_id: str) -> dict[str, Any]:
    """What anyone holding a grant file may ask the issuer: is it still in force? Only the
    status and dates, which the file's holder already shows to whoever verifies it."""
    with engine.connect() as conn:
        row = _row(conn, grant_id)
    return {
        "grant": row.id,
        "status": row.status,
        "valid_from": row.document["valid_from"],
        "valid_until": row.valid_until,
        "ended_at": row.ended_at,
        "digest": document_digest(row.document),
    }


def list_grants(engine: Engine, actor: Actor, status: str | None = None) -> list[dict]:
    with engine.connect() as conn:
        query = select(GRANT).order_by(GRANT.c.issued_at, GRANT.c.id)
        if status:
            query = query.where(GRANT.c.status == status)
        if not actor.has(*READERS):
            query = query.where(GRANT.c.holder == actor.name)
        return [_view(r) for r in conn.execute(query)]


def grant_file(engine: Engine, actor: Actor, grant_id: str, vkey: str) -> dict[str, Any]:
    """The grant as a file its holder can show anyone: document, signature, verifier key."""
    view = get_grant(engine, actor, grant_id)
    return {"document": view["document"], "signature": view["signature"], "vkey": vkey}


def revoke_grant(ledger: Ledger, actor: Actor, grant_id: str, payload: dict) -> Event:
    actor.require(STEWARD)
    reason = RevokeSchema().load(payload)["reason"]
    with ledger.transaction() as tx:
        row = _row(tx.conn, grant_id)
        if row.status not in (ACTIVE, SUSPENDED):
            raise Conflict(f"grant {grant_id!r} is {row.status}; it cannot be revoked")
        return record_revocation(tx, actor, grant_id, reason)


def record_revocation(tx: LedgerTransaction, actor: Actor, grant_id: str, reason: str) -> Event:
    """The ``grant.revoked`` entry, for a grant in force; the caller has checked that."""
    return record(tx, "grant.revoked", actor.name, {"grant": grant_id, "reason": reason})


def _grants_naming(conn: Connection, statuses: tuple[str, ...], key: str, value: str) -> list[Any]:
    """Grants in ``statuses`` with a dataset entry whose ``key`` is ``value``, oldest first."""
    rows = conn.execute(
        select(GRANT).where(GRANT.c.status.in_(statuses)).order_by(GRANT.c.issued_at, GRANT.c.id)
    ).all()
    return [r for r in rows if any(d[key] == value for d in r.document["datasets"])]


def grants_of_dataset(conn: Connection, dataset_id: str, statuses: tuple[str, ...]) -> list[Any]:
    """Grants in ``statuses`` whose document covers ``dataset_id``."""
    return _grants_naming(conn, statuses, "id", dataset_id)


def grants_of_contract(conn: Connection, contract_id: str, statuses: tuple[str, ...]) -> list[Any]:
    """Grants in ``statuses`` that rest on any version of ``contract_id``."""
    return _grants_naming(conn, statuses, "contract", contract_id)


def attest_deletion(ledger: Ledger, actor: Actor, grant_id: str, payload: dict) -> Event:
    """The holder's signed statement that every copy was deleted, as the contract requires."""
    data = DeletionSchema().load(payload)
    with ledger.transaction() as tx:
        row = _row(tx.conn, grant_id)
        if row.holder != actor.name:
            raise Forbidden("only the grant's holder attests the deletion of its copies")
        if row.deletion_attested_at is not None:
            raise Conflict(f"deletion was attested for {grant_id!r} already")
        return record(tx, "grant.deletion_attested", actor.name, {"grant": grant_id, **data})


def expire_grants(ledger: Ledger, actor: Actor, today: date | None = None) -> list[Event]:
    """Expire every active grant whose last day is before ``today`` (the scheduled job)."""
    today = today or datetime.now(UTC).date()
    with ledger.transaction() as tx:
        due = tx.conn.execute(
            select(GRANT.c.id).where(
                GRANT.c.status.in_((ACTIVE, SUSPENDED)), GRANT.c.valid_until < today.isoformat()
            )
        ).scalars()
        return [
            record(tx, "grant.expired", actor.name, {"grant": g, "on": today.isoformat()})
            for g in list(due)
        ]


def verify_grant_file(
    grant: dict[str, Any], keyring: Keyring, today: date | None = None
) -> dict[str, Any]:
    """Check a grant file offline against the key ``keyring`` trusts for its issuer, never the
    key the file carries (a forger would carry their own). Raises Invalid naming what is
    wrong, `UntrustedKey` when no key is trusted for the issuer; returns a summary."""
    try:
        document, signature = grant["document"], grant["signature"]
    except (KeyError, TypeError) as exc:
        raise Invalid("not a grant file", {"file": [f"{exc.__class__.__name__}: {exc}"]}) from exc
    if not isinstance(document, dict) or document.get("type") != DOCUMENT_TYPE:
        raise Invalid("not a grant file", {"document": [f"type must be {DOCUMENT_TYPE}"]})
    issuer = document.get("issuer")
    if not isinstance(issuer, str):
        raise Invalid("not a grant file", {"document.issuer": ["must name the issuing node"]})
    verifier = keyring.verifier(issuer)
    check_signature(b64encode(verifier.public_key), document, signature)
    today = today or datetime.now(UTC).date()
    valid_until = document.get("valid_until", "")
    return {
        "grant": document.get("id"),
        "issuer": issuer,
        "key": keyring.source(issuer),
        "holder": document.get("holder"),
        "valid_from": document.get("valid_from"),
        "valid_until": valid_until,
        "expired": valid_until < today.isoformat(),
        "digest": document_digest(document),
    }


@projects("grant.issued")
def _issued(conn: Connection, event: Event) -> None:
    from consortium.access.requests import REQUEST

    b = event.body
    doc = b["document"]
    conn.execute(
        insert(GRANT).values(
            id=b["grant"],
            request_id=doc["request"],
            holder=doc["holder"]["username"],
            status=ACTIVE,
            document=doc,
            signature=b["signature"],
            valid_until=doc["valid_until"],
            issued_at=event.time,
        )
    )
    conn.execute(update(REQUEST).where(REQUEST.c.id == doc["request"]).values(grant_id=b["grant"]))


def _end(conn: Connection, event: Event, status: str, reason: str) -> None:
    conn.execute(
        update(GRANT)
        .where(GRANT.c.id == event.body["grant"])
        .values(status=status, ended_at=event.time, end_reason=reason)
    )


@projects("grant.revoked")
def _revoked(conn: Connection, event: Event) -> None:
    _end(conn, event, REVOKED, event.body["reason"])


@projects("grant.expired")
def _expired(conn: Connection, event: Event) -> None:
    _end(conn, event, EXPIRED, f"expired on {event.body['on']}")


@projects("grant.deletion_attested")
def _deletion_attested(conn: Connection, event: Event) -> None:
    conn.execute(
        update(GRANT)
        .where(GRANT.c.id == event.body["grant"])
        .values(deletion_attested_at=event.time)
    )
