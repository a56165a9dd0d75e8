"""Contributions other than data: recorded costs and declared effort.

Creating, keeping and securing data costs money, and curation or expertise is work that a
dataset's record count does not show. Stewards and admins record them as signed entries so
that the benefit rules can weigh them (`cost.recorded` per unit of currency,
`contribution.declared` per unit declared, such as person-days) and reports can set value
against cost. An entry is the institution's own claim, signed by its node: other members see
it, and can dispute it, on the ledger.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema
from sqlalchemy import Column, Connection, Engine, String, insert, select
from sqlmodel import Field, SQLModel

from consortium.auth.roles import ADMIN, AUDITOR, DIRECTOR, LEAD, STEWARD, Actor
from consortium.errors import Invalid
from consortium.events import Event, new_id, projection_table, projects, record
from consortium.ledger.log import Ledger
from consortium.registry.datasets import DATASET
from consortium.text import Text

COST = "cost.recorded"
DECLARED = "contribution.declared"
KINDS = ("curation", "expertise", "infrastructure", "other")
AMOUNT = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$"
UNITS = r"^(0|[1-9][0-9]{0,7})(\.[0-9]{1,4})?$"
READERS = frozenset({ADMIN, STEWARD, DIRECTOR, LEAD, AUDITOR})


class Contribution(SQLModel, table=True):
    __tablename__ = "contribution"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    description: str = Field(sa_column=Column(String(2000), nullable=False))
    units: str = Field(sa_column=Column(String(32), nullable=False))
    currency: str | None = Field(sa_column=Column(String(3), nullable=True))
    dataset: str | None = Field(sa_column=Column(String(64), nullable=True))
    contributor: str | None = Field(sa_column=Column(String(200), nullable=True))
    recorded_by: str = Field(sa_column=Column(String(128), nullable=False))
    recorded_at: str = Field(sa_column=Column(String(32), nullable=False))


CONTRIBUTION = projection_table(Contribution.__table__)


def positive(value: str) -> None:
    if Decimal(value) <= 0:
        raise ValidationError("must be more than zero")


def currency_field() -> Text:
    return Text(
        required=True,
        validate=validate.Regexp(r"^[A-Z]{3}$", error="an ISO 4217 code such as EUR"),
        metadata={"example": "EUR"},
    )


class PeriodSchema(Schema):
    """A period of whole days, start ≤ day < end, as runs and reports take it."""

    start = fields.Date(required=True, metadata={"description": "First day of the period."})
    end = fields.Date(
        required=True,
        metadata={"description": "The day after the period: it covers start ≤ day < end."},
    )

    @validates_schema
    def _period(self, data: dict[str, Any], **_: Any) -> None:
        if "start" in data and "end" in data and data["start"] >= data["end"]:
            raise ValidationError("the period must end after it starts", "end")


class _About(Schema):
    description = Text(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"example": "Annual secure-enclave hosting for the diabetes cohort"},
    )
    dataset = Text(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The dataset it was for, if one: a dataset of this node."},
    )


class CostSchema(_About):
    amount = Text(
        required=True,
        validate=validate.Regexp(AMOUNT, error="an amount such as 1200 or 1200.50"),
        metadata={"example": "18000.00"},
    )
    currency = currency_field()

    @validates("amount")
    def _amount(self, value: str, **_: Any) -> None:
        positive(value)


class DeclarationSchema(_About):
    kind = Text(required=True, validate=validate.OneOf(KINDS))
    units = Text(
        required=True,
        validate=validate.Regexp(UNITS, error="a decimal number such as 3 or 2.5"),
        metadata={
            "description": "How much, in the unit the rules weigh (e.g. person-days).",
            "example": "12",
        },
    )
    contributor = Text(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Who did it, if a person or team should be named."},
    )

    @validates("units")
    def _units(self, value: str, **_: Any) -> None:
        positive(value)


def _check_dataset(conn: Connection, data: dict[str, Any]) -> None:
    if "dataset" in data:
        found = conn.execute(select(DATASET.c.id).where(DATASET.c.id == data["dataset"])).first()
        if found is None:
            raise Invalid(
                "unknown dataset", {"dataset": [f"no dataset {data['dataset']!r} on this node"]}
            )


def record_cost(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    """Record what creating, keeping or securing data cost the institution."""
    actor.require(STEWARD, ADMIN)
    data = CostSchema().load(payload)
    with ledger.transaction() as tx:
        _check_dataset(tx.conn, data)
        return record(tx, COST, actor.name, {"cost": new_id("cost"), **data})


def declare_contribution(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    """Declare effort or expertise the institution contributed."""
    actor.require(STEWARD, ADMIN)
    data = DeclarationSchema().load(payload)
    with ledger.transaction() as tx:
        _check_dataset(tx.conn, data)
        return record(tx, DECLARED, actor.name, {"contribution": new_id("con"), **data})


def list_contributions(engine: Engine, actor: Actor) -> list[dict[str, Any]]:
    actor.require(*READERS)
    with engine.connect() as conn:
        rows = conn.execute(
            select(CONTRIBUTION).order_by(CONTRIBUTION.c.recorded_at, CONTRIBUTION.c.id)
        )
        return [r._asdict() for r in rows]


def _insert(conn: Connection, event: Event, **row: Any) -> None:
    b = event.body
    conn.execute(
        insert(CONTRIBUTION).values(
            description=b["description"],
            dataset=b.get("dataset"),
            recorded_by=event.actor,
            recorded_at=event.time,
            **row,
        )
    )


@projects(COST)
def _cost(conn: Connection, event: Event) -> None:
    b = event.body
    _insert(conn, event, id=b["cost"], kind="cost", units=b["amount"], currency=b["currency"])


@projects(DECLARED)
def _declared(conn: Connection, event: Event) -> None:
    b = event.body
    _insert(
        conn,
        event,
        id=b["contribution"],
        kind=b["kind"],
        units=b["units"],
        contributor=b.get("contributor"),
    )
