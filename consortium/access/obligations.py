"""Obligations that outlive the approval: a publication where the contract's PUB modifier
asks for one, and a signed deletion attestation where the contract requires deletion when
the grant ends. A scheduled job reminds the grant's holder, once each, on the ledger, so
an auditor can see that the reminder went out and when.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Connection, select, update

from consortium.access.compatibility import add_months
from consortium.access.grants import ACTIVE, EXPIRED, GRANT, REVOKED, SUSPENDED
from consortium.access.outputs import OUTPUT
from consortium.auth.roles import Actor
from consortium.contracts.lifecycle import CONTRACT
from consortium.duo import resolve
from consortium.events import Event, projects, record
from consortium.ledger.log import Ledger
from consortium.registry.settings import current_settings


def _contract_requires(conn: Connection, grant_document: dict) -> tuple[bool, bool]:
    """(publication required, deletion required) by any contract the grant rests on."""
    publication = deletion = False
    for d in grant_document["datasets"]:
        document = conn.execute(
            select(CONTRACT.c.document).where(
                CONTRACT.c.id == d["contract"], CONTRACT.c.version == d["contract_version"]
            )
        ).scalar_one()
        codes = {resolve(m["code"]).shorthand for m in document["modifiers"]}
        publication = publication or "PUB" in codes
        deletion = deletion or bool(document["obligations"].get("delete_on_expiry"))
    return publication, deletion


def remind_obligations(ledger: Ledger, actor: Actor, today: date | None = None) -> list[Event]:
    """Append the reminders that are due (the scheduled job)."""
    today = today or datetime.now(UTC).date()
    done: list[Event] = []
    with ledger.transaction() as tx:
        months = current_settings(tx.conn)["publication_reminder_months"]
        published = set(
            tx.conn.execute(
                select(OUTPUT.c.grant_id).where(OUTPUT.c.kind.in_(("publication", "preprint")))
            ).scalars()
        )
        for g in tx.conn.execute(select(GRANT)).all():
            publication, deletion = _contract_requires(tx.conn, g.document)
            issued = date.fromisoformat(g.document["valid_from"])
            due = add_months(issued, months)
            if (
                publication
                and g.publication_reminded_at is None
                and g.id not in published
                and today >= due
                and g.status in (ACTIVE, SUSPENDED, EXPIRED)
            ):
                body = {"grant": g.id, "due": due.isoformat()}
                done.append(record(tx, "grant.publication_reminder", actor.name, body))
            if (
                deletion
                and g.status in (EXPIRED, REVOKED)
                and g.deletion_attested_at is None
                and g.deletion_reminded_at is None
            ):
                done.append(record(tx, "grant.deletion_reminder", actor.name, {"grant": g.id}))
    return done


@projects("grant.publication_reminder")
def _publication(conn: Connection, event: Event) -> None:
    conn.execute(
        update(GRANT)
        .where(GRANT.c.id == event.body["grant"])
        .values(publication_reminded_at=event.time)
    )


@projects("grant.deletion_reminder")
def _deletion(conn: Connection, event: Event) -> None:
    conn.execute(
        update(GRANT)
        .where(GRANT.c.id == event.body["grant"])
        .values(deletion_reminded_at=event.time)
    )
