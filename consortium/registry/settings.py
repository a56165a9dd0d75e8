"""The institution's settings that change what its commands require.

Settings are governance ("does a director co-approve every dataset?"), so they change by a
signed ledger entry like everything else, and an auditor can see when a rule was in force.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import JSON, Column, Connection, String, delete, insert, select
from sqlmodel import Field, SQLModel

from consortium.auth.roles import ADMIN, Actor
from consortium.events import Event, projection_table, projects, record
from consortium.ledger.log import Ledger

DEFAULTS: dict[str, Any] = {
    "director_approval_required": False,
    "review_deadline_days": 3,
    "publication_reminder_months": 12,
}


class Setting(SQLModel, table=True):
    __tablename__ = "setting"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    changed_at: str = Field(sa_column=Column(String(32), nullable=False))


SETTING = projection_table(Setting.__table__)


class SettingsSchema(Schema):
    director_approval_required = fields.Boolean(
        metadata={
            "description": "A department director must co-approve each dataset version "
            "before it is published."
        }
    )

    review_deadline_days = fields.Integer(
        strict=True,
        validate=validate.Range(1, 60),
        metadata={"description": "Working days a steward has to decide an access request."},
    )

    publication_reminder_months = fields.Integer(
        strict=True,
        validate=validate.Range(1, 120),
        metadata={
            "description": "Months after a grant under a PUB (publication required) contract "
            "before its holder is reminded if no publication was reported."
        },
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("give at least one setting to change")


def current_settings(conn: Connection) -> dict[str, Any]:
    stored = {r.name: r.value for r in conn.execute(select(SETTING))}
    return {**DEFAULTS, **stored}


def change_settings(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    actor.require(ADMIN)
    body = SettingsSchema().load(payload)
    with ledger.transaction() as tx:
        return record(tx, "settings.changed", actor.name, body)


@projects("settings.changed")
def _changed(conn: Connection, event: Event) -> None:
    for name, value in event.body.items():
        conn.execute(delete(SETTING).where(SETTING.c.name == name))
        conn.execute(insert(SETTING).values(name=name, value=value, changed_at=event.time))
