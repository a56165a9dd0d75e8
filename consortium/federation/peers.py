"""Which key a member node's requests are checked with: the one place that says so.

Today that is the key this node recorded for the member (``member.added``, from the
institution's published vkey); when the consortium's membership document replaces the
node-local member list, only this function changes.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from consortium.crypto.keys import PUBLIC_KEY_SIZE, b64decode
from consortium.registry.members import MEMBER


def member_key(conn: Connection, origin: str) -> bytes | None:
    """The Ed25519 key of member ``origin``, or None when it is no member.

    This node itself is not among the members it answers as a peer: its own key signs its
    ledger, never a request to itself.
    """
    stored = conn.execute(
        select(MEMBER.c.public_key).where(MEMBER.c.origin == origin, MEMBER.c.is_self.is_(False))
    ).scalar()
    return None if stored is None else b64decode(stored, PUBLIC_KEY_SIZE)
