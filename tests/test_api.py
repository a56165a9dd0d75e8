"""The HTTP API through Flask's test client (the real app, in process)."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import orjson
import pytest
import rfc8785
from conftest import PEOPLE, add_people, token_for
from sqlalchemy import select

from consortium.api import create_app
from consortium.auth.tokens import TOKEN, create_token, revoke_token
from consortium.crypto.note import Checkpoint, Verifier
from consortium.disclosure.store import pseudonym_of
from consortium.ledger import merkle
from consortium.node import Node


@pytest.fixture
def client(node: Node):
    return create_app(node).test_client()


@pytest.fixture
def token(node: Node) -> str:
    add_people(node)
    return token_for(node, "sam")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.content_type == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"]
    return body


def test_node_describes_itself(client, node: Node) -> None:
    body = client.get("/api/v1/node").get_json()
    assert body["name"] == "Test Hospital"
    assert body["origin"] == node.origin
    assert base64.b64decode(body["public_key"]) == node.public_key
    assert Verifier.parse(body["vkey"]).public_key == node.public_key


def test_attestation_is_signed_chained_and_provable(client, node: Node, token: str) -> None:
    r = client.post(
        "/api/v1/attestations",
        json={"statement": "All copies deleted.", "subject": "contract:C-4"},
        headers=_auth(token),
    )
    assert r.status_code == 201, r.text
    recorded = r.get_json()
    i = recorded["index"]
    assert i == node.ledger.size() - 1  # after the genesis entry and the people
    with node.engine.connect() as conn:  # people are named on the ledger by pseudonym
        assert recorded["entry"]["actor"] == pseudonym_of(conn, "sam")
    assert recorded["entry"]["body"] == {
        "statement": "All copies deleted.",
        "subject": "contract:C-4",
    }

    node.ledger.checkpoint()  # what the scheduler does every few seconds
    note = client.get("/api/v1/ledger/checkpoint")
    assert note.content_type.startswith("text/plain")
    cp = Checkpoint.open(note.text, Verifier.parse(node.vkey), node.origin)
    assert cp.size == i + 1

    page = client.get("/api/v1/ledger/entries?start=0").get_json()
    assert [e["index"] for e in page["entries"]] == list(range(i + 1))
    leaf = merkle.leaf_hash(rfc8785.dumps(page["entries"][i]))
    assert base64.b64encode(leaf).decode() == recorded["leaf_hash"]

    proof = client.get(f"/api/v1/ledger/proofs/inclusion?index={i}&tree_size={i + 1}").get_json()
    assert proof["index"] == i and proof["tree_size"] == i + 1
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    assert merkle.verify_inclusion(leaf, i, i + 1, hashes, cp.root)


def test_entries_are_served_as_stored_bytes(client, node: Node) -> None:
    for i in range(4):
        node.ledger.append("attestation", "bob", {"statement": f"s{i}", "unicode": "北京 é"})
    raw = client.get("/api/v1/ledger/entries?start=1&end=4").data
    stored = node.ledger.entries(1, 4)
    for entry in stored:
        assert entry in raw
    page = orjson.loads(raw)
    assert (page["start"], page["end"], page["tree_size"], page["next"]) == (1, 4, 5, 4)
    assert [rfc8785.dumps(e) for e in page["entries"]] == stored


def test_entries_page_is_bounded(client, node: Node) -> None:
    with node.ledger.transaction() as tx:
        for i in range(1100):
            tx.append("attestation", "bob", {"statement": str(i)})
    page = client.get("/api/v1/ledger/entries?start=0&end=1101").get_json()
    assert len(page["entries"]) == 1000 and page["next"] == 1000
    last = client.get("/api/v1/ledger/entries?start=1000").get_json()
    assert len(last["entries"]) == 101 and last["next"] is None
    empty = client.get("/api/v1/ledger/entries?start=1101").get_json()
    assert empty["entries"] == [] and empty["next"] is None


def test_consistency_proof_links_checkpoints(client, node: Node) -> None:
    old = Checkpoint.open(node.ledger.latest_checkpoint(), Verifier.parse(node.vkey))
    for i in range(9):
        node.ledger.append("attestation", "bob", {"statement": str(i)})
    node.ledger.checkpoint()
    new = Checkpoint.open(client.get("/api/v1/ledger/checkpoint").text, Verifier.parse(node.vkey))
    body = client.get(f"/api/v1/ledger/proofs/consistency?first={old.size}&second={new.size}")
    proof = [base64.b64decode(h) for h in body.get_json()["hashes"]]
    assert merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/api/v1/ledger/entries?start=abc", 422, "start"),
        ("/api/v1/ledger/entries?start=-1", 422, "start"),
        ("/api/v1/ledger/entries?start=5&end=5", 422, "end"),
        ("/api/v1/ledger/entries?start=99", 400, None),
        ("/api/v1/ledger/entries?start=99999999999999999999999", 422, "start"),
        ("/api/v1/ledger/proofs/inclusion?index=0", 422, "tree_size"),
        ("/api/v1/ledger/proofs/inclusion?index=1&tree_size=1", 400, None),
        ("/api/v1/ledger/proofs/inclusion?index=0&tree_size=2", 400, None),
        ("/api/v1/ledger/proofs/inclusion?index=x&tree_size=1", 422, "index"),
        ("/api/v1/ledger/proofs/consistency?first=0&second=1", 422, "first"),
        ("/api/v1/ledger/proofs/consistency?first=2&second=1", 400, None),
        ("/api/v1/ledger/proofs/consistency?first=1&second=9", 400, None),
        ("/api/v1/ledger/proofs/consistency?first=1", 422, "second"),
    ],
)
def test_bad_parameters_are_4xx_problems(client, url: str, status: int, field: str | None) -> None:
    body = _problem(client.get(url), status)
    if field:
        assert field in body["errors"]["query"]
    else:
        assert body["detail"]


def test_unknown_paths_and_methods_are_problems(client) -> None:
    _problem(client.get("/api/v1/nothing"), 404)
    response = client.delete("/api/v1/node")
    _problem(response, 405)
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "statement"),
        ({"statement": "   "}, "statement"),
        ({"statement": "x" * 4001}, "statement"),
        ({"statement": "ok", "subject": ""}, "subject"),
        ({"statement": "ok", "details": {"ratio": 0.5}}, "details"),
        ({"statement": "ok", "details": {"big": 2**60}}, "details"),
        ({"statement": "ok", "details": {"x": "y" * 20000}}, "details"),
        ({"statement": "ok", "surprise": 1}, "surprise"),
        ({"statement": 5}, "statement"),
    ],
)
def test_invalid_attestations_change_nothing(
    client, node: Node, token: str, payload: dict, field: str
) -> None:
    before = node.ledger.size()
    body = _problem(client.post("/api/v1/attestations", json=payload, headers=_auth(token)), 422)
    assert field in body["errors"]["json"]
    assert node.ledger.size() == before


def test_malformed_json_body_is_a_problem(client, node: Node, token: str) -> None:
    headers = {**_auth(token), "Content-Type": "application/json"}
    _problem(client.post("/api/v1/attestations", data="{not json", headers=headers), 400)
    assert node.ledger.size() == 1 + len(PEOPLE)


def test_attestations_need_a_valid_token(client, node: Node, token: str) -> None:
    payload = {"statement": "hello"}
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer cst_0000000000_" + "A" * 43},
        {"Authorization": "Bearer " + token[:-1] + ("A" if token[-1] != "A" else "B")},
    ):
        r = client.post("/api/v1/attestations", json=payload, headers=headers)
        _problem(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # Unauthenticated callers learn nothing about validation either.
    _problem(client.post("/api/v1/attestations", json={}), 401)
    assert node.ledger.size() == 1 + len(PEOPLE)

    token_id = token.split("_")[1]
    revoke_token(node.engine, token_id)
    _problem(client.post("/api/v1/attestations", json=payload, headers=_auth(token)), 401)


def test_expired_token_is_refused(client, node: Node) -> None:
    add_people(node)
    secret, info = create_token(node.engine, "sam", timedelta(seconds=1))
    from sqlalchemy import update

    with node.engine.begin() as conn:
        conn.execute(
            update(TOKEN)
            .where(TOKEN.c.token_id == info.token_id)
            .values(expires_at=info.created_at - timedelta(days=1))
        )
    _problem(
        client.post("/api/v1/attestations", json={"statement": "x"}, headers=_auth(secret)), 401
    )


def test_tokens_are_stored_hashed(node: Node) -> None:
    add_people(node)
    secret, info = create_token(node.engine, "sam")
    with node.engine.connect() as conn:
        row = conn.execute(select(TOKEN).where(TOKEN.c.token_id == info.token_id)).one()
    stored = repr(tuple(row))
    random_part = secret.split("_", 2)[2]  # the random part may itself contain "_"
    assert len(random_part) == 43
    assert secret not in stored
    assert random_part not in stored


def test_openapi_documents_every_route(client) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    routes = {
        (re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in client.application.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and not rule.rule.endswith("openapi.json")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (path, m) for path, ops in spec["paths"].items() for m in ops if m != "parameters"
    }
    assert routes == documented
    schemas = spec["components"]["schemas"]
    for name in ("Attestation", "Entry", "EntryPage", "InclusionProof", "ConsistencyProof"):
        assert name in schemas
    for name in ("DatasetMetadata", "DatasetView", "Draft", "ContractView", "Proposal", "Person"):
        assert name in schemas
    for path, method in routes:
        operation = spec["paths"][path][method]
        if path == "/api/v1/witness/add-checkpoint":
            # Open to any caller: the checkpoint's signature by a member's log is the credential.
            assert not operation.get("security"), (path, method)
        elif method != "get" and path != "/api/v1/auth/login":
            # Every state change is documented as needing a token.
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("field", ["statement", "subject"])
def test_lone_surrogates_are_refused(client, node: Node, token: str, field: str) -> None:
    payload = {"statement": "ok", field: "\ud800x"}
    body = _problem(client.post("/api/v1/attestations", json=payload, headers=_auth(token)), 422)
    assert field in body["errors"]["json"]
    assert node.ledger.size() == 1 + len(PEOPLE)


def test_absurdly_nested_body_is_a_problem(client, node: Node, token: str) -> None:
    headers = {**_auth(token), "Content-Type": "application/json"}
    deep = "[" * 100_000 + "]" * 100_000
    _problem(client.post("/api/v1/attestations", data=deep, headers=headers), 400)
    assert node.ledger.size() == 1 + len(PEOPLE)
