"""Self-contained ledger bundles: export a node's ledger and verify it with no database.

A bundle is JSON Lines (gzip-compressed when the file name ends in ``.gz``):

1. a header ``{"format": "consortium-ledger-bundle", "version": 2, "name", "origin",
   "public_key", "vkey", "size", "exported_at", "disclosure"}``;
2. ``{"checkpoints": [signed note, …]}`` in size order;
3. one line per entry, the entry's exact stored bytes, in index order, each followed by
   zero or more ``{"sealed": "<exact bytes of a sealed document>"}`` lines: the documents
   the entry commits to that the bundle was exported for (``disclosure`` names for whom,
   e.g. ``public`` or ``members``). The log's mechanics ignore them; whoever reads the
   entries' meaning checks each against the digest its entry signed.

The header's key is only a claim: `verify_bundle` checks the bundle with the vkey the auditor
trusts for the node (pinned, or recorded by their node), and the header's key and the genesis
entry's against it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from consortium.crypto.keys import b64decode, b64encode
from consortium.crypto.note import NoteError, Verifier, vkey
from consortium.ledger.audit import (
    AuditReport,
    Problem,
    Progress,
    audit,
    row_batches,
    sorted_problems,
)
from consortium.ledger.entry import Entry, EntryError, parse_entry

if TYPE_CHECKING:
    from consortium.ledger.log import Ledger

FORMAT = "consortium-ledger-bundle"
VERSION = 2
SEALED_LINE = b'{"sealed":'


class BundleError(ValueError):
    """The file is not a readable ledger bundle."""


def _open(path: Path, mode: str, compressed: bool | None = None) -> IO[bytes]:
    if path.suffix == ".gz" if compressed is None else compressed:
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return open(path, mode + "b")


def export_bundle(
    ledger: Ledger,
    name: str,
    public_key: bytes,
    path: Path,
    progress: Progress | None = None,
    *,
    disclosure: str = "public",
    sealed_for: Callable[[bytes], Iterable[bytes]] | None = None,
) -> int:
    """Write the ledger to ``path`` (atomically: a partial file is never left behind).

    ``sealed_for`` gives, for an entry's bytes, the sealed documents to carry after it.
    """
    # The database is imported here, not with the module: verifying a bundle needs none.
    from consortium.ledger.log import iter_entries, log_size

    with ledger.engine.connect() as conn:
        size = log_size(conn)
    checkpoints = [c for c in ledger.checkpoints() if _size_of(c) <= size]
    header = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "origin": ledger.origin,
        "public_key": b64encode(public_key),
        "vkey": vkey(ledger.origin, public_key),
        "size": size,
        "exported_at": ledger.clock().isoformat(),
        "disclosure": disclosure,
    }
    tmp = path.with_name(path.name + ".partial")
    try:
        with _open(tmp, "w", compressed=path.suffix == ".gz") as out:
            out.write(orjson.dumps(header) + b"\n")
            out.write(orjson.dumps({"checkpoints": checkpoints}) + b"\n")
            written = 0
            for _, data in iter_entries(ledger.engine, end=size):
                out.write(bytes(data) + b"\n")
                for document in sealed_for(bytes(data)) if sealed_for else ():
                    out.write(orjson.dumps({"sealed": document.decode()}) + b"\n")
                written += 1
                if progress is not None and written % 10_000 == 0:
                    progress(10_000)
            if progress is not None:
                progress(written % 10_000)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def _size_of(note: str) -> int:
    return int(note.split("\n", 2)[1])


@dataclass
class Bundle:
    header: dict[str, Any]
    checkpoints: list[str]
    public_key: bytes
    origin: str
    sealed_checked: int = 0  # sealed documents found to be ones their entries commit to


def _read_header(fh: IO[bytes]) -> Bundle:
    try:
        header = orjson.loads(fh.readline())
        cps = orjson.loads(fh.readline())
    except (orjson.JSONDecodeError, OSError, EOFError) as exc:
        raise BundleError(f"not a ledger bundle: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BundleError("not a ledger bundle (missing format header)")
    if header.get("version") != VERSION:
        raise BundleError(
            f"unsupported bundle version {header.get('version')!r} (this release reads "
            f"version {VERSION}, whose entries follow protocol version 2)"
        )
    try:
        key = b64decode(header["public_key"], 32)
        origin = str(header["origin"])
        checkpoints = list(cps["checkpoints"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"bundle header is incomplete: {exc}") from exc
    return Bundle(header, checkpoints, key, origin)


def _rows(
    lines: Iterable[bytes], bundle: Bundle, problems: list[Problem]
) -> Iterator[tuple[int, bytes]]:
    """Entries with the index each claims, so a removed line shows up as a gap.

    A sealed document must be one the entry before it commits to: its base64 SHA-256 is named
    in that entry, which is signed, so a document changed in the bundle is caught here, even
    by a reader who never opens it.
    """
    expected = 0
    data = b""
    for line in lines:
        if line.startswith(SEALED_LINE):
            if _committed(line, data):
                bundle.sealed_checked += 1
            else:
                problems.append(
                    Problem(
                        expected - 1 if expected else None,
                        "sealed",
                        "a sealed document after it is not one it commits to: changed after "
                        "the node signed the entry",
                    )
                )
            continue
        data = line.rstrip(b"\n")
        try:
            claimed = orjson.loads(data).get("index")
        except (orjson.JSONDecodeError, AttributeError):
            claimed = None
        index = claimed if isinstance(claimed, int) and claimed > expected else expected
        yield index, data
        expected = index + 1


def _committed(line: bytes, entry: bytes) -> bool:
    try:
        document = _sealed_bytes(line)
    except BundleError:
        return False
    digest = b64encode(hashlib.sha256(document).digest()).encode()
    return b'"' + digest + b'"' in entry


def verify_bundle(
    path: Path,
    *,
    trusted_vkey: str,
    extra_checkpoints: Iterable[str] = (),
    signatures: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
) -> tuple[Bundle, AuditReport]:
    """Audit a bundle file offline against ``trusted_vkey``, the key the auditor trusts for
    the node: the key the bundle names is the exporter's claim, so it is never the one checked
    with (a forger would name their own).

    ``extra_checkpoints`` are signed notes obtained elsewhere (e.g. named by a report): the
    bundle must agree with them as with its own.
    """
    try:
        verifier = Verifier.parse(trusted_vkey)
    except NoteError as exc:
        raise BundleError(f"invalid trusted key: {exc}") from exc
    try:
        fh = _open(path, "r")
    except OSError as exc:
        raise BundleError(f"cannot open {path}: {exc.strerror}") from exc
    with fh:
        bundle = _read_header(fh)
        if (verifier.name, verifier.public_key) != (bundle.origin, bundle.public_key):
            # Nothing in it can be checked: every signature would fail for the same reason.
            problem = Problem(None, "key", "the bundle is not signed by the trusted verifier key")
            return bundle, AuditReport(signatures_checked=signatures, problems=[problem])
        pinned: list[Problem] = []
        first = fh.readline()
        if first:
            pinned.extend(_check_genesis(first.rstrip(b"\n"), verifier.public_key))
        try:
            report = audit(
                row_batches(_rows(chain([first] if first else [], fh), bundle, pinned)),
                public_key=verifier.public_key,
                origin=verifier.name,
                checkpoints=[*bundle.checkpoints, *extra_checkpoints],
                signatures=signatures,
                workers=workers,
                progress=progress,
            )
        except (OSError, EOFError) as exc:  # a damaged or truncated compressed file
            raise BundleError(f"cannot read {path}: {exc}") from exc
    expected = bundle.header.get("size")
    if expected != report.size:
        pinned.append(
            Problem(
                None, "missing", f"the header announces {expected} entries, found {report.size}"
            )
        )
    report.problems = sorted_problems([*report.problems, *pinned])
    return bundle, report


def read_header(path: Path) -> Bundle:
    """A bundle's header and checkpoints, unverified: what it claims to be."""
    try:
        with _open(path, "r") as fh:
            return _read_header(fh)
    except OSError as exc:
        raise BundleError(f"cannot open {path}: {exc.strerror or exc}") from exc


