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
from consortium.registry.keyring import Keyring, UntrustedKey


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
    assert found["HMB"]["reason"] == "HMB request on an HMB contract: allowed"
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
        "parties": [
            {"institution": "St Example Hospital"},
            {"institution": "Northern Genomics Institute"},
        ],
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
    pinned = Keyring.pinned([hospital.vkey])
    summary = grants.verify_grant_file(file, pinned)
    assert summary["grant"] == grant["id"] and summary["expired"] is False
    tampered = {**file, "document": {**doc, "valid_until": "2099-12-31"}}
    with pytest.raises(Invalid, match="does not verify"):
        grants.verify_grant_file(tampered, pinned)
    with pytest.raises(UntrustedKey, match=f"no trusted key for {hospital.origin}"):
        grants.verify_grant_file(file, Keyring.pinned([world[1].vkey]))
    # The key the file carries is never trusted on its own.
    with pytest.raises(UntrustedKey):
        grants.verify_grant_file(file, Keyring())
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
    # The non-commercial template allows manual review of incompatible requests, but only a
    # purpose may be waived: whether ancestry research is health research is for a person.
    binding = refused(
        hospital,
        lambda: requests.submit_request(hospital.ledger, rita, ask(ds, duration_months=18)),
        Invalid,
    )
    assert binding.message == "the request is refused on terms no review can waive"
    assert binding.errors["findings"] == [
        f"{ds}: grants under this contract last at most 12 months"
    ]
    event = requests.submit_request(hospital.ledger, rita, ask(ds, purposes=[{"code": "POA"}]))
    rid = event.body["request"]
    assert event.body["manual_review"] is True
    exc = refused(
        hospital,
        lambda: requests.approve_request(hospital.ledger, hospital.key, sam, rid, {}),
        Invalid,
    )
    assert "reason" in exc.errors
    _, issued = requests.approve_request(
        hospital.ledger, hospital.key, sam, rid, {"reason": "the study is of disease risk"}
    )
    assert issued.kind == "grant.issued"


def test_no_manual_review_means_no_submission(tmp_path: Path) -> None:
    hospital, institute = scenario.pair(tmp_path)
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    values = scenario.contract_values(hospital, institute, ds)
    values["terms"]["manual_review_of_incompatible_requests"] = False
    scenario.active(hospital, institute, ds, values)
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
    assert (
        grants.verify_grant_file(
            file, Keyring().add_recorded(hospital.engine), today=until + timedelta(days=1)
        )["expired"]
        is True
    )


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


# --- consent, outputs, incidents, transparency --------------------------------------------------


def _granted(hospital: Node, ds: str, researcher: str = "rita") -> str:
    rid = requests.submit_request(
        hospital.ledger, scenario.actor(hospital, researcher), ask(ds)
    ).body["request"]
    sam = scenario.actor(hospital, "sam")
    return requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})[1].body["grant"]


