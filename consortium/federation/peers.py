"""Which key a member node's requests are checked with: the one place that says so.

It is the key in this node's member list, which the accepted version of the consortium's
membership document keeps (`consortium.federation.membership`), or an admin's
``member.added`` where the node belongs to no consortium yet.
"""

from __future__ import annotations

from sqlalchemy import Connection

from consortium.registry.members import peer_log_verifier


def member_key(conn: Connection, origin: str) -> bytes | None:
    """The Ed25519 key of member ``origin``, or None when it is no member.

    This node itself is not among the members it answers as a peer: its own key signs its
    ledger, never a request to itself. The same key checks the member's log checkpoints.
    """
    verifier = peer_log_verifier(conn, origin)
    return None if verifier is None else verifier.public_key
