"""Sharing contracts and benefit rules: every transition, the legal and the illegal ones."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import scenario
from conftest import refused
from marshmallow import ValidationError

from consortium.access import termination
from consortium.api import create_app
from consortium.auth.roles import NODE
from consortium.auth.tokens import create_token
from consortium.contracts import benefit_rules as rules
from consortium.contracts import lifecycle
from consortium.contracts.signing import list_countersigned, sign_document
from consortium.crypto.canonical import canonical_bytes
from consortium.crypto.keys import verify_signature
from consortium.errors import Conflict, Forbidden, Invalid
from consortium.jobs import expiry_job
from consortium.node import Node
from consortium.registry import datasets


@pytest.fixture
def nodes(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Node, Node, str]]:
    hospital, institute = scenario.pair(tmp_path, database_url)
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    yield hospital, institute, ds
    hospital.close()
    institute.close()


def test_draft_propose_sign_activate(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes
    sam = scenario.actor(hospital, "sam")
    event = lifecycle.draft_contract(
        hospital.ledger, sam, scenario.contract_values(hospital, institute, ds)
    )
    cid = event.body["contract"]
    document = event.body["document"]
    # The node filled in what it knows: ids, keys, dataset versions, template defaults.
    assert document["id"] == cid and document["version"] == 1 and document["amends"] is None
    parties = {p["origin"]: p for p in document["parties"]}
    assert parties[institute.origin]["institution"] == "Northern Genomics Institute"
    assert parties[hospital.origin]["public_key"] == base64.b64encode(hospital.public_key).decode()
    (dataset,) = document["datasets"]
    assert (dataset["id"], dataset["version"], dataset["provider"]) == (ds, 1, hospital.origin)
    assert dataset["title"] == scenario.METADATA["title"]  # and its tier and DUO terms
    assert document["term"]["max_grant_months"] == 12  # from the template
    assert {m["code"] for m in document["modifiers"]} >= {"DUO:0000046", "DUO:0000021"}

    view = lifecycle.get_contract(hospital.engine, cid)
    assert view["status"] == "draft"
    sign = lambda: lifecycle.sign_contract(hospital.ledger, hospital.key, sam, cid)  # noqa: E731
    refused(hospital, sign, Conflict)  # a draft is not signed

    lifecycle.propose_contract(hospital.ledger, sam, cid)
    revise = lambda: lifecycle.revise_draft(hospital.ledger, sam, cid, {"title": "x"})  # noqa: E731
    refused(hospital, revise, Conflict)  # frozen once proposed
    refused(hospital, lambda: lifecycle.propose_contract(hospital.ledger, sam, cid), Conflict)

    sign()
    refused(hospital, sign, Conflict)  # not twice
    view = lifecycle.get_contract(hospital.engine, cid)
    assert view["status"] == "proposed" and view["awaiting"] == [institute.origin]
    # Our signature is Ed25519 over the RFC 8785 bytes of the document, by the node key.
    ours = base64.b64decode(view["signatures"][0]["signature"])
    assert verify_signature(hospital.public_key, canonical_bytes(view["document"]), ours)

    scenario.countersigned(hospital, institute, cid)
    view = lifecycle.get_contract(hospital.engine, cid)
    assert view["status"] == "active" and view["awaiting"] == []
    # The institute's own ledger records that it signed, and what.
    last = institute.ledger.entries(institute.ledger.size() - 1, institute.ledger.size())[0]
    assert b'"kind":"contract.countersigned"' in last and view["digest"].encode() in last


def test_signatures_are_checked(nodes: tuple[Node, Node, str], tmp_path: Path) -> None:
    hospital, institute, ds = nodes
    sam = scenario.actor(hospital, "sam")
    cid = scenario.proposed(hospital, institute, ds)
    document = lifecycle.get_contract(hospital.engine, cid)["document"]
    forged = sign_document(hospital.key, document)  # right document, wrong key
    exc = refused(
        hospital,
        lambda: lifecycle.add_signature(
            hospital.ledger, sam, cid, {"party": institute.origin, "signature": forged}
        ),
        Invalid,
    )
    assert "signature" in exc.errors
    other = sign_document(institute.key, {**document, "title": "something else"})
    refused(
        hospital,
        lambda: lifecycle.add_signature(
            hospital.ledger, sam, cid, {"party": institute.origin, "signature": other}
        ),
        Invalid,
    )
    refused(
        hospital,
        lambda: lifecycle.add_signature(
            hospital.ledger, sam, cid, {"party": "nobody.example/x", "signature": forged}
        ),
        Invalid,
    )
    # A node that is not a party will not countersign.
    from consortium.node import init_node

    stranger = init_node(tmp_path / "stranger", "Stranger Lab")
    scenario.staff(stranger)
    with pytest.raises(Invalid):
        lifecycle.countersign(
            stranger.ledger, stranger.key, scenario.actor(stranger, "sam"), document
        )
    stranger.close()


def test_bad_drafts_arerefused(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes
    sam = scenario.actor(hospital, "sam")
    values = scenario.contract_values(hospital, institute, ds)

    def draft(**changes: Any) -> Exception:
        payload = {**values, **changes}
        return refused(
            hospital, lambda: lifecycle.draft_contract(hospital.ledger, sam, payload), Invalid
        )

    assert "template" in draft(template="no-such-template").errors
    missing = {k: v for k, v in values.items() if k != "datasets"}
    exc = refused(
        hospital, lambda: lifecycle.draft_contract(hospital.ledger, sam, missing), Invalid
    )
    assert "datasets" in exc.errors
    assert (
        "parties.1.origin"
        in draft(
            parties=[values["parties"][0], {"origin": "unknown.example/x", "role": "recipient"}]
        ).errors
    )
    assert "datasets.0.id" in draft(datasets=[{"id": "ds-missing"}]).errors
    split = [
        {"payee": "institution", "name": "St Example", "percent": "60"},
        {"payee": "fund", "name": "Patient benefit fund", "percent": "39.99"},
    ]
    assert "benefit_split" in draft(terms={**values["terms"], "benefit_split": split}).errors
    late = {**values["terms"], "term": {"start": "2027-01-01", "end": "2026-01-01"}}
    assert any(k.startswith("term") for k in draft(terms=late).errors)
    researcher = scenario.actor(institute, "dora")
    with pytest.raises(Forbidden):
        lifecycle.draft_contract(institute.ledger, researcher, values)


def test_amendment_supersedes_only_when_signed(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes
    sam = scenario.actor(hospital, "sam")
    cid = lifecycle.draft_contract(
        hospital.ledger, sam, scenario.contract_values(hospital, institute, ds)
    ).body["contract"]
    amend = lambda: lifecycle.amend_contract(  # noqa: E731
        hospital.ledger, sam, cid, {"terms": {"term": {"start": "2026-01-01", "end": "2029-12-31"}}}
    )
    refused(hospital, amend, Conflict)  # only active contracts amend
    lifecycle.propose_contract(hospital.ledger, sam, cid)
    lifecycle.sign_contract(hospital.ledger, hospital.key, sam, cid)
    scenario.countersigned(hospital, institute, cid)

    event = amend()
    assert event.body["document"]["amends"] == {"id": cid, "version": 1}
    assert event.body["document"]["term"]["end"] == "2029-12-31"
    assert event.body["document"]["term"]["max_grant_months"] == 12  # merged, not replaced
    assert lifecycle.get_contract(hospital.engine, cid, 1)["status"] == "active"
    lifecycle.propose_contract(hospital.ledger, sam, cid)
    lifecycle.sign_contract(hospital.ledger, hospital.key, sam, cid)
    assert lifecycle.get_contract(hospital.engine, cid, 1)["status"] == "active"
    scenario.countersigned(hospital, institute, cid)
    assert lifecycle.get_contract(hospital.engine, cid, 1)["status"] == "superseded"
    assert lifecycle.get_contract(hospital.engine, cid)["status"] == "active"
    assert lifecycle.get_contract(hospital.engine, cid)["version"] == 2


def test_expiry_and_termination(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes
    sam = scenario.actor(hospital, "sam")

    def active() -> str:
        cid = lifecycle.draft_contract(
            hospital.ledger, sam, scenario.contract_values(hospital, institute, ds)
        ).body["contract"]
        lifecycle.propose_contract(hospital.ledger, sam, cid)
        lifecycle.sign_contract(hospital.ledger, hospital.key, sam, cid)
        scenario.countersigned(hospital, institute, cid)
        return cid

    cid = active()
    assert lifecycle.expire_contracts(hospital.ledger, NODE, date(2027, 12, 31)) == []
    done = lifecycle.expire_contracts(hospital.ledger, NODE, date(2028, 1, 1))
    assert [e.body["contract"] for e in done] == [cid] and done[0].actor == "node"
    assert lifecycle.get_contract(hospital.engine, cid)["status"] == "expired"
    assert lifecycle.expire_contracts(hospital.ledger, NODE, date(2028, 1, 2)) == []
    terminate = lambda: termination.terminate_contract(  # noqa: E731
        hospital.ledger, sam, cid, {"reason": "breach"}
    )
    assert "nothing to terminate" in str(refused(hospital, terminate, Conflict))

    other = active()
    termination.terminate_contract(hospital.ledger, sam, other, {"reason": "study cancelled"})
    view = lifecycle.get_contract(hospital.engine, other)
    assert (view["status"], view["end_reason"]) == ("terminated", "study cancelled")


def test_expiry_job_keeps_the_last_day(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes
    sam = scenario.actor(hospital, "sam")
    values = scenario.contract_values(hospital, institute, ds)
    today = datetime.now(UTC).date().isoformat()
    values["terms"]["term"] = {"start": "2020-01-01", "end": today}
    cid = lifecycle.draft_contract(hospital.ledger, sam, values).body["contract"]
    lifecycle.propose_contract(hospital.ledger, sam, cid)
    lifecycle.sign_contract(hospital.ledger, hospital.key, sam, cid)
    scenario.countersigned(hospital, institute, cid)
    expiry_job(hospital)  # the scheduled job, with the real date: the last day still counts
    assert lifecycle.get_contract(hospital.engine, cid)["status"] == "active"
    assert [
        e.body["contract"]
        for e in lifecycle.expire_contracts(
            hospital.ledger, NODE, datetime.now(UTC).date() + timedelta(days=1)
        )
    ] == [cid]


def test_a_contract_past_its_term_cannot_be_agreed(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes
    sam = scenario.actor(hospital, "sam")
    values = scenario.contract_values(hospital, institute, ds)
    values["terms"]["term"] = {"start": "2020-01-01", "end": "2021-12-31"}
    cid = lifecycle.draft_contract(hospital.ledger, sam, values).body["contract"]
    exc = refused(hospital, lambda: lifecycle.propose_contract(hospital.ledger, sam, cid), Conflict)
    assert "ended on 2021-12-31" in str(exc)


def test_terminating_a_pending_amendment_keeps_the_contract(
    nodes: tuple[Node, Node, str],
) -> None:
    hospital, institute, ds = nodes
    sam = scenario.actor(hospital, "sam")
    cid = scenario.active(hospital, institute, ds)
    later = {"terms": {"term": {"start": "2026-01-01", "end": "2029-12-31"}}}
    lifecycle.amend_contract(hospital.ledger, sam, cid, later)
    again = lambda: lifecycle.amend_contract(hospital.ledger, sam, cid, later)  # noqa: E731
    assert "pending amendment" in str(refused(hospital, again, Conflict))

    termination.terminate_contract(
        hospital.ledger, sam, cid, {"reason": "not needed", "version": 2}
    )
    assert lifecycle.get_contract(hospital.engine, cid, 2)["status"] == "terminated"
    assert lifecycle.get_contract(hospital.engine, cid, 1)["status"] == "active"
    lifecycle.amend_contract(hospital.ledger, sam, cid, later)  # a fresh amendment, version 3
    event = termination.terminate_contract(
        hospital.ledger, sam, cid, {"reason": "study over"}
    ).contract
    assert event.body["versions"] == [1, 3]
    statuses = [lifecycle.get_contract(hospital.engine, cid, v)["status"] for v in (1, 2, 3)]
    assert statuses == ["terminated", "terminated", "terminated"]
    nothing = lambda: termination.terminate_contract(  # noqa: E731
        hospital.ledger, sam, cid, {"reason": "again"}
    )
    refused(hospital, nothing, Conflict)


def test_a_node_countersigns_one_document_per_version(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes
    cid = scenario.proposed(hospital, institute, ds)
    document = lifecycle.get_contract(hospital.engine, cid)["document"]
    theirs = scenario.actor(institute, "sam")
    lifecycle.countersign(institute.ledger, institute.key, theirs, document)
    for doc in (document, {**document, "title": "A different text, same id and version"}):
        refused(
            institute,
            lambda d=doc: lifecycle.countersign(institute.ledger, institute.key, theirs, d),
            Conflict,
        )
    signed = list_countersigned(institute.engine, "contract")
    assert [(c["ref"], c["version"], c["title"]) for c in signed] == [(cid, 1, document["title"])]


def test_a_contract_cannot_allow_more_than_its_dataset(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes  # the dataset allows HMB, and requires IRB and PUB
    sam = scenario.actor(hospital, "sam")
    values = scenario.contract_values(hospital, institute, ds)
    values["template"] = "open-research-attribution"  # GRU, no conditions
    values["terms"]["term"] = {"start": "2026-01-01", "end": "2027-12-31"}
    exc = refused(hospital, lambda: lifecycle.draft_contract(hospital.ledger, sam, values), Invalid)
    assert "GRU is not covered" in exc.errors["purposes"][0]
    assert any("requires IRB" in m for m in exc.errors["modifiers"])
    values["terms"]["purposes"] = [{"code": "HMB"}]
    values["terms"]["modifiers"] = [{"code": "IRB"}, {"code": "PUB"}]
    assert lifecycle.draft_contract(hospital.ledger, sam, values).kind == "contract.drafted"


def test_benefit_rules_in_force_once_every_member_signed(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, _ = nodes
    lee, ada = scenario.actor(hospital, "lee"), scenario.actor(hospital, "ada")
    proposal = {
        "event_weights": {"dataset.published": "1", "grant.issued": "2"},
        "method": "shapley",
    }
    refused(hospital, lambda: rules.propose_rules(hospital.ledger, ada, proposal), Forbidden)
    bad = {**proposal, "event_weights": {"dataset.published": "1.5.0"}}
    refused(hospital, lambda: rules.propose_rules(hospital.ledger, lee, bad), Exception)
    for keep in ("1.5", "-0.1", "half"):
        with pytest.raises(ValidationError) as exc:
            rules.propose_rules(hospital.ledger, lee, {**proposal, "derived_keep": keep})
        assert exc.value.messages == {"derived_keep": ["a decimal number from 0 to 1 such as 0.5"]}
    event = rules.propose_rules(hospital.ledger, lee, proposal)
    document = event.body["document"]
    assert document["derived_keep"] == "0.5"  # the default is written down, not implied
    assert {m["origin"] for m in document["members"]} == {hospital.origin, institute.origin}
    assert rules.rules_in_force(hospital.engine) is None

    rules.sign_rules(hospital.ledger, hospital.key, ada, 1)
    refused(hospital, lambda: rules.sign_rules(hospital.ledger, hospital.key, ada, 1), Conflict)
    assert rules.rules_in_force(hospital.engine) is None
    # The institute accepts on its own node, and the signature is carried back.
    signature = rules.countersign_rules(
        institute.ledger, institute.key, scenario.actor(institute, "ada"), document
    )
    refused(
        hospital,
        lambda: rules.add_rules_signature(
            hospital.ledger,
            lee,
            1,
            {"member": institute.origin, "signature": signature[:-4] + "AAA="},
        ),
        Invalid,
    )
    rules.add_rules_signature(
        hospital.ledger, lee, 1, {"member": institute.origin, "signature": signature}
    )
    assert rules.rules_in_force(hospital.engine)["version"] == 1

    # A newer version is not in force until all sign it too.
    rules.propose_rules(hospital.ledger, lee, {**proposal, "method": "proportional"})
    assert rules.rules_in_force(hospital.engine)["version"] == 1
    rules.sign_rules(hospital.ledger, hospital.key, ada, 2)
    assert rules.rules_in_force(hospital.engine)["version"] == 1


def test_contract_api_round_trip(nodes: tuple[Node, Node, str]) -> None:
    hospital, institute, ds = nodes
    client = create_app(hospital).test_client()
    other = create_app(institute).test_client()
    auth = {"Authorization": f"Bearer {create_token(hospital.engine, 'sam')[0]}"}
    their = {"Authorization": f"Bearer {create_token(institute.engine, 'sam')[0]}"}
    templates = client.get("/api/v1/contract-templates").get_json()
    assert {t["name"] for t in templates} >= {
        "open-research-attribution",
        "non-commercial-health-research",
        "commercial-use-compensation",
    }
    r = client.post(
        "/api/v1/contracts", json=scenario.contract_values(hospital, institute, ds), headers=auth
    )
    assert r.status_code == 201, r.text
    cid = r.get_json()["id"]
    assert client.post(f"/api/v1/contracts/{cid}/sign", headers=auth).status_code == 409
    assert client.post(f"/api/v1/contracts/{cid}/propose", headers=auth).status_code == 200
    assert client.post(f"/api/v1/contracts/{cid}/sign", headers=auth).status_code == 200
    # Anyone reads the terms; the whole document, to sign, is for the parties (protocol §13).
    public = client.get(f"/api/v1/contracts/{cid}").get_json()["document"]
    assert "benefit_split" not in public and "incidents" not in public
    document = client.get(f"/api/v1/contracts/{cid}", headers=auth).get_json()["document"]
    signed = other.post("/api/v1/contracts/countersign", json={"document": document}, headers=their)
    assert signed.status_code == 200, signed.text
    assert signed.get_json()["signer"] == institute.origin
    r = client.post(
        f"/api/v1/contracts/{cid}/signatures",
        json={"party": institute.origin, "signature": signed.get_json()["signature"]},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    assert r.get_json()["status"] == "active"
    assert [c["id"] for c in client.get("/api/v1/contracts?status=active").get_json()] == [cid]
    missing = client.get("/api/v1/contracts/ctr-nothere")
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"


def test_a_contract_cannot_loosen_a_datasets_conditions(tmp_path: Path) -> None:
    hospital, institute = scenario.pair(tmp_path)
    sam = scenario.actor(hospital, "sam")
    modifiers = [
        {"code": "IRB"},
        {"code": "PUB"},
        {"code": "GS", "regions": ["EU"]},
        {"code": "TS", "months": 12},
    ]
    ds = datasets.register_dataset(
        hospital.ledger,
        sam,
        scenario.metadata(duo={"permissions": ["HMB"], "modifiers": modifiers}),
    ).body["dataset"]
    values = scenario.contract_values(hospital, institute, ds)
    values["terms"]["modifiers"] = [
        {"code": "NCU"},
        {"code": "PUB"},
        {"code": "IRB"},
        {"code": "GS", "regions": ["EU", "US"]},
        {"code": "TS", "months": 36},
    ]
    values["terms"]["term"]["max_grant_months"] = 12
    exc = refused(hospital, lambda: lifecycle.draft_contract(hospital.ledger, sam, values), Invalid)
    assert exc.errors["modifiers"] == [
        f"{ds} may be used only in EU; the contract also allows US",
        f"{ds} limits use to 12 months; the contract allows 36",
    ]
    values["terms"]["modifiers"][3:] = [
        {"code": "GS", "regions": ["EU"]},
        {"code": "TS", "months": 12},
    ]
    assert lifecycle.draft_contract(hospital.ledger, sam, values).kind == "contract.drafted"
    hospital.close()
    institute.close()
