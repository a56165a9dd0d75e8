"""People of the node's institution, their roles, and their sign-in passwords.

Who holds which role is governance, so it is on the ledger (``person.*`` entries, signed,
auditable: "who made Bob a steward, and when?"). Passwords are credentials, so they are
not: they live only in this node's ``credential`` table as Argon2id hashes (libsodium's
``crypto_pwhash`` through PyNaCl, interactive limits), like API tokens.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import nacl.exceptions
import nacl.pwhash
from marshmallow import Schema, ValidationError, fields, validate, validates
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    String,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy import update as sql_update
from sqlmodel import Field, SQLModel

from consortium.auth.roles import ADMIN, DIRECTOR, LEAD, ROLES, STEWARD, Actor
from consortium.db.engine import writer
from consortium.disclosure.sealing import ERASED
from consortium.errors import Conflict, Invalid, NotFound
from consortium.events import Event, new_id, projection_table, projects, record
from consortium.ledger.log import Ledger
from consortium.text import Text

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,62}$")
PSEUDONYM = re.compile(r"^p-[a-z2-9]{10}$")  # what the ledger calls people (`new_id("p")`)
# Names the ledger already uses for the console operator, jobs and the node itself: a person
# by these names would be indistinguishable from them in "who did this?".
RESERVED = frozenset({"operator", "node", "system", "admin", "root"})
MIN_PASSWORD = 12


class Person(SQLModel, table=True):
    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("pseudonym", name="uq_person_pseudonym"),)

    username: str = Field(sa_column=Column(String(64), primary_key=True))
    # The name the ledger knows this person by (protocol §13); the username is personal.
    pseudonym: str = Field(sa_column=Column(String(16), nullable=False))
    display_name: str = Field(sa_column=Column(String(200), nullable=False))
    roles: list[str] = Field(sa_column=Column(JSON, nullable=False))
    active: bool = Field(sa_column=Column(Boolean, nullable=False))
    added_at: str = Field(sa_column=Column(String(32), nullable=False))
    changed_at: str = Field(sa_column=Column(String(32), nullable=False))


class Credential(SQLModel, table=True):
    """Node-local: never on the ledger, never rebuilt."""

    __tablename__ = "credential"

    username: str = Field(sa_column=Column(String(64), primary_key=True))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    changed_at: str = Field(sa_column=Column(String(32), nullable=False))


PERSON = projection_table(Person.__table__)
CREDENTIAL = Credential.__table__


def _roles_field(required: bool = True) -> fields.List:
    return fields.List(
        Text(validate=validate.OneOf(ROLES)),
        required=required,
        validate=validate.Length(min=1, max=len(ROLES)),
        metadata={"description": "One or more of: " + ", ".join(ROLES)},
    )


class PersonSchema(Schema):
    username = Text(
        required=True,
        validate=validate.Regexp(USERNAME, error="2–63 of a-z 0-9 . _ -, starting with a letter"),
        metadata={"example": "alice"},
    )

    @validates("username")
    def _not_reserved(self, value: str, **_: Any) -> None:
        if value in RESERVED or PSEUDONYM.match(value):
            raise ValidationError(f"{value!r} is reserved; choose another username")

    display_name = Text(
        required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Alice Chen"}
    )
    roles = _roles_field()


class RolesSchema(Schema):
    roles = _roles_field()


class DeactivateSchema(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=1000))


def person_row(conn: Connection, username: str) -> Any:
    return conn.execute(select(PERSON).where(PERSON.c.username == username)).first()


def get_person(conn: Connection, username: str) -> Any:
    row = person_row(conn, username)
    if row is None:
        raise NotFound(f"no person {username!r} at this node")
    return row


# Whom anyone signed in may find in the directory: those a request, a report or an incident
# is taken to. Other people (researchers, auditors) are known to the node's admins only.
DIRECTORY_ROLES = frozenset({ADMIN, STEWARD, DIRECTOR, LEAD})


def list_people(engine: Engine, reader: Actor | None = None) -> list[Any]:
    """Everyone for an admin (or the console, ``reader`` None); for anyone else, the node's
    staff and leads and themselves: who is who at the node is personal (protocol §13)."""
    with engine.connect() as conn:
        rows = list(conn.execute(select(PERSON).order_by(PERSON.c.username)))
    if reader is None or reader.has(ADMIN):
        return rows
    return [r for r in rows if r.username == reader.name or DIRECTORY_ROLES & set(r.roles)]


def effective_actor(conn: Connection, username: str, scope: list[str] | None) -> Actor | None:
    """The actor ``username`` stands for now, limited to ``scope``; None if inactive."""
    row = person_row(conn, username)
    if row is None or not row.active:
        return None
    roles = set(row.roles) if scope is None else set(row.roles) & set(scope)
    return Actor(username, frozenset(roles))


def _sorted_roles(roles: list[str]) -> list[str]:
    return [r for r in ROLES if r in set(roles)]


def _active_admins(conn: Connection) -> list[str]:
    return [r.username for r in conn.execute(select(PERSON)) if r.active and ADMIN in r.roles]


def add_person(ledger: Ledger, actor: Actor, payload: dict[str, Any]) -> Event:
    actor.require(ADMIN)
    body = PersonSchema().load(payload)
    body["roles"] = _sorted_roles(body["roles"])
    with ledger.transaction() as tx:
        if person_row(tx.conn, body["username"]) is not None:
            raise Conflict(f"{body['username']!r} exists already")
        return record(tx, "person.added", actor.name, {**body, "person": new_id("p")})


def change_roles(ledger: Ledger, actor: Actor, username: str, payload: dict[str, Any]) -> Event:
    actor.require(ADMIN)
    roles = _sorted_roles(RolesSchema().load(payload)["roles"])
    with ledger.transaction() as tx:
        person = get_person(tx.conn, username)
        if not person.active:
            raise Conflict(f"{username!r} is deactivated")
        if ADMIN not in roles and _active_admins(tx.conn) == [username]:
            raise Conflict(f"{username!r} is the last admin; make someone else admin first")
        return record(
            tx, "person.roles_changed", actor.name, {"username": username, "roles": roles}
        )


def deactivate_person(
    ledger: Ledger, actor: Actor, username: str, payload: dict[str, Any]
) -> Event:
    actor.require(ADMIN)
    reason = DeactivateSchema().load(payload)["reason"]
    with ledger.transaction() as tx:
        person = get_person(tx.conn, username)
        if not person.active:
            raise Conflict(f"{username!r} is deactivated already")
        if _active_admins(tx.conn) == [username]:
            raise Conflict(f"{username!r} is the last admin; make someone else admin first")
        event = record(
            tx, "person.deactivated", actor.name, {"username": username, "reason": reason}
        )
        tx.conn.execute(delete(CREDENTIAL).where(CREDENTIAL.c.username == username))
        return event


@projects("person.added")
def _added(conn: Connection, event: Event) -> None:
    b = event.body
    conn.execute(
        insert(PERSON).values(
            # An erased person is known by their pseudonym alone from then on.
            username=b["person"] if b["username"] == ERASED else b["username"],
            pseudonym=b["person"],
            display_name=b["display_name"],
            roles=b["roles"],
            active=True,
            added_at=event.time,
            changed_at=event.time,
        )
    )


@projects("person.roles_changed")
def _roles_changed(conn: Connection, event: Event) -> None:
    conn.execute(
        sql_update(PERSON)
        .where(PERSON.c.username == event.body["username"])
        .values(roles=event.body["roles"], changed_at=event.time)
    )


@projects("person.deactivated")
def _deactivated(conn: Connection, event: Event) -> None:
    conn.execute(
        sql_update(PERSON)
        .where(PERSON.c.username == event.body["username"])
        .values(active=False, changed_at=event.time)
    )


# --- passwords (node-local) ------------------------------------------------------------------


def set_password(engine: Engine, username: str, password: str) -> None:
    """Store an Argon2id hash of ``password`` for an active person."""
    if len(password) < MIN_PASSWORD:
        raise Invalid(
            "password too short", {"password": [f"use at least {MIN_PASSWORD} characters"]}
        )
    hashed = nacl.pwhash.argon2id.str(password.encode()).decode()
    now = datetime.now(UTC).isoformat()
    with writer(engine).begin() as conn:
        person = get_person(conn, username)
        if not person.active:
            raise Conflict(f"{username!r} is deactivated")
        conn.execute(delete(CREDENTIAL).where(CREDENTIAL.c.username == username))
        conn.execute(
            insert(CREDENTIAL).values(username=username, password_hash=hashed, changed_at=now)
        )


def check_password(engine: Engine, username: str, password: str) -> Actor | None:
    """The actor for a correct password of an active person, else None."""
    with engine.connect() as conn:
        stored = conn.execute(
            select(CREDENTIAL.c.password_hash).where(CREDENTIAL.c.username == username)
        ).scalar()
        if stored is None:
            # Spend the same effort as a real check, so timing does not reveal who exists.
            nacl.pwhash.argon2id.str(password.encode())
            return None
        try:
            nacl.pwhash.verify(stored.encode(), password.encode())
        except nacl.exceptions.InvalidkeyError:
            return None
        return effective_actor(conn, username, None)
