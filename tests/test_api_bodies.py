"""What the API accepts as a request body and how its answers match its OpenAPI document.

Chunked bodies need a real server (the test client cannot send one the way gunicorn hands it
over); they are tested in test_server.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import add_people, token_for
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from consortium.api import create_app
from consortium.node import Node
from consortium.projections import snapshot

API = "/api/v1"


@pytest.fixture
def client(node: Node) -> FlaskClient:
    add_people(node)
    return create_app(node).test_client()


def _headers(node: Node, username: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token_for(node, username)}",
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize(
    ("username", "method", "path", "raw", "key"),
    [
        ("sam", "POST", "/attestations", '{"statement": "a", "statement": "b"}', "statement"),
        ("sam", "POST", "/attestations", '{"statement": "a", "details": {"n": 1, "n": 2}}', "n"),
        ("ada", "PUT", "/people/rita/roles", '{"roles": ["lead"], "roles": ["admin"]}', "roles"),
        ("rita", "PUT", "/me/email", '{"email": "r@x.example", "email": "m@y.example"}', "email"),
    ],
)
def test_a_json_key_given_twice_is_refused_and_changes_nothing(
    client: FlaskClient, node: Node, username: str, method: str, path: str, raw: str, key: str
) -> None:
    size, state = node.ledger.size(), snapshot(node.engine)
    headers = _headers(node, username)
    response = client.open(f"{API}{path}", method=method, data=raw, headers=headers)
    assert response.status_code == 400, response.text
    assert response.content_type == "application/problem+json"
    problem = response.get_json(force=True)
    assert problem["errors"] == {"json": {key: ["Given more than once; send each key once."]}}
    assert repr(key) in problem["detail"]
    assert node.ledger.size() == size and snapshot(node.engine) == state


def test_a_body_over_the_limit_is_413(client: FlaskClient, node: Node) -> None:
    size = node.ledger.size()
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    raw = '{"statement": "' + "x" * limit + '"}'
    response = client.post(f"{API}/attestations", data=raw, headers=_headers(node, "sam"))
    assert response.status_code == 413 and response.content_type == "application/problem+json"
    assert response.get_json(force=True)["detail"] == (
        f"The request body is over the limit of {limit} bytes."
    )
    assert node.ledger.size() == size


def _validator(client: FlaskClient, path: str, method: str, status: int) -> Draft202012Validator:
    """The response schema the OpenAPI document gives for ``method path`` and ``status``."""
    spec = client.get(f"{API}/openapi.json").get_json()
    content = spec["paths"][f"{API}{path}"][method]["responses"][str(status)]["content"]
    schema = content["application/json"]["schema"]
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(spec))
    return Draft202012Validator(_rebase(schema), registry=registry)


def _rebase(schema: Any) -> Any:
    """``#/components/...`` references, pointed into the OpenAPI document."""
    if isinstance(schema, dict):
        return {k: (f"urn:openapi{v}" if k == "$ref" else _rebase(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def test_people_answers_match_the_openapi_document(client: FlaskClient, node: Node) -> None:
    """Reads leave `entry` out (it was null against an integer schema); changes carry it."""
    admin = _headers(node, "ada")
    me = client.get(f"{API}/me", headers=admin)
    listed = client.get(f"{API}/people", headers=admin)
    changed = client.put(f"{API}/people/rita/roles", json={"roles": ["lead"]}, headers=admin)
    for response, path, method in (
        (me, "/me", "get"),
        (listed, "/people", "get"),
        (changed, "/people/{username}/roles", "put"),
    ):
        assert response.status_code == 200, response.text
        errors = list(_validator(client, path, method, 200).iter_errors(response.get_json()))
        assert errors == [], (path, [e.message for e in errors])
    assert "entry" not in me.get_json() and all("entry" not in p for p in listed.get_json())
    assert changed.get_json()["entry"] == node.ledger.size() - 1
