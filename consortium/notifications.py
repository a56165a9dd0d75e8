"""Notifications: each person's in-app inbox, review deadlines, and e-mail.

The inbox is a projection. Projectors of the access and grant kinds add a notification for
each person who has to act on an entry or is affected by it, choosing them from the `person`
projection as it stands when the entry is folded, so `consortium rebuild` arrives at the
same inbox. A notification's key is "{entry index}:{username}", which a rebuild reproduces,
so the node-local tables keyed by it survive rebuilds: what each person has read, and which
notifications were mailed (a rebuild never mails anything twice). E-mail addresses are
node-local as well: they are about this node's users, not consortium governance, and do not
belong on a ledger the whole consortium reads.

Review deadlines are ledger entries (`access.review_reminder`, `access.review_escalated`,
appended by the node's job), so that who was warned about which request, and when, is as
auditable as the decision itself; the `review_alert` projection tells the job what it did.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterable
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Column, Connection, Engine, Integer, String, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

# Imported for their projectors of the kinds this module reacts to, which must run first.
from consortium.access import consent, incidents, obligations, outputs  # noqa: F401
from consortium.access.grants import GRANT
from consortium.access.requests import AWAITING_SECOND, REQUEST, SUBMITTED, working_days_after
from consortium.auth.people import PERSON, get_person
from consortium.auth.roles import ADMIN, DIRECTOR, STEWARD, Actor
from consortium.db.engine import writer
from consortium.errors import Conflict, NotFound
from consortium.events import Event, projection_table, projects, record
from consortium.ledger.entry import format_time
from consortium.ledger.log import Ledger
from consortium.registry.datasets import VERSION

if TYPE_CHECKING:
    from consortium.node.config import SmtpConfig

log = logging.getLogger(__name__)

REMINDER = "access.review_reminder"
ESCALATION = "access.review_escalated"
# Requests waiting on a reviewer; a returned one waits on its researcher.
AWAITING_REVIEW = (SUBMITTED, AWAITING_SECOND)
API = "/api/v1"


class Notification(SQLModel, table=True):
    __tablename__ = "notification"

    id: str = Field(sa_column=Column(String(100), primary_key=True))
    recipient: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    entry_index: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    subject: str = Field(sa_column=Column(String(400), nullable=False))
    text: str = Field(sa_column=Column(String(4000), nullable=False))
    link: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: str = Field(sa_column=Column(String(32), nullable=False))


class ReviewAlert(SQLModel, table=True):
    """One row per reminder or escalation made, so the job never repeats one."""

    __tablename__ = "review_alert"

    request_id: str = Field(sa_column=Column(String(64), primary_key=True))
    due: str = Field(sa_column=Column(String(10), primary_key=True))
    kind: str = Field(sa_column=Column(String(64), primary_key=True))
    entry_index: int = Field(sa_column=Column(Integer, nullable=False))


class NotificationRead(SQLModel, table=True):
    """Node-local: never on the ledger, never rebuilt."""

    __tablename__ = "notification_read"

    notification_id: str = Field(sa_column=Column(String(100), primary_key=True))
    username: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    read_at: str = Field(sa_column=Column(String(32), nullable=False))


class NotificationSent(SQLModel, table=True):
    """Node-local: which notifications the mail server has accepted, and for which address."""

    __tablename__ = "notification_sent"

    notification_id: str = Field(sa_column=Column(String(100), primary_key=True))
    address: str = Field(sa_column=Column(String(254), nullable=False))
    sent_at: str = Field(sa_column=Column(String(32), nullable=False))


class Contact(SQLModel, table=True):
    """Node-local: a person's e-mail address, and since when it is known.

    Only notifications made after ``since`` are mailed: giving an address (or upgrading a
    node whose ledger already holds years of entries) must not mail the whole backlog.
    """

    __tablename__ = "contact"

    username: str = Field(sa_column=Column(String(64), primary_key=True))
    email: str = Field(sa_column=Column(String(254), nullable=False))
    since: str = Field(sa_column=Column(String(32), nullable=False))


NOTIFICATION = projection_table(Notification.__table__)
REVIEW_ALERT = projection_table(ReviewAlert.__table__)
READ = NotificationRead.__table__
SENT = NotificationSent.__table__
CONTACT = Contact.__table__


class ContactSchema(Schema):
    email = fields.Email(
        required=True,
        validate=validate.Length(max=254),
        metadata={"example": "sam.okoye@st-example.example"},
    )


# --- the inbox (projectors) ---------------------------------------------------------------------


def _recipients(
    conn: Connection, roles: Iterable[str] = (), people: Iterable[str] = ()
) -> list[str]:
    """Active people who hold one of ``roles`` or are named in ``people``, sorted."""
    wanted, named = set(roles), set(people)
    return sorted(
        r.username
        for r in conn.execute(select(PERSON.c.username, PERSON.c.roles, PERSON.c.active))
        if r.active and (r.username in named or not wanted.isdisjoint(r.roles))
    )


def _contributors(conn: Connection, datasets: Iterable[dict[str, Any]]) -> list[str]:
    """The named contributors with an account here, of the granted dataset versions."""
    names: set[str] = set()
    for d in datasets:
        metadata = conn.execute(
            select(VERSION.c.metadata).where(
                VERSION.c.dataset_id == d["id"], VERSION.c.version == d["version"]
            )
        ).scalar_one()
        names.update(c["username"] for c in metadata["contributors"] if "username" in c)
    return sorted(names)


def notify(
    conn: Connection, event: Event, recipients: Iterable[str], subject: str, text: str, link: str
) -> None:
    """Add ``event``'s notification for each recipient but its actor, who knows already."""
    rows = [
        {
            "id": f"{event.index}:{username}",
            "recipient": username,
            "entry_index": event.index,
            "kind": event.kind,
            "subject": subject,
            "text": text,
            "link": link,
            "created_at": event.time,
        }
        for username in recipients
        if username != event.actor
    ]
    if rows:
        conn.execute(insert(NOTIFICATION), rows)


