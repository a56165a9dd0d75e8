"""Roles and the actor a command runs as.

Roles are the institution's, not the consortium's: a node's admin decides who is a steward
there. A person may hold several roles. Commands name the roles allowed to run them and
`Actor.require` refuses everyone else before anything is read or written.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.errors import Forbidden

ADMIN = "admin"
STEWARD = "steward"
DIRECTOR = "director"
RESEARCHER = "researcher"
LEAD = "lead"
AUDITOR = "auditor"
ROLES = (ADMIN, STEWARD, DIRECTOR, RESEARCHER, LEAD, AUDITOR)
ROLE_DESCRIPTIONS = {
    ADMIN: "manages people, member institutions and the node's settings",
    STEWARD: "registers datasets and negotiates and signs sharing contracts",
    DIRECTOR: "department director or PI: co-approves publishing a department's data",
    RESEARCHER: "finds datasets and requests access",
    LEAD: "alliance lead: proposes benefit rules and reviews contribution reports",
    AUDITOR: "reads everything, changes nothing",
}


@dataclass(frozen=True)
class Actor:
    """Who a command runs as: a person's username and the roles in effect for this call."""

    name: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            ordered = sorted(set(roles), key=lambda r: ROLES.index(r) if r in ROLES else len(ROLES))
            raise Forbidden(
                f"{self.name} may not do this: it needs the role "
                + " or ".join(repr(r) for r in ordered)
            )


# The operator at the node's own console holds the key and the database, so every rule is
# theirs to bypass anyway; commands run as the operator are still signed and on the ledger.
OPERATOR = Actor("operator", frozenset(ROLES))
# Scheduled jobs (expiry) act as the node itself.
NODE = Actor("node", frozenset(ROLES))
