"""Commands become ledger entries; entries fold into projections.

This is the one place where the domain meets the log. A command validates its input and
checks its rules against the projections, then calls `record` inside a ledger transaction:
the entry is appended and folded into the projection tables on the same database
connection, so both commit together or not at all. Projections are a cache of the ledger:
`consortium.projections.rebuild` drops them and folds every entry again, and must arrive at
exactly the same state. A projector therefore reads nothing but the event and the
projections (never the clock, never node-local tables other than sealed documents).

A kind may have several projectors: the domain module's own, then others that react to it
(notifications). They run in registration order, which is import order: a module that reads
another's projections, or reacts to its entries, imports it, so that module's projectors are
registered, and run, first, whichever module a process happens to import first.

A process imports only the domain modules it uses (a console command that lists datasets has
no need of the credit code); `apply` completes the registry, importing every projecting
module that `consortium.projections` names, before it folds the first entry.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table

from consortium.crypto.canonical import parse
from consortium.disclosure.store import parse_copy, reveal, seal_body
from consortium.ledger.log import LedgerTransaction


@dataclass(frozen=True)
class Event:
    """A ledger entry as projectors see it."""

    index: int
    time: str
    kind: str
    actor: str
    body: dict[str, Any]


Projector = Callable[[Connection, Event], None]

_PROJECTORS: dict[str, list[Projector]] = {}
# Projection tables in creation order; rebuild clears them in reverse.
PROJECTION_TABLES: list[Table] = []


def _name(fn: Projector) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def projects(kind: str) -> Callable[[Projector], Projector]:
    """Register a function that folds entries of ``kind`` into the projections.

    The same function registered twice for a kind (a module reloaded, or a projector
    copy-pasted within its module and left with its old name) would fold each entry twice or
    hide the first one, so a second registration under the same qualified name is refused.
    """

    def register(fn: Projector) -> Projector:
        registered = _PROJECTORS.setdefault(kind, [])
        if any(_name(other) == _name(fn) for other in registered):
            raise RuntimeError(f"{_name(fn)} is registered twice as a projector of {kind!r}")
        registered.append(fn)
        return fn

    return register


def projection_table(table: Table) -> Table:
    """Mark ``table`` as a projection: rebuilt from the ledger, never written otherwise."""
    PROJECTION_TABLES.append(table)
    return table


def apply(conn: Connection, event: Event) -> None:
    """Fold ``event`` into the projections: every projector of its kind, in order."""
    import consortium.projections  # noqa: F401  (every projector registered, once per process)

    for projector in _PROJECTORS.get(event.kind, ()):
        projector(conn, event)


def event_from_entry(conn: Connection, index: int, data: bytes) -> Event:
    """The event a stored entry records, as projectors see it: sealed members joined back
    from this node's sealed documents and pseudonyms read as usernames."""
    entry = parse(data)
    actor, body = reveal(conn, entry["kind"], entry["actor"], entry["body"])
    return Event(index, entry["time"], entry["kind"], actor, body)


_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: ids are read aloud


def new_id(prefix: str) -> str:
    """A fresh id such as ``ds-7q2m4k9x1c`` for something a command creates; it goes into the
    entry's body, so projections rebuilt from the ledger get the same id."""
    return f"{prefix}-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def record(tx: LedgerTransaction, kind: str, actor: str, body: dict[str, Any]) -> Event:
    """Append an entry and fold it into the projections, in the caller's transaction.

    What is signed is what the disclosure table allows on the ledger (public members in
    clear, the rest sealed, people by pseudonym); projectors get the whole event, as a
    rebuild will read it back (`event_from_entry`).
    """
    signed_actor, clear = seal_body(tx.conn, kind, actor, body)
    done = tx.append(kind, signed_actor, clear)
    # The whole body is at hand: no need to read back what was just sealed. Passing it through
    # canonical JSON gives projectors exactly what a rebuild's join will give them.
    event = Event(done.index, parse(done.data)["time"], kind, actor, parse_copy(body))
    apply(tx.conn, event)
    return event
