"""People, members, settings and datasets: the rules, through the domain and the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import scenario
from conftest import refused
from sqlalchemy import update

from consortium.api import create_app
from consortium.auth.people import add_person, change_roles, deactivate_person, set_password
from consortium.auth.roles import OPERATOR
from consortium.auth.tokens import create_token
from consortium.errors import Conflict, Forbidden, Invalid, NotFound
from consortium.node import Node
from consortium.projections import rebuild
from consortium.registry import datasets, members, settings
from consortium.registry.sealed import SEALED, SealError, unseal


@pytest.fixture
def hospital(node: Node) -> Node:
    scenario.staff(node)
    return node


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- people -----------------------------------------------------------------------------------


def test_roles_are_on_the_ledger_and_guarded(hospital: Node) -> None:
    ada = scenario.actor(hospital, "ada")
    sam = scenario.actor(hospital, "sam")
    assert isinstance(
        refused(hospital, lambda: change_roles(hospital.ledger, sam, "sue", {"roles": ["admin"]})),
        Forbidden,
    )
    exc = refused(
        hospital, lambda: change_roles(hospital.ledger, ada, "ada", {"roles": ["steward"]})
    )
    assert isinstance(exc, Conflict) and "last admin" in exc.message
    exc = refused(hospital, lambda: deactivate_person(hospital.ledger, ada, "ada", {"reason": "x"}))
    assert isinstance(exc, Conflict)
    exc = refused(
        hospital,
        lambda: add_person(
            hospital.ledger, ada, {"username": "sam", "display_name": "S", "roles": ["steward"]}
        ),
    )
    assert isinstance(exc, Conflict)
    event = change_roles(hospital.ledger, ada, "sue", {"roles": ["researcher", "steward"]})
    assert event.kind == "person.roles_changed"
    assert event.body == {"username": "sue", "roles": ["steward", "researcher"]}


def test_tokens_follow_the_persons_current_roles(hospital: Node) -> None:
    client = create_app(hospital).test_client()
    token, _ = create_token(hospital.engine, "sue")
    scoped, _ = create_token(hospital.engine, "sue", roles=["researcher"])
    me = client.get("/api/v1/me", headers=_auth(token)).get_json()
    assert me["roles"] == ["steward", "researcher"]
    assert client.get("/api/v1/me", headers=_auth(scoped)).get_json()["roles"] == ["researcher"]
    r = client.post("/api/v1/datasets", json=scenario.metadata(), headers=_auth(scoped))
    assert r.status_code == 403
    r = client.post("/api/v1/datasets", json=scenario.metadata(), headers=_auth(token))
    assert r.status_code == 201, r.text

    ada = scenario.actor(hospital, "ada")
    change_roles(hospital.ledger, ada, "sue", {"roles": ["researcher"]})
    r = client.post("/api/v1/datasets", json=scenario.metadata(), headers=_auth(token))
    assert r.status_code == 403
    deactivate_person(hospital.ledger, ada, "sue", {"reason": "left"})
    assert client.get("/api/v1/me", headers=_auth(token)).status_code == 401


def test_password_sign_in(hospital: Node) -> None:
    client = create_app(hospital).test_client()
    with pytest.raises(Invalid):
        set_password(hospital.engine, "sam", "short")
    set_password(hospital.engine, "sam", "correct horse battery")
    size = hospital.ledger.size()
    bad = client.post("/api/v1/auth/login", json={"username": "sam", "password": "wrong one!"})
    assert bad.status_code == 401
    nobody = client.post("/api/v1/auth/login", json={"username": "zed", "password": "whatever"})
    assert nobody.status_code == 401
    ok = client.post(
        "/api/v1/auth/login", json={"username": "sam", "password": "correct horse battery"}
    )
    assert ok.status_code == 201, ok.text
    assert ok.get_json()["roles"] == ["steward"]
    me = client.get("/api/v1/me", headers=_auth(ok.get_json()["token"])).get_json()
    assert me["username"] == "sam"
    assert hospital.ledger.size() == size  # credentials never touch the ledger
    with hospital.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM credential").scalar()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    # Changing one's own password needs the current one.
    headers = _auth(ok.get_json()["token"])
    r = client.put(
        "/api/v1/me/password",
        json={"current_password": "nope", "new_password": "another long secret"},
        headers=headers,
    )
    assert r.status_code == 403
    r = client.put(
        "/api/v1/me/password",
        json={"current_password": "correct horse battery", "new_password": "another long secret"},
        headers=headers,
    )
    assert r.status_code == 204
    deactivate_person(hospital.ledger, scenario.actor(hospital, "ada"), "sam", {"reason": "x"})
    gone = client.post(
        "/api/v1/auth/login", json={"username": "sam", "password": "another long secret"}
    )
    assert gone.status_code == 401


# --- members and settings -----------------------------------------------------------------------


def test_members(tmp_path: Path, hospital: Node) -> None:
    from consortium.node import init_node

    other = init_node(tmp_path / "other", "Other Lab")
    ada = scenario.actor(hospital, "ada")
    event = members.add_member(
        hospital.ledger, ada, {"institution": "Other Lab", "vkey": other.vkey}
    )
    assert event.body["origin"] == other.origin
    exc = refused(
        hospital,
        lambda: members.add_member(
            hospital.ledger, ada, {"institution": "Again", "vkey": other.vkey}
        ),
    )
    assert isinstance(exc, Conflict)
    broken = other.vkey[:-4] + "AAAA"
    exc = refused(
        hospital,
        lambda: members.add_member(hospital.ledger, ada, {"institution": "X", "vkey": broken}),
    )
    assert "vkey" in exc.messages
    listed = {m.origin: m.is_self for m in members.list_members(hospital.engine)}
    assert listed == {hospital.origin: True, other.origin: False}
    other.close()


def test_settings_are_ledger_entries(hospital: Node) -> None:
    ada = scenario.actor(hospital, "ada")
    with hospital.engine.connect() as conn:
        assert settings.current_settings(conn) == {
            "director_approval_required": False,
            "review_deadline_days": 3,
            "publication_reminder_months": 12,
        }
    event = settings.change_settings(hospital.ledger, ada, {"director_approval_required": True})
    assert event.kind == "settings.changed"
    with hospital.engine.connect() as conn:
        assert settings.current_settings(conn)["director_approval_required"] is True
    exc = refused(hospital, lambda: settings.change_settings(hospital.ledger, ada, {}))
    assert "at least one" in str(exc)


# --- datasets -------------------------------------------------------------------------------------


def test_publish_version_and_withdraw(hospital: Node) -> None:
    sam = scenario.actor(hospital, "sam")
    event = datasets.register_dataset(hospital.ledger, sam, scenario.metadata())
    ds = event.body["dataset"]
    assert event.body["metadata"]["duo"]["permissions"] == ["DUO:0000006"]  # normalised
    view = datasets.get_dataset(hospital.engine, None, ds)
    assert (view["status"], view["version"]) == ("published", 1)
    assert view["publisher"] == hospital.origin

    datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata(record_count=13000))
    assert datasets.get_dataset(hospital.engine, None, ds)["metadata"]["record_count"] == 13000
    old = datasets.get_dataset(hospital.engine, None, ds, version=1)
    assert old["metadata"]["record_count"] == 12000
    with pytest.raises(NotFound):
        datasets.get_dataset(hospital.engine, None, ds, version=3)

    datasets.withdraw_dataset(hospital.ledger, sam, ds, {"reason": "consent withdrawn"})
    view = datasets.get_dataset(hospital.engine, None, ds)
    assert view["status"] == "withdrawn" and view["withdrawn_reason"] == "consent withdrawn"
    for again in (
        lambda: datasets.withdraw_dataset(hospital.ledger, sam, ds, {"reason": "again"}),
        lambda: datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata()),
    ):
        assert isinstance(refused(hospital, again), Conflict)


def test_director_co_approval_with_four_eyes(hospital: Node) -> None:
    ada, sam, dora = (scenario.actor(hospital, u) for u in ("ada", "sam", "dora"))
    settings.change_settings(hospital.ledger, ada, {"director_approval_required": True})
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    assert datasets.list_datasets(hospital.engine, None) == []  # not public before approval
    researcher = scenario.actor(hospital, "sue")
    assert datasets.get_dataset(hospital.engine, dora, ds)["status"] == "awaiting-approval"
    with pytest.raises(NotFound):
        datasets.get_dataset(hospital.engine, None, ds)

    # A steward who is also a director may not approve what they registered.
    change_roles(hospital.ledger, ada, "sam", {"roles": ["steward", "director"]})
    sam = scenario.actor(hospital, "sam")
    exc = refused(
        hospital, lambda: datasets.approve_dataset(hospital.ledger, sam, ds, {"version": 1})
    )
    assert isinstance(exc, Forbidden)
    assert isinstance(
        refused(
            hospital,
            lambda: datasets.approve_dataset(hospital.ledger, researcher, ds, {"version": 1}),
        ),
        Forbidden,
    )
    datasets.approve_dataset(hospital.ledger, dora, ds, {"version": 1})
    view = datasets.get_dataset(hospital.engine, None, ds)
    assert (view["status"], view["approved_by"]) == ("published", "dora")
    assert isinstance(
        refused(
            hospital, lambda: datasets.approve_dataset(hospital.ledger, dora, ds, {"version": 1})
        ),
        Conflict,
    )
    # A new version waits for approval while version 1 stays published.
    datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata(title="Renamed"))
    assert datasets.get_dataset(hospital.engine, None, ds)["metadata"]["title"] != "Renamed"
    assert datasets.get_dataset(hospital.engine, dora, ds)["latest_version"] == 2
    with pytest.raises(NotFound):
        datasets.get_dataset(hospital.engine, None, ds, version=2)
    datasets.approve_dataset(hospital.ledger, dora, ds, {"version": 2})
    assert datasets.get_dataset(hospital.engine, None, ds)["metadata"]["title"] == "Renamed"


def test_approval_defaults_to_the_one_version_awaiting_it(hospital: Node) -> None:
    ada, sam, dora = (scenario.actor(hospital, u) for u in ("ada", "sam", "dora"))
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    nothing = refused(hospital, lambda: datasets.approve_dataset(hospital.ledger, dora, ds, {}))
    assert isinstance(nothing, Conflict)
    assert nothing.message == f"no version of {ds!r} is awaiting approval"

    settings.change_settings(hospital.ledger, ada, {"director_approval_required": True})
    for title in ("Second", "Third"):
        datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata(title=title))
    several = refused(hospital, lambda: datasets.approve_dataset(hospital.ledger, dora, ds, {}))
    assert isinstance(several, Invalid)
    assert several.errors == {"version": [f"versions 2, 3 of {ds!r} await approval: name one"]}
    approved = datasets.approve_dataset(hospital.ledger, dora, ds, {"version": 3})
    assert approved.body == {"dataset": ds, "version": 3}

    # Over the API, a director posts no version at all when one version waits.
    datasets.revise_dataset(hospital.ledger, sam, ds, scenario.metadata(title="Fourth"))
    client = create_app(hospital).test_client()
    answer = client.post(
        f"/api/v1/datasets/{ds}/approve", headers=_auth(create_token(hospital.engine, "dora")[0])
    )
    assert answer.status_code == 200, answer.json
    assert (answer.json["published_version"], answer.json["metadata"]["title"]) == (4, "Fourth")


def test_restricted_metadata_is_sealed_off_the_ledger(hospital: Node) -> None:
    sam = scenario.actor(hospital, "sam")
    secret_title = "Fabry disease families, Northern district"
    event = datasets.register_dataset(
        hospital.ledger, sam, scenario.metadata(title=secret_title, sensitivity="restricted")
    )
    assert "metadata" not in event.body and event.body["sensitivity"] == "restricted"
    raw = b"".join(hospital.ledger.entries(0, hospital.ledger.size()))
    assert b"Fabry" not in raw
    # Credit is public: who made the data, with their weights, is on the ledger in clear.
    meta = scenario.metadata()
    assert event.body["credit"] == {"contributors": meta["contributors"], "derived_from": []}
    with hospital.engine.connect() as conn:
        assert unseal(conn, event.body["metadata_sealed"])["title"] == secret_title
    # Rebuilding checks every sealed document against the digest the ledger signed.
    with hospital.engine.begin() as conn:
        conn.execute(update(SEALED).values(data=b'{"salt":"x","document":{}}'))
    with pytest.raises(SealError):
        rebuild(hospital.ledger)


@pytest.mark.parametrize(
    ("tier", "readers"),
    [
        ("public-metadata", {None, "researcher", "lead", "auditor"}),
        ("consortium-only", {"researcher", "lead", "auditor"}),
        ("restricted", {"researcher", "auditor"}),
        ("highly-sensitive", {"auditor"}),
    ],
)
def test_metadata_visibility_follows_the_tier(
    sqlite_node: Node, tier: str, readers: set[str | None]
) -> None:
    node = sqlite_node
    people = {"researcher": "rita", "lead": "lee", "auditor": "otto", "steward": "sam"}
    for role, username in people.items():
        add_person(
            node.ledger, OPERATOR, {"username": username, "display_name": username, "roles": [role]}
        )
    ds = datasets.register_dataset(
        node.ledger, scenario.actor(node, "sam"), scenario.metadata(sensitivity=tier)
    ).body["dataset"]
    client = create_app(node).test_client()
    for role in (None, "researcher", "lead", "auditor"):
        headers = _auth(create_token(node.engine, people[role])[0]) if role else {}
        listed = client.get("/api/v1/datasets", headers=headers).get_json()
        one = client.get(f"/api/v1/datasets/{ds}", headers=headers)
        if role is None and tier != "public-metadata":
            assert listed == [] and one.status_code == 404
            continue
        view = one.get_json()
        assert [d["id"] for d in listed] == [ds]
        if role in readers:
            assert view["metadata"]["title"] == scenario.METADATA["title"], role
        else:
            assert "metadata" not in view and view["metadata_withheld"] is True, role
            assert view["sensitivity"] == tier


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duo": {"permissions": ["XYZ"]}}, "duo"),
        ({"duo": {"permissions": ["IRB"]}}, "duo"),
        ({"duo": {"permissions": ["DS"]}}, "duo"),
        ({"duo": {"permissions": ["GRU"], "modifiers": [{"code": "TS"}]}}, "duo"),
        ({"sensitivity": "secret"}, "sensitivity"),
        ({"colour": "blue"}, "colour"),
        (
            {"contributors": [{"name": "A", "role": "collection", "weight": "0.1.2"}]},
            "contributors",
        ),
        ({"temporal_coverage": {"start": "2024-01-01", "end": "2020-01-01"}}, "temporal_coverage"),
        ({"derived_from": [{"dataset": "ds-nothere", "weight": "1"}]}, "derived_from"),
        ({"record_count": 1.5}, "record_count"),
    ],
)
def test_invalid_metadata_is_refused_with_field_errors(
    hospital: Node, change: dict[str, Any], field: str
) -> None:
    client = create_app(hospital).test_client()
    token = create_token(hospital.engine, "sam")[0]
    size = hospital.ledger.size()
    r = client.post("/api/v1/datasets", json=scenario.metadata(**change), headers=_auth(token))
    assert r.status_code == 422, r.text
    assert r.content_type == "application/problem+json"
    assert any(k.split(".")[0] == field for k in r.get_json()["errors"]["json"])
    assert hospital.ledger.size() == size


def test_profile_attestation(hospital: Node) -> None:
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    summary = {
        "sha256": "0f" * 32,
        "records": 12000,
        "bytes": 9_000_000,
        "columns": [{"name": "hba1c", "present": 11800, "completeness": "0.9833"}],
    }
    event = datasets.attach_profile(hospital.ledger, sam, ds, {"profile": summary})
    assert event.body["profile"]["sha256"] == "0f" * 32
    view = datasets.get_dataset(hospital.engine, None, ds)
    assert view["profiles"][0]["records"] == 12000 and view["profiles"][0]["by"] == "sam"
    exc = refused(
        hospital,
        lambda: datasets.attach_profile(
            hospital.ledger, sam, ds, {"profile": {**summary, "ratio": 0.5}}
        ),
    )
    assert "profile" in exc.messages


def test_sealed_metadata_can_be_checked_against_the_ledger(hospital: Node) -> None:
    import base64
    import hashlib
    import json

    sam = scenario.actor(hospital, "sam")
    event = datasets.register_dataset(
        hospital.ledger, sam, scenario.metadata(sensitivity="highly-sensitive")
    )
    ds, digest = event.body["dataset"], event.body["metadata_sealed"]
    client = create_app(hospital).test_client()
    steward = client.get(
        f"/api/v1/datasets/{ds}/sealed", headers=_auth(create_token(hospital.engine, "sam")[0])
    )
    assert steward.status_code == 200
    assert base64.b64encode(hashlib.sha256(steward.data).digest()).decode() == digest
    assert json.loads(steward.data)["document"]["title"] == scenario.METADATA["title"]
    researcher = client.get(
        f"/api/v1/datasets/{ds}/sealed", headers=_auth(create_token(hospital.engine, "rita")[0])
    )
    assert researcher.status_code == 403
    assert client.get(f"/api/v1/datasets/{ds}/sealed").status_code == 404


@pytest.mark.parametrize("username", ["operator", "node"])
def test_reserved_actor_names_cannot_be_people(hospital: Node, username: str) -> None:
    ada = scenario.actor(hospital, "ada")
    payload = {"username": username, "display_name": "Impostor", "roles": ["steward"]}
    exc = refused(hospital, lambda: add_person(hospital.ledger, ada, payload))
    assert "reserved" in str(exc.messages["username"])


def test_sign_in_needs_at_least_one_role_when_it_names_roles(hospital: Node) -> None:
    set_password(hospital.engine, "sam", "correct horse battery")
    client = create_app(hospital).test_client()
    r = client.post(
        "/api/v1/auth/login",
        json={"username": "sam", "password": "correct horse battery", "roles": []},
    )
    assert r.status_code == 422