def _one_line(value: str) -> str:
    """Titles may hold line breaks; a mail subject may not."""
    return " ".join(value.split())


def _request(conn: Connection, event: Event) -> Any:
    return conn.execute(select(REQUEST).where(REQUEST.c.id == event.body["request"])).one()


def _request_link(request_id: str) -> str:
    return f"{API}/access-requests/{request_id}"


@projects("access.requested")
def _requested(conn: Connection, event: Event) -> None:
    b = event.body
    title = b["details"]["project_title"]
    notify(
        conn,
        event,
        _recipients(conn, roles=[STEWARD]),
        f"New access request: {_one_line(title)}",
        f"New access request {b['request']} by {event.actor} for “{title}”, "
        f"datasets {', '.join(d['id'] for d in b['datasets'])}. Decide by {b['review_due']}.",
        _request_link(b["request"]),
    )


@projects("access.resubmitted")
def _resubmitted(conn: Connection, event: Event) -> None:
    b = event.body
    title = b["details"]["project_title"]
    due = f" Decide by {b['review_due']}." if "review_due" in b else ""
    notify(
        conn,
        event,
        _recipients(conn, roles=[STEWARD]),
        f"Access request resubmitted: {_one_line(title)}",
        f"{event.actor} resubmitted access request {b['request']} for “{title}” with the "
        f"changes asked for.{due}",
        _request_link(b["request"]),
    )


def _tell_researcher(conn: Connection, event: Event, verb: str) -> None:
    row = _request(conn, event)
    reason = event.body.get("reason")
    notify(
        conn,
        event,
        _recipients(conn, people=[row.researcher]),
        f"Access request {verb}: {_one_line(row.project_title)}",
        f"{event.actor} {verb} your access request {row.id} for “{row.project_title}”."
        + (f" Reason: {reason}" if reason else ""),
        _request_link(row.id),
    )


@projects("access.approved")
def _approved(conn: Connection, event: Event) -> None:
    if not event.body["second_approval_needed"]:
        _tell_researcher(conn, event, "approved")
        return
    row = _request(conn, event)
    notify(
        conn,
        event,
        _recipients(conn, people=[row.researcher]),
        f"Access request approved, awaiting co-approval: {_one_line(row.project_title)}",
        f"{event.actor} approved your access request {row.id} for “{row.project_title}”; "
        "its data need a director's co-approval before the grant is issued.",
        _request_link(row.id),
    )
    notify(
        conn,
        event,
        _recipients(conn, roles=[DIRECTOR]),
        f"Co-approval needed: {_one_line(row.project_title)}",
        f"{event.actor} approved access request {row.id} by {row.researcher} for "
        f"“{row.project_title}”; its data need a director's second approval.",
        _request_link(row.id),
    )


@projects("access.co_approved")
def _co_approved(conn: Connection, event: Event) -> None:
    _tell_researcher(conn, event, "co-approved")


