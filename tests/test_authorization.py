"""The authorization matrix: every state-changing endpoint × every role, plus anonymous.

Each route's role check is one decorator line, easy to forget on a new endpoint or to get
wrong in review. This pins down who may change what over HTTP: the intended roles succeed,
everyone else gets 403 (anonymous: 401), and a refused call leaves no trace on the ledger,
in the projections or in the node's credentials. The table is compared with the app's own
routes, so an endpoint added without a row here fails the suite.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import PEOPLE, PG_URL, add_people, token_for
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from consortium import notifications
from consortium.access import incidents as access_incidents
from consortium.access import requests as access_requests
from consortium.api import create_app
from consortium.attestations import record_attestation
from consortium.auth.people import (
    CREDENTIAL,
    add_person,
    change_roles,
    check_password,
    deactivate_person,
    set_password,
)
from consortium.auth.roles import ADMIN, DIRECTOR, LEAD, OPERATOR, RESEARCHER, ROLES, STEWARD
from consortium.auth.tokens import create_token, revoke_token
from consortium.contracts import benefit_rules, lifecycle
from consortium.contracts.signing import sign_document
from consortium.crypto.canonical import parse
from consortium.crypto.keys import NodeKey
from consortium.crypto.note import vkey
from consortium.disclosure.store import pseudonym_of
from consortium.events import event_from_entry
from consortium.node import Node, init_node
from consortium.projections import snapshot
from consortium.registry import datasets, members, settings

API = "/api/v1"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANONYMOUS = "anonymous"
EVERYONE = frozenset(ROLES)  # any signed-in person, whatever their roles
OPEN = None  # no credentials needed at all: sign-in itself

Route = tuple[str, str]  # (method, Werkzeug rule as the app registers it)

# Who may succeed, per route, as the code intends it. Keep in step with the app: the first
# test below fails for a route that is missing here or listed here but gone from the app.
MATRIX: dict[Route, frozenset[str] | None] = {
    ("POST", f"{API}/auth/login"): OPEN,
    # A C2SP witness: the checkpoint's signature by a member's log key is the credential.
    ("POST", f"{API}/witness/add-checkpoint"): OPEN,
    ("PUT", f"{API}/me/password"): EVERYONE,
    ("PUT", f"{API}/me/email"): EVERYONE,
    ("POST", f"{API}/inbox/<key>/read"): EVERYONE,
    ("POST", f"{API}/people"): frozenset({ADMIN}),
    ("PUT", f"{API}/people/<username>/roles"): frozenset({ADMIN}),
    ("POST", f"{API}/people/<username>/deactivate"): frozenset({ADMIN}),
    ("POST", f"{API}/members"): frozenset({ADMIN}),
    ("PUT", f"{API}/settings"): frozenset({ADMIN}),
    ("POST", f"{API}/attestations"): frozenset({STEWARD, ADMIN}),
    ("POST", f"{API}/datasets"): frozenset({STEWARD}),
    ("POST", f"{API}/datasets/<dataset_id>/versions"): frozenset({STEWARD}),
    ("POST", f"{API}/datasets/<dataset_id>/approve"): frozenset({DIRECTOR}),
    ("POST", f"{API}/datasets/<dataset_id>/withdraw"): frozenset({STEWARD}),
    ("POST", f"{API}/datasets/<dataset_id>/profiles"): frozenset({STEWARD}),
    ("POST", f"{API}/contracts"): frozenset({STEWARD}),
    ("PATCH", f"{API}/contracts/<contract_id>"): frozenset({STEWARD}),
    ("POST", f"{API}/contracts/<contract_id>/propose"): frozenset({STEWARD}),
    ("POST", f"{API}/contracts/<contract_id>/sign"): frozenset({STEWARD}),
    ("POST", f"{API}/contracts/<contract_id>/signatures"): frozenset({STEWARD}),
    ("POST", f"{API}/contracts/<contract_id>/terminate"): frozenset({STEWARD}),
    ("POST", f"{API}/contracts/<contract_id>/amendments"): frozenset({STEWARD}),
    ("POST", f"{API}/contracts/countersign"): frozenset({STEWARD}),
    ("POST", f"{API}/benefit-rules"): frozenset({LEAD}),
    ("POST", f"{API}/benefit-rules/<int:version>/sign"): frozenset({ADMIN}),
    ("POST", f"{API}/benefit-rules/<int:version>/signatures"): frozenset({ADMIN, LEAD}),
    ("POST", f"{API}/benefit-rules/countersign"): frozenset({ADMIN}),
    ("POST", f"{API}/access-requests"): frozenset({RESEARCHER}),
    ("POST", f"{API}/access-requests/check"): frozenset({RESEARCHER, STEWARD}),
    ("PUT", f"{API}/access-requests/<request_id>"): frozenset({RESEARCHER}),
    ("POST", f"{API}/access-requests/<request_id>/withdraw"): frozenset({RESEARCHER}),
    ("POST", f"{API}/access-requests/<request_id>/return"): frozenset({STEWARD}),
    ("POST", f"{API}/access-requests/<request_id>/deny"): frozenset({STEWARD, DIRECTOR}),
    ("POST", f"{API}/access-requests/<request_id>/approve"): frozenset({STEWARD}),
    ("POST", f"{API}/access-requests/<request_id>/co-approve"): frozenset({DIRECTOR}),
    ("POST", f"{API}/grants/<grant_id>/revoke"): frozenset({STEWARD}),
    ("POST", f"{API}/grants/<grant_id>/outputs"): frozenset({RESEARCHER}),
    ("POST", f"{API}/grants/<grant_id>/deletion"): frozenset({RESEARCHER}),
    ("POST", f"{API}/datasets/<dataset_id>/consent-withdrawal"): frozenset({STEWARD}),
    ("POST", f"{API}/incidents"): frozenset({STEWARD, ADMIN}),
    ("POST", f"{API}/incidents/<incident_id>/suspend-grants"): frozenset({STEWARD}),
    ("POST", f"{API}/incidents/<incident_id>/close"): frozenset({STEWARD, ADMIN}),
    ("POST", f"{API}/contributions"): frozenset({STEWARD, ADMIN}),
    ("POST", f"{API}/costs"): frozenset({STEWARD, ADMIN}),
    ("POST", f"{API}/compensation/runs"): frozenset({LEAD}),
}
GUARDED: list[Route] = [route for route, allowed in MATRIX.items() if allowed is not OPEN]


def _route_id(route: Route) -> str:
    return f"{route[0]} {route[1].removeprefix(API)}"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.content_type == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"]
    return body


# --- the nodes the matrix runs against ---------------------------------------------------------


@dataclass
class World:
    """A node with one person (and token) per role, and a second member node to sign with.

    Shared by every cell on one database; each cell builds the objects it acts on itself, so
    cells do not depend on each other's outcome or order.
    """

    node: Node
    other: Node
    client: FlaskClient
    tokens: dict[str, str]
    serial: Iterator[int] = field(default_factory=itertools.count)

    def unique(self, stem: str) -> str:
        return f"{stem}{next(self.serial)}"


def _make_world(node: Node, other: Node) -> World:
    add_people(node)
    for a, b in ((node, other), (other, node)):
        members.add_member(a.ledger, OPERATOR, {"institution": b.name, "vkey": b.vkey})
    tokens = {role: token_for(node, username) for role, username in PEOPLE.items()}
    world = World(node, other, create_app(node).test_client(), tokens)
    _rules_to_pay_by(world)
    return world


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One world per database for the whole matrix, not a fresh database per cell: each cell
    builds what it acts on, so sharing the node costs no independence, only time saved."""
    base = tmp_path_factory.mktemp(f"authz-{request.param}")
    url: str | None = None
    admin = None
    name = f"consortium_test_{uuid.uuid4().hex[:12]}"
    if request.param == "postgresql":
        admin = request.getfixturevalue("pg_admin")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    node = init_node(base / "node", "St Example Hospital", database_url=url)
    other = init_node(base / "other", "North University")
    try:
        yield _make_world(node, other)
    finally:
        node.close()
        other.close()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- preconditions: what each route needs to succeed, built as the operator --------------------


