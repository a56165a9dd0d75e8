"""Sign-in throttling: wrong passwords make the next try wait, per account and per address.

Every password check costs about 0.2 s of Argon2id (for unknown usernames too, so timing
does not reveal who exists), and a password is only as strong as the number of guesses an
attacker gets. So each failed check counts against two *subjects*: the account it named and
the client address it came from. Once a subject has failed `Policy.free` times, each further
failure makes it wait twice as long as the one before, up to `Policy.cap`; while either
subject waits, sign-in answers 429 with ``Retry-After`` at once, without checking anything.

What keeps an attacker from locking a real person out for good:

- a refused try (429) is not a failure: hammering a waiting account does not extend its wait;
- an account never waits longer than `ACCOUNT.cap` (5 minutes) after the last failure, so
  its owner can sign in from another address soon after an attack pauses;
- an address waits up to an hour (`ADDRESS.cap`): one address guessing at one account is
  slowed to a guess an hour, and its failures stop extending the account's wait;
- a successful sign-in clears the account and the address it came from (people behind one
  hospital gateway share an address; their typos should not add up for the whole day).

The state is node-local (credentials do not belong on the ledger) and lives in the database,
so every gunicorn worker sees the same counts. Subjects are stored as SHA-256 digests: the
table names neither usernames nor addresses, and an attacker's made-up usernames cannot fill
it with text of their choosing. Rows unused for `FORGET` are deleted as new failures arrive.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, Connection, Engine, Float, Integer, String, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from consortium.auth.people import check_password
from consortium.auth.roles import Actor
from consortium.db.engine import is_sqlite, writer
from consortium.errors import DomainError

FORGET = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    """How many failures a subject gets for free, and how its waits grow after that."""

    scope: str
    free: int
    first: timedelta
    cap: timedelta

    def wait(self, failures: int) -> timedelta:
        """How long a subject waits after its ``failures``-th failure in a row."""
        if failures < self.free:
            return timedelta(0)
        doublings = min(failures - self.free, 32)  # far past any cap; keeps the number small
        return min(self.first * 2**doublings, self.cap)


ACCOUNT = Policy("account", free=5, first=timedelta(seconds=1), cap=timedelta(minutes=5))
ADDRESS = Policy("address", free=5, first=timedelta(seconds=1), cap=timedelta(hours=1))


class SignInThrottle(SQLModel, table=True):
    """Node-local: never on the ledger, never rebuilt."""

    __tablename__ = "sign_in_throttle"

    subject: str = Field(sa_column=Column(String(64), primary_key=True))
    failures: int = Field(sa_column=Column(Integer, nullable=False))
    last_failure: float = Field(sa_column=Column(Float, nullable=False, index=True))
    wait_until: float = Field(sa_column=Column(Float, nullable=False))


THROTTLE = SignInThrottle.__table__


class Throttled(DomainError):
    """Too many failed sign-ins: try again after ``retry_after`` seconds."""

    status = 429
    title = "Too Many Requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed sign-ins; try again in {retry_after} seconds.",
        )
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _subjects(username: str, address: str | None) -> dict[str, Policy]:
    named = {ACCOUNT: username} | ({ADDRESS: address} if address else {})
    return {
        hashlib.sha256(f"{policy.scope}\0{value}".encode()).hexdigest(): policy
        for policy, value in named.items()
    }


def _check_not_waiting(conn: Connection, subjects: list[str], now: float) -> None:
    until = conn.execute(
        select(THROTTLE.c.wait_until).where(THROTTLE.c.subject.in_(subjects))
    ).scalars()
    longest = max(until, default=now)
    if longest > now:
        raise Throttled(max(1, math.ceil(longest - now)))


def _count_failure(engine: Engine, subjects: dict[str, Policy], now: float) -> None:
    insert = (sqlite if is_sqlite(engine) else postgresql).insert
    with writer(engine).begin() as conn:
        conn.execute(delete(THROTTLE).where(THROTTLE.c.last_failure < now - FORGET.total_seconds()))
        conn.execute(
            insert(THROTTLE)
            .values(
                [dict(subject=s, failures=0, last_failure=now, wait_until=now) for s in subjects]
            )
            .on_conflict_do_nothing(index_elements=["subject"])
        )
        rows = conn.execute(
            select(THROTTLE.c.subject, THROTTLE.c.failures)
            .where(THROTTLE.c.subject.in_(list(subjects)))
            .with_for_update()
        )
        for subject, failures in list(rows):
            wait = subjects[subject].wait(failures + 1).total_seconds()
            conn.execute(
                update(THROTTLE)
                .where(THROTTLE.c.subject == subject)
                .values(failures=failures + 1, last_failure=now, wait_until=now + wait)
            )


def _clear(engine: Engine, subjects: list[str]) -> None:
    with writer(engine).begin() as conn:
        conn.execute(delete(THROTTLE).where(THROTTLE.c.subject.in_(subjects)))


def sign_in(
    engine: Engine,
    username: str,
    password: str,
    address: str | None,
    clock: Callable[[], datetime],
) -> Actor | None:
    """The actor for a correct password, None for a wrong one; `Throttled` while the account
    or the address (the client's, None when unknown) waits after failures.

    A waiting subject is refused before the password is looked at, so a throttled guess
    costs the node no Argon2id and tells the guesser nothing.
    """
    subjects = _subjects(username, address)
    now = clock().timestamp()
    with engine.connect() as conn:
        _check_not_waiting(conn, list(subjects), now)
    who = check_password(engine, username, password)
    if who is None:
        _count_failure(engine, subjects, now)
    else:
        _clear(engine, list(subjects))
    return who
