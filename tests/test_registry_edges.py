"""Edge cases a review found: tiers that change between versions, documents that try to say
more than the node checked, and input that must be a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
import scenario
from conftest import refused

from consortium.access import termination
from consortium.api import create_app
from consortium.auth.tokens import create_token
from consortium.contracts import benefit_rules as rules
from consortium.contracts import lifecycle
from consortium.errors import Conflict, Invalid, NotFound
from consortium.node import Node
from consortium.registry import datasets, settings


def test_each_version_is_shown_by_its_own_tier(pair: tuple[Node, Node]) -> None:
    hospital, _ = pair
    sam = scenario.actor(hospital, "sam")
    secret = scenario.metadata(title="Secret cohort", sensitivity="highly-sensitive")
    ds = datasets.register_dataset(hospital.ledger, sam, secret).body["dataset"]
    datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata())
    assert datasets.get_dataset(hospital.engine, None, ds)["metadata"]["title"] != "Secret cohort"
    old = datasets.get_dataset(hospital.engine, None, ds, version=1)
    assert "metadata" not in old and old["version_sensitivity"] == "highly-sensitive"
    with pytest.raises(Exception, match="not shown to your roles"):
        datasets.sealed_metadata(hospital.engine, None, ds, 1)
    # A profile of the sensitive version is sealed, even though the dataset is now public.
    event = datasets.attach_profile(
        hospital.ledger,
        sam,
        ds,
        {"version": 1, "profile": {"sha256": "c" * 64, "records": 1, "bytes": 2}},
    )
    assert "profile" not in event.body and "profile_sealed" in event.body


def test_unapproved_versions_stay_internal(pair: tuple[Node, Node]) -> None:
    hospital, _ = pair
    sam, dora = scenario.actor(hospital, "sam"), scenario.actor(hospital, "dora")
    settings.change_settings(
        hospital.ledger, scenario.actor(hospital, "ada"), {"director_approval_required": True}
    )
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    datasets.approve_dataset(hospital.ledger, dora, ds, {"version": 1})
    datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata(title="Never approved"))
    datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata(title="Approved v3"))
    datasets.approve_dataset(hospital.ledger, dora, ds, {"version": 3})
    with pytest.raises(NotFound):
        datasets.get_dataset(hospital.engine, None, ds, version=2)
    assert datasets.get_dataset(hospital.engine, dora, ds, version=2)["metadata"]["title"] == (
        "Never approved"
    )


def test_terms_cannot_replace_parties_or_datasets(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    values = scenario.contract_values(hospital, institute, ds)
    impostor = {"origin": institute.origin, "role": "recipient", "public_key": "A" * 43 + "="}
    values["terms"]["parties"] = [impostor]
    exc = refused(
        hospital, lambda: lifecycle.draft_contract(hospital.ledger, sam, values), Exception
    )
    assert "parties" in str(getattr(exc, "messages", exc))


def test_countersigning_checks_our_own_datasets(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    ours = scenario.actor(institute, "sam")
    ds = datasets.register_dataset(institute.ledger, ours, scenario.metadata()).body["dataset"]
    # The hospital drafts over the institute's dataset, dropping the IRB and PUB it requires.
    sam = scenario.actor(hospital, "sam")
    values = scenario.contract_values(hospital, institute, ds)
    values["parties"][1]["role"] = "provider"
    values["datasets"] = [{"id": ds, "version": 1, "provider": institute.origin}]
    values["template"] = "open-research-attribution"
    cid = lifecycle.draft_contract(hospital.ledger, sam, values).body["contract"]
    document = lifecycle.get_contract(hospital.engine, cid)["document"]
    exc = refused(
        institute,
        lambda: lifecycle.countersign(institute.ledger, institute.key, ours, document),
        Invalid,
    )
    assert "purposes" in exc.errors and "modifiers" in exc.errors


def test_a_node_does_not_countersign_its_own_contract_ids(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    cid = scenario.proposed(hospital, institute, ds)
    document = lifecycle.get_contract(hospital.engine, cid)["document"]
    forged = {**document, "title": "Same id, other words"}
    refused(
        hospital,
        lambda: lifecycle.countersign(hospital.ledger, hospital.key, sam, forged),
        Conflict,
    )


def test_withdrawn_datasets_stop_pending_contracts(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    values = scenario.contract_values(hospital, institute, ds)
    cid = lifecycle.draft_contract(hospital.ledger, sam, values).body["contract"]
    datasets.withdraw_dataset(hospital.ledger, sam, ds, {"reason": "consent revoked"})
    exc = refused(hospital, lambda: lifecycle.propose_contract(hospital.ledger, sam, cid), Invalid)
    assert "withdrawn" in str(exc.errors)


def test_an_amendment_only_replaces_the_version_in_force(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    cid = scenario.active(hospital, institute, ds)
    later = {"terms": {"term": {"start": "2026-01-01", "end": "2029-12-31"}}}
    lifecycle.amend_contract(hospital.ledger, sam, cid, later)
    terminate_v1 = lambda: termination.terminate_contract(  # noqa: E731
        hospital.ledger, sam, cid, {"reason": "breach", "version": 1}
    )
    assert "terminate it first" in str(refused(hospital, terminate_v1, Conflict))


def test_benefit_rules_are_checked_before_countersigning(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    lee, ada = scenario.actor(institute, "lee"), scenario.actor(hospital, "ada")
    proposal = {"event_weights": {"grant.issued": "2"}, "method": "equal"}
    document = rules.propose_rules(institute.ledger, lee, proposal).body["document"]
    assert document["proposer"] == institute.origin
    for bad in (
        {**document, "x": 1.5},
        {**document, "event_weights": "whatever"},
        {**document, "version": 2**60},
        {k: v for k, v in document.items() if k != "proposer"},
    ):
        refused(
            hospital,
            lambda b=bad: rules.countersign_rules(hospital.ledger, hospital.key, ada, b),
            Invalid,
        )
    rules.countersign_rules(hospital.ledger, hospital.key, ada, document)
    # The hospital's own version 1 is a different document: keyed by proposer, both may exist.
    own = rules.propose_rules(hospital.ledger, scenario.actor(hospital, "lee"), proposal)
    rules.sign_rules(hospital.ledger, hospital.key, ada, own.body["version"])
    again = lambda: rules.countersign_rules(  # noqa: E731
        hospital.ledger, hospital.key, ada, {**document, "notes": "changed"}
    )
    refused(hospital, again, Conflict)


BAD_TEXT = ["\ud800", "a\x00b"]


@pytest.mark.parametrize("bad", BAD_TEXT, ids=["surrogate", "nul"])
def test_unstorable_text_is_a_422(pair: tuple[Node, Node], bad: str) -> None:
    hospital, institute = pair
    client = create_app(hospital).test_client()
    headers = {"Authorization": f"Bearer {create_token(hospital.engine, 'sam')[0]}"}
    admin = {"Authorization": f"Bearer {create_token(hospital.engine, 'ada')[0]}"}
    size = hospital.ledger.size()
    posts = [
        ("/api/v1/datasets", scenario.metadata(title=bad), headers),
        ("/api/v1/datasets", scenario.metadata(keywords=[bad]), headers),
        ("/api/v1/people", {"username": "bob", "display_name": bad, "roles": ["steward"]}, admin),
        ("/api/v1/members", {"institution": bad, "vkey": institute.vkey}, admin),
        ("/api/v1/attestations", {"statement": "ok", "details": {bad: "x"}}, headers),
    ]
    for path, payload, auth in posts:
        r = client.post(path, json=payload, headers=auth)
        assert r.status_code == 422, (path, r.text)
    ds = datasets.register_dataset(
        hospital.ledger, scenario.actor(hospital, "sam"), scenario.metadata()
    ).body["dataset"]
    values = scenario.contract_values(hospital, institute, ds)
    values["terms"]["liability"] = bad
    assert client.post("/api/v1/contracts", json=values, headers=headers).status_code == 422
    assert hospital.ledger.size() == size + 1  # only the good dataset


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/%00",
        "/api/v1/contracts/%00",
        "/api/v1/contracts/x?version=99999999999999999999",
        "/api/v1/benefit-rules/99999999999999999999",
        "/api/v1/datasets/x?version=99999999999999999999",
    ],
)
def test_odd_paths_are_4xx(pair: tuple[Node, Node], path: str) -> None:
    r = create_app(pair[0]).test_client().get(path)
    assert 400 <= r.status_code < 500, r.text
    assert r.content_type == "application/problem+json"


@pytest.mark.parametrize("sources", [[{"dataset": 1}], [{}], [None]])
def test_garbled_sources_are_a_422(pair: tuple[Node, Node], sources: list[Any]) -> None:
    hospital, _ = pair
    client = create_app(hospital).test_client()
    headers = {"Authorization": f"Bearer {create_token(hospital.engine, 'sam')[0]}"}
    r = client.post(
        "/api/v1/datasets", json=scenario.metadata(derived_from=sources), headers=headers
    )
    assert r.status_code == 422, r.text


def test_a_contributor_must_be_a_person_here(pair: tuple[Node, Node]) -> None:
    hospital, _ = pair
    client = create_app(hospital).test_client()
    headers = {"Authorization": f"Bearer {create_token(hospital.engine, 'sam')[0]}"}
    meta = scenario.metadata()
    meta["contributors"][1]["username"] = "ann.nobody"
    meta["derived_from"] = [{"dataset": "ds-missing", "weight": "1"}]
    size = hospital.ledger.size()
    r = client.post("/api/v1/datasets", json=meta, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json["detail"] == "unknown contributors; unusable source datasets", r.text
    errors = r.json["errors"]["json"]
    assert errors["contributors.1.username"] == ["no person 'ann.nobody' on this node"]
    assert "derived_from.0.dataset" in errors
    assert hospital.ledger.size() == size
    meta["contributors"][1]["username"] = "sue"
    del meta["derived_from"]
    assert client.post("/api/v1/datasets", json=meta, headers=headers).status_code == 201


def test_a_revision_cannot_close_a_derivation_cycle(pair: tuple[Node, Node]) -> None:
    hospital, _ = pair
    sam = scenario.actor(hospital, "sam")
    cohort = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    extract = datasets.register_dataset(
        hospital.ledger, sam,
        scenario.metadata(title="Extract", derived_from=[{"dataset": cohort, "weight": "1"}]),
    ).body["dataset"]  # fmt: skip
    panel = datasets.register_dataset(
        hospital.ledger, sam,
        scenario.metadata(title="Panel", derived_from=[{"dataset": extract, "weight": "1"}]),
    ).body["dataset"]  # fmt: skip
    looped = scenario.metadata(derived_from=[{"dataset": panel, "weight": "1"}])
    exc = refused(hospital, lambda: datasets.revise_dataset(hospital.ledger, sam, cohort, looped))
    assert isinstance(exc, Invalid) and exc.message == "unusable source datasets"
    assert exc.errors == {
        "derived_from": [
            "a dataset cannot be derived, however indirectly, from itself"
            f" (each derived from the next): {cohort} → {panel} → {extract} → {cohort}"
        ]
    }
