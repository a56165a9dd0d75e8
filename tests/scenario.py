"""A realistic registry scenario shared by tests: two institutions, people in every role,
datasets through their life, a contract signed by both parties and amended, benefit rules."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from consortium import notifications
from consortium.access import consent, grants, incidents, outputs, requests, termination
from consortium.alliance import compensation, contributions
from consortium.auth.people import add_person, change_roles, deactivate_person
from consortium.auth.roles import NODE, OPERATOR, Actor
from consortium.contracts import benefit_rules as rules
from consortium.contracts import lifecycle
from consortium.contracts.signing import sign_document
from consortium.federation import document as membership_rules
from consortium.federation import membership
from consortium.node import Node, init_node
from consortium.registry import datasets, members, settings

METADATA: dict[str, Any] = {
    "title": "Type 2 diabetes cohort 2015–2024",
    "description": "Adults treated for type 2 diabetes at St Example, with HbA1c series.",
    "keywords": ["diabetes", "HbA1c"],
    "creators": [{"name": "Dr Wei Zhang", "affiliation": "St Example Hospital"}],
    "contributors": [
        {"name": "Dr Wei Zhang", "role": "collection", "weight": "2"},
        {"name": "Ann Curator", "role": "curation", "weight": "1"},
    ],
    "format": "text/csv",
    "conforms_to": "OMOP CDM 5.4",
    "record_count": 12000,
    "temporal_coverage": {"start": "2015-01-01", "end": "2024-12-31"},
    "location": "Research data warehouse, secure enclave B",
    "sensitivity": "public-metadata",
    "consent": {"legal_basis": "consent", "secondary_use_consent": True},
    "deidentification": {"method": "pseudonymised", "description": "keyed hash of MRN"},
    "duo": {"permissions": ["HMB"], "modifiers": [{"code": "IRB"}, {"code": "PUB"}]},
}


def metadata(**changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(METADATA)
    value.update(changes)
    return value


def actor(node: Node, username: str) -> Actor:
    from consortium.auth.people import effective_actor

    with node.engine.connect() as conn:
        who = effective_actor(conn, username, None)
    assert who is not None
    return who


def staff(node: Node) -> None:
    for username, roles in {
        "ada": ["admin"],
        "sam": ["steward"],
        "sue": ["steward", "researcher"],
        "rita": ["researcher"],
        "dora": ["director"],
        "lee": ["lead"],
    }.items():
        add_person(
            node.ledger,
            OPERATOR,
            {"username": username, "display_name": username.title(), "roles": roles},
        )


def pair(tmp_path: Path, database_url: str | None = None) -> tuple[Node, Node]:
    """A hospital (on ``database_url``) and an institute that know each other's keys."""
    hospital = init_node(tmp_path / "hospital", "St Example Hospital", database_url=database_url)
    institute = init_node(tmp_path / "institute", "Northern Genomics Institute")
    members.add_member(
        hospital.ledger, OPERATOR, {"institution": institute.name, "vkey": institute.vkey}
    )
    members.add_member(
        institute.ledger, OPERATOR, {"institution": hospital.name, "vkey": hospital.vkey}
    )
    staff(hospital)
    staff(institute)
    return hospital, institute


def contract_values(hospital: Node, institute: Node, dataset_id: str) -> dict[str, Any]:
    return {
        "template": "non-commercial-health-research",
        "title": "Diabetes cohort for the institute's HbA1c study",
        "parties": [
            {"origin": hospital.origin, "role": "provider"},
            {"origin": institute.origin, "role": "recipient"},
        ],
        "datasets": [{"id": dataset_id}],
        "terms": {
            "term": {"start": "2026-01-01", "end": "2027-12-31"},
            "obligations": {"acknowledgement": "Data: St Example Hospital"},
            "incidents": {"contact": "dpo@st-example.example"},
        },
    }


def proposed(
    hospital: Node, institute: Node, dataset_id: str, values: dict[str, Any] | None = None
) -> str:
    """A contract over ``dataset_id`` (from ``values`` if given) drafted and proposed by the
    hospital's steward."""
    sam = actor(hospital, "sam")
    values = values or contract_values(hospital, institute, dataset_id)
    contract_id = lifecycle.draft_contract(hospital.ledger, sam, values).body["contract"]
    lifecycle.propose_contract(hospital.ledger, sam, contract_id)
    return contract_id