@projects("access.returned")
def _returned(conn: Connection, event: Event) -> None:
    _tell_researcher(conn, event, "returned")


@projects("access.denied")
def _denied(conn: Connection, event: Event) -> None:
    _tell_researcher(conn, event, "denied")


@projects("dataset.registered")
@projects("dataset.revised")
def _awaiting_approval(conn: Connection, event: Event) -> None:
    """Directors learn of a version that waits for one of them; whoever registered it may
    not approve it, and is not told (they know)."""
    b = event.body
    if not b["approval_required"]:
        return
    title = conn.execute(
        select(VERSION.c.metadata).where(
            VERSION.c.dataset_id == b["dataset"], VERSION.c.version == b["version"]
        )
    ).scalar_one()["title"]
    notify(
        conn,
        event,
        _recipients(conn, roles=[DIRECTOR]),
        f"Dataset awaiting your approval: {_one_line(title)}",
        f"{event.actor} registered version {b['version']} of dataset {b['dataset']}, "
        f"“{title}” ({b['sensitivity']}); it is published once a director approves it "
        f"(consortium dataset approve {b['dataset']}).",
        f"{API}/datasets/{b['dataset']}?version={b['version']}",
    )


@projects("grant.issued")
def _issued(conn: Connection, event: Event) -> None:
    grant_id, doc = event.body["grant"], event.body["document"]
    holder = doc["holder"]["username"]
    notify(
        conn,
        event,
        _recipients(conn, roles=[STEWARD], people=[holder, *_contributors(conn, doc["datasets"])]),
        f"Grant issued: {_one_line(doc['project_title'])}",
        f"Grant {grant_id} for “{doc['project_title']}” was issued to {holder}, "
        f"valid until {doc['valid_until']}.",
        f"{API}/grants/{grant_id}",
    )


def _tell_holder(conn: Connection, event: Event, status: str, detail: str) -> None:
    row = conn.execute(select(GRANT).where(GRANT.c.id == event.body["grant"])).one()
    title = row.document["project_title"]
    notify(
        conn,
        event,
        _recipients(conn, people=[row.holder]),
        f"Grant {status}: {_one_line(title)}",
        f"Your grant {row.id} for “{title}” {detail}",
        f"{API}/grants/{row.id}",
    )


@projects("grant.revoked")
def _revoked(conn: Connection, event: Event) -> None:
    detail = f"was revoked by {event.actor}. Reason: {event.body['reason']}"
    _tell_holder(conn, event, "revoked", detail)


@projects("grant.expired")
def _expired(conn: Connection, event: Event) -> None:
    _tell_holder(conn, event, "expired", f"expired on {event.body['on']}.")


@projects("grant.publication_reminder")
def _publication_due(conn: Connection, event: Event) -> None:
    detail = (
        f"was issued under a contract that requires publication (PUB); no publication was "
        f"reported by {event.body['due']}. Report it, or tell the steward why not yet."
    )
    _tell_holder(conn, event, "publication due", detail)


@projects("grant.deletion_reminder")
def _deletion_due(conn: Connection, event: Event) -> None:
    detail = (
        "has ended, and its contract requires every copy to be deleted: delete them and "
        f"attest it (consortium grant attest-deletion, or POST {API}/grants/"
        f"{event.body['grant']}/deletion)."
    )
    _tell_holder(conn, event, "deletion to attest", detail)


@projects("output.reported")
def _output(conn: Connection, event: Event) -> None:
    b = event.body
    grant = conn.execute(select(GRANT.c.document).where(GRANT.c.id == b["grant"])).scalar_one()
    notify(
        conn,
        event,
        _recipients(conn, roles=[STEWARD], people=_contributors(conn, grant["datasets"])),
        f"New {b['kind'].replace('_', ' ')}: {_one_line(b['title'])}",
        f"{event.actor} reported “{b['title']}” from grant {b['grant']} "
        f"(datasets {', '.join(b['datasets'])}).",
        f"{API}/grants/{b['grant']}/outputs",
    )


@projects("dataset.consent_withdrawn")
def _consent(conn: Connection, event: Event) -> None:
    b = event.body
    holders = conn.execute(
        select(GRANT.c.holder).where(GRANT.c.id.in_(b["grants_flagged"]))
    ).scalars()
    notify(
        conn,
        event,
        _recipients(conn, roles=[STEWARD], people=list(holders)),
        f"Consent withdrawn: {b['dataset']}",
        f"Consent for dataset {b['dataset']} was withdrawn ({b['reason']}). No new grants; "
        f"grants under review: {', '.join(b['grants_flagged']) or 'none'}.",
        f"{API}/datasets/{b['dataset']}",
    )


