"""Access requests and grants: the compatibility check, every transition of the request and
grant state machines (legal and illegal), and grants verifiable offline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import scenario
from conftest import refused

from consortium.access import compatibility, grants, requests
from consortium.auth.people import add_person
from consortium.auth.roles import NODE, OPERATOR
from consortium.errors import Conflict, Forbidden, Invalid, NotFound
from consortium.node import Node
from consortium.projections import rebuild, snapshot
from consortium.registry import datasets


@pytest.fixture
def world(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Node, Node, str, str]]:
    hospital, institute = scenario.pair(tmp_path, database_url)
    add_person(
        hospital.ledger,
        OPERATOR,
        {"username": "ravi", "display_name": "Ravi", "roles": ["researcher"]},
    )
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    contract = scenario.active(hospital, institute, ds)
    yield hospital, institute, ds, contract
    hospital.close()
    institute.close()


def ask(ds: str, **changes: Any) -> dict[str, Any]:
    return scenario.access_request(ds, **changes)


def verdicts(result: dict[str, Any], ds: str) -> dict[str, str]:
    return {f["term"]: f["verdict"] for f in result["findings"][ds]}


# --- the check -----------------------------------------------------------------------------------


def test_the_check_explains_each_term(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    rita = scenario.actor(hospital, "rita")
    ok = requests.preview(hospital.engine, rita, ask(ds))
    assert ok["compatible"] is True
    found = {f["term"]: f for f in ok["findings"][ds]}
    assert found["HMB"]["reason"] == "HMB request on a HMB contract: allowed"
    assert found["IRB"]["verdict"] == "allowed"
    assert found["PUB"]["verdict"] == "obligation"
    payload = ask(ds, commercial=True, duration_months=24)
    del payload["ethics_reference"]
    bad = requests.preview(hospital.engine, rita, payload)
    assert bad["compatible"] is False
    found = {f["term"]: f for f in bad["findings"][ds]}
    assert found["NCU"]["reason"] == "commercial request, non-commercial use only (NCU): refused"
    assert found["IRB"]["reason"] == "IRB required: no ethics reference given"
    assert found["duration"]["verdict"] == "refused"
    assert (
        verdicts(requests.preview(hospital.engine, rita, ask(ds, purposes=[{"code": "POA"}])), ds)[
            "POA"
        ]
        == "refused"
    )


def _contract(purpose: str, modifiers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "purposes": [{"code": purpose}],
        "modifiers": modifiers or [],
        "term": {"start": "2026-01-01", "end": "2030-12-31", "max_grant_months": 24},
        "obligations": {"report_outputs_within_days": None, "delete_on_expiry": False},
        "manual_review_of_incompatible_requests": True,
    }


@pytest.mark.parametrize(
    ("granted", "asked", "verdict"),
    [
        ("DUO:0000042", "DUO:0000006", "allowed"),  # GRU covers HMB
        ("DUO:0000042", "DUO:0000007", "allowed"),  # GRU covers DS
        ("DUO:0000006", "DUO:0000007", "allowed"),  # HMB covers DS
        ("DUO:0000006", "DUO:0000042", "refused"),  # HMB does not cover GRU
        ("DUO:0000007", "DUO:0000006", "refused"),  # DS does not cover HMB
        ("DUO:0000006", "DUO:0000011", "refused"),  # HMB excludes ancestry (POA)
    ],
)
def test_the_duo_hierarchy(granted: str, asked: str, verdict: str) -> None:
    request = {
        **ask("ds"),
        "purposes": [{"code": asked, "disease": "MONDO:0005148"}],
    }
    meta = {"consent": {"legal_basis": "consent", "secondary_use_consent": True}}
    found = compatibility.assess(request, meta, _contract(granted), date(2026, 6, 1))
    shorthand = {"DUO:0000042": "GRU", "DUO:0000006": "HMB", "DUO:0000007": "DS",
                 "DUO:0000011": "POA"}[asked]  # fmt: skip
    assert {f.term: f.verdict for f in found}[shorthand] == verdict


@pytest.mark.parametrize(
    ("consent", "verdict", "words"),
    [
        ({"legal_basis": "legacy-without-consent", "secondary_use_consent": False}, "refused",
         "legal basis 'legacy, no secondary-use consent' does not cover research use"),
        ({"legal_basis": "consent", "secondary_use_consent": False}, "refused",
         "not separately to secondary use"),
        ({"legal_basis": "public-interest", "secondary_use_consent": False}, "allowed",
         "public interest"),
    ],
)  # fmt: skip
def test_the_legal_basis(consent: dict[str, Any], verdict: str, words: str) -> None:
    found = compatibility.assess(
        ask("ds"), {"consent": consent}, _contract("GRU"), date(2026, 1, 1)
    )
    basis = next(f for f in found if f.term == "legal basis")
    assert basis.verdict == verdict and words in basis.reason


def test_regions_and_time_limits() -> None:
    contract = _contract(
        "GRU", [{"code": "DUO:0000022", "regions": ["EU"]}, {"code": "DUO:0000025", "months": 6}]
    )
    meta = {"consent": {"legal_basis": "public-interest", "secondary_use_consent": False}}
    today = date(2026, 1, 1)
    found = {f.term: f for f in compatibility.assess(ask("ds"), meta, contract, today)}
    assert found["GS"].verdict == "refused" and "say where" in found["GS"].reason
    assert found["TS"].verdict == "refused"
    inside = compatibility.assess(ask("ds", region="DE", duration_months=6), meta, contract, today)
    assert compatibility.compatible(inside)
    outside = compatibility.assess(ask("ds", region="US", duration_months=6), meta, contract, today)
    assert {f.term: f.verdict for f in outside}["GS"] == "refused"


def test_months_are_added_calendar_wise() -> None:
    assert compatibility.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert compatibility.add_months(date(2026, 11, 15), 14) == date(2028, 1, 15)


def test_review_deadlines_count_working_days() -> None:
    friday = date(2026, 11, 20)
    assert requests.working_days_after(friday, 3) == date(2026, 11, 25)  # Wed


# --- the workflow --------------------------------------------------------------------------------


def test_submit_approve_grant_verify(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, contract = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    event = requests.submit_request(hospital.ledger, rita, ask(ds))
    rid = event.body["request"]
    assert event.body["datasets"] == [
        {"id": ds, "version": 1, "contract": contract, "contract_version": 1}
    ]
    view = requests.get_request(hospital.engine, sam, rid)
    assert view["status"] == "submitted" and view["compatible"] and not view["manual_review"]
    assert view["review_due"] > datetime.now(UTC).date().isoformat()

    _, issued = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})
    assert issued.kind == "grant.issued"
    grant = grants.get_grant(hospital.engine, rita, issued.body["grant"])
    assert grant["status"] == "active" and grant["holder"] == "rita"
    doc = grant["document"]
    assert doc["issuer"] == hospital.origin and doc["datasets"][0]["id"] == ds
    assert "report every output within 90 days" in doc["conditions"]
    assert doc["valid_until"] <= "2027-12-31"  # capped by the contract's end

    file = grants.grant_file(hospital.engine, rita, grant["id"], hospital.vkey)
    summary = grants.verify_grant_file(file)
    assert summary["grant"] == grant["id"] and summary["expired"] is False
    tampered = {**file, "document": {**doc, "valid_until": "2099-12-31"}}
    with pytest.raises(Invalid, match="does not verify"):
        grants.verify_grant_file(tampered)
    with pytest.raises(Invalid, match="issuer"):
        grants.verify_grant_file(file, trusted_vkey=world[1].vkey)
    assert requests.get_request(hospital.engine, rita, rid)["grant_id"] == grant["id"]

    # Illegal from here on: approve twice, deny or return a decided request.
    for action in (
        lambda: requests.approve_request(hospital.ledger, hospital.key, sam, rid, {}),
        lambda: requests.deny_request(hospital.ledger, sam, rid, {"reason": "no"}),
        lambda: requests.return_request(hospital.ledger, sam, rid, {"reason": "no"}),
        lambda: requests.withdraw_request(hospital.ledger, rita, rid, {}),
    ):
        refused(hospital, action, Conflict)


def test_return_resubmit_withdraw_deny(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    ravi = scenario.actor(hospital, "ravi")
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    resubmit = lambda: requests.resubmit_request(  # noqa: E731
        hospital.ledger, rita, rid, ask(ds, duration_months=6)
    )
    refused(hospital, resubmit, Conflict)  # only a returned request is resubmitted
    requests.return_request(hospital.ledger, sam, rid, {"reason": "shorten the duration"})
    refused(
        hospital,
        lambda: requests.approve_request(hospital.ledger, hospital.key, sam, rid, {}),
        Conflict,
    )
    refused(
        hospital, lambda: requests.resubmit_request(hospital.ledger, ravi, rid, ask(ds)), Forbidden
    )
    resubmit()
    view = requests.get_request(hospital.engine, rita, rid)
    assert view["status"] == "submitted" and view["duration_months"] == 6
    assert [d["decision"] for d in view["decisions"]] == ["submitted", "returned", "resubmitted"]
    requests.deny_request(hospital.ledger, sam, rid, {"reason": "overlaps a running study"})
    assert requests.get_request(hospital.engine, rita, rid)["status"] == "denied"

    other = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    refused(
        hospital, lambda: requests.withdraw_request(hospital.ledger, ravi, other, {}), Forbidden
    )
    requests.withdraw_request(hospital.ledger, rita, other, {"reason": "funding fell through"})
    refused(
        hospital,
        lambda: requests.approve_request(hospital.ledger, hospital.key, sam, other, {}),
        Conflict,
    )  # approve after withdrawal
    # Researchers see their own requests only.
    assert requests.list_requests(hospital.engine, ravi) == []
    with pytest.raises(NotFound):
        requests.get_request(hospital.engine, ravi, other)
    assert len(requests.list_requests(hospital.engine, sam)) == 2


def test_incompatible_requests_go_to_manual_review_where_allowed(
    world: tuple[Node, Node, str, str],
) -> None:
    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    # The non-commercial template allows manual review of incompatible requests.
    event = requests.submit_request(hospital.ledger, rita, ask(ds, duration_months=18))
    rid = event.body["request"]
    assert event.body["manual_review"] is True
    exc = refused(
        hospital,
        lambda: requests.approve_request(hospital.ledger, hospital.key, sam, rid, {}),
        Invalid,
    )
    assert "reason" in exc.errors
    _, issued = requests.approve_request(
        hospital.ledger, hospital.key, sam, rid, {"reason": "18 months agreed with the PI"}
    )
    assert issued.kind == "grant.issued"


def test_no_manual_review_means_no_submission(tmp_path: Path) -> None:
    hospital, institute = scenario.pair(tmp_path)
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    values = scenario.contract_values(hospital, institute, ds)
    values["terms"]["manual_review_of_incompatible_requests"] = False
    from consortium.contracts import lifecycle

    cid = lifecycle.draft_contract(hospital.ledger, sam, values).body["contract"]
    lifecycle.propose_contract(hospital.ledger, sam, cid)
    lifecycle.sign_contract(hospital.ledger, hospital.key, sam, cid)
    scenario.countersigned(hospital, institute, cid)
    rita = scenario.actor(hospital, "rita")
    exc = refused(
        hospital,
        lambda: requests.submit_request(hospital.ledger, rita, ask(ds, commercial=True)),
        Invalid,
    )
    assert any("NCU" in m for m in exc.errors["findings"])
    hospital.close()
    institute.close()


def test_sensitive_data_need_a_second_approver(world: tuple[Node, Node, str, str]) -> None:
    hospital, institute, _, _ = world
    sam, dora = scenario.actor(hospital, "sam"), scenario.actor(hospital, "dora")
    rita = scenario.actor(hospital, "rita")
    ds = datasets.register_dataset(
        hospital.ledger, sam, scenario.metadata(sensitivity="highly-sensitive")
    ).body["dataset"]
    scenario.active(hospital, institute, ds)
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    refused(
        hospital,
        lambda: requests.co_approve_request(hospital.ledger, hospital.key, dora, rid, {}),
        Conflict,
    )  # nothing to co-approve yet
    [_] = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})
    assert requests.get_request(hospital.engine, sam, rid)["status"] == "awaiting-second-approval"
    refused(
        hospital,
        lambda: requests.deny_request(hospital.ledger, sam, rid, {"reason": "x"}),
        Forbidden,
    )
    _, issued = requests.co_approve_request(hospital.ledger, hospital.key, dora, rid, {})
    assert issued.kind == "grant.issued"
    view = requests.get_request(hospital.engine, rita, rid)
    assert view["status"] == "approved" and view["grant_id"] == issued.body["grant"]


def test_the_researcher_cannot_approve_their_own_request(
    world: tuple[Node, Node, str, str],
) -> None:
    hospital, _, ds, _ = world
    from consortium.auth.people import change_roles

    change_roles(hospital.ledger, OPERATOR, "rita", {"roles": ["steward", "researcher"]})
    rita = scenario.actor(hospital, "rita")
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    refused(
        hospital,
        lambda: requests.approve_request(hospital.ledger, hospital.key, rita, rid, {}),
        Forbidden,
    )


def test_grants_are_revoked_and_expire(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")

    def granted() -> str:
        rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
        return requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})[1].body[
            "grant"
        ]

    first = granted()
    grants.revoke_grant(hospital.ledger, sam, first, {"reason": "misuse reported"})
    view = grants.get_grant(hospital.engine, sam, first)
    assert (view["status"], view["end_reason"]) == ("revoked", "misuse reported")
    revoke = lambda g: grants.revoke_grant(hospital.ledger, sam, g, {"reason": "x"})  # noqa: E731
    refused(hospital, lambda: revoke(first), Conflict)

    second = granted()
    until = date.fromisoformat(grants.get_grant(hospital.engine, sam, second)["valid_until"])
    assert grants.expire_grants(hospital.ledger, NODE, until) == []  # the last day counts
    [expired] = grants.expire_grants(hospital.ledger, NODE, until + timedelta(days=1))
    assert expired.body["grant"] == second
    refused(hospital, lambda: revoke(second), Conflict)  # an expired grant cannot be revoked
    file = grants.grant_file(hospital.engine, rita, second, hospital.vkey)
    assert grants.verify_grant_file(file, today=until + timedelta(days=1))["expired"] is True


def test_access_state_rebuilds_from_the_ledger(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    requests.return_request(hospital.ledger, sam, rid, {"reason": "add the ethics letter"})
    requests.resubmit_request(hospital.ledger, rita, rid, ask(ds))
    grant = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})[1]
    grants.revoke_grant(hospital.ledger, sam, grant.body["grant"], {"reason": "ended early"})
    live = snapshot(hospital.engine)
    assert live["access_request"] and live["access_grant"] and live["access_decision"]
    rebuild(hospital.ledger)
    assert snapshot(hospital.engine) == live
