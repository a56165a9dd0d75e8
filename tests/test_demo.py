"""The demo node is built through the real commands and must stay a valid example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
    # The alliance: rules both members signed, so the lead's report has credit to show.
    lee = {"Authorization": f"Bearer {tokens['lee']}"}
    today = datetime.now(UTC).date()
    period = f"start={today.replace(day=1)}&end={today + timedelta(days=1)}"
    signed = client.get(f"/api/v1/reports/contributions?{period}", headers=lee).get_json()
    assert signed["rules"]["method"] == "shapley"
    [hospital] = [i for i in signed["summary"]["institutions"] if i["origin"] == node.origin]
    # 2 datasets, 1 grant (2), 1 preprint (3), 12,000 EUR at 0.0001 (1.2): all the hospital's.
    assert hospital["credit"]["shapley"] == "8.200000" and hospital["share"] == "100.00"
    # The consortium: founded by the hospital, the institute admitted by both.
    versions = client.get("/api/v1/federation/membership").get_json()
    assert [(v["version"], v["status"], len(v["signatures"])) for v in versions] == [
        (2, "accepted", 2), (1, "accepted", 1),
    ]  # fmt: skip
    live = snapshot(node.engine)
    rebuild(node.ledger)
    assert snapshot(node.engine) == live
    node.close()