@projects("incident.reported")
def _incident(conn: Connection, event: Event) -> None:
    b = event.body
    subject = f"Incident ({b['severity']}): {b['kind']}"
    text = f"{event.actor} reported a {b['severity']} {b['kind']} incident: {b['description']}"
    staff = _recipients(conn, roles=[STEWARD, ADMIN])
    notify(conn, event, staff, subject, text, f"{API}/incidents")
    # Holders cannot read the incident list; each is pointed at the grant it touches.
    for row in conn.execute(select(GRANT).where(GRANT.c.id.in_(b["grants"]))):
        holder = [p for p in _recipients(conn, people=[row.holder]) if p not in staff]
        notify(conn, event, holder, subject, text, f"{API}/grants/{row.id}")


@projects("incident.grants_suspended")
def _suspended(conn: Connection, event: Event) -> None:
    for grant_id in event.body["grants"]:
        row = conn.execute(select(GRANT).where(GRANT.c.id == grant_id)).one()
        notify(
            conn,
            event,
            _recipients(conn, people=[row.holder]),
            f"Grant suspended: {_one_line(row.document['project_title'])}",
            f"Your grant {grant_id} is suspended while incident {event.body['incident']} is "
            "investigated. Do not use the data until it is reinstated.",
            f"{API}/grants/{grant_id}",
        )


@projects("incident.closed")
def _reinstated(conn: Connection, event: Event) -> None:
    b = event.body
    for grant_id in b["reinstated"]:
        row = conn.execute(select(GRANT).where(GRANT.c.id == grant_id)).one()
        notify(
            conn,
            event,
            _recipients(conn, people=[row.holder]),
            f"Grant reinstated: {_one_line(row.document['project_title'])}",
            f"Your grant {grant_id} is reinstated: incident {b['incident']} is closed "
            f"({b['resolution']}). You may use the data again under its terms.",
            f"{API}/grants/{grant_id}",
        )


# --- review deadlines -----------------------------------------------------------------------------


def review_deadlines(ledger: Ledger, actor: Actor, today: date | None = None) -> list[Event]:
    """Remind the stewards one working day before an open request's review is due, and
    escalate once the day has passed: each at most once per request and due date (a request
    overdue before its reminder was made is only escalated)."""
    today = today or datetime.now(UTC).date()
    next_working_day = working_days_after(today, 1)
    with ledger.transaction() as tx:
        done = {(r.request_id, r.due, r.kind) for r in tx.conn.execute(select(REVIEW_ALERT))}
        waiting = tx.conn.execute(
            select(REQUEST.c.id, REQUEST.c.review_due)
            .where(REQUEST.c.status.in_(AWAITING_REVIEW))
            .order_by(REQUEST.c.submitted_at, REQUEST.c.id)
        ).all()
        events = []
        for request_id, due in waiting:
            if today > date.fromisoformat(due):
                kind = ESCALATION
            elif next_working_day >= date.fromisoformat(due):
                kind = REMINDER
            else:
                continue
            if (request_id, due, kind) not in done:
                events.append(record(tx, kind, actor.name, {"request": request_id, "due": due}))
        return events


def _alerted(conn: Connection, event: Event) -> Any:
    conn.execute(
        insert(REVIEW_ALERT).values(
            request_id=event.body["request"],
            due=event.body["due"],
            kind=event.kind,
            entry_index=event.index,
        )
    )
    return _request(conn, event)


@projects(REMINDER)
def _reminded(conn: Connection, event: Event) -> None:
    row = _alerted(conn, event)
    notify(
        conn,
        event,
        _recipients(conn, roles=[STEWARD]),
        f"Review due {event.body['due']}: {_one_line(row.project_title)}",
        f"Access request {row.id} by {row.researcher} for “{row.project_title}” is to be "
        f"decided by {event.body['due']}.",
        _request_link(row.id),
    )


@projects(ESCALATION)
def _escalated(conn: Connection, event: Event) -> None:
    row = _alerted(conn, event)
    notify(
        conn,
        event,
        _recipients(conn, roles=[ADMIN, STEWARD]),
        f"Review overdue: {_one_line(row.project_title)}",
        f"Access request {row.id} by {row.researcher} for “{row.project_title}” was to be "
        f"decided by {event.body['due']} and is still {row.status}.",
        _request_link(row.id),
    )