def raw_entries(path: Path, size: int | None = None) -> Iterator[bytes]:
    """The stored bytes of a bundle's first ``size`` entries (all if None), unchecked."""
    for data, _ in entries_with_sealed(path, size):
        yield data


def entries_with_sealed(path: Path, size: int | None = None) -> Iterator[tuple[bytes, list[bytes]]]:
    """A bundle's first ``size`` entries (all if None), each with the sealed documents that
    follow it, unchecked."""
    try:
        with _open(path, "r") as fh:
            _read_header(fh)
            pending: tuple[bytes, list[bytes]] | None = None
            count = 0
            for line in fh:
                if line.startswith(SEALED_LINE):
                    if pending is not None:
                        pending[1].append(_sealed_bytes(line))
                    continue
                if pending is not None:
                    yield pending
                if size is not None and count >= size:
                    return
                pending = (line.rstrip(b"\n"), [])
                count += 1
            if pending is not None:
                yield pending
    except (OSError, EOFError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from exc


def _sealed_bytes(line: bytes) -> bytes:
    try:
        text = orjson.loads(line)["sealed"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise BundleError(f"malformed sealed document line: {exc}") from exc
    if not isinstance(text, str):
        raise BundleError("malformed sealed document line: not a string")
    return text.encode()


def read_entries(path: Path, size: int) -> Iterator[Entry]:
    """The first ``size`` entries of a bundle, parsed; read it with `verify_bundle` first."""
    for data in raw_entries(path, size):
        yield parse_entry(data)


def _check_genesis(data: bytes, public_key: bytes) -> list[Problem]:
    try:
        genesis = parse_entry(data)
    except EntryError:
        return []  # the audit reports a malformed entry 0 itself
    if genesis.body.get("public_key") != b64encode(public_key):
        return [Problem(0, "key", "the genesis entry names a different public key")]
    return []
