"""The disclosure class of every field of every entry kind (protocol §13 publishes it).

- ``public``: anyone, in clear on the ledger.
- ``members``: the consortium's nodes and this node's leads and auditors: what credit,
  compensation and audit need to recompute every figure.
- ``parties``: the institutions and people a record concerns (and this node's staff).
- ``personal``: names, e-mail addresses, free text about a person; readable by that person
  and this node's staff, never replicated, and erasable.
- ``person``: a username. On the ledger it is the person's pseudonym, in the class of the
  members around it (public at the top level); the username behind it is personal (sealed in
  the person's ``person.added`` entry).

A path names a body member (``details.investigator``); its class covers everything below it
unless a longer path says otherwise; ``[]`` steps into every item of a list (used only for
``person`` paths). A body member that no path covers is refused when the entry is written:
a new field must be classed before it can reach the ledger.
"""

from __future__ import annotations

PUBLIC = "public"
MEMBERS = "members"
PARTIES = "parties"
PERSONAL = "personal"
PERSON = "person"

SEALED_CLASSES = (MEMBERS, PARTIES, PERSONAL)
CLASSES = (PUBLIC, *SEALED_CLASSES)

_SIGNATURE = {"version": PUBLIC, "digest": PUBLIC, "signature": PUBLIC}
_REQUEST = {
    "request": PUBLIC,
    "details": PARTIES,
    "details.purposes": MEMBERS,
    # Which institutions ask, and how long they wait, is public (approval-time statistics).
    "details.institution": PUBLIC,
    "details.commercial": MEMBERS,
    "details.not_for_profit": MEMBERS,
    "details.investigator": PERSONAL,
    "datasets": MEMBERS,
    "findings": PARTIES,
    "manual_review": PARTIES,
    "second_approval": PARTIES,
    "review_due": PARTIES,
}
_DATASET_VERSION = {
    "dataset": PUBLIC,
    "version": PUBLIC,
    "sensitivity": PUBLIC,
    "approval_required": PUBLIC,
    # Only a public-metadata version carries its metadata in clear; others are sealed by tier
    # (``metadata_sealed``, shown to readers the tier allows) with their credit facts here.
    "metadata": PUBLIC,
    "metadata_sealed": PUBLIC,
    "credit": MEMBERS,
    # Which contributor is which person of this node: personal, by pseudonym.
    "accounts": PERSONAL,
    "accounts[].username": PERSON,
}
# A contract's terms are the offer researchers read before they ask: public, but for the
# money (members), the incident contact and the datasets' details (the parties').
_CONTRACT_DOCUMENT = {
    "contract": PUBLIC,
    "version": PUBLIC,
    "document": PUBLIC,
    "document.benefit_split": MEMBERS,
    "document.compensation": MEMBERS,
    "document.incidents": PARTIES,
    # Each dataset's title and DUO terms are its metadata: a restricted dataset's must not
    # reach the public or every member through a contract on the ledger.
    "document.datasets": PARTIES,
}
_REASONED = {"reason": PARTIES}

