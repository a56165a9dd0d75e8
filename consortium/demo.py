"""The demonstration node: a university hospital with its people, datasets and a contract.

Everything here goes through the same commands a real steward uses, so the demo's ledger is
an honest example. A partner institute is created beside it (not served) only to countersign
the contract, as another member's node would.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from consortium.access import outputs, requests
from consortium.alliance import contributions
from consortium.attestations import record_attestation
from consortium.auth.people import add_person, effective_actor
from consortium.auth.roles import OPERATOR, Actor
from consortium.auth.tokens import create_token
from consortium.contracts import benefit_rules, lifecycle
from consortium.federation import document as membership_rules
from consortium.federation import membership
from consortium.node import Node, init_node
from consortium.registry import datasets, members, settings

PEOPLE = {
    "ada": ("Ada Admin", ["admin"]),
    "sam": ("Sam Steward", ["steward"]),
    "dora": ("Dora Director", ["director"]),
    "rita": ("Rita Researcher", ["researcher"]),
    "lee": ("Lee Lead", ["lead"]),
    "otto": ("Otto Auditor", ["auditor"]),
    "mei": ("Dr Mei Lin", ["researcher"]),
}
TOKEN_FILE = "demo-tokens.txt"


def _metadata(title: str, sensitivity: str, permissions: list[str]) -> dict:
    return {
        "title": title,
        "description": f"{title}: demonstration metadata (no data is held by this node).",
        "keywords": ["demo"],
        "contributors": [
            {"name": "Dr Mei Lin", "role": "collection", "weight": "3", "username": "mei"},
            {"name": "Tom Okafor", "role": "curation", "weight": "1"},
        ],
        "format": "text/csv",
        "conforms_to": "OMOP CDM 5.4",
        "record_count": 48_210,
        "temporal_coverage": {"start": "2016-01-01", "end": "2025-06-30"},
        "location": "Hospital research data warehouse",
        "sensitivity": sensitivity,
        "consent": {"legal_basis": "consent", "secondary_use_consent": True},
        "deidentification": {"method": "pseudonymised", "description": "keyed hash of MRN"},
        "duo": {"permissions": permissions, "modifiers": [{"code": "IRB"}, {"code": "PUB"}]},
    }


def _as(node: Node, username: str) -> Actor:
    with node.engine.connect() as conn:
        who = effective_actor(conn, username, None)
    assert who is not None
    return who


def _request(dataset_id: str, title: str, purpose: str) -> dict:
    return {
        "datasets": [{"id": dataset_id}],
        "project_title": title,
        "purposes": [{"code": "HMB"}],
        "purpose_text": purpose,
        "investigator": "Dr Rita Rossi",
        "institution": "Demo University Hospital",
        "ethics_reference": "UH-REC-2026-031",
        "duration_months": 12,
        "commercial": False,
    }


def _access(node: Node, cohort: str) -> None:
    """One request granted with a publication reported, and one waiting in the queue."""
    rita, sam = _as(node, "rita"), _as(node, "sam")
    granted = requests.submit_request(
        node.ledger,
        rita,
        _request(cohort, "Readmission after heart failure", "Model 30-day readmission risk."),
    ).body["request"]
    _, grant = requests.approve_request(node.ledger, node.key, sam, granted, {})
    outputs.report_output(
        node.ledger,
        rita,
        grant.body["grant"],
        {
            "kind": "preprint",
            "title": "Readmission risk after heart failure",
            "doi": "10.5555/demo.1",
        },
    )
    requests.submit_request(
        node.ledger,
        rita,
        _request(cohort, "Sex differences in heart failure", "Compare outcomes by sex."),
    )


def _alliance(node: Node, partner: Node, cohort: str) -> None:
    """Benefit rules both members signed, and a hosting cost, so that a contribution report
    has credit to show."""
    lee = _as(node, "lee")
    proposal = {
        "event_weights": {
            "dataset.published": "1",
            "grant.issued": "2",
            "output.preprint": "3",
            "output.publication": "5",
            "cost.recorded": "0.0001",
        },
        "method": "shapley",
        "notes": "Demonstration rules: publications weigh most; 10,000 EUR of cost weighs 1.",
    }
    version = benefit_rules.propose_rules(node.ledger, lee, proposal).body["version"]
    benefit_rules.sign_rules(node.ledger, node.key, _as(node, "ada"), version)
    document = benefit_rules.get_rules(node.engine, version)["document"]
    signature = benefit_rules.countersign_rules(partner.ledger, partner.key, OPERATOR, document)
    benefit_rules.add_rules_signature(
        node.ledger, lee, version, {"member": partner.origin, "signature": signature}
    )
    contributions.record_cost(
        node.ledger,
        _as(node, "sam"),
        {"amount": "12000.00", "currency": "EUR", "dataset": cohort,
         "description": "Secure enclave hosting for the heart failure cohort"},
    )  # fmt: skip


def _consortium(node: Node, partner: Node) -> None:
    """The hospital founds the consortium; version 2, signed by both, admits the institute."""
    ada = _as(node, "ada")
    membership.create(
        node.ledger, node.key, ada,
        {"consortium": "Demo Health Data Alliance", "url": "http://127.0.0.1:8000"},
    )  # fmt: skip
    founded = membership.exported(node.engine, 1)["document"]
    admitted = {
        **founded,
        "version": 2,
        "previous": membership_rules.digest(founded),
        "members": [
            *founded["members"],
            {"institution": partner.name, "origin": partner.origin,
             "url": "http://127.0.0.1:8001", "vkey": partner.vkey},
        ],
    }  # fmt: skip
    membership.propose(node.ledger, ada, admitted)
    membership.sign(node.ledger, node.key, ada, admitted)
    theirs = membership.sign(partner.ledger, partner.key, OPERATOR, admitted)
    membership.add_signature(node.ledger, ada, 2, partner.origin, theirs)
    chain = [membership.exported(node.engine, v) for v in (1, 2)]
    membership.accept(partner.ledger, OPERATOR, chain)


def create_demo(data_dir: Path) -> Node:
    """Create the demo node in ``data_dir`` (and its partner in ``data_dir/partner``)."""
    node = init_node(data_dir, "Demo University Hospital", origin="demo.consortium.example/uh")
    partner = init_node(
        data_dir / "partner", "Demo Genomics Institute", origin="demo.consortium.example/gi"
    )
    for username, (name, roles) in PEOPLE.items():
        add_person(
            node.ledger, OPERATOR, {"username": username, "display_name": name, "roles": roles}
        )
    add_person(
        partner.ledger,
        OPERATOR,
        {"username": "pat", "display_name": "Pat Partner", "roles": ["steward"]},
    )
    members.add_member(
        node.ledger, _as(node, "ada"), {"institution": partner.name, "vkey": partner.vkey}
    )
    members.add_member(partner.ledger, OPERATOR, {"institution": node.name, "vkey": node.vkey})
    _consortium(node, partner)

    sam, dora = _as(node, "sam"), _as(node, "dora")
    cohort = datasets.register_dataset(
        node.ledger, sam, _metadata("Heart failure cohort 2016–2025", "public-metadata", ["HMB"])
    ).body["dataset"]
    settings.change_settings(node.ledger, _as(node, "ada"), {"director_approval_required": True})
    rare = datasets.register_dataset(
        node.ledger, sam, _metadata("Rare cardiomyopathy registry", "restricted", ["HMB"])
    ).body["dataset"]
    datasets.approve_dataset(node.ledger, dora, rare, {"version": 1})
    today = datetime.now(UTC).date()
    contract = lifecycle.draft_contract(
        node.ledger,
        sam,
        {
            "template": "non-commercial-health-research",
            "title": "Heart failure cohort for the institute's outcomes study",
            "parties": [
                {"origin": node.origin, "role": "provider"},
                {"origin": partner.origin, "role": "recipient"},
            ],
            "datasets": [{"id": cohort}],
            "terms": {
                "term": {
                    "start": today.isoformat(),
                    "end": (today + timedelta(days=730)).isoformat(),
                },
                "obligations": {"acknowledgement": "Data: Demo University Hospital"},
                "incidents": {"contact": "dpo@uh.demo.consortium.example"},
            },
        },
    ).body["contract"]
    lifecycle.propose_contract(node.ledger, sam, contract)
    lifecycle.sign_contract(node.ledger, node.key, sam, contract)
    document = lifecycle.get_contract(node.engine, contract)["document"]
    signature = lifecycle.countersign(partner.ledger, partner.key, _as(partner, "pat"), document)
    lifecycle.add_signature(
        node.ledger, sam, contract, {"party": partner.origin, "signature": signature}
    )
    record_attestation(
        node.ledger,
        sam,
        {
            "statement": "Dataset fingerprints in this ledger were computed locally; "
            "no data left the hospital.",
            "subject": f"dataset:{cohort}",
        },
    )
    _access(node, cohort)
    _alliance(node, partner, cohort)
    node.ledger.checkpoint()
    partner.ledger.checkpoint()
    partner.close()

    fd = os.open(data_dir / TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        for username in PEOPLE:
            secret, _ = create_token(node.engine, username, timedelta(days=30))
            fh.write(f"{username}={secret}\n")
    return node
