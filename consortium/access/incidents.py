"""Incidents: a suspected breach, misuse or key compromise, from report to resolution.

Suspending every grant an incident touches is one action (one signed entry), so a steward
under pressure does not hunt for grants one by one; closing the incident records the
resolution and, if the steward says so, reinstates what was suspended.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import JSON, Column, Connection, Engine, String, insert, select, update
from sqlmodel import Field, SQLModel

from consortium.access.grants import ACTIVE, GRANT, SUSPENDED, grants_of_dataset
from consortium.auth.roles import ADMIN, AUDITOR, DIRECTOR, STEWARD, Actor
from consortium.errors import Conflict, Invalid, NotFound
from consortium.events import Event, new_id, projection_table, projects, record
from consortium.ledger.log import Ledger
from consortium.registry.datasets import DATASET
from consortium.text import Text

SEVERITIES = ("low", "medium", "high", "critical")
KINDS = ("breach", "misuse", "key-compromise", "other")
OPEN = "open"
CLOSED = "closed"
READERS = frozenset({STEWARD, ADMIN, DIRECTOR, AUDITOR})


class Incident(SQLModel, table=True):
    __tablename__ = "incident"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    severity: str = Field(sa_column=Column(String(16), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    description: str = Field(sa_column=Column(String(4000), nullable=False))
    datasets: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    grants: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    suspended: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    reported_by: str = Field(sa_column=Column(String(128), nullable=False))
    reported_at: str = Field(sa_column=Column(String(32), nullable=False))
    closed_at: str | None = Field(sa_column=Column(String(32), nullable=True))
    resolution: str | None = Field(sa_column=Column(String(4000), nullable=True))


INCIDENT = projection_table(Incident.__table__)


class IncidentSchema(Schema):
    severity = Text(required=True, validate=validate.OneOf(SEVERITIES))
    kind = Text(required=True, validate=validate.OneOf(KINDS))
    description = Text(required=True, validate=validate.Length(min=1, max=4000))
    datasets = fields.List(Text(), load_default=list)
    grants = fields.List(Text(), load_default=list)


class CloseSchema(Schema):
    resolution = Text(required=True, validate=validate.Length(min=1, max=4000))
    reinstate = fields.Boolean(
        load_default=False, metadata={"description": "Reinstate the grants it suspended."}
    )


def _row(conn: Connection, incident_id: str) -> Any:
    row = conn.execute(select(INCIDENT).where(INCIDENT.c.id == incident_id)).first()
    if row is None:
        raise NotFound(f"no incident {incident_id!r}")
    return row


def get_incident(engine: Engine, actor: Actor, incident_id: str) -> dict[str, Any]:
    actor.require(*READERS)
    with engine.connect() as conn:
        return _row(conn, incident_id)._asdict()


def list_incidents(engine: Engine, actor: Actor) -> list[dict[str, Any]]:
    actor.require(*READERS)
    with engine.connect() as conn:
        rows = conn.execute(select(INCIDENT).order_by(INCIDENT.c.reported_at, INCIDENT.c.id))
        return [r._asdict() for r in rows]


def report_incident(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    actor.require(STEWARD, ADMIN)
    data = IncidentSchema().load(payload)
    with ledger.transaction() as tx:
        errors: dict[str, list[str]] = {}
        for i, ds in enumerate(data["datasets"]):
            if tx.conn.execute(select(DATASET.c.id).where(DATASET.c.id == ds)).first() is None:
                errors[f"datasets.{i}"] = [f"no dataset {ds!r}"]
        for i, g in enumerate(data["grants"]):
            if tx.conn.execute(select(GRANT.c.id).where(GRANT.c.id == g)).first() is None:
                errors[f"grants.{i}"] = [f"no grant {g!r}"]
        if errors:
            raise Invalid("unknown datasets or grants", errors)
        incident_id = new_id("inc")
        return record(tx, "incident.reported", actor.name, {"incident": incident_id, **data})


def suspend_grants(ledger: Ledger, actor: Actor, incident_id: str) -> Event:
    """Suspend, in one signed entry, every active grant the incident names or whose data it
    names."""
    actor.require(STEWARD)
    with ledger.transaction() as tx:
        row = _row(tx.conn, incident_id)
        if row.status != OPEN:
            raise Conflict(f"incident {incident_id!r} is closed")
        affected = set(
            tx.conn.execute(
                select(GRANT.c.id).where(GRANT.c.id.in_(row.grants), GRANT.c.status == ACTIVE)
            ).scalars()
        )
        for ds in row.datasets:
            affected |= {g.id for g in grants_of_dataset(tx.conn, ds, (ACTIVE,))}
        if not affected:
            raise Conflict(f"incident {incident_id!r} touches no active grant")
        return record(
            tx,
            "incident.grants_suspended",
            actor.name,
            {"incident": incident_id, "grants": sorted(affected)},
        )


def close_incident(ledger: Ledger, actor: Actor, incident_id: str, payload: dict) -> Event:
    actor.require(STEWARD, ADMIN)
    data = CloseSchema().load(payload)
    with ledger.transaction() as tx:
        row = _row(tx.conn, incident_id)
        if row.status != OPEN:
            raise Conflict(f"incident {incident_id!r} is closed already")
        reinstated: list[str] = []
        if data["reinstate"]:
            reinstated = sorted(
                tx.conn.execute(
                    select(GRANT.c.id).where(
                        GRANT.c.id.in_(row.suspended), GRANT.c.status == SUSPENDED
                    )
                ).scalars()
            )
        return record(
            tx,
            "incident.closed",
            actor.name,
            {"incident": incident_id, "resolution": data["resolution"], "reinstated": reinstated},
        )


@projects("incident.reported")
def _reported(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(INCIDENT).values(
            id=b["incident"],
            status=OPEN,
            severity=b["severity"],
            kind=b["kind"],
            description=b["description"],
            datasets=b["datasets"],
            grants=b["grants"],
            suspended=[],
            reported_by=event.actor,
            reported_at=event.time,
        )
    )


@projects("incident.grants_suspended")
def _suspended(conn: Connection, event: Event) -> None:
    b = event.body
    # The incident records which grants it suspended; a grant's review flag (consent) is
    # another matter and must survive suspension and reinstatement.
    conn.execute(update(GRANT).where(GRANT.c.id.in_(b["grants"])).values(status=SUSPENDED))
    row = _row(conn, b["incident"])
    conn.execute(
        update(INCIDENT)
        .where(INCIDENT.c.id == b["incident"])
        .values(suspended=sorted({*row.suspended, *b["grants"]}))
    )


@projects("incident.closed")
def _closed(conn: Connection, event: Event) -> None:
    b = event.body
    if b["reinstated"]:
        conn.execute(update(GRANT).where(GRANT.c.id.in_(b["reinstated"])).values(status=ACTIVE))
    conn.execute(
        update(INCIDENT)
        .where(INCIDENT.c.id == b["incident"])
        .values(status=CLOSED, closed_at=event.time, resolution=b["resolution"])
    )
