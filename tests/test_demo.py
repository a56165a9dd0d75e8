"""The demo node is built through the real commands and must stay a valid example."""

from __future__ import annotations

from pathlib import Path

from consortium.api import create_app
from consortium.contracts.lifecycle import list_contracts
from consortium.demo import PEOPLE, TOKEN_FILE, create_demo
from consortium.notifications import inbox
from consortium.projections import rebuild, snapshot


def test_demo_node(tmp_path: Path) -> None:
    node = create_demo(tmp_path / "demo")
    assert node.audit().ok
    assert [c["status"] for c in list_contracts(node.engine)] == ["active"]
    tokens = dict(
        line.split("=", 1) for line in (tmp_path / "demo" / TOKEN_FILE).read_text().splitlines()
    )
    assert set(tokens) == set(PEOPLE)
    assert (tmp_path / "demo" / TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    client = create_app(node).test_client()
    public = client.get("/api/v1/datasets").get_json()
    assert len(public) == 1 and public[0]["metadata"]["title"].startswith("Heart failure")
    seen = client.get(
        "/api/v1/datasets", headers={"Authorization": f"Bearer {tokens['rita']}"}
    ).get_json()
    assert len(seen) == 2 and all("metadata" in d for d in seen)
    # Access: one granted request with a reported preprint, one waiting for the steward, and
    # the named contributor with an account told of both the grant and the preprint.
    sam = {"Authorization": f"Bearer {tokens['sam']}"}
    queue = client.get("/api/v1/access-requests", headers=sam).get_json()
    assert sorted(r["status"] for r in queue) == ["approved", "submitted"]
    [grant] = client.get("/api/v1/grants", headers=sam).get_json()
    assert grant["status"] == "active"
    assert [n["kind"] for n in inbox(node.engine, "mei")] == ["output.reported", "grant.issued"]
    live = snapshot(node.engine)
    rebuild(node.ledger)
    assert snapshot(node.engine) == live
    node.close()
