"""The ledgers a report or a compensation run reads, each up to a named, signed checkpoint.

A figure is only reproducible if everyone can read exactly the entries it was computed from.
So every computation first *cuts* each ledger at a checkpoint — this node signs one for its
own ledger at its current size; a peer's ledger comes as a bundle, read up to its latest
signed checkpoint — and names the cuts in what it produces. Anyone holding bundles of those
ledgers can then check each cut against the bundle (its Merkle root at that size is the
signed one) and fold the same entries into the same facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from consortium.alliance.facts import Facts, fold
from consortium.crypto.keys import b64encode
from consortium.crypto.note import Checkpoint, NoteError, parse_note
from consortium.disclosure.views import bundle_member_view, member_entries
from consortium.ledger.audit import Progress
from consortium.ledger.bundle import (
    BundleError,
    entries_with_sealed,
    read_header,
    verify_bundle,
)
from consortium.ledger.entry import Entry, parse_entry
from consortium.ledger.log import CHECKPOINT, ENTRY, Ledger, LedgerTransaction
from consortium.registry.members import MEMBER
from consortium.registry.sealed import SealError

PAGE = 10_000


class LedgerReadError(ValueError):
    """A ledger could not be read as named: a bundle that does not verify or does not match."""


@dataclass(frozen=True)
class Cut:
    """One ledger up to a signed checkpoint: ``origin`` had ``size`` entries with ``root``."""

    origin: str
    size: int
    root: str
    note: str

    @classmethod
    def from_note(cls, note: str) -> Cut:
        """Read a signed checkpoint note (its signature is checked where the ledger is read)."""
        try:
            cp = Checkpoint.parse_text(parse_note(note)[0])
        except NoteError as exc:
            raise LedgerReadError(f"not a checkpoint: {exc}") from exc
        return cls(cp.origin, cp.size, b64encode(cp.root), note)

    def as_dict(self) -> dict[str, Any]:
        return {"origin": self.origin, "size": self.size, "root": self.root, "note": self.note}


@dataclass
class Source:
    """A cut and the entries up to it, in index order (and, from a bundle, the node's key as
    the bundle's genesis entry proves it)."""

    cut: Cut
    entries: Iterable[Entry]
    public_key: bytes | None = None
    exported_at: str | None = None  # as the bundle's (unsigned) header says


def cut_own(tx: LedgerTransaction) -> Cut:
    """Cut this node's ledger at its current size, signing a checkpoint if none is there yet.

    Called inside the ledger's write transaction, so no entry can slip in between the cut and
    whatever the caller records about it.
    """
    tx.checkpoint()
    note = tx.conn.execute(
        select(CHECKPOINT.c.note).where(CHECKPOINT.c.size == tx.size)
    ).scalar_one()
    return Cut.from_note(note)


def own_source(ledger: Ledger) -> Source:
    """This node's ledger, cut now; the entries are read afterwards, without holding the lock
    that writers need."""
    with ledger.transaction() as tx:
        cut = cut_own(tx)

    def entries() -> Iterator[Entry]:
        with ledger.engine.connect() as conn:
            yield from own_entries(conn, cut.size)

    return Source(cut, entries())


def own_entries(conn: Connection, size: int) -> Iterator[Entry]:
    """Entries ``0 <= index < size`` of this node's ledger, read a page at a time, as a
    member reads them (their members documents joined), so that a figure computed here is
    the one others recompute from a bundle."""
    after = -1
    while after + 1 < size:
        rows = conn.execute(
            select(ENTRY.c.idx, ENTRY.c.data)
            .where(ENTRY.c.idx > after, ENTRY.c.idx < size)
            .order_by(ENTRY.c.idx)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        yield from member_entries(conn, (parse_entry(bytes(data)) for _, data in rows))
        after = rows[-1].idx


def bundle_source(
    path: Path,
    *,
    trusted_vkey: str,
    note: str | None = None,
    progress: Progress | None = None,
) -> Source:
    """A peer's ledger from a bundle file, audited in full against ``trusted_vkey`` (never the
    key the bundle names) before anything is read from it.

    With ``note`` (a cut named by a report being verified) the audit also checks that the
    bundle's Merkle root at that size is the one signed there; without it the bundle is read
    up to its latest signed checkpoint.
    """
    try:
        bundle, report = verify_bundle(
            path,
            trusted_vkey=trusted_vkey,
            extra_checkpoints=[note] if note else [],
            progress=progress,
        )
    except BundleError as exc:
        raise LedgerReadError(str(exc)) from exc
    if not report.ok:
        raise LedgerReadError(f"{path.name} does not verify: {report.first}")
    if note is None:
        if not bundle.checkpoints:
            raise LedgerReadError(f"{path.name} holds no signed checkpoint to read up to")
        note = bundle.checkpoints[-1]
    cut = Cut.from_note(note)
    if cut.origin != bundle.origin:
        raise LedgerReadError(f"{path.name} is the ledger of {bundle.origin}, not {cut.origin}")
    exported = bundle.header.get("exported_at")
    return Source(
        cut,
        bundle_entries(path, cut.size),
        bundle.public_key,
        exported if isinstance(exported, str) else None,
    )


def bundle_entries(path: Path, size: int) -> Iterator[Entry]:
    """A bundle's first ``size`` entries as a member reads them; audit the bundle first."""
    pairs = ((parse_entry(data), sealed) for data, sealed in entries_with_sealed(path, size))
    try:
        yield from bundle_member_view(pairs, f" of {path.name}")
    except SealError as exc:
        raise LedgerReadError(str(exc)) from exc


def member_bundles(
    engine: Engine, paths: Iterable[Path], progress: Callable[[str], Progress | None] | None = None
) -> list[Source]:
    """Other members' ledgers from bundles, each pinned to the key this node recorded for the
    member, so a bundle signed by anyone else is refused rather than read."""
    with engine.connect() as conn:
        known = {m.origin: m for m in conn.execute(select(MEMBER))}
    sources = []
    for path in paths:
        origin = bundle_origin(path)
        member = known.get(origin)
        if member is None:
            raise LedgerReadError(f"{path.name} is the ledger of {origin}, not a member")
        if member.is_self:
            raise LedgerReadError(f"{path.name} is this node's own ledger: it is read directly")
        sources.append(
            bundle_source(
                path, trusted_vkey=member.vkey, progress=progress(origin) if progress else None
            )
        )
    return sources


def gather(sources: Iterable[Source]) -> tuple[Facts, list[Cut]]:
    """Fold every source into one set of facts, in origin order so that all readers agree."""
    facts = Facts()
    cuts = []
    for source in sorted(sources, key=lambda s: s.cut.origin):
        origins = [c.origin for c in cuts]
        if source.cut.origin in origins:
            raise LedgerReadError(f"the ledger of {source.cut.origin} is given twice")
        fold(facts, source.cut.origin, source.entries)
        cuts.append(source.cut)
    return facts, cuts


def bundle_origin(path: Path) -> str:
    """Whose ledger a bundle claims to hold (checked when it is read)."""
    try:
        return read_header(path).origin
    except BundleError as exc:
        raise LedgerReadError(str(exc)) from exc
