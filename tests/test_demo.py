"""The demo node is built through the real commands and must stay a valid example."""

from __future__ import annotations

from pathlib import Path

from consortium.api import create_app
from consortium.contracts.lifecycle import list_contracts
from consortium.demo import PEOPLE, TOKEN_FILE, create_demo
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
    live = snapshot(node.engine)
    rebuild(node.ledger)
    assert snapshot(node.engine) == live
    node.close()