def active(
    hospital: Node, institute: Node, dataset_id: str, values: dict[str, Any] | None = None
) -> str:
    """A contract signed by both parties."""
    contract_id = proposed(hospital, institute, dataset_id, values)
    lifecycle.sign_contract(hospital.ledger, hospital.key, actor(hospital, "sam"), contract_id)
    countersigned(hospital, institute, contract_id)
    return contract_id


def accepted_rules(hospital: Node, institute: Node, proposal: dict[str, Any]) -> int:
    """Benefit rules proposed by the hospital's lead and signed by both members."""
    lee = actor(hospital, "lee")
    version = rules.propose_rules(hospital.ledger, lee, proposal).body["version"]
    rules.sign_rules(hospital.ledger, hospital.key, actor(hospital, "ada"), version)
    document = rules.get_rules(hospital.engine, version)["document"]
    signature = sign_document(institute.key, document)
    rules.add_rules_signature(
        hospital.ledger, lee, version, {"member": institute.origin, "signature": signature}
    )
    return version


CREDIT_WEIGHTS = {
    "dataset.published": "1",
    "grant.issued": "2",
    "output.publication": "5",
    "cost.recorded": "0.01",
}
CreditWorld = tuple[Node, Node, dict[str, str]]

SPLIT = [
    {"payee": "institution", "name": "St Example Hospital", "percent": "70"},
    {"payee": "contributor", "name": "Diabetes nursing team", "percent": "20"},
    {"payee": "fund", "name": "Patient fund", "percent": "10"},
]


def credit_world(tmp_path: Path, database_url: str | None) -> CreditWorld:
    """The hospital publishes a cohort and a dataset derived from it and from one of the
    institute's; the cohort is granted under a contract with a three-way benefit split and a
    publication comes of it; hosting cost 100 EUR."""
    hospital, institute = pair(tmp_path, database_url)
    sam, rita = actor(hospital, "sam"), actor(hospital, "rita")
    cohort = datasets.register_dataset(hospital.ledger, sam, metadata()).body["dataset"]
    derived = metadata(
        title="HbA1c extract",
        sensitivity="restricted",
        derived_from=[
            {"dataset": cohort, "weight": "3"},
            {"dataset": "ds-remote0001", "publisher": institute.origin, "weight": "1"},
        ],
    )
    extract = datasets.register_dataset(hospital.ledger, sam, derived).body["dataset"]
    values = contract_values(hospital, institute, cohort)
    values["terms"]["benefit_split"] = SPLIT
    active(hospital, institute, cohort, values)
    asked = requests.submit_request(hospital.ledger, rita, access_request(cohort))
    _, issued = requests.approve_request(
        hospital.ledger, hospital.key, sam, asked.body["request"], {}
    )
    publication = {"kind": "publication", "title": "HbA1c after surgery", "doi": "10.1000/j.1"}
    outputs.report_output(hospital.ledger, rita, issued.body["grant"], publication)
    contributions.record_cost(
        hospital.ledger, sam, {"amount": "100", "currency": "EUR", "description": "Hosting"}
    )
    return hospital, institute, {"cohort": cohort, "extract": extract, "remote": "ds-remote0001"}


def access_request(dataset_id: str, **changes: Any) -> dict[str, Any]:
    """A request that the scenario's contracts allow."""
    value = {
        "datasets": [{"id": dataset_id}],
        "project_title": "HbA1c trajectories after bariatric surgery",
        "purposes": [{"code": "HMB"}],
        "purpose_text": "Describe HbA1c change over five years.",
        "investigator": "Dr Rita Rossi",
        "institution": "Northern Genomics Institute",
        "ethics_reference": "NGI-REC-2026-114",
        "duration_months": 12,
        "commercial": False,
    }
    value.update(changes)
    return value


