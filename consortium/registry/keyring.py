"""The verifier keys an offline check may rely on, and where each one came from.

A signature only proves that *some* key signed. A grant file, a ledger bundle or a report
carries a key of its own, but whoever forged the document would have put their own key
there, under the real institution's origin: a check that trusted it would say OK to anything.
So every check takes the key from outside the thing it checks: from the person checking, who
pins the vkey they compared with the institution out of band (``--vkey``), or from a node
that recorded it: its own key (the genesis entry) or a member's (``member.added``). With
neither there is nothing to check against, and the check refuses (`UntrustedKey`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from consortium.crypto.note import Verifier

if TYPE_CHECKING:
    from sqlalchemy import Engine

PINNED = "the key you pinned"
OWN = "this node's own key"
RECORDED = "the key this node recorded for the member"


class UntrustedKey(ValueError):
    """No key is trusted for these origins: what they signed cannot be checked."""

    def __init__(self, *origins: str) -> None:
        super().__init__(f"no trusted key for {', '.join(origins)}")
        self.origins = origins


class KeyringError(ValueError):
    """Pinned keys that contradict each other."""


@dataclass
class Keyring:
    """Verifier keys by origin; a pinned key wins over the one a node recorded."""

    verifiers: dict[str, Verifier] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def pinned(cls, vkeys: Iterable[str]) -> Keyring:
        """The keys the person checking gives; raises `NoteError` for one that is malformed."""
        ring = cls()
        for text in vkeys:
            verifier = Verifier.parse(text)
            known = ring.verifiers.get(verifier.name)
            if known is not None and known != verifier:
                raise KeyringError(f"two different keys are pinned for {verifier.name}")
            ring._add(verifier, text.strip(), PINNED)
        return ring

    def _add(self, verifier: Verifier, text: str, source: str) -> None:
        if verifier.name not in self.verifiers:
            self.verifiers[verifier.name] = verifier
            self.texts[verifier.name] = text
            self.sources[verifier.name] = source

    def add_recorded(self, engine: Engine) -> Keyring:
        """Add the keys a node recorded (its own and its members'), except where one is pinned."""
        # The database is imported only here: checking against pinned keys needs none.
        from sqlalchemy import select

        from consortium.registry.members import MEMBER as MEMBERS

        with engine.connect() as conn:
            rows = conn.execute(select(MEMBERS.c.vkey, MEMBERS.c.is_self)).all()
        for row in rows:
            self._add(Verifier.parse(row.vkey), row.vkey, OWN if row.is_self else RECORDED)
        return self

    def verifier(self, origin: str) -> Verifier:
        try:
            return self.verifiers[origin]
        except KeyError:
            raise UntrustedKey(origin) from None

    def vkeys(self, origins: Iterable[str]) -> dict[str, str]:
        """The trusted vkey text for each origin; `UntrustedKey` naming every one without."""
        wanted = sorted(set(origins))
        missing = [o for o in wanted if o not in self.texts]
        if missing:
            raise UntrustedKey(*missing)
        return {o: self.texts[o] for o in wanted}

    def vkey(self, origin: str) -> str:
        """The trusted vkey text for ``origin``, or `UntrustedKey`."""
        return self.vkeys([origin])[origin]

    def source(self, origin: str) -> str:
        """Where the trusted key for ``origin`` came from, for the person checking to see."""
        return self.sources[origin]
