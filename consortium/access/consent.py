"""Consent withdrawal on a dataset: recorded on the ledger, it stops new grants at once and
flags every active grant of the dataset for the steward's review (problem 12: a subject's
withdrawal must reach everyone who holds the data)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, validate
from sqlalchemy import Connection, update

from consortium.access.grants import ACTIVE, GRANT, SUSPENDED, grants_of_dataset
from consortium.auth.roles import STEWARD, Actor
from consortium.errors import Conflict
from consortium.events import Event, projects, record
from consortium.ledger.log import Ledger
from consortium.registry.datasets import DATASET, dataset_row
from consortium.text import Text


class ConsentWithdrawalSchema(Schema):
    reason = Text(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"example": "Participants withdrew consent for secondary use (letter 2027-03)."},
    )


def withdraw_consent(ledger: Ledger, actor: Actor, dataset_id: str, payload: dict) -> Event:
    actor.require(STEWARD)
    reason = ConsentWithdrawalSchema().load(payload)["reason"]
    with ledger.transaction() as tx:
        row = dataset_row(tx.conn, dataset_id)
        if row.consent_withdrawn_at is not None:
            raise Conflict(f"consent for {dataset_id!r} was withdrawn already")
        flagged = [g.id for g in grants_of_dataset(tx.conn, dataset_id, (ACTIVE, SUSPENDED))]
        return record(
            tx,
            "dataset.consent_withdrawn",
            actor.name,
            {"dataset": dataset_id, "reason": reason, "grants_flagged": flagged},
        )


@projects("dataset.consent_withdrawn")
def _withdrawn(conn: Connection, event: Event) -> None:
    b: dict[str, Any] = event.body
    conn.execute(
        update(DATASET).where(DATASET.c.id == b["dataset"]).values(consent_withdrawn_at=event.time)
    )
    if b["grants_flagged"]:
        conn.execute(
            update(GRANT)
            .where(GRANT.c.id.in_(b["grants_flagged"]))
            .values(review_reason=f"consent withdrawn for {b['dataset']}: {b['reason']}")
        )
