"""Query parameters: a route refuses the ones it does not take, naming them, and changes
nothing; the contribution report takes ``by``, the name `consortium report build` uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import add_people, token_for

from consortium.api import create_app
from consortium.node import Node

TODAY = datetime.now(UTC).date()
PERIOD = f"start={TODAY.replace(day=1)}&end={TODAY + timedelta(days=1)}"


@pytest.fixture
def client(sqlite_node: Node):
    add_people(sqlite_node)
    return create_app(sqlite_node).test_client()


def _get(client, node: Node, url: str, as_user: str | None):
    headers = {"Authorization": f"Bearer {token_for(node, as_user)}"} if as_user else {}
    return client.get(f"/api/v1{url}", headers=headers)


# (url, who asks, the unknown parameters it carries)
UNKNOWN = [
    ("/datasets?query=heart", None, ["query"]),
    ("/datasets/ds-1?v=2", None, ["v"]),
    ("/ledger/entries?begin=0&stop=5", None, ["begin", "stop"]),
    ("/ledger/proofs/inclusion?index=0&tree_size=1&size=1", None, ["size"]),
    ("/contracts?stat=active", None, ["stat"]),
    ("/contracts/ctr-1?ver=1", None, ["ver"]),
    ("/access-requests?state=submitted", "sam", ["state"]),
    ("/grants?status=active&holder=rita", "sam", ["holder"]),
    ("/inbox?unred=true", "rita", ["unred"]),
    (f"/reports/contributions?{PERIOD}&interval=month", "otto", ["interval"]),
]


@pytest.mark.parametrize(("url", "as_user", "unknown"), UNKNOWN)
def test_unknown_query_parameters_are_refused_by_name(
    client, sqlite_node: Node, url: str, as_user: str | None, unknown: list[str]
) -> None:
    size = sqlite_node.ledger.size()
    r = _get(client, sqlite_node, url, as_user)
    assert r.status_code == 400, r.text
    assert r.content_type == "application/problem+json"
    body = r.get_json(force=True)
    assert body["status"] == 400 and body["title"] == "Bad Request"
    assert sorted(body["errors"]["query"]) == unknown
    for name in unknown:
        assert name in body["detail"]
    assert sqlite_node.ledger.size() == size


@pytest.mark.parametrize(
    ("url", "as_user"),
    [
        ("/datasets?q=heart&status=published", None),
        ("/ledger/entries?start=0&end=1", None),
        ("/contracts?status=active", None),
        ("/access-requests?status=submitted", "sam"),
        ("/inbox?unread=true", "rita"),
    ],
)
def test_the_parameters_a_route_takes_are_answered(
    client, sqlite_node: Node, url: str, as_user: str | None
) -> None:
    r = _get(client, sqlite_node, url, as_user)
    assert r.status_code == 200, r.text


def test_a_report_takes_by_as_the_command_does(client, sqlite_node: Node) -> None:
    """``by`` passes the query check and reaches the report, which this node cannot build
    without benefit rules in force: a 409 from the domain, not a 400 about the query."""
    r = _get(client, sqlite_node, f"/reports/contributions?{PERIOD}&by=month", "otto")
    assert r.status_code == 409, r.text
    r = _get(client, sqlite_node, f"/reports/contributions?{PERIOD}&by=week", "otto")
    assert r.status_code == 422, r.text
    assert "by" in r.get_json(force=True)["errors"]["query"]


def test_the_openapi_document_names_by(client) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    get = spec["paths"]["/api/v1/reports/contributions"]["get"]
    names = {p["name"] for p in get["parameters"] if p["in"] == "query"}
    assert "by" in names and "interval" not in names