@dataclass(frozen=True)
class Call:
    """A request that succeeds for an allowed role: path, body, status, entries it appends."""

    path: str
    body: dict[str, Any] | None
    status: int
    entries: int = 1


def _metadata(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": "Pseudonymised outpatient records, 2015-2024.",
        "sensitivity": "public-metadata",
        "consent": {"legal_basis": "consent", "secondary_use_consent": True},
        "deidentification": {"method": "pseudonymised"},
        "duo": {"permissions": ["HMB"]},
    }


def _approval_required(w: World, required: bool) -> None:
    with w.node.engine.connect() as conn:
        current = settings.current_settings(conn)["director_approval_required"]
    if current != required:
        settings.change_settings(w.node.ledger, OPERATOR, {"director_approval_required": required})


def _dataset(w: World, *, awaiting: bool = False, sensitive: bool = False) -> str:
    """A dataset registered by the operator: published, or awaiting a director's approval."""
    _approval_required(w, awaiting)
    metadata = _metadata(w.unique("Cohort "))
    if sensitive:
        metadata["sensitivity"] = "highly-sensitive"
    event = datasets.register_dataset(w.node.ledger, OPERATOR, metadata)
    return event.body["dataset"]


def _terms() -> dict[str, Any]:
    return {
        "term": {"start": "2030-01-01", "end": "2031-12-31"},
        "obligations": {"acknowledgement": "Data were provided by St Example Hospital."},
        "incidents": {"contact": "dpo@st-example.example"},
    }


