"""Audit a ledger from its entries and checkpoints alone, trusting nothing but the public key.

The same auditor checks a node's own database (`consortium verify`) and an exported bundle
offline (`consortium ledger verify-bundle`). It streams entries in index order and checks:

* every index is present, once, in order (``missing``, ``misplaced``);
* every entry is well-formed canonical JSON (``malformed``);
* each entry's ``prev`` is the leaf hash of the entry before it (the hash chain);
* each entry's signature by the node key (``bad-signature``), spread over all cores;
* the Merkle root at every checkpoint's size equals the signed root (``checkpoint``), which
  also proves every pair of checkpoints consistent with each other;
* optionally, when the entries are intact, that the stored tree nodes proofs are served
  from match them (``stored-tree``).

A broken link between two entries is then attributed using the signatures: the entry whose
signature fails is the one that was edited (``edited``); if both are validly signed, the node
signed a chain that does not link up (``broken-chain``). Problems are reported lowest index
first, so the first one names the first bad entry.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

import nacl.bindings
import nacl.exceptions

from consortium.crypto.canonical import parse as loads
from consortium.crypto.keys import b64encode
from consortium.crypto.note import Checkpoint, NoteError, Verifier
from consortium.ledger import merkle
from consortium.ledger.entry import GENESIS_PREV, EntryError, parse_entry, signed_message

if TYPE_CHECKING:
    from sqlalchemy import Engine

BATCH = 4096
MAX_PROBLEMS = 1000
MAX_LEVEL = 62  # a tree of 2**62 leaves is beyond any ledger

Row = tuple[int, bytes]
Progress = Callable[[int], None]
StoredLevel = Callable[[int], tuple[list[int], bytes]]  # level -> (indexes, hashes)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a ledger. ``index`` is None for problems not tied to an entry."""

    index: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"entry {self.index}" if self.index is not None else "ledger"
        return f"{where}: {self.kind}: {self.detail}"


