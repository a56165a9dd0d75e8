"""What a consortium member reads of a ledger: the public entry with its members document.

Credit, compensation and audit are computed by members from exactly this view, on this node
(`member_entries` over its own database) and on any other (`member_view` over a bundle
exported for members), so a figure built here can be recomputed there to the digit.
Usernames stay pseudonyms: who a person is never leaves their node.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from sqlalchemy import Connection

from consortium.crypto.canonical import parse
from consortium.disclosure.sealing import SEALED, digest_of, join, open_document, sealed_digests
from consortium.disclosure.store import sealed_data, sealed_documents
from consortium.disclosure.table import MEMBERS, PUBLIC
from consortium.ledger.audit import Progress
from consortium.ledger.bundle import export_bundle
from consortium.ledger.entry import Entry
from consortium.ledger.log import Ledger
from consortium.registry.sealed import SealError


def member_view(entry: Entry, sealed: Mapping[str, bytes], where: str = "") -> Entry:
    """``entry`` with its members document joined; ``sealed`` maps digests to the documents
    at hand. A members document that is committed to but not at hand is an error: a figure
    computed without it would be wrong, not just incomplete."""
    digest = sealed_digests(entry.body).get(MEMBERS)
    if digest is None:
        return entry
    data = sealed.get(digest)
    if data is None and sealed:
        raise SealError(
            f"entry {entry.index}{where}: its members document was changed after the node "
            "signed the entry (its SHA-256 is not the digest the entry commits to)"
        )
    if data is None:
        raise SealError(
            f"entry {entry.index}{where} commits to a members document that is not at hand: "
            "read a bundle exported for members (`consortium ledger export --for members`)"
        )
    body = join(entry.body, {MEMBERS: open_document(data, digest)}, entry.kind)
    body.pop(SEALED, None)
    return entry._replace(body=body)


def bundle_member_view(
    pairs: Iterable[tuple[Entry, list[bytes]]], where: str = ""
) -> Iterator[Entry]:
    """Entries read from a bundle, each with the sealed documents that followed it."""
    for entry, documents in pairs:
        yield member_view(entry, {digest_of(d): d for d in documents}, where)


def member_entries(conn: Connection, entries: Iterable[Entry]) -> Iterator[Entry]:
    """This node's own entries as a member reads them; their documents are fetched a batch
    at a time, not one query an entry."""
    batch: list[Entry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == BATCH:
            yield from _viewed(conn, batch)
            batch = []
    yield from _viewed(conn, batch)


BATCH = 500


def _viewed(conn: Connection, batch: list[Entry]) -> Iterator[Entry]:
    wanted = [d for e in batch if (d := sealed_digests(e.body).get(MEMBERS))]
    found = sealed_documents(conn, wanted) if wanted else {}
    for entry in batch:
        digest = sealed_digests(entry.body).get(MEMBERS)
        if digest is not None and digest not in found:
            sealed_data(conn, digest)  # raises: a members document is never erased
        yield member_view(entry, {digest: found[digest]} if digest in found else {})


AUDIENCES = (PUBLIC, MEMBERS)


def export_ledger(
    ledger: Ledger,
    name: str,
    public_key: bytes,
    path: Path,
    *,
    audience: str = PUBLIC,
    progress: Progress | None = None,
) -> int:
    """Write a bundle of this node's ledger for ``audience``: ``public`` carries the entries
    alone; ``members`` adds each entry's members document, all a member needs to recompute
    credit, compensation and reports. Parties and personal documents never leave the node
    in a bundle."""
    if audience not in AUDIENCES:
        raise ValueError(f"a bundle is exported for one of: {', '.join(AUDIENCES)}")
    with ledger.engine.connect() as conn:

        def sealed_for(data: bytes) -> list[bytes]:
            digest = sealed_digests(parse(data)["body"]).get(MEMBERS)
            found = None if digest is None else sealed_data(conn, digest)
            return [] if found is None else [found]

        return export_bundle(
            ledger,
            name,
            public_key,
            path,
            progress,
            disclosure=audience,
            sealed_for=sealed_for if audience == MEMBERS else None,
        )
