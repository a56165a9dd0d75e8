"""Who may read which sealed documents of an entry (protocol §13).

- Anyone: the entry as signed (public members, digests, pseudonyms).
- This node's staff (admins, stewards, directors): everything, since every record on the
  node concerns their institution and they answer for it.
- This node's leads and auditors, and the consortium's member nodes: ``members`` documents,
  what credit, compensation and audit need.
- The people a record concerns (who did it, who requested, who holds the grant, the person
  a ``person.*`` entry is about): ``members``, ``parties`` and ``personal``.
- A member node named in a record (a contract's party): ``members`` and ``parties``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from consortium.access.grants import GRANT
from consortium.access.requests import REQUEST
from consortium.auth.roles import ADMIN, AUDITOR, DIRECTOR, LEAD, STEWARD, Actor
from consortium.crypto.canonical import parse
from consortium.disclosure.sealing import SEALED, join, sealed_digests, split
from consortium.disclosure.store import SYSTEM_ACTORS, pseudonym_of, reveal, sealed_data
from consortium.disclosure.table import MEMBERS, PARTIES, PERSONAL, PUBLIC, SEALED_CLASSES
from consortium.errors import NotFound
from consortium.ledger.log import ENTRY

STAFF = (ADMIN, STEWARD, DIRECTOR)
OVERSIGHT = (LEAD, AUDITOR)


@dataclass(frozen=True)
class Reader:
    """Who is reading: a person of this node (``actor``), a member node (``member``, its
    origin, once it has proved it), or nobody in particular."""

    actor: Actor | None = None
    member: str | None = None

    @classmethod
    def anonymous(cls) -> Reader:
        return cls()


def concerned(
    conn: Connection, kind: str, actor: str, body: Mapping[str, Any]
) -> tuple[set[str], set[str]]:
    """The usernames and member origins a record concerns (``body`` as the node reads it)."""
    people = {actor} - SYSTEM_ACTORS
    origins: set[str] = set()
    if kind.startswith("person.") and isinstance(body.get("username"), str):
        people.add(body["username"])
    accounts = body.get("accounts")
    if isinstance(accounts, list):  # the contributors a dataset version links to people
        people.update(a["username"] for a in accounts if isinstance(a.get("username"), str))
    grant = body.get("grant")
    if kind == "grant.issued":
        holder = body.get("document", {}).get("holder", {}).get("username")
        people.update([holder] if isinstance(holder, str) else [])
    elif isinstance(grant, str):
        people.update(conn.execute(select(GRANT.c.holder).where(GRANT.c.id == grant)).scalars())
    request = body.get("request")
    if isinstance(request, str):
        people.update(
            conn.execute(select(REQUEST.c.researcher).where(REQUEST.c.id == request)).scalars()
        )
    if kind.startswith("contract."):
        for party in body.get("document", {}).get("parties", []):
            if isinstance(party, dict) and isinstance(party.get("origin"), str):
                origins.add(party["origin"])
    return people, origins


def visible_classes(reader: Reader, people: set[str], origins: set[str]) -> set[str]:
    """The classes ``reader`` may read of a record that concerns ``people`` and ``origins``."""
    classes = {PUBLIC}
    who = reader.actor
    if who is not None:
        if who.has(*STAFF):
            return {PUBLIC, *SEALED_CLASSES}
        if who.has(*OVERSIGHT):
            classes.add(MEMBERS)
        if who.name in people:
            classes.update((MEMBERS, PARTIES, PERSONAL))
    if reader.member is not None:
        classes.add(MEMBERS)
        if reader.member in origins:
            classes.add(PARTIES)
    return classes


def disclose(conn: Connection, reader: Reader, index: int) -> dict[str, Any]:
    """The sealed documents of entry ``index`` that ``reader`` may read, as exact bytes (so
    that their SHA-256 can be compared with the digests the signed entry holds), and the
    classes withheld or erased."""
    data = conn.execute(select(ENTRY.c.data).where(ENTRY.c.idx == index)).scalar()
    if data is None:
        raise NotFound(f"the ledger has no entry {index}")
    entry = parse(bytes(data))
    kind, body = entry["kind"], entry["body"]
    digests = sealed_digests(body)
    shown: dict[str, Any] = {}
    withheld, erased = [], []
    if digests:
        actor, full = reveal(conn, kind, entry["actor"], body)
        allowed = visible_classes(reader, *concerned(conn, kind, actor, full))
        for cls in SEALED_CLASSES:
            if cls not in digests:
                continue
            if cls not in allowed:
                withheld.append(cls)
                continue
            found = sealed_data(conn, digests[cls])
            if found is None:
                erased.append(cls)
            else:
                shown[cls] = {"digest": digests[cls], "document": found.decode()}
    return {
        "index": index,
        "kind": kind,
        "sealed": shown,
        "withheld": withheld,
        "erased": erased,
        "committed": {c: d for c, d in digests.items()},
        "clear": {k: v for k, v in body.items() if k != SEALED},
    }


def shown(kind: str, body: Mapping[str, Any], classes: set[str]) -> dict[str, Any]:
    """``body`` (as the node reads it) with only the members of ``classes``: what a view of a
    record may show a reader, decided by the same table as the ledger."""
    clear, groups = split(kind, body)
    out = join(clear, {c: groups[c] for c in classes if c in groups}, kind)
    out.pop(SEALED, None)
    return out


def contract_for(conn: Connection, reader: Reader, view: dict[str, Any]) -> dict[str, Any]:
    """A contract view as ``reader`` may see it: the terms for anyone; the money for members;
    the incident contact for the parties (and this node's staff); who drafted and recorded it
    by name for staff, by pseudonym for others."""
    origins = {p["origin"] for p in view["document"].get("parties", [])}
    classes = visible_classes(reader, set(), origins)
    out = dict(view)
    out["document"] = shown("contract.drafted", {"document": view["document"]}, classes)["document"]
    # The datasets' details are their metadata: shown as each one's tier allows the reader
    # (the view was built for the reader), like the datasets themselves.
    if "datasets" in view["document"]:
        out["document"]["datasets"] = view["document"]["datasets"]
    if PERSONAL not in classes:
        out["drafted_by"] = pseudonym_of(conn, view["drafted_by"])
        out["signatures"] = [
            {**s, "recorded_by": pseudonym_of(conn, s["recorded_by"])} for s in view["signatures"]
        ]
    return out