# --- reading the inbox (node-local read state) ----------------------------------------------------


def _inbox_query(username: str) -> Any:
    return (
        select(NOTIFICATION, READ.c.read_at)
        .outerjoin(READ, READ.c.notification_id == NOTIFICATION.c.id)
        .where(NOTIFICATION.c.recipient == username)
        .order_by(NOTIFICATION.c.entry_index.desc())
    )


def _view(row: Any) -> dict[str, Any]:
    return {**row._asdict(), "read": row.read_at is not None}


def inbox(engine: Engine, username: str, unread_only: bool = False) -> list[dict[str, Any]]:
    """A person's notifications, newest first."""
    query = _inbox_query(username)
    if unread_only:
        query = query.where(READ.c.read_at.is_(None))
    with engine.connect() as conn:
        return [_view(r) for r in conn.execute(query)]


def mark_read(engine: Engine, username: str, notification_id: str) -> dict[str, Any]:
    """Mark one of ``username``'s notifications read (again: no change); 404 for others'."""
    query = _inbox_query(username).where(NOTIFICATION.c.id == notification_id)
    try:
        with writer(engine).begin() as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFound(f"no notification {notification_id!r} for you")
            if row.read_at is None:
                conn.execute(
                    insert(READ).values(
                        notification_id=notification_id,
                        username=username,
                        read_at=format_time(datetime.now(UTC)),
                    )
                )
    except IntegrityError:
        pass  # marked read by a concurrent call: the same outcome
    with engine.connect() as conn:
        return _view(conn.execute(query).one())


# --- e-mail -------------------------------------------------------------------------------------


def set_email(engine: Engine, username: str, payload: dict[str, Any]) -> dict[str, str]:
    """Set the address an active person's notifications are mailed to (node-local)."""
    address = ContactSchema().load(payload)["email"]
    with writer(engine).begin() as conn:
        if not get_person(conn, username).active:
            raise Conflict(f"{username!r} is deactivated")
        changed = conn.execute(
            update(CONTACT).where(CONTACT.c.username == username).values(email=address)
        )
        if not changed.rowcount:
            since = format_time(datetime.now(UTC))
            conn.execute(insert(CONTACT).values(username=username, email=address, since=since))
    return {"username": username, "email": address}


def _message(row: Any, smtp: SmtpConfig, node_name: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = smtp.from_address
    message["To"] = row.email
    message["Subject"] = f"[{_one_line(node_name)}] {row.subject}"
    message.set_content(f"{row.text}\n\nIn the node's API: {row.link}\n")
    return message


def send_notifications(engine: Engine, smtp: SmtpConfig, node_name: str) -> int:
    """Mail every notification not sent yet to recipients with an address; returns how many
    the server accepted. A notification counts as sent only once the server has accepted it:
    one it refuses, or every one left when it cannot be reached, is logged and tried again on
    the next run."""
    with engine.connect() as conn:
        pending = conn.execute(
            select(NOTIFICATION, CONTACT.c.email)
            .join(CONTACT, CONTACT.c.username == NOTIFICATION.c.recipient)
            .outerjoin(SENT, SENT.c.notification_id == NOTIFICATION.c.id)
            .where(SENT.c.notification_id.is_(None), NOTIFICATION.c.created_at >= CONTACT.c.since)
            .order_by(NOTIFICATION.c.entry_index, NOTIFICATION.c.id)
        ).all()
    if not pending:
        return 0
    password = smtp.password
    if smtp.username and password is None:
        log.warning("not mailing: [smtp] names a username but CONSORTIUM_SMTP_PASSWORD is unset")
        return 0
    sent = 0
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username and password is not None:
                client.login(smtp.username, password)
            for row in pending:
                try:
                    client.send_message(_message(row, smtp, node_name))
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
                    log.warning("notification %s refused by the mail server: %s", row.id, exc)
                    continue
                with writer(engine).begin() as conn:
                    conn.execute(
                        insert(SENT).values(
                            notification_id=row.id,
                            address=row.email,
                            sent_at=format_time(datetime.now(UTC)),
                        )
                    )
                sent += 1
    except OSError as exc:  # smtplib's errors are OSErrors too
        log.warning("mail server %s:%s: %s; will retry", smtp.host, smtp.port, exc)
    return sent