def countersigned(hospital: Node, institute: Node, contract_id: str) -> None:
    """The institute signs on its node; the hospital records the signature."""
    document = lifecycle.get_contract(hospital.engine, contract_id)["document"]
    signature = lifecycle.countersign(
        institute.ledger, institute.key, actor(institute, "sam"), document
    )
    lifecycle.add_signature(
        hospital.ledger,
        actor(hospital, "sam"),
        contract_id,
        {"party": institute.origin, "signature": signature},
    )


def run(hospital: Node, institute: Node) -> dict[str, str]:
    """Everything a busy month at the hospital puts on its ledger; returns the ids made."""
    sam, sue, dora = (actor(hospital, u) for u in ("sam", "sue", "dora"))
    ada, lee = actor(hospital, "ada"), actor(hospital, "lee")
    ledger = hospital.ledger

    open_ds = datasets.register_dataset(ledger, sam, metadata()).body["dataset"]
    settings.change_settings(ledger, ada, {"director_approval_required": True})
    restricted = datasets.register_dataset(
        ledger, sam, metadata(title="Rare disease registry", sensitivity="restricted")
    ).body["dataset"]
    datasets.approve_dataset(ledger, dora, restricted, {"version": 1})
    datasets.revise_dataset(ledger, sue, open_ds, metadata(record_count=12500))
    datasets.approve_dataset(ledger, dora, open_ds, {"version": 2})
    datasets.attach_profile(
        ledger,
        sam,
        restricted,
        {"profile": {"sha256": "ab" * 32, "records": 310, "bytes": 52_000}},
    )
    derived = datasets.register_dataset(
        ledger,
        sue,
        metadata(
            title="HbA1c trajectories",
            derived_from=[{"dataset": open_ds, "version": 2, "weight": "1"}],
        ),
    ).body["dataset"]
    datasets.approve_dataset(ledger, dora, derived, {"version": 1})
    withdrawn = datasets.register_dataset(ledger, sam, metadata(title="Old extract")).body[
        "dataset"
    ]
    datasets.withdraw_dataset(ledger, sam, withdrawn, {"reason": "superseded by the cohort"})

    contract_id = lifecycle.draft_contract(
        ledger, sam, contract_values(hospital, institute, open_ds)
    ).body["contract"]
    lifecycle.revise_draft(ledger, sam, contract_id, {"title": "Diabetes cohort, HbA1c study"})
    lifecycle.propose_contract(ledger, sam, contract_id)
    lifecycle.sign_contract(ledger, hospital.key, sam, contract_id)
    countersigned(hospital, institute, contract_id)
    lifecycle.amend_contract(
        ledger, sam, contract_id, {"terms": {"term": {"start": "2026-01-01", "end": "2028-06-30"}}}
    )
    lifecycle.propose_contract(ledger, sam, contract_id)
    lifecycle.sign_contract(ledger, hospital.key, sam, contract_id)
    countersigned(hospital, institute, contract_id)

    short = lifecycle.draft_contract(
        ledger, sam, contract_values(hospital, institute, open_ds)
    ).body["contract"]
    lifecycle.propose_contract(ledger, sam, short)
    lifecycle.sign_contract(ledger, hospital.key, sam, short)
    countersigned(hospital, institute, short)
    lifecycle.expire_contracts(ledger, NODE, today=date(2028, 1, 1))

    ended = lifecycle.draft_contract(
        ledger, sam, contract_values(hospital, institute, derived)
    ).body["contract"]
    lifecycle.propose_contract(ledger, sam, ended)
    termination.terminate_contract(ledger, sam, ended, {"reason": "study cancelled"})

    accepted_rules(
        hospital,
        institute,
        {"event_weights": {"dataset.published": "1", "grant.issued": "2"}, "method": "shapley"},
    )

    # The institute proposes a contract over its own data; the hospital countersigns it, and
    # accepts benefit rules the institute's lead proposed.
    theirs = actor(institute, "sam")
    their_ds = datasets.register_dataset(
        institute.ledger, theirs, metadata(title="Genotyped diabetes sub-cohort")
    ).body["dataset"]
    their_values = contract_values(institute, hospital, their_ds)
    their_values["parties"][1]["role"] = "recipient"
    inbound = lifecycle.draft_contract(institute.ledger, theirs, their_values).body["contract"]
    lifecycle.propose_contract(institute.ledger, theirs, inbound)
    lifecycle.countersign(
        ledger, hospital.key, sam, lifecycle.get_contract(institute.engine, inbound)["document"]
    )
    rules.propose_rules(
        institute.ledger,
        actor(institute, "lee"),
        {"event_weights": {"output.publication": "5"}, "method": "proportional"},
    )
    rules.countersign_rules(
        ledger, hospital.key, ada, rules.get_rules(institute.engine, 1)["document"]
    )

    # Researchers ask; stewards return, approve and revoke.
    rita = actor(hospital, "rita")
    asked = requests.submit_request(ledger, rita, access_request(open_ds)).body["request"]
    requests.return_request(ledger, sam, asked, {"reason": "add the ethics approval letter"})
    requests.resubmit_request(ledger, rita, asked, access_request(open_ds))
    grant = requests.approve_request(ledger, hospital.key, sam, asked, {})[-1].body["grant"]
    publication = {"kind": "publication", "title": "HbA1c after surgery", "doi": "10.1000/j.1"}
    outputs.report_output(ledger, rita, grant, publication)
    incident = incidents.report_incident(
        ledger, sam, {"severity": "high", "kind": "misuse", "description": "Shared by e-mail.",
                      "grants": [grant]},
    ).body["incident"]  # fmt: skip
    incidents.suspend_grants(ledger, sam, incident)
    incidents.close_incident(ledger, sam, incident, {"resolution": "Copies deleted; trained."})
    grants.revoke_grant(ledger, sam, grant, {"reason": "the study moved elsewhere"})
    grants.attest_deletion(ledger, rita, grant, {"statement": "All copies deleted."})
    dropped = requests.submit_request(ledger, rita, access_request(open_ds)).body["request"]
    notifications.review_deadlines(ledger, NODE, today=date(2099, 1, 5))  # overdue: escalated
    requests.withdraw_request(ledger, rita, dropped, {"reason": "duplicate"})
    consent.withdraw_consent(ledger, sam, withdrawn, {"reason": "participants withdrew"})

    # Contributions besides data.
    contributions.record_cost(
        ledger, sam, {"amount": "18000.00", "currency": "EUR", "dataset": open_ds,
                      "description": "Secure enclave hosting"},
    )  # fmt: skip
    contributions.declare_contribution(
        ledger, ada, {"kind": "curation", "units": "12", "contributor": "Ann Curator",
                      "description": "Cleaned the visit records"},
    )  # fmt: skip

    # Two days on, the alliance lead pays out the days just past.
    ledger.clock = lambda: datetime.now(UTC) + timedelta(days=2)
    today = ledger.clock().date()
    compensation.run_compensation(
        ledger, lee, {"start": str(today - timedelta(days=3)), "end": str(today),
                      "pool": "1000.00", "currency": "EUR", "minimum": "50"},
    )  # fmt: skip

    # The hospital founds the consortium and admits the institute.
    membership.create(
        ledger, hospital.key, ada, {"consortium": "Example Alliance", "url": "https://h.example"}
    )
    with hospital.engine.connect() as conn:
        founded = membership.current(conn)
    assert founded is not None
    admitted = {
        **founded,
        "version": 2,
        "previous": membership_rules.digest(founded),
        "members": [*founded["members"], {"institution": institute.name, "origin": institute.origin,
                                          "url": "https://i.example", "vkey": institute.vkey}],
    }  # fmt: skip
    membership.propose(ledger, ada, admitted)
    membership.sign(ledger, hospital.key, ada, admitted)
    theirs = membership.sign(institute.ledger, institute.key, OPERATOR, admitted)
    membership.add_signature(ledger, ada, 2, institute.origin, theirs)

    change_roles(ledger, ada, "sue", {"roles": ["researcher"]})
    deactivate_person(ledger, ada, "lee", {"reason": "left the alliance office"})
    return {
        "open": open_ds,
        "restricted": restricted,
        "derived": derived,
        "withdrawn": withdrawn,
        "contract": contract_id,
        "expired": short,
        "terminated": ended,
    }
