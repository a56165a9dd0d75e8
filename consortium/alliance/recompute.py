"""Recomputing a figure from ledger bundles, the way an auditor checks a report or a run.

Whatever names its checkpoints (a contribution report, a compensation run) can be checked the
same way: one bundle per ledger named, each audited in full together with the named
checkpoint, the entries up to each checkpoint folded into facts, the figure computed again,
and the two compared member by member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from consortium.alliance.facts import Facts
from consortium.alliance.ledgers import Cut, LedgerReadError, bundle_origin, bundle_source, gather
from consortium.ledger.audit import Progress
from consortium.registry.keyring import Keyring


def named_ledgers(
    what: str,
    checkpoints: list[dict[str, Any]],
    bundles: Iterable[Path],
    *,
    keyring: Keyring,
    progress: Callable[[str], Progress | None] | None = None,
) -> tuple[Facts, list[Cut], dict[str, bytes]]:
    """The facts of exactly the ledgers ``what`` (e.g. "the report") names, each read from its
    bundle up to the named checkpoint, and each node's key as its bundle proves it; a
    `LedgerReadError` if that cannot be done. Every bundle is audited against the key
    ``keyring`` trusts for its node: `UntrustedKey`, before any is read, if one has none."""
    by_origin: dict[str, Path] = {}
    for path in bundles:
        origin = bundle_origin(path)
        if origin in by_origin:
            raise LedgerReadError(f"two bundles of {origin}: {by_origin[origin].name}, {path.name}")
        by_origin[origin] = path
    try:
        named = {c["origin"]: c for c in checkpoints}
    except (KeyError, TypeError) as exc:
        raise LedgerReadError(f"{what} names its checkpoints wrongly: {exc}") from exc
    missing = sorted(set(named) - set(by_origin))
    if missing:
        raise LedgerReadError(f"no bundle given for the ledger of {', '.join(missing)}")
    extra = sorted(set(by_origin) - set(named))
    if extra:
        raise LedgerReadError(f"{what} did not read the ledger of {', '.join(extra)}")
    trusted = keyring.vkeys(named)
    sources = []
    for origin, cut in sorted(named.items()):
        source = bundle_source(
            by_origin[origin],
            note=cut.get("note"),
            trusted_vkey=trusted[origin],
            progress=progress(origin) if progress else None,
        )
        if source.cut.as_dict() != cut:
            raise LedgerReadError(
                f"the checkpoint {what} names for {origin} does not match its note"
            )
        sources.append(source)
    facts, cuts = gather(sources)
    return facts, cuts, {s.cut.origin: s.public_key for s in sources if s.public_key}


def differences(expected: Any, found: Any, path: str = "") -> Iterator[str]:
    """Where a document differs from its recomputation, as paths such as
    ``summary.institutions.0.share``."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for k in sorted(set(expected) | set(found)):
            where = f"{path}.{k}" if path else k
            if k not in found:
                yield f"{where}: missing"
            elif k not in expected:
                yield f"{where}: not expected"
            else:
                yield from differences(expected[k], found[k], where)
    elif isinstance(expected, list) and isinstance(found, list) and len(expected) == len(found):
        for i, (a, b) in enumerate(zip(expected, found, strict=True)):
            yield from differences(a, b, f"{path}.{i}")
    elif expected != found:
        yield f"{path}: it says {_short(found)}, the ledgers give {_short(expected)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