def test_consent_withdrawal_stops_new_grants(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    from consortium.access.consent import withdraw_consent

    sam, rita = scenario.actor(hospital, "sam"), scenario.actor(hospital, "rita")
    grant = _granted(hospital, ds)
    pending = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    event = withdraw_consent(hospital.ledger, sam, ds, {"reason": "cohort withdrew consent"})
    assert event.body["grants_flagged"] == [grant]
    assert "consent withdrawn" in grants.get_grant(hospital.engine, sam, grant)["review_reason"]
    refused(hospital, lambda: requests.submit_request(hospital.ledger, rita, ask(ds)), Invalid)
    refused(
        hospital,
        lambda: requests.approve_request(hospital.ledger, hospital.key, sam, pending, {}),
        Conflict,
    )  # an open request cannot become a grant any more
    refused(hospital, lambda: withdraw_consent(hospital.ledger, sam, ds, {"reason": "x"}), Conflict)
    assert datasets.get_dataset(hospital.engine, sam, ds)["consent_withdrawn_at"]


def test_outputs_and_deletion(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    from consortium.access import outputs

    rita, ravi = scenario.actor(hospital, "rita"), scenario.actor(hospital, "ravi")
    sam = scenario.actor(hospital, "sam")
    grant = _granted(hospital, ds)
    publication = {"kind": "publication", "title": "HbA1c after surgery", "doi": "10.1000/j.1"}
    refused(
        hospital,
        lambda: outputs.report_output(hospital.ledger, ravi, grant, publication),
        Forbidden,
    )
    bad = {"kind": "publication", "title": "No identifier"}
    refused(hospital, lambda: outputs.report_output(hospital.ledger, rita, grant, bad), Exception)
    outputs.report_output(hospital.ledger, rita, grant, publication)
    # A derived dataset is registered by a steward with provenance, then reported.
    derived = datasets.register_dataset(
        hospital.ledger,
        sam,
        scenario.metadata(
            title="HbA1c trajectories", derived_from=[{"dataset": ds, "weight": "1"}]
        ),
    ).body["dataset"]
    unrelated = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    derive = lambda d: outputs.report_output(  # noqa: E731
        hospital.ledger,
        rita,
        grant,
        {"kind": "derived_dataset", "title": "Trajectories", "derived_dataset": d},
    )
    refused(hospital, lambda: derive(unrelated), Invalid)
    derive(derived)
    assert [o["kind"] for o in outputs.list_outputs(hospital.engine, sam, grant)] == [
        "publication",
        "derived_dataset",
    ]
    # After the grant ends, data may no longer be derived under it, but papers still count.
    grants.revoke_grant(hospital.ledger, sam, grant, {"reason": "study over"})
    refused(hospital, lambda: derive(derived), Conflict)
    outputs.report_output(hospital.ledger, rita, grant, {**publication, "doi": "10.1000/j.2"})
    grants.attest_deletion(hospital.ledger, rita, grant, {"statement": "All copies deleted."})
    again = lambda: grants.attest_deletion(  # noqa: E731
        hospital.ledger, rita, grant, {"statement": "again"}
    )
    refused(hospital, again, Conflict)
    assert grants.get_grant(hospital.engine, rita, grant)["deletion_attested_at"]


def test_a_doi_counts_once_per_grant_in_any_form(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    from consortium.access import outputs
    from consortium.api import create_app
    from consortium.auth.tokens import create_token

    rita = scenario.actor(hospital, "rita")
    grant, other = _granted(hospital, ds), _granted(hospital, ds)
    paper = {"kind": "publication", "title": "HbA1c after surgery"}
    first = outputs.report_output(
        hospital.ledger, rita, grant, {**paper, "doi": "https://doi.org/10.1000/J.Surg.1"}
    ).body
    assert first["doi"] == "10.1000/j.surg.1"
    for form in ("10.1000/j.surg.1", "doi:10.1000/J.SURG.1", "http://dx.doi.org/10.1000/j.Surg.1"):
        again = refused(
            hospital,
            lambda form=form: outputs.report_output(
                hospital.ledger, rita, grant, {**paper, "kind": "preprint", "doi": form}
            ),
            Conflict,
        )
        assert again.message == (
            f"10.1000/j.surg.1 was reported for grant {grant!r} already, as {first['output']}"
        )
    # Another grant's project may cite the same paper; it is that grant's output.
    outputs.report_output(hospital.ledger, rita, other, {**paper, "doi": "DOI: 10.1000/j.surg.1"})
    for bad in ("https://example.org/10.1000/x", "10.1/x", "doi:"):
        wrong = refused(
            hospital,
            lambda bad=bad: outputs.report_output(
                hospital.ledger, rita, grant, {**paper, "doi": bad}
            ),
            Exception,
        )
        assert "a DOI such as 10.1000/xyz123" in str(wrong)

    # Over the API: a 409 naming the first output, and a date to come is a field error.
    client = create_app(hospital).test_client()
    auth = {"Authorization": f"Bearer {create_token(hospital.engine, 'rita')[0]}"}
    size = hospital.ledger.size()
    url = f"/api/v1/grants/{grant}/outputs"
    twice = client.post(url, headers=auth, json={**paper, "doi": "doi:10.1000/J.SURG.1"})
    assert twice.status_code == 409 and twice.content_type == "application/problem+json"
    assert first["output"] in twice.json["detail"]
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    future = client.post(url, headers=auth, json={**paper, "doi": "10.1000/b", "date": tomorrow})
    assert future.status_code == 422
    assert future.json["errors"]["json"] == {
        "date": ["is in the future: report an output once it has appeared"]
    }
    assert hospital.ledger.size() == size
    today = datetime.now(UTC).date().isoformat()
    done = client.post(url, headers=auth, json={**paper, "doi": "10.1000/b", "date": today})
    assert done.status_code == 201, done.json
    assert (done.json["doi"], done.json["date"]) == ("10.1000/b", today)


def test_incidents_suspend_and_reinstate(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    from consortium.access import incidents

    sam = scenario.actor(hospital, "sam")
    first, second = _granted(hospital, ds), _granted(hospital, ds, "ravi")
    report = {"severity": "critical", "kind": "breach", "description": "Laptop stolen."}
    refused(
        hospital,
        lambda: incidents.report_incident(hospital.ledger, sam, {**report, "grants": ["gr-x"]}),
        Invalid,
    )
    incident = incidents.report_incident(hospital.ledger, sam, {**report, "datasets": [ds]}).body[
        "incident"
    ]
    event = incidents.suspend_grants(hospital.ledger, sam, incident)
    assert event.body["grants"] == sorted([first, second])
    assert grants.get_grant(hospital.engine, sam, first)["status"] == "suspended"
    refused(hospital, lambda: incidents.suspend_grants(hospital.ledger, sam, incident), Conflict)
    grants.revoke_grant(hospital.ledger, sam, second, {"reason": "the leak was from here"})
    incidents.close_incident(
        hospital.ledger, sam, incident, {"resolution": "Encrypted disk; no data lost.",
                                         "reinstate": True}
    )  # fmt: skip
    assert grants.get_grant(hospital.engine, sam, first)["status"] == "active"
    assert grants.get_grant(hospital.engine, sam, second)["status"] == "revoked"
    close = lambda: incidents.close_incident(  # noqa: E731
        hospital.ledger, sam, incident, {"resolution": "again"}
    )
    refused(hospital, close, Conflict)


def test_transparency_and_statistics(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    from consortium.access import outputs, transparency

    rita = scenario.actor(hospital, "rita")
    grant = _granted(hospital, ds)
    outputs.report_output(
        hospital.ledger, rita, grant,
        {"kind": "publication", "title": "HbA1c after surgery", "doi": "10.1000/j.1"},
    )  # fmt: skip
    seen = transparency.dataset_transparency(hospital.engine, None, ds)  # public metadata
    assert seen["grants"][0]["institution"] == "Northern Genomics Institute"
    assert seen["grants"][0]["purposes"] == ["HMB"]
    assert seen["outputs"][0]["doi"] == "10.1000/j.1"
    summary = transparency.public_summary(hospital.engine)
    assert summary["grants_by_purpose"] == {"HMB": 1}
    assert summary["outputs_by_kind"] == {"publication": 1}
    assert "rita" not in str(summary)  # no people in the public summary
    stats = transparency.approval_times(hospital.engine)
    assert stats["decided"] == 1 and stats["median_hours"] is not None
    assert (stats["open"], stats["returned"]) == (0, 0)
    # A returned request waits on its researcher, not on the institution.
    asked = requests.submit_request(hospital.ledger, rita, scenario.access_request(ds))
    requests.return_request(hospital.ledger, scenario.actor(hospital, "sam"),
                            asked.body["request"], {"reason": "add the ethics letter"})  # fmt: skip
    stats = transparency.approval_times(hospital.engine)
    assert (stats["open"], stats["overdue"], stats["returned"]) == (0, 0, 1)
    assert stats["by_requesting_institution"]["Northern Genomics Institute"]["decided"] == 1
    # A restricted dataset's usage is not public.
    sam = scenario.actor(hospital, "sam")
    hidden = datasets.register_dataset(
        hospital.ledger, sam, scenario.metadata(sensitivity="restricted")
    ).body["dataset"]
    with pytest.raises(NotFound):
        transparency.dataset_transparency(hospital.engine, None, hidden)


def test_obligation_reminders_come_once(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    from consortium.access import obligations, outputs

    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    quiet, reminded = _granted(hospital, ds), _granted(hospital, ds)
    outputs.report_output(
        hospital.ledger, rita, quiet,
        {"kind": "preprint", "title": "Early results", "url": "https://example.org/p/1"},
    )  # fmt: skip
    issued = date.fromisoformat(
        grants.get_grant(hospital.engine, sam, reminded)["document"]["valid_from"]
    )
    due = compatibility.add_months(issued, 12)  # the PUB contract; 12 months by default
    assert obligations.remind_obligations(hospital.ledger, NODE, due - timedelta(days=1)) == []
    [event] = obligations.remind_obligations(hospital.ledger, NODE, due)
    assert (event.kind, event.body["grant"]) == ("grant.publication_reminder", reminded)
    assert obligations.remind_obligations(hospital.ledger, NODE, due) == []
    # The contract requires deletion: once the grant ends, its holder is reminded to attest.
    grants.revoke_grant(hospital.ledger, sam, quiet, {"reason": "study closed"})
    [event] = obligations.remind_obligations(hospital.ledger, NODE, due)
    assert (event.kind, event.body["grant"]) == ("grant.deletion_reminder", quiet)
    assert obligations.remind_obligations(hospital.ledger, NODE, due) == []


# --- terms no review can waive, and what may change between request and grant --------------


def test_a_requester_outside_the_contract_cannot_even_submit(
    world: tuple[Node, Node, str, str],
) -> None:
    hospital, _, ds, _ = world
    rita = scenario.actor(hospital, "rita")
    acme = ask(ds, institution="Acme Pharma Ltd")
    shown = requests.preview(hospital.engine, rita, acme)
    assert verdicts(shown, ds)["institution"] == "refused"
    assert shown["submittable"] is False
    assert shown["refusal"] == (
        f"the request is refused on terms no review can waive: {ds}: Acme Pharma Ltd is not a "
        "party to the contract (parties: St Example Hospital, Northern Genomics Institute)"
    )
    refused(hospital, lambda: requests.submit_request(hospital.ledger, rita, acme), Invalid)
    # The institution's name is matched whatever its case.
    lower = ask(ds, institution="northern genomics institute")
    assert requests.preview(hospital.engine, rita, lower)["submittable"] is True


def test_data_withdrawn_after_the_request_are_not_granted(
    world: tuple[Node, Node, str, str],
) -> None:
    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    datasets.withdraw_dataset(hospital.ledger, sam, ds, {"reason": "errors found"})
    exc = refused(
        hospital,
        lambda: requests.approve_request(hospital.ledger, hospital.key, sam, rid, {}),
        Conflict,
    )
    assert exc.message == f"dataset {ds!r} has been withdrawn: no grant"


def test_the_grant_is_for_the_version_the_contract_covers(
    world: tuple[Node, Node, str, str],
) -> None:
    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata(title="Version two"))
    assert datasets.get_dataset(hospital.engine, sam, ds)["published_version"] == 2
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    _, grant = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})
    assert [(d["version"], d["contract_version"]) for d in grant.body["document"]["datasets"]] == [
        (1, 1)
    ]


def test_a_grant_starts_with_its_contract(tmp_path: Path) -> None:
    hospital, institute = scenario.pair(tmp_path)
    sam, rita = scenario.actor(hospital, "sam"), scenario.actor(hospital, "rita")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    start = datetime.now(UTC).date() + timedelta(days=40)
    values = scenario.contract_values(hospital, institute, ds)
    values["terms"]["term"] = {"start": start.isoformat(), "end": "2099-12-31"}

    scenario.active(hospital, institute, ds, values)
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    _, grant = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})
    document = grant.body["document"]
    assert document["valid_from"] == start.isoformat()
    assert document["valid_until"] == compatibility.add_months(start, 12).isoformat()
    hospital.close()
    institute.close()


def test_a_resubmission_restarts_the_review_clock(world: tuple[Node, Node, str, str]) -> None:
    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    requests.return_request(hospital.ledger, sam, rid, {"reason": "add the ethics letter"})
    # As if the researcher answered weeks later: the old due date has long passed.
    with hospital.engine.begin() as conn:
        conn.execute(
            requests.REQUEST.update()
            .where(requests.REQUEST.c.id == rid)
            .values(review_due="2000-01-03")
        )
    event = requests.resubmit_request(hospital.ledger, rita, rid, ask(ds))
    today = datetime.now(UTC).date()
    due = requests.working_days_after(today, 3).isoformat()
    assert event.body["review_due"] == due
    assert requests.get_request(hospital.engine, sam, rid)["review_due"] == due


def test_anyone_may_ask_whether_a_grant_is_in_force(world: tuple[Node, Node, str, str]) -> None:
    from consortium.api import create_app

    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    _, issued = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})
    gid = issued.body["grant"]
    client = create_app(hospital).test_client()
    shown = client.get(f"/api/v1/grants/{gid}/status").json
    assert (shown["status"], shown["ended_at"]) == ("active", None)
    assert shown["valid_until"] == issued.body["document"]["valid_until"]
    grants.revoke_grant(hospital.ledger, sam, gid, {"reason": "the study ended"})
    assert client.get(f"/api/v1/grants/{gid}/status").json["status"] == "revoked"
    assert client.get("/api/v1/grants/gr-unknown000/status").status_code == 404
    settings = client.get("/api/v1/settings").json
    assert (settings["review_deadline_days"], settings["publication_reminder_months"]) == (3, 12)