TABLE: dict[str, dict[str, str]] = {
    "node.genesis": {"name": PUBLIC, "origin": PUBLIC, "public_key": PUBLIC, "vkey": PUBLIC},
    "member.added": {"institution": PUBLIC, "origin": PUBLIC, "public_key": PUBLIC, "vkey": PUBLIC},
    "settings.changed": {
        "director_approval_required": PUBLIC,
        "review_deadline_days": PUBLIC,
        "publication_reminder_months": PUBLIC,
    },
    "person.added": {
        "person": PUBLIC,
        "username": PERSONAL,
        "display_name": PERSONAL,
        "roles": PARTIES,
    },
    "person.roles_changed": {"username": PERSON, "roles": PARTIES},
    "person.deactivated": {"username": PERSON, "reason": PERSONAL},
    "person.erased": {"username": PERSON},
    "dataset.registered": {**_DATASET_VERSION, "publisher": PUBLIC},
    "dataset.revised": _DATASET_VERSION,
    "dataset.approved": {"dataset": PUBLIC, "version": PUBLIC},
    "dataset.withdrawn": {"dataset": PUBLIC, **_REASONED},
    "dataset.profiled": {
        "dataset": PUBLIC,
        "version": PUBLIC,
        "profile": PUBLIC,
        "profile.identifier_findings": PARTIES,
        "profile.identifiers_reviewed": PARTIES,
        "profile_sealed": PUBLIC,
    },
    "dataset.consent_withdrawn": {"dataset": PUBLIC, **_REASONED, "grants_flagged": PARTIES},
    "contract.drafted": _CONTRACT_DOCUMENT,
    "contract.revised": _CONTRACT_DOCUMENT,
    "contract.proposed": {"contract": PUBLIC, "version": PUBLIC, "digest": PUBLIC},
    "contract.signed": {"contract": PUBLIC, **_SIGNATURE, "party": PUBLIC},
    "contract.countersigned": {"contract": PUBLIC, **_SIGNATURE, "title": PUBLIC},
    "contract.terminated": {"contract": PUBLIC, "versions": PUBLIC, **_REASONED},
    "contract.expired": {"contract": PUBLIC, "version": PUBLIC, "on": PUBLIC},
    # The alliance's rules are its public commitment: anyone may check a report against them.
    "benefit_rules.proposed": {"version": PUBLIC, "document": PUBLIC},
    "benefit_rules.signed": {**_SIGNATURE, "member": PUBLIC},
    "benefit_rules.countersigned": {**_SIGNATURE, "proposer": PUBLIC, "title": PUBLIC},
    # An attestation is the institution's public statement; its details are for the parties.
    "attestation": {"statement": PUBLIC, "subject": PUBLIC, "details": PARTIES},
    "access.requested": _REQUEST,
    "access.resubmitted": _REQUEST,
    "access.returned": {"request": PUBLIC, **_REASONED},
    "access.withdrawn": {"request": PUBLIC, **_REASONED},
    "access.denied": {"request": PUBLIC, **_REASONED},
    "access.approved": {"request": PUBLIC, **_REASONED, "second_approval_needed": PARTIES},
    "access.co_approved": {"request": PUBLIC, **_REASONED},
    "access.review_reminder": {"request": PUBLIC, "due": PARTIES},
    "access.review_escalated": {"request": PUBLIC, "due": PARTIES},
    # Who holds a grant (the institution), on which datasets, for what and until when is the
    # transparency the consortium owes the public; the project, the conditions and the people
    # are the parties'.
    "grant.issued": {
        "grant": PUBLIC,
        "document": PARTIES,
        "document.type": PUBLIC,
        "document.id": PUBLIC,
        "document.issuer": PUBLIC,
        "document.holder.institution": PUBLIC,
        "document.holder.username": PERSON,
        "document.holder.investigator": PERSONAL,
        "document.purposes": PUBLIC,
        "document.commercial": PUBLIC,
        "document.datasets": PUBLIC,
        "document.valid_from": PUBLIC,
        "document.valid_until": PUBLIC,
        "signature": PARTIES,
    },
    "grant.revoked": {"grant": PUBLIC, **_REASONED},
    "grant.expired": {"grant": PUBLIC, "on": PUBLIC},
    "grant.deletion_attested": {"grant": PUBLIC, "statement": PARTIES},
    "grant.publication_reminder": {"grant": PUBLIC, "due": PARTIES},
    "grant.deletion_reminder": {"grant": PUBLIC},
    # What came of a grant is what the public is owed most (problem 15).
    "output.reported": {
        "output": PUBLIC,
        "grant": PUBLIC,
        "datasets": PUBLIC,
        "kind": PUBLIC,
        "title": PUBLIC,
        "doi": PUBLIC,
        "url": PUBLIC,
        "date": PUBLIC,
        "derived_dataset": PUBLIC,
    },
    "incident.reported": {
        "incident": PUBLIC,
        "severity": PARTIES,
        "kind": PARTIES,
        "description": PARTIES,
        "datasets": PARTIES,
        "grants": PARTIES,
    },
    "incident.grants_suspended": {"incident": PUBLIC, "grants": PARTIES},
    "incident.closed": {"incident": PUBLIC, "resolution": PARTIES, "reinstated": PARTIES},
    "cost.recorded": {
        "cost": PUBLIC,
        "amount": MEMBERS,
        "currency": MEMBERS,
        "dataset": MEMBERS,
        "description": PARTIES,
    },
    "contribution.declared": {
        "contribution": PUBLIC,
        "kind": MEMBERS,
        "units": MEMBERS,
        "dataset": MEMBERS,
        "contributor": MEMBERS,
        "description": PARTIES,
    },
    # Who the consortium's members are, and who agreed to it, is its public face.
    "membership.proposed": {"version": PUBLIC, "digest": PUBLIC, "document": PUBLIC},
    "membership.signature": {
        "version": PUBLIC,
        "digest": PUBLIC,
        "origin": PUBLIC,
        "signature": PUBLIC,
    },
    "membership.accepted": {
        "version": PUBLIC,
        "digest": PUBLIC,
        "document": PUBLIC,
        "signatures": PUBLIC,
    },
    "compensation.run": {
        "run": PUBLIC,
        "period": PUBLIC,
        "pool": MEMBERS,
        "currency": MEMBERS,
        "quantum": MEMBERS,
        "minimum": MEMBERS,
        "method": MEMBERS,
        "rules": MEMBERS,
        "checkpoints": PUBLIC,
        "payees": MEMBERS,
    },
}


def class_of(kind: str, path: str) -> str:
    """The class of ``path`` in a ``kind`` body: the longest rule that covers it, a *person*
    member taking the class around it (public at the top level)."""
    rules = TABLE[kind]
    steps = path.split(".")
    for n in range(len(steps) - (1 if rules.get(path) == PERSON else 0), 0, -1):
        prefix = ".".join(steps[:n])
        rule = rules.get(prefix, rules.get(prefix.removesuffix("[]")))
        if rule is not None and rule != PERSON:
            return rule
    if rules.get(path) == PERSON or path in rules:
        return PUBLIC
    raise KeyError(f"{kind}: {path} has no disclosure class")


def published_table() -> list[str]:
    """Protocol §13's table, row by row; a test holds the document to it, so a change to the
    table is published with it (print these rows and paste them over the old ones)."""
    rows = ["| kind | public | members | parties | personal |", "|---|---|---|---|---|"]
    for kind, rules in TABLE.items():
        cols: dict[str, list[str]] = {c: [] for c in CLASSES}
        for path, rule in rules.items():
            mark = " (*person*)" if rule == PERSON else ""
            cols[class_of(kind, path)].append(f"`{path}`{mark}")
        rows.append(
            f"| `{kind}` | " + " | ".join(", ".join(v) or "—" for v in cols.values()) + " |"
        )
    return rows
