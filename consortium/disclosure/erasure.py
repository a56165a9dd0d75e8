"""Erasing a person's personal data (GDPR Art. 17, PIPL Art. 47) from a ledger that must stay
verifiable.

Personal data never sits in an entry: it is in the entries' ``personal`` documents, which the
entries commit to by salted digest, and people are named on the ledger by pseudonym. So
erasure deletes documents, never entries: the chain, the signatures, the Merkle tree and
every checkpoint stay exactly as signed, and anyone who verified the ledger before verifies it
the same way after. The node records the erasure itself on the ledger (``person.erased``, by
pseudonym), keeps the digests it erased (so a missing document is not mistaken for tampering),
deletes what it kept about the person beside the ledger (e-mail address, API tokens, read
marks, mail receipts) and rebuilds its projections, where the person is from then on their
pseudonym and their personal fields read ``[erased]``.

Only personal documents are erased: what the parties and members were shown (a request's
project title, a grant's dates) is the institutions' record, kept for as long as they must;
and a name a steward published as a contributor in a dataset's metadata (public or sealed)
is the dataset's credit record: a new version without it removes it from what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, or_, select

from consortium.auth.people import get_person
from consortium.auth.roles import ADMIN, Actor
from consortium.auth.tokens import TOKEN
from consortium.crypto.canonical import parse
from consortium.disclosure.readers import concerned
from consortium.disclosure.sealing import sealed_digests
from consortium.disclosure.store import ERASURE, pseudonym_of, reveal
from consortium.disclosure.table import PERSONAL
from consortium.errors import Conflict
from consortium.events import record
from consortium.ledger.log import ENTRY, Ledger
from consortium.notifications import CONTACT, READ, SENT
from consortium.registry.sealed import SEALED

KIND = "person.erased"


@dataclass(frozen=True)
class Erasure:
    index: int
    pseudonym: str
    documents: int


def erase_person(ledger: Ledger, actor: Actor, username: str) -> Erasure:
    """Erase ``username``'s personal data (admin); the person must be deactivated first, so
    that nobody is erased while they still sign in and act."""
    actor.require(ADMIN)
    with ledger.transaction() as tx:
        person = get_person(tx.conn, username)
        if person.active:
            raise Conflict(
                f"{username!r} is still active: deactivate them first (`consortium user "
                "deactivate`), then erase"
            )
        pseudonym = pseudonym_of(tx.conn, username)
        digests = _personal_documents(tx.conn, username)
        event = record(tx, KIND, actor.name, {"username": username})
        now = datetime.now(UTC).isoformat()
        for digest in digests:
            tx.conn.execute(delete(SEALED).where(SEALED.c.digest == digest))
            tx.conn.execute(insert(ERASURE).values(digest=digest, erased_at=now))
        _forget_beside_the_ledger(tx.conn, username)
    from consortium.projections import rebuild

    rebuild(ledger)
    return Erasure(event.index, pseudonym, len(digests))


def _personal_documents(conn: Connection, username: str) -> list[str]:
    """The personal documents of every entry about ``username``: the ``person.*`` entries
    naming them, and the records they made or that concern them (their requests, grants,
    outputs)."""
    found = []
    for (data,) in conn.execute(select(ENTRY.c.data).order_by(ENTRY.c.idx)):
        entry = parse(bytes(data))
        digest = sealed_digests(entry["body"]).get(PERSONAL)
        if digest is None:
            continue
        kind = entry["kind"]
        actor, body = reveal(conn, kind, entry["actor"], entry["body"])
        if kind.startswith("person."):
            about = {body.get("username")}
        else:
            about = concerned(conn, kind, actor, body)[0]
        if username in about:
            found.append(digest)
    return found


def _forget_beside_the_ledger(conn: Connection, username: str) -> None:
    mine = f"%:{username}"  # notification ids are "<entry>:<username>"
    conn.execute(
        delete(READ).where(or_(READ.c.username == username, READ.c.notification_id.like(mine)))
    )
    conn.execute(delete(SENT).where(SENT.c.notification_id.like(mine)))
    conn.execute(delete(CONTACT).where(CONTACT.c.username == username))
    conn.execute(delete(TOKEN).where(TOKEN.c.actor == username))