def test_terminating_a_contract_ends_its_grants_and_its_open_requests(
    world: tuple[Node, Node, str, str],
) -> None:
    from consortium.access import incidents, termination
    from consortium.api import create_app
    from consortium.auth.tokens import create_token
    from consortium.contracts import lifecycle
    from consortium.events import event_from_entry
    from consortium.notifications import inbox

    hospital, _, ds, contract = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    active, suspended, revoked = (_granted(hospital, ds, who) for who in ("rita", "ravi", "rita"))
    grants.revoke_grant(hospital.ledger, sam, revoked, {"reason": "project ended"})
    report = {
        "severity": "low",
        "kind": "other",
        "description": "Laptop lost.",
        "grants": [suspended],
    }
    incidents.report_incident(hospital.ledger, sam, report)
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]

    # Dropping a pending amendment leaves the version in force and its grants.
    amendment = {"terms": {"term": {"start": "2026-01-01", "end": "2029-12-31"}}}
    lifecycle.amend_contract(hospital.ledger, sam, contract, amendment)
    drop = {"reason": "not wanted", "version": 2}
    assert termination.terminate_contract(hospital.ledger, sam, contract, drop).grants_ended == ()
    assert grants.get_grant(hospital.engine, sam, active)["status"] == "active"

    client = create_app(hospital).test_client()
    answer = client.post(
        f"/api/v1/contracts/{contract}/terminate",
        headers={"Authorization": f"Bearer {create_token(hospital.engine, 'sam')[0]}"},
        json={"reason": "breach of the deletion clause"},
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "terminated"
    ended = answer.json["grants_ended"]
    assert [(g["grant"], g["holder"]) for g in ended] == [(active, "rita"), (suspended, "ravi")]
    why = f"contract {contract} was terminated: breach of the deletion clause"
    for g in ended:
        row = grants.get_grant(hospital.engine, sam, g["grant"])
        assert (row["status"], row["end_reason"], row["valid_until"]) == (
            "revoked",
            why,
            g["valid_until"],
        )
        with hospital.engine.connect() as conn:
            data = hospital.ledger.entries(g["entry"], g["entry"] + 1)[0]
            entry = event_from_entry(conn, g["entry"], data)
        assert (entry.kind, entry.body) == ("grant.revoked", {"grant": g["grant"], "reason": why})
    assert grants.get_grant(hospital.engine, sam, revoked)["end_reason"] == "project ended"
    for holder, grant in (("rita", active), ("ravi", suspended)):
        told = [n for n in inbox(hospital.engine, holder) if why in n["text"]]
        assert [(n["kind"], n["link"]) for n in told] == [
            ("grant.revoked", f"/api/v1/grants/{grant}")
        ]

    # An open request under it can no longer become a grant.
    exc = refused(
        hospital,
        lambda: requests.approve_request(hospital.ledger, hospital.key, sam, rid, {}),
        Conflict,
    )
    assert exc.message == f"contract {contract!r} v1 is terminated: no grant"
    state = snapshot(hospital.engine)
    rebuild(hospital.ledger)
    assert snapshot(hospital.engine) == state


def test_a_consent_flag_survives_suspension_and_reinstatement(
    world: tuple[Node, Node, str, str],
) -> None:
    from consortium.access import consent, incidents

    hospital, _, ds, _ = world
    rita, sam = scenario.actor(hospital, "rita"), scenario.actor(hospital, "sam")
    rid = requests.submit_request(hospital.ledger, rita, ask(ds)).body["request"]
    gid = requests.approve_request(hospital.ledger, hospital.key, sam, rid, {})[1].body["grant"]
    consent.withdraw_consent(hospital.ledger, sam, ds, {"reason": "participants withdrew"})
    incident = incidents.report_incident(
        hospital.ledger, sam,
        {"severity": "low", "kind": "other", "description": "Audit.", "grants": [gid]},
    ).body["incident"]  # fmt: skip
    incidents.suspend_grants(hospital.ledger, sam, incident)
    incidents.close_incident(
        hospital.ledger, sam, incident, {"resolution": "Fine.", "reinstate": True}
    )
    shown = grants.get_grant(hospital.engine, sam, gid)
    assert shown["status"] == "active"
    assert shown["review_reason"] == f"consent withdrawn for {ds}: participants withdrew"