def _draft_body(w: World, dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """A draft between this node (provider of a fresh published dataset) and the other."""
    return {
        "template": "non-commercial-health-research",
        "title": w.unique("Outpatient cohort for North University "),
        "parties": [
            {"origin": w.node.origin, "role": "provider"},
            {"origin": w.other.origin, "role": "recipient"},
        ],
        "datasets": [dataset or {"id": _dataset(w)}],
        "terms": _terms(),
    }


def _contract(w: World, status: str, *, sensitive: bool = False) -> str:
    """A contract of this node in ``status``: draft, proposed or active."""
    body = _draft_body(w, {"id": _dataset(w, sensitive=sensitive)})
    contract_id = lifecycle.draft_contract(w.node.ledger, OPERATOR, body).body["contract"]
    if status == lifecycle.DRAFT:
        return contract_id
    lifecycle.propose_contract(w.node.ledger, OPERATOR, contract_id)
    if status == lifecycle.PROPOSED:
        return contract_id
    lifecycle.sign_contract(w.node.ledger, w.node.key, OPERATOR, contract_id)
    lifecycle.add_signature(w.node.ledger, OPERATOR, contract_id, _other_signs(w, contract_id))
    assert lifecycle.get_contract(w.node.engine, contract_id)["status"] == lifecycle.ACTIVE
    return contract_id


def _other_signs(w: World, contract_id: str) -> dict[str, Any]:
    """The other party's signature, made with its own node key as `countersign` would."""
    document = lifecycle.get_contract(w.node.engine, contract_id)["document"]
    return {"party": w.other.origin, "signature": sign_document(w.other.key, document)}


def _proposal() -> dict[str, Any]:
    return {"event_weights": {"dataset.published": "1", "grant.issued": "2"}, "method": "equal"}


def _rules(w: World) -> int:
    return benefit_rules.propose_rules(w.node.ledger, OPERATOR, _proposal()).body["version"]


def _rules_to_pay_by(w: World) -> None:
    """Benefit rules both members accept and a publication to pay by, made when the world is:
    later cells add members, whose signatures these tests cannot make."""
    version = _rules(w)
    benefit_rules.sign_rules(w.node.ledger, w.node.key, OPERATOR, version)
    document = benefit_rules.get_rules(w.node.engine, version)["document"]
    signature = sign_document(w.other.key, document)
    benefit_rules.add_rules_signature(
        w.node.ledger, OPERATOR, version, {"member": w.other.origin, "signature": signature}
    )
    _dataset(w)


def _compensation_run(w: World, _: str) -> Call:
    """A period that has ended: the node's clock moves two days on (and stays there, so time
    never runs backwards). Each call pays in a currency of its own: a period is paid once
    per currency."""
    w.node.ledger.clock = lambda: datetime.now(UTC) + timedelta(days=2)
    today, n = datetime.now(UTC).date(), next(w.serial)
    period = {"start": str(today - timedelta(days=30)), "end": str(today + timedelta(days=1))}
    currency = "X" + chr(65 + n // 26 % 26) + chr(65 + n % 26)
    return Call(f"{API}/compensation/runs", {**period, "pool": "100", "currency": currency}, 201)


OLD_PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple battery horse"


def _password(w: World, username: str) -> Call:
    set_password(w.node.engine, username, OLD_PASSWORD)
    body = {"current_password": OLD_PASSWORD, "new_password": NEW_PASSWORD}
    return Call(f"{API}/me/password", body, 204, entries=0)  # credentials are node-local


def _notification(w: World, username: str) -> Call:
    """A notification for ``username`` as a projector adds one. No entry kind notifies every
    role, so it hangs on an attestation, which notifies no one by itself."""
    done = record_attestation(w.node.ledger, OPERATOR, {"statement": w.unique("Checked ")})
    with w.node.engine.begin() as conn:
        event = event_from_entry(conn, done.index, done.data)
        notifications.notify(conn, event, [username], "Checked", "Attested.", f"{API}/ledger")
    return Call(f"{API}/inbox/{event.index}:{username}/read", None, 200, entries=0)


def _new_person(w: World) -> str:
    username = w.unique("pat")
    add_person(
        w.node.ledger,
        OPERATOR,
        {"username": username, "display_name": "Pat", "roles": ["researcher"]},
    )
    return username


def _countersign_contract(w: World, _: str) -> Call:
    """A contract proposed on the other node that names this one as the provider."""
    o = w.other
    body = _draft_body(w, {"id": _dataset(w), "version": 1, "provider": w.node.origin})
    contract_id = lifecycle.draft_contract(o.ledger, OPERATOR, body).body["contract"]
    lifecycle.propose_contract(o.ledger, OPERATOR, contract_id)
    document = lifecycle.get_contract(o.engine, contract_id)["document"]
    return Call(f"{API}/contracts/countersign", {"document": document}, 200)


def _countersign_rules(w: World, _: str) -> Call:
    """Benefit rules proposed on the other node; they name this node as a member."""
    version = benefit_rules.propose_rules(w.other.ledger, OPERATOR, _proposal()).body["version"]
    document = benefit_rules.get_rules(w.other.engine, version)["document"]
    return Call(f"{API}/benefit-rules/countersign", {"document": document}, 200)


def _rules_signature(w: World, _: str) -> Call:
    version = _rules(w)
    document = benefit_rules.get_rules(w.node.engine, version)["document"]
    body = {"member": w.other.origin, "signature": sign_document(w.other.key, document)}
    return Call(f"{API}/benefit-rules/{version}/signatures", body, 201)


def _contract_signature(w: World, _: str) -> Call:
    contract_id = _contract(w, lifecycle.PROPOSED)
    return Call(f"{API}/contracts/{contract_id}/signatures", _other_signs(w, contract_id), 201)


def _settings(w: World, _: str) -> Call:
    with w.node.engine.connect() as conn:
        current = settings.current_settings(conn)["director_approval_required"]
    return Call(f"{API}/settings", {"director_approval_required": not current}, 200)


def _member(w: World, _: str) -> Call:
    key = vkey(f"consortium.example/{w.unique('member-')}", NodeKey.generate().public_key)
    return Call(f"{API}/members", {"institution": "South Clinic", "vkey": key}, 201)


def _ds(w: World, suffix: str, body: dict[str, Any], status: int, awaiting: bool = False) -> Call:
    return Call(f"{API}/datasets/{_dataset(w, awaiting=awaiting)}/{suffix}", body, status)


def _ctr(w: World, state: str, suffix: str, body: dict[str, Any] | None, status: int) -> Call:
    return Call(f"{API}/contracts/{_contract(w, state)}{suffix}", body, status)


def _access_body(w: World, *, sensitive: bool = False) -> dict[str, Any]:
    """A compatible request for a fresh dataset under a fresh active contract."""
    contract_id = _contract(w, lifecycle.ACTIVE, sensitive=sensitive)
    dataset_id = lifecycle.get_contract(w.node.engine, contract_id)["document"]["datasets"][0]
    return {
        "datasets": [{"id": dataset_id["id"]}],
        "project_title": w.unique("Outcomes study "),
        "purposes": [{"code": "HMB"}],
        "purpose_text": "Describe outcomes after discharge.",
        "investigator": "Dr Rita Rossi",
        "institution": "North University",
        "ethics_reference": "NU-REC-2030-7",
        "duration_months": 12,
        "commercial": False,
    }


def _researcher(w: World) -> Any:
    from consortium.auth.people import effective_actor

    with w.node.engine.connect() as conn:
        return effective_actor(conn, PEOPLE[RESEARCHER], None)


def _request(w: World, *, status: str = "submitted", sensitive: bool = False) -> str:
    """A request by the researcher, brought to ``status`` by the operator."""
    body = _access_body(w, sensitive=sensitive)
    request_id = access_requests.submit_request(w.node.ledger, _researcher(w), body).body["request"]
    if status == access_requests.RETURNED:
        access_requests.return_request(w.node.ledger, OPERATOR, request_id, {"reason": "more"})
    elif status == access_requests.AWAITING_SECOND:
        access_requests.approve_request(w.node.ledger, w.node.key, OPERATOR, request_id, {})
    return request_id


def _deny(w: World, username: str) -> Call:
    # A director denies at the second approval; a steward before it.
    second = username == PEOPLE[DIRECTOR]
    status = access_requests.AWAITING_SECOND if second else access_requests.SUBMITTED
    request_id = _request(w, status=status, sensitive=second)
    return Call(f"{API}/access-requests/{request_id}/deny", {"reason": "Out of scope."}, 200)


def _grant(w: World) -> str:
    request_id = _request(w)
    events = access_requests.approve_request(w.node.ledger, w.node.key, OPERATOR, request_id, {})
    return events[-1].body["grant"]


def _incident(w: World) -> str:
    body = {"severity": "high", "kind": "misuse", "description": "Data seen on a laptop."}
    event = access_incidents.report_incident(
        w.node.ledger, OPERATOR, {**body, "grants": [_grant(w)]}
    )
    return event.body["incident"]


_PUBLICATION = {"kind": "publication", "title": "HbA1c after surgery", "doi": "10.1000/xyz123"}
_INCIDENT = {"severity": "high", "kind": "breach", "description": "A laptop was stolen."}

Builder = Callable[[World, str], Call]
_PROFILE = {"profile": {"sha256": "0" * 64, "records": 1200, "bytes": 480_000}}
_P, _D, _A = lifecycle.PROPOSED, lifecycle.DRAFT, lifecycle.ACTIVE

# The precondition and a valid request for each route, given the acting username.
BUILDERS: dict[Route, Builder] = {
    ("PUT", f"{API}/me/password"): _password,
    ("PUT", f"{API}/me/email"): lambda w, username: Call(
        f"{API}/me/email", {"email": f"{username}@st-example.example"}, 200, entries=0
    ),  # node-local
    ("POST", f"{API}/inbox/<key>/read"): _notification,
    ("POST", f"{API}/people"): lambda w, _: Call(
        f"{API}/people",
        {"username": w.unique("alex"), "display_name": "Alex", "roles": ["researcher"]},
        201,
    ),
    ("PUT", f"{API}/people/<username>/roles"): lambda w, _: Call(
        f"{API}/people/{_new_person(w)}/roles", {"roles": ["auditor"]}, 200
    ),
    ("POST", f"{API}/people/<username>/deactivate"): lambda w, _: Call(
        f"{API}/people/{_new_person(w)}/deactivate", {"reason": "Left the hospital."}, 200
    ),
    ("POST", f"{API}/members"): _member,
    ("PUT", f"{API}/settings"): _settings,
    ("POST", f"{API}/attestations"): lambda w, _: Call(
        f"{API}/attestations", {"statement": "All copies deleted.", "subject": "contract:C-4"}, 201
    ),
    ("POST", f"{API}/datasets"): lambda w, _: Call(
        f"{API}/datasets", _metadata(w.unique("New cohort ")), 201
    ),
    ("POST", f"{API}/datasets/<dataset_id>/versions"): lambda w, _: _ds(
        w, "versions", _metadata(w.unique("Revised cohort ")), 201
    ),
    ("POST", f"{API}/datasets/<dataset_id>/approve"): lambda w, _: _ds(
        w, "approve", {"version": 1}, 200, awaiting=True
    ),
    ("POST", f"{API}/datasets/<dataset_id>/withdraw"): lambda w, _: _ds(
        w, "withdraw", {"reason": "Consent withdrawn."}, 200
    ),
    ("POST", f"{API}/datasets/<dataset_id>/profiles"): lambda w, _: _ds(
        w, "profiles", _PROFILE, 201
    ),
    ("POST", f"{API}/contracts"): lambda w, _: Call(f"{API}/contracts", _draft_body(w), 201),
    ("PATCH", f"{API}/contracts/<contract_id>"): lambda w, _: _ctr(
        w, _D, "", {"title": "Renamed"}, 200
    ),
    ("POST", f"{API}/contracts/<contract_id>/propose"): lambda w, _: _ctr(
        w, _D, "/propose", None, 200
    ),
    ("POST", f"{API}/contracts/<contract_id>/sign"): lambda w, _: _ctr(w, _P, "/sign", None, 200),
    ("POST", f"{API}/contracts/<contract_id>/signatures"): _contract_signature,
    ("POST", f"{API}/contracts/<contract_id>/terminate"): lambda w, _: _ctr(
        w, _P, "/terminate", {"reason": "The project was cancelled."}, 200
    ),
    ("POST", f"{API}/contracts/<contract_id>/amendments"): lambda w, _: _ctr(
        w, _A, "/amendments", {"title": "Amended"}, 201
    ),
    ("POST", f"{API}/contracts/countersign"): _countersign_contract,
    ("POST", f"{API}/benefit-rules"): lambda w, _: Call(f"{API}/benefit-rules", _proposal(), 201),
    ("POST", f"{API}/benefit-rules/<int:version>/sign"): lambda w, _: Call(
        f"{API}/benefit-rules/{_rules(w)}/sign", None, 200
    ),
    ("POST", f"{API}/benefit-rules/<int:version>/signatures"): _rules_signature,
    ("POST", f"{API}/benefit-rules/countersign"): _countersign_rules,
    ("POST", f"{API}/access-requests"): lambda w, _: Call(
        f"{API}/access-requests", _access_body(w), 201
    ),
    ("POST", f"{API}/access-requests/check"): lambda w, _: Call(
        f"{API}/access-requests/check", _access_body(w), 200, entries=0
    ),
    ("PUT", f"{API}/access-requests/<request_id>"): lambda w, _: Call(
        f"{API}/access-requests/{_request(w, status=access_requests.RETURNED)}",
        _access_body(w),
        200,
    ),
    ("POST", f"{API}/access-requests/<request_id>/withdraw"): lambda w, _: Call(
        f"{API}/access-requests/{_request(w)}/withdraw", {"reason": "Not needed."}, 200
    ),
    ("POST", f"{API}/access-requests/<request_id>/return"): lambda w, _: Call(
        f"{API}/access-requests/{_request(w)}/return", {"reason": "Add the ethics letter."}, 200
    ),
    ("POST", f"{API}/access-requests/<request_id>/deny"): _deny,
    ("POST", f"{API}/access-requests/<request_id>/approve"): lambda w, _: Call(
        f"{API}/access-requests/{_request(w)}/approve", {}, 200, entries=2
    ),
    ("POST", f"{API}/access-requests/<request_id>/co-approve"): lambda w, _: Call(
        f"{API}/access-requests/"
        f"{_request(w, status=access_requests.AWAITING_SECOND, sensitive=True)}/co-approve",
        {},
        200,
        entries=2,
    ),
    ("POST", f"{API}/grants/<grant_id>/revoke"): lambda w, _: Call(
        f"{API}/grants/{_grant(w)}/revoke", {"reason": "Misuse reported."}, 200
    ),
    ("POST", f"{API}/grants/<grant_id>/outputs"): lambda w, _: Call(
        f"{API}/grants/{_grant(w)}/outputs", _PUBLICATION, 201
    ),
    ("POST", f"{API}/grants/<grant_id>/deletion"): lambda w, _: Call(
        f"{API}/grants/{_grant(w)}/deletion", {"statement": "All copies deleted."}, 201
    ),
    ("POST", f"{API}/datasets/<dataset_id>/consent-withdrawal"): lambda w, _: _ds(
        w, "consent-withdrawal", {"reason": "Participants withdrew consent."}, 201
    ),
    ("POST", f"{API}/incidents"): lambda w, _: Call(f"{API}/incidents", _INCIDENT, 201),
    ("POST", f"{API}/incidents/<incident_id>/suspend-grants"): lambda w, _: Call(
        f"{API}/incidents/{_incident(w)}/suspend-grants", None, 200
    ),
    ("POST", f"{API}/incidents/<incident_id>/close"): lambda w, _: Call(
        f"{API}/incidents/{_incident(w)}/close", {"resolution": "Contained; no data lost."}, 200
    ),
    ("POST", f"{API}/contributions"): lambda w, _: Call(
        f"{API}/contributions",
        {"kind": "curation", "units": "12", "description": "Cleaned the visit records."},
        201,
    ),
    ("POST", f"{API}/costs"): lambda w, _: Call(
        f"{API}/costs",
        {"amount": "18000.00", "currency": "EUR", "description": "Secure enclave hosting."},
        201,
    ),
    ("POST", f"{API}/compensation/runs"): _compensation_run,
}


def _state(node: Node) -> tuple[int, dict[str, list[tuple[Any, ...]]], list[tuple[Any, ...]]]:
    """Everything a refused call must leave alone: ledger, projections, passwords."""
    with node.engine.connect() as conn:
        credentials = [
            tuple(r) for r in conn.execute(select(CREDENTIAL).order_by(CREDENTIAL.c.username))
        ]
    return node.ledger.size(), snapshot(node.engine), credentials


def _last_entry(node: Node) -> dict[str, Any]:
    size = node.ledger.size()
    return parse(node.ledger.entries(size - 1, size)[0])


def _send(client: FlaskClient, method: str, call: Call, token: str | None) -> TestResponse:
    headers = _auth(token) if token else {}
    return client.open(call.path, method=method, json=call.body, headers=headers)


# --- the tests ---------------------------------------------------------------------------------


def test_matrix_covers_every_state_changing_route(sqlite_node: Node) -> None:
    """A new endpoint must get a matrix row (and a precondition) before it ships."""
    app = create_app(sqlite_node)
    found = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(f"{API}/")
        for method in (rule.methods or set()) & STATE_CHANGING
    }
    assert found == set(MATRIX), (
        f"missing rows: {sorted(found - set(MATRIX))}; stale rows: {sorted(set(MATRIX) - found)}"
    )
    assert set(BUILDERS) == set(GUARDED)
    assert all(allowed is OPEN or allowed <= EVERYONE for allowed in MATRIX.values())


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
@pytest.mark.parametrize("route", GUARDED, ids=_route_id)
def test_only_intended_roles_succeed(world: World, route: Route, role: str) -> None:
    """One cell of the matrix. A refused call must change nothing, and the very same request
    must then succeed for an allowed role, so the refusal is about the role alone."""
    method, _ = route
    allowed = MATRIX[route]
    assert allowed is not OPEN
    # Who acts: the cell's role if it may, else an allowed role that then proves the request.
    acting_role = role if role in allowed else min(allowed, key=ROLES.index)
    acting = PEOPLE[acting_role]
    call = BUILDERS[route](world, acting)
    before = _state(world.node)

    if role in allowed:
        response = _send(world.client, method, call, world.tokens[role])
        assert response.status_code == call.status, response.text
        assert world.node.ledger.size() == before[0] + call.entries
        if call.entries:
            with world.node.engine.connect() as conn:
                assert _last_entry(world.node)["actor"] == pseudonym_of(conn, acting)
        return

    token = None if role == ANONYMOUS else world.tokens[role]
    # The same call with an empty body too: credentials are checked before the body, so a
    # refused caller learns nothing about validation (and a lost decorator shows up as 422).
    for sent in [call] if call.body is None else [call, replace(call, body={})]:
        response = _send(world.client, method, sent, token)
        if token is None:
            _problem(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert "role" in _problem(response, 403)["detail"]
        assert _state(world.node) == before

    witness = _send(world.client, method, call, world.tokens[acting_role])
    assert witness.status_code == call.status, f"{acting} could not: {witness.text}"


# --- sign-in and the credentials themselves -----------------------------------------------------


PASSWORD = "a long enough password"


@pytest.fixture
def client(node: Node) -> FlaskClient:
    add_people(node)
    return create_app(node).test_client()


def test_login_gives_a_working_token_and_writes_nothing(client: FlaskClient, node: Node) -> None:
    """Sign-in is open to anyone, so it must be neither a way in without the password nor a
    way to write on the ledger."""
    set_password(node.engine, "sam", PASSWORD)
    before = _state(node)

    r = client.post(f"{API}/auth/login", json={"username": "sam", "password": PASSWORD})
    assert r.status_code == 201, r.text
    issued = r.get_json()
    assert issued["username"] == "sam" and issued["roles"] == [STEWARD]
    assert _state(node) == before

    me = client.get(f"{API}/me", headers=_auth(issued["token"]))
    assert me.status_code == 200 and me.get_json()["username"] == "sam"
    done = client.post(
        f"{API}/attestations", json={"statement": "Signed in."}, headers=_auth(issued["token"])
    )
    assert done.status_code == 201, done.text
    with node.engine.connect() as conn:
        assert _last_entry(node)["actor"] == pseudonym_of(conn, "sam")


@pytest.mark.parametrize(
    ("username", "password"),
    [("sam", "not the password at all"), ("nobody", PASSWORD), ("rita", PASSWORD)],
    ids=["wrong-password", "unknown-user", "no-password-set"],
)
def test_login_refusals_write_nothing(
    client: FlaskClient, node: Node, username: str, password: str
) -> None:
    set_password(node.engine, "sam", PASSWORD)
    before = _state(node)
    r = client.post(f"{API}/auth/login", json={"username": username, "password": password})
    _problem(r, 401)
    assert _state(node) == before


def test_login_scoped_to_fewer_roles(client: FlaskClient, node: Node) -> None:
    """Asking for a subset of one's roles limits the token; asking for more is refused."""
    add_person(
        node.ledger,
        OPERATOR,
        {"username": "max", "display_name": "Max", "roles": [ADMIN, STEWARD]},
    )
    set_password(node.engine, "max", PASSWORD)
    login = {"username": "max", "password": PASSWORD}

    before = _state(node)
    _problem(client.post(f"{API}/auth/login", json={**login, "roles": [DIRECTOR]}), 403)
    assert _state(node) == before

    r = client.post(f"{API}/auth/login", json={**login, "roles": [STEWARD]})
    assert r.status_code == 201 and r.get_json()["roles"] == [STEWARD]
    token = r.get_json()["token"]
    person = {"username": "kim", "display_name": "Kim", "roles": ["researcher"]}
    _problem(client.post(f"{API}/people", json=person, headers=_auth(token)), 403)
    assert _state(node) == before
    ok = client.post(f"{API}/datasets", json=_metadata("Scoped"), headers=_auth(token))
    assert ok.status_code == 201, ok.text


def test_scoped_token_grants_only_its_roles(client: FlaskClient, node: Node) -> None:
    """A token limited to some roles must not act with the person's others."""
    add_person(
        node.ledger,
        OPERATOR,
        {"username": "max", "display_name": "Max", "roles": [ADMIN, STEWARD]},
    )
    as_steward = _auth(create_token(node.engine, "max", roles=[STEWARD])[0])
    as_admin = _auth(create_token(node.engine, "max", roles=[ADMIN])[0])
    as_both = _auth(create_token(node.engine, "max")[0])

    def person() -> dict[str, Any]:
        return {"username": f"p{uuid.uuid4().hex[:8]}", "display_name": "P", "roles": ["lead"]}

    before = _state(node)
    _problem(client.post(f"{API}/people", json=person(), headers=as_steward), 403)
    _problem(client.post(f"{API}/datasets", json=_metadata("x"), headers=as_admin), 403)
    _problem(
        client.post(f"{API}/benefit-rules/countersign", json={"document": {}}, headers=as_steward),
        403,
    )
    assert _state(node) == before

    assert (
        client.post(f"{API}/datasets", json=_metadata("a"), headers=as_steward).status_code == 201
    )
    assert client.post(f"{API}/people", json=person(), headers=as_admin).status_code == 201
    assert client.post(f"{API}/people", json=person(), headers=as_both).status_code == 201
    assert client.post(f"{API}/datasets", json=_metadata("b"), headers=as_both).status_code == 201


def test_taking_a_role_away_takes_effect_on_existing_tokens(
    client: FlaskClient, node: Node
) -> None:
    """Roles are re-read on every request: a token is not a frozen grant."""
    token = _auth(token_for(node, "sam"))
    assert client.post(f"{API}/datasets", json=_metadata("a"), headers=token).status_code == 201
    change_roles(node.ledger, OPERATOR, "sam", {"roles": ["researcher"]})
    before = _state(node)
    _problem(client.post(f"{API}/datasets", json=_metadata("b"), headers=token), 403)
    assert _state(node) == before


def test_deactivated_persons_token_is_refused(client: FlaskClient, node: Node) -> None:
    """Deactivation must end every session at once, not when the token expires."""
    set_password(node.engine, "sam", PASSWORD)
    token = _auth(token_for(node, "sam"))
    attestation = {"statement": "Before leaving."}
    assert client.post(f"{API}/attestations", json=attestation, headers=token).status_code == 201

    deactivate_person(node.ledger, OPERATOR, "sam", {"reason": "Left the hospital."})
    before = _state(node)
    for method, path, body in (
        ("POST", f"{API}/attestations", attestation),
        ("POST", f"{API}/datasets", _metadata("After leaving")),
        ("PUT", f"{API}/me/password", {"current_password": PASSWORD, "new_password": "x" * 20}),
        ("GET", f"{API}/me", None),
    ):
        r = client.open(path, method=method, json=body, headers=token)
        _problem(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    login = {"username": "sam", "password": PASSWORD}
    _problem(client.post(f"{API}/auth/login", json=login), 401)
    assert _state(node) == before
    assert check_password(node.engine, "sam", PASSWORD) is None


def test_revoked_token_is_refused(client: FlaskClient, node: Node) -> None:
    token = token_for(node, "ada")
    person = {"username": "kim", "display_name": "Kim", "roles": ["researcher"]}
    revoke_token(node.engine, token.split("_")[1])
    before = _state(node)
    r = client.post(f"{API}/people", json=person, headers=_auth(token))
    _problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert _state(node) == before
    # Another token of the same person still works: revocation is per token.
    fresh = _auth(token_for(node, "ada"))
    assert client.post(f"{API}/people", json=person, headers=fresh).status_code == 201
