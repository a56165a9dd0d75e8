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
    "details.institution": MEMBERS,
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
    "metadata.contributors[].username": PERSON,
    "metadata_sealed": PUBLIC,
    "credit": MEMBERS,
}
_CONTRACT_DOCUMENT = {
    "contract": PUBLIC,
    "version": PUBLIC,
    "document": PARTIES,
    "document.benefit_split": MEMBERS,
    "document.parties": MEMBERS,
    # Each dataset's title and DUO terms are its metadata: a restricted dataset's must not
    # reach every member through a contract (credit needs only the benefit split).
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
    "contract.countersigned": {"contract": PUBLIC, **_SIGNATURE, "title": PARTIES},
    "contract.terminated": {"contract": PUBLIC, "versions": PUBLIC, **_REASONED},
    "contract.expired": {"contract": PUBLIC, "version": PUBLIC, "on": PUBLIC},
    "benefit_rules.proposed": {"version": PUBLIC, "document": MEMBERS},
    "benefit_rules.signed": {**_SIGNATURE, "member": PUBLIC},
    "benefit_rules.countersigned": {**_SIGNATURE, "proposer": PUBLIC, "title": MEMBERS},
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
    "grant.issued": {
        "grant": PUBLIC,
        "document": PARTIES,
        "document.type": MEMBERS,
        "document.id": MEMBERS,
        "document.issuer": MEMBERS,
        "document.holder.institution": MEMBERS,
        "document.holder.username": PERSON,
        "document.holder.investigator": PERSONAL,
        "document.purposes": MEMBERS,
        "document.commercial": MEMBERS,
        "document.datasets": MEMBERS,
        "document.valid_from": MEMBERS,
        "document.valid_until": MEMBERS,
        "signature": PARTIES,
    },
    "grant.revoked": {"grant": PUBLIC, **_REASONED},
    "grant.expired": {"grant": PUBLIC, "on": PUBLIC},
    "grant.deletion_attested": {"grant": PUBLIC, "statement": PARTIES},
    "grant.publication_reminder": {"grant": PUBLIC, "due": PARTIES},
    "grant.deletion_reminder": {"grant": PUBLIC},
    "output.reported": {
        "output": PUBLIC,
        "grant": PUBLIC,
        "datasets": MEMBERS,
        "kind": MEMBERS,
        "title": MEMBERS,
        "doi": MEMBERS,
        "url": MEMBERS,
        "date": MEMBERS,
        "derived_dataset": MEMBERS,
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