def sorted_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Lowest index first, so the first problem names the first bad entry; then the rest."""
    return sorted(problems, key=lambda p: (p.index is None, p.index or 0, p.kind))


@dataclass
class AuditReport:
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    signatures_checked: bool = False
    checkpoints_checked: int = 0
    latest_checkpoint: int | None = None
    stored_nodes_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def unchecked_tail(self) -> int:
        """Entries after the latest checkpoint: chained and signed, but not yet checkpointed."""
        return self.size - (self.latest_checkpoint or 0)


@dataclass(frozen=True)
class EntryRange:
    """Entries ``start <= index < end`` of a database, read by the worker that checks them.

    Handing workers a range instead of the bytes keeps the main process (which must fold the
    tree in order) free of reading and copying every entry.
    """

    url: str
    start: int
    end: int

    def load(self) -> list[Row]:
        # The database is imported here, not with the module: a bundle is audited without one.
        from consortium.db.engine import make_engine
        from consortium.ledger.log import iter_entries

        engine = _engines.get(self.url)
        if engine is None:
            engine = _engines[self.url] = make_engine(self.url, pool_size=1)
        return list(iter_entries(engine, self.start, self.end))


# Per process: a worker keeps its database connection from one range to the next (opening a
# PostgreSQL connection per range would cost more than reading it). `audit` empties it.
_engines: dict[str, Engine] = {}


def _close_engines() -> None:
    while _engines:
        _engines.popitem()[1].dispose()


Batch = list[Row] | EntryRange


def database_batches(engine: Engine, size: int, step: int = BATCH) -> Iterator[EntryRange]:
    """The first ``size`` entries of a database as ranges for `audit`."""
    url = engine.url.render_as_string(hide_password=False)
    for start in range(0, size, step):
        yield EntryRange(url, start, min(start + step, size))


def row_batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    """Entries from any iterable (a bundle file, a test) as batches, for `audit`."""
    it = iter(rows)
    while batch := list(islice(it, BATCH)):
        yield batch


@dataclass
class _BatchResult:
    """What a worker found in one batch of entries."""

    first_index: int | None
    last_index: int | None
    first_prev: str | None
    levels: list[bytes]  # the batch's complete subtree hashes, level 0 being its leaves
    gap: bool
    chain_breaks: list[int]
    problems: list[tuple[int, str, str]]


def _check_batch(public_key: bytes, batch: Batch, strict: bool, start: int) -> _BatchResult:
    """Leaf hashes, chain links within the batch, and per-entry checks (in worker processes).

    ``strict`` adds the full structure and canonical-form check and the signature; without it
    only what the integrity check needs (the hash chain) is read from each entry. ``start`` is
    the index the batch should begin with, so gaps at its edges are seen too.
    """
    rows = batch.load() if isinstance(batch, EntryRange) else batch
    sha256 = hashlib.sha256
    leaves = bytearray()
    breaks: list[int] = []
    problems: list[tuple[int, str, str]] = []
    first_prev: str | None = None
    link: str | bytes | None = None
    last = start - 1
    gap = False
    for index, data in rows:
        if index != last + 1:
            problems.append((last + 1, "missing", str(index - 1)))
            gap, link = True, None
        prev: str | bytes | None = None
        try:
            if strict:
                entry = parse_entry(data)
                prev, claimed = entry.prev, entry.index
                try:
                    nacl.bindings.crypto_sign_open(entry.sig + signed_message(data), public_key)
                except nacl.exceptions.BadSignatureError:
                    problems.append((index, "bad-signature", ""))
            else:
                obj = loads(data)
                prev, claimed = obj["prev"], obj["index"]
        except EntryError as exc:
            problems.append((index, "malformed", str(exc)))
        except (ValueError, KeyError, TypeError):
            problems.append((index, "malformed", "not a ledger entry"))
        else:
            if claimed != index:
                problems.append((index, "misplaced", f"entry says it is index {claimed}"))
        if index == start and prev is not None:
            first_prev = b64encode(prev) if isinstance(prev, bytes) else prev
        elif link is not None and prev is not None and prev != link:
            breaks.append(index)
        leaf = sha256(b"\x00" + data).digest()
        leaves += leaf
        # Strict mode compares raw hashes; quick mode compares the base64 text it read.
        link = leaf if strict else b64encode(leaf)
        last = index
    if isinstance(batch, EntryRange) and last < batch.end - 1:
        problems.append((last + 1, "missing", str(batch.end - 1)))
        gap = True
    return _BatchResult(
        first_index=rows[0][0] if rows else None,
        last_index=rows[-1][0] if rows else None,
        first_prev=first_prev,
        levels=merkle.subtree_levels(bytes(leaves)),
        gap=gap,
        chain_breaks=breaks,
        problems=problems,
    )


def _worker_context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class _Pipeline:
    """Runs `_check_batch` in worker processes, results taken back in submission order."""

    def __init__(self, public_key: bytes, strict: bool, workers: int) -> None:
        self._key = public_key
        self._strict = strict
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        # The first batch waits here until a second one comes: a ledger of one batch is
        # checked in this process, since only one worker could take it and starting the
        # workers would cost more than checking it (a small bundle at the console).
        self._first: tuple[Batch, int] | None = None
        self._inflight: deque[Future[_BatchResult]] = deque()
        self._limit = 2 * workers

    def submit(self, batch: Batch, start: int) -> Iterator[_BatchResult]:
        """Queue a batch; yield the results that are due, oldest first."""
        if self._workers == 1:
            yield _check_batch(self._key, batch, self._strict, start)
            return
        if self._pool is None:
            if self._first is None:
                self._first = (batch, start)
                return
            # Workers come from a fork server, not from this process: forking a process that
            # runs threads (the stored-tree reader here, a web server's threads elsewhere) can
            # leave a child holding a lock nobody will release.
            self._pool = ProcessPoolExecutor(self._workers, mp_context=_worker_context())
            (first, first_start), self._first = self._first, None
            self._inflight.append(
                self._pool.submit(_check_batch, self._key, first, self._strict, first_start)
            )
        job = self._pool.submit(_check_batch, self._key, batch, self._strict, start)
        self._inflight.append(job)
        while len(self._inflight) > self._limit:
            yield self._inflight.popleft().result()

    def drain(self) -> Iterator[_BatchResult]:
        if self._first is not None:
            (batch, start), self._first = self._first, None
            yield _check_batch(self._key, batch, self._strict, start)
        while self._inflight:
            yield self._inflight.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        _close_engines()


def _open_checkpoints(
    notes: Iterable[str], verifier: Verifier, origin: str, problems: list[Problem]
) -> dict[int, Checkpoint]:
    by_size: dict[int, Checkpoint] = {}
    for note in notes:
        try:
            cp = Checkpoint.open(note, verifier, origin)
        except NoteError as exc:
            problems.append(Problem(None, "checkpoint", f"invalid checkpoint: {exc}"))
            continue
        other = by_size.get(cp.size)
        if other is not None and other.root != cp.root:
            problems.append(
                Problem(None, "checkpoint", f"two signed checkpoints at size {cp.size} disagree")
            )
        by_size[cp.size] = cp
    return by_size


def audit(
    batches: Iterable[Batch],
    *,
    public_key: bytes,
    origin: str,
    checkpoints: Iterable[str],
    signatures: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
    stored_nodes: StoredLevel | None = None,
) -> AuditReport:
    """Audit a ledger given as `database_batches` or `row_batches`; see the module docstring.

    ``stored_nodes``, if given, returns the stored tree nodes of a level that the audited tree
    should have (see `consortium.ledger.log.stored_level`), to compare with the nodes
    recomputed from the entries. They are read in a thread while the workers run.
    """
    report = AuditReport(signatures_checked=signatures)
    problems: list[Problem] = []
    by_size = _open_checkpoints(checkpoints, Verifier(origin, public_key), origin, problems)
    sizes = sorted(by_size)
    report.checkpoints_checked = len(sizes)
    report.latest_checkpoint = sizes[-1] if sizes else None
    pending_sizes = deque(s for s in sizes if s > 0)
    root_mismatch: list[int] = []

    pipeline = _Pipeline(public_key, signatures, workers or os.cpu_count() or 1)
    reader = ThreadPoolExecutor(1) if stored_nodes is not None else None
    prefetch = (
        {lv: reader.submit(stored_nodes, lv) for lv in range(1, MAX_LEVEL + 1)}
        if reader is not None and stored_nodes is not None
        else {}
    )
    tree = merkle.RootAccumulator()
    levels = [bytearray() for _ in range(MAX_LEVEL + 1)]
    keep_nodes = stored_nodes is not None
    chain_breaks: list[int] = []
    bad_sigs: set[int] = set()
    gaps: list[tuple[int, int]] = []  # first and last missing index
    link: str | None = b64encode(GENESIS_PREV)
    tree_ok = True
    end = 0  # one past the highest index seen

    def fold(result: _BatchResult) -> None:
        """Join a batch to the chain and the tree: the only sequential part of the audit.

        Workers hash each batch's own subtree, so the tree grows here by one subtree root per
        full batch; only checkpoints that fall inside a batch need a few more hashes.
        """
        nonlocal link, tree_ok, end
        leaves = result.levels[0]
        tree_ok = tree_ok and not result.gap and (result.first_index == tree.size or not leaves)
        if tree_ok and link is not None and result.first_prev not in (None, link):
            chain_breaks.append(tree.size)
        chain_breaks.extend(result.chain_breaks)
        for index, kind, detail in result.problems:
            if kind == "bad-signature":
                bad_sigs.add(index)
            elif kind == "missing":
                gaps.append((index, int(detail)))
            else:
                problems.append(Problem(index, kind, detail))
        if leaves:
            link = b64encode(leaves[-32:])
        if result.last_index is not None:
            end = result.last_index + 1
        if not tree_ok or not leaves:
            return
        start, stop = tree.size, tree.size + len(leaves) // 32
        # A batch that starts on a boundary of its own size is a run of the tree's own subtrees
        # (the usual case); any other batch joins the tree leaf by leaf.
        aligned = start % (1 << (stop - start - 1).bit_length()) == 0
        while pending_sizes and pending_sizes[0] <= stop:
            size = pending_sizes.popleft()
            probe = tree.copy()
            for level, index in _pieces(start, size, aligned):
                probe.append_subtree(level, _batch_node(result.levels, start, level, index))
            if probe.root() != by_size[size].root:
                root_mismatch.append(size)
        for level, index in _pieces(start, stop, aligned):
            above = tree.append_subtree(level, _batch_node(result.levels, start, level, index))
            if keep_nodes:
                for lv, _, h in above:
                    levels[lv] += h
        if keep_nodes:
            for lv, hashes in enumerate(result.levels if aligned else result.levels[:1]):
                levels[lv] += hashes

    start = 0
    try:
        for batch in batches:
            for result in pipeline.submit(batch, start):
                fold(result)
            start = batch.end if isinstance(batch, EntryRange) else batch[-1][0] + 1
            if progress is not None:
                progress(batch.end - batch.start if isinstance(batch, EntryRange) else len(batch))
            if len(problems) > MAX_PROBLEMS:
                break
        for result in pipeline.drain():
            fold(result)
    except BaseException:
        if reader is not None:
            reader.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pipeline.close()
    report.size = end
    report.root = tree.root()
    problems.extend(_merge_gaps(gaps))
    for size in (s for s in pending_sizes if s > end):
        problems.append(
            Problem(
                end,
                "missing",
                f"a signed checkpoint covers {size} entries but the log has only {end}",
            )
        )
    problems.extend(_attribute(chain_breaks, bad_sigs, root_mismatch, signatures))
    if reader is not None:
        stored = {lv: job.result() for lv, job in prefetch.items()}
        reader.shutdown()
        if not problems:
            # Only meaningful over intact entries: an edited entry changes recomputed nodes too.
            problems.extend(_compare_nodes(levels, stored, report))
    report.problems = sorted_problems(problems)
    return report


def _batch_node(batch_levels: list[bytes], start: int, level: int, index: int) -> bytes:
    """The tree node (level, index) from the levels of a batch that starts at leaf ``start``."""
    offset = (index - (start >> level)) * 32
    return batch_levels[level][offset : offset + 32]


def _pieces(start: int, stop: int, aligned: bool) -> list[merkle.Node]:
    """The nodes that add leaves ``start`` to ``stop`` to a tree of ``start`` leaves."""
    if stop <= start:
        return []
    return merkle.range_nodes(start, stop) if aligned else [(0, i) for i in range(start, stop)]


def _merge_gaps(gaps: list[tuple[int, int]]) -> list[Problem]:
    """One problem per run of missing entries, even where a run spans two batches."""
    merged: list[list[int]] = []
    for first, last in sorted(gaps):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [
        Problem(a, "missing", f"entries {a} to {b} are missing" if b > a else "entry is missing")
        for a, b in merged
    ]


def _attribute(
    chain_breaks: list[int], bad_sigs: set[int], root_mismatch: list[int], signatures: bool
) -> list[Problem]:
    """Turn broken links, failed signatures and root mismatches into named problems."""
    problems: list[Problem] = []
    bad = set(bad_sigs)
    for i in chain_breaks:
        if not signatures:
            problems.append(
                Problem(
                    i - 1,
                    "broken-chain",
                    f"its hash does not match the prev recorded by entry {i} "
                    f"(this entry was edited, or entry {i}'s link was)",
                )
            )
        elif i - 1 in bad:
            bad.discard(i - 1)
            problems.append(
                Problem(
                    i - 1,
                    "edited",
                    "changed after it was signed: its signature fails and its hash no longer "
                    f"matches the prev recorded by entry {i}",
                )
            )
        elif i in bad:
            bad.discard(i)
            problems.append(
                Problem(i, "edited", "its link to the previous entry was changed after signing")
            )
        else:
            problems.append(
                Problem(
                    i,
                    "broken-chain",
                    f"validly signed, but its prev does not match entry {i - 1}: entries were "
                    "replaced or the log forked",
                )
            )
    for size in root_mismatch:
        last = size - 1
        if last in bad:
            bad.discard(last)
            problems.append(
                Problem(
                    last,
                    "edited",
                    f"changed after it was signed: its signature fails and the tree no longer "
                    f"matches the signed checkpoint at size {size}",
                )
            )
        elif not any(size - 1 >= p.index for p in problems if p.index is not None):
            problems.append(
                Problem(
                    last,
                    "checkpoint",
                    f"the Merkle root of the first {size} entries does not match the signed "
                    "checkpoint: this entry, or a re-chained run before it, was changed",
                )
            )
    problems.extend(
        Problem(i, "bad-signature", "the node's signature does not verify") for i in sorted(bad)
    )
    return problems


def _compare_nodes(
    levels: list[bytearray], stored: dict[int, tuple[list[int], bytes]], report: AuditReport
) -> list[Problem]:
    """Compare recomputed subtree hashes (level >= 1) with the stored ones, a level at a time."""
    problems: list[Problem] = []
    for level, (indexes, blob) in sorted(stored.items()):
        computed = bytes(levels[level])
        report.stored_nodes_checked += len(indexes)
        if indexes != list(range(len(indexes))) or blob != computed:
            problems.extend(_diagnose_level(level, computed, indexes, blob))
    return problems[:MAX_PROBLEMS]


def _diagnose_level(level: int, computed: bytes, indexes: list[int], blob: bytes) -> list[Problem]:
    found = {i: blob[k * 32 : k * 32 + 32] for k, i in enumerate(indexes)}
    problems: list[Problem] = []
    for index in range(len(computed) // 32):
        have = found.get(index)
        if have == computed[index * 32 : index * 32 + 32]:
            continue
        what = "is missing" if have is None else "does not match the entries"
        problems.append(
            Problem(
                index << level,
                "stored-tree",
                f"stored node (level {level}, index {index}) {what}: proofs served from it "
                "would be wrong",
            )
        )
    return problems
