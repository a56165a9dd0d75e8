"""Compensation runs: a period's pool paid by credit, carried over below the minimum, once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import scenario
from click.testing import CliRunner
from conftest import token_for
from forgery import Forgery
from marshmallow import ValidationError

from consortium.alliance import compensation
from consortium.alliance.ledgers import LedgerReadError
from consortium.api import create_app
from consortium.cli import main
from consortium.contracts.signing import document_digest
from consortium.crypto.keys import NodeKey
from consortium.crypto.note import vkey
from consortium.disclosure.views import export_ledger
from consortium.errors import Conflict, Forbidden, Invalid
from consortium.node import Node
from consortium.registry import datasets
from consortium.registry.keyring import Keyring

PROPOSAL = {"event_weights": scenario.CREDIT_WEIGHTS, "method": "proportional"}
World = scenario.CreditWorld


@pytest.fixture
def world(credit_world: World) -> World:
    return credit_world


def days_on(node: Node, days: int) -> date:
    """Move the node's clock ``days`` ahead of real time; returns the real today."""
    node.ledger.clock = lambda: datetime.now(UTC) + timedelta(days=days)
    return datetime.now(UTC).date()


def run(node: Node, start: date, end: date, pool: str, **extra: str) -> dict[str, Any]:
    payload = {"start": str(start), "end": str(end), "pool": pool, "currency": "EUR", **extra}
    event = compensation.run_compensation(node.ledger, scenario.actor(node, "lee"), payload)
    return event.body


def paid(body: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    return {
        (p["origin"], p["name"]): (p["allocated"], p["carried_in"], p["paid"], p["carried"])
        for p in body["payees"]
    }


def test_a_run_pays_by_credit_and_carries_small_amounts_over(world: World) -> None:
    hospital, institute, _ = world
    h, i = hospital.origin, institute.origin
    version = scenario.accepted_rules(hospital, institute, PROPOSAL)
    today = days_on(hospital, 3)
    first = run(
        hospital, today - timedelta(days=1), today + timedelta(days=2), "1000", minimum="50"
    )

    # Credit 10 in all (see test_shares): the hospital's 7.775 own, the contract's split of
    # the grant and the publication to the nursing team and the fund, 0.125 to the institute.
    assert paid(first) == {
        (h, "St Example Hospital"): ("777.50", "0.00", "777.50", "0.00"),
        (h, "Diabetes nursing team"): ("140.00", "0.00", "140.00", "0.00"),
        (h, "Patient fund"): ("70.00", "0.00", "70.00", "0.00"),
        (i, "Northern Genomics Institute"): ("12.50", "0.00", "0.00", "12.50"),
    }
    assert first["pool"] == "1000.00" and first["minimum"] == "50.00"
    assert first["method"] == "proportional"
    rules_doc = scenario.rules.get_rules(hospital.engine, version)["document"]
    assert first["rules"] == {
        "proposer": h,
        "version": version,
        "digest": document_digest(rules_doc),
    }
    [cut] = first["checkpoints"]
    assert cut["origin"] == h and cut["size"] == hospital.ledger.size() - 1  # read up to itself
    assert cut["note"] == hospital.ledger.latest_checkpoint()

    # A later period: a dataset derived from the institute's earns 1, half of it theirs.
    sam = scenario.actor(hospital, "sam")
    days_on(hospital, 10)
    derived = [{"dataset": "ds-remote0001", "publisher": i, "weight": "1"}]
    datasets.register_dataset(
        hospital.ledger, sam, scenario.metadata(title="Variant calls", derived_from=derived)
    )
    days_on(hospital, 13)
    second = run(
        hospital, today + timedelta(days=2), today + timedelta(days=12), "100", minimum="50"
    )
    assert paid(second) == {
        (h, "St Example Hospital"): ("50.00", "0.00", "50.00", "0.00"),
        (i, "Northern Genomics Institute"): ("50.00", "12.50", "62.50", "0.00"),
    }
    listed = compensation.list_runs(hospital.engine, scenario.actor(hospital, "lee"))
    assert [r["id"] for r in listed] == [first["run"], second["run"]]
    shown = compensation.get_run(hospital.engine, scenario.actor(hospital, "ada"), second["run"])
    assert shown["payees"] == second["payees"]


def test_refused_runs_leave_no_trace(world: World) -> None:
    hospital, institute, _ = world
    today = datetime.now(UTC).date()
    week = (today - timedelta(days=7), today)
    size = hospital.ledger.size()

    def refused(
        error: type[Exception], start: date, end: date, pool: str = "100", **kw: str
    ) -> str:
        with pytest.raises(error) as exc:
            run(hospital, start, end, pool, **kw)
        assert hospital.ledger.size() == size
        return str(getattr(exc.value, "errors", None) or getattr(exc.value, "messages", exc.value))

    assert "pay it once it is over" in refused(Invalid, today, today + timedelta(days=1))
    assert "no benefit rules were in force" in refused(Conflict, *week)
    with pytest.raises(Forbidden):
        compensation.run_compensation(
            hospital.ledger,
            scenario.actor(hospital, "sam"),
            {"start": str(week[0]), "end": str(week[1]), "pool": "100", "currency": "EUR"},
        )
    assert "the period must end after it starts" in refused(ValidationError, today, today)
    assert "an amount such as" in refused(ValidationError, *week, pool="12.345")
    assert "must be more than zero" in refused(ValidationError, *week, pool="0")
    assert "1, 0.1, 0.01" in refused(ValidationError, *week, quantum="0.05")

    scenario.accepted_rules(hospital, institute, PROPOSAL)
    size = hospital.ledger.size()
    days_on(hospital, 3)
    tomorrow = today + timedelta(days=1)
    assert "nothing to pay by" in refused(Conflict, tomorrow, tomorrow + timedelta(days=1))
    period = (today, today + timedelta(days=2))
    assert "not a whole number" in refused(Invalid, *period, pool="100.5", quantum="1")
    run(hospital, today, today + timedelta(days=2), "100")
    size = hospital.ledger.size()
    assert "a period is paid once" in refused(
        Conflict, today + timedelta(days=1), today + timedelta(days=3)
    )
    # Another currency is another pool: the same period may be paid in it.
    compensation.run_compensation(
        hospital.ledger,
        scenario.actor(hospital, "lee"),
        {
            "start": str(today),
            "end": str(today + timedelta(days=2)),
            "pool": "5",
            "currency": "CHF",
        },
    )


def test_runs_at_the_console(world: World, tmp_path: Path) -> None:
    hospital, institute, _ = world
    scenario.accepted_rules(hospital, institute, PROPOSAL)
    today = days_on(hospital, 3)
    body = run(hospital, today - timedelta(days=1), today + timedelta(days=2), "1000")
    hospital.close()
    home = str(tmp_path / "hospital")

    def cli(*args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(main, ["--data-dir", home, *args])
        assert (result.exit_code == 0) is ok, result.output
        return result.output

    listed = cli("compensation", "list", "--as", "lee")
    assert (
        body["run"] in listed and "1000.00 EUR" in listed and "paid 1000.00 to 4 payees" in listed
    )
    shown = cli("compensation", "show", body["run"], "--as", "ada")
    assert "Diabetes nursing team" in shown and "140.00" in shown
    assert (
        json.loads(cli("compensation", "show", body["run"], "--json"))["payees"] == body["payees"]
    )
    # The console's clock is the real one: the period just paid has not ended by it.
    end = str(today + timedelta(days=2))
    refused = cli("compensation", "run", "--from", str(today), "--to", end, "--pool", "10",
                  "--currency", "EUR", "--as", "lee", ok=False)  # fmt: skip
    assert refused.startswith("Error: the period has not ended (end: the period runs until")
    assert "Error: no compensation run 'run-nope'" in cli(
        "compensation", "show", "run-nope", ok=False
    )


def paid_and_exported(world: World, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """A run under accepted rules, and a bundle of the hospital's ledger that holds it."""
    hospital, institute, _ = world
    scenario.accepted_rules(hospital, institute, PROPOSAL)
    today = days_on(hospital, 3)
    body = run(hospital, today - timedelta(days=1), today + timedelta(days=2), "1000")
    hospital.ledger.checkpoint()
    own = tmp_path / "hospital.jsonl"
    export_ledger(hospital.ledger, hospital.name, hospital.public_key, own, audience="members")
    return body, own


def test_anyone_pays_a_run_again_from_bundles(world: World, tmp_path: Path) -> None:
    hospital, institute, _ = world
    body, own = paid_and_exported(world, tmp_path)
    keys = Keyring.pinned([hospital.vkey])
    found, differences = compensation.verify_run(body["run"], [own], keyring=keys)
    assert found == body and differences == []

    with pytest.raises(LedgerReadError, match="no bundle given holds compensation run 'run-x'"):
        compensation.verify_run("run-x", [own], keyring=keys)
    peer = tmp_path / "institute.jsonl"
    export_ledger(institute.ledger, institute.name, institute.public_key, peer, audience="members")
    with pytest.raises(LedgerReadError, match="the run did not read the ledger of"):
        compensation.verify_run(body["run"], [own, peer], keyring=keys)

    # A node that signed a run paying someone else: the recomputation names every amount.
    doctored = {**body, "run": "run-doctored", "payees": [
        {**p, "paid": "0.00"} if p["kind"] == "fund" else p for p in body["payees"]
    ]}  # fmt: skip
    hospital.ledger.append(compensation.RUN, "lee", doctored)
    hospital.ledger.checkpoint()
    export_ledger(hospital.ledger, hospital.name, hospital.public_key, own, audience="members")
    _, differences = compensation.verify_run("run-doctored", [own], keyring=keys)
    [fund] = [i for i, p in enumerate(body["payees"]) if p["kind"] == "fund"]
    assert differences == [f"payees.{fund}.paid: it says '0.00', the ledgers give '70.00'"]

    hospital.close()
    result = CliRunner().invoke(
        main, ["compensation", "verify", "run-doctored", "--bundle", str(own), "--vkey",
               hospital.vkey],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Error: 1 amount of the run run-doctored (1000.00 EUR" in result.output
    result = CliRunner().invoke(main, ["compensation", "verify", body["run"], "--bundle", str(own),
                                       "--data-dir", str(tmp_path / "institute")])  # fmt: skip
    assert result.exit_code == 0 and "Every amount of the run" in result.output
    assert "checked with the key this node recorded for the member" in result.output


def test_a_run_in_a_ledger_signed_again_under_the_origin_is_refused(
    world: World, tmp_path: Path
) -> None:
    """Mallory re-signs the hospital's ledger, its run and the cut the run names, with a fresh
    key under the hospital's origin: every amount recomputes, so only a trusted key tells."""
    hospital, institute, _ = world
    body, own = paid_and_exported(world, tmp_path)
    mallory = Forgery(NodeKey.generate())
    forged = mallory.resign(own, tmp_path / "forged.jsonl")
    # Consistent in itself: checked with the key it names, every amount holds.
    own_key = Keyring.pinned([vkey(hospital.origin, mallory.key.public_key)])
    assert compensation.verify_run(body["run"], [forged], keyring=own_key)[1] == []
    real = Keyring.pinned([hospital.vkey])
    assert compensation.verify_run(body["run"], [own], keyring=real)[1] == []
    with pytest.raises(LedgerReadError, match="not signed by the trusted verifier key"):
        compensation.verify_run(body["run"], [forged], keyring=real)
    with pytest.raises(LedgerReadError, match="not signed by the trusted verifier key"):
        compensation.verify_run(
            body["run"], [forged], keyring=Keyring().add_recorded(institute.engine)
        )
    hospital.close()
    for bundle in (own, forged):  # no key and no node: refused, saying why
        result = CliRunner().invoke(main, ["compensation", "verify", body["run"], "--bundle",
                                           str(bundle)])  # fmt: skip
        assert result.exit_code == 1
        assert result.output.startswith(
            f"Error: no trusted key for {hospital.origin}: pin the vkey each node publishes"
        )


def test_runs_over_the_api(world: World) -> None:
    hospital, institute, _ = world
    scenario.accepted_rules(hospital, institute, PROPOSAL)
    client = create_app(hospital).test_client()
    lee = {"Authorization": f"Bearer {token_for(hospital, 'lee')}"}
    today = days_on(hospital, 3)
    size = hospital.ledger.size()
    bad = client.post(
        "/api/v1/compensation/runs",
        json={"start": str(today), "end": str(today), "pool": "-5", "currency": "euro"},
        headers=lee,
    )
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert bad.get_json()["errors"]["json"] == {
        "currency": ["an ISO 4217 code such as EUR"],
        "pool": ["an amount such as 10000 or 10000.50"],
    }
    empty = client.post(
        "/api/v1/compensation/runs",
        json={"start": str(today), "end": str(today), "pool": "5", "currency": "EUR"},
        headers=lee,
    )
    assert empty.get_json()["errors"]["json"] == {"end": ["the period must end after it starts"]}
    assert hospital.ledger.size() == size
    period = {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=2))}
    made = client.post(
        "/api/v1/compensation/runs", json={**period, "pool": "10", "currency": "EUR"}, headers=lee
    )
    assert made.status_code == 201, made.text
    run_id = made.get_json()["id"]
    assert made.get_json()["entry"] == size
    assert [r["id"] for r in client.get("/api/v1/compensation/runs", headers=lee).get_json()] == [
        run_id
    ]
    shown = client.get(f"/api/v1/compensation/runs/{run_id}", headers=lee).get_json()
    assert shown["pool"] == "10.00" and len(shown["payees"]) == 4
    assert client.get("/api/v1/compensation/runs/run-nope", headers=lee).status_code == 404
    again = client.post(
        "/api/v1/compensation/runs", json={**period, "pool": "10", "currency": "EUR"}, headers=lee
    )
    assert again.status_code == 409 and "a period is paid once" in again.get_json()["detail"]
    rita = {"Authorization": f"Bearer {token_for(hospital, 'rita')}"}
    assert client.get("/api/v1/compensation/runs", headers=rita).status_code == 403


def test_rules_from_proposal_to_acceptance_at_the_console(world: World, tmp_path: Path) -> None:
    hospital, institute, _ = world
    hospital.close()
    institute.close()
    home, other = str(tmp_path / "hospital"), str(tmp_path / "institute")

    def cli(*args: str) -> str:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    proposal = tmp_path / "rules.json"
    proposal.write_text(json.dumps({**PROPOSAL, "derived_keep": "0.25"}))
    assert "Proposed benefit rules version 1" in cli(
        "--data-dir", home, "rules", "propose", str(proposal), "--as", "lee"
    )
    cli("--data-dir", home, "rules", "sign", "1", "--as", "ada")
    exported = CliRunner().invoke(main, ["--data-dir", home, "rules", "export", "1"])
    document = json.loads(exported.stdout)
    assert document["derived_keep"] == "0.25" and "digest " in exported.stderr
    file = tmp_path / "document.json"
    file.write_text(exported.stdout)
    signed = cli("--data-dir", other, "rules", "countersign", str(file), "--as", "ada")
    member, signature = signed.split("--member ")[1].split()[0], signed.strip().splitlines()[-1]
    cli("--data-dir", home, "rules", "add-signature", "1", "--member", member,
        "--signature", signature, "--as", "lee")  # fmt: skip
    assert cli("--data-dir", home, "rules", "list").splitlines()[-1] == "in force: v1"


def test_a_run_reads_members_bundles_too(world: World, tmp_path: Path) -> None:
    hospital, institute, _ = world
    scenario.accepted_rules(hospital, institute, PROPOSAL)
    peer = tmp_path / "institute.jsonl"
    export_ledger(institute.ledger, institute.name, institute.public_key, peer, audience="members")
    today = days_on(hospital, 3)
    size = hospital.ledger.size()
    lee = scenario.actor(hospital, "lee")
    payload = {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=2)),
               "pool": "100", "currency": "EUR"}  # fmt: skip
    with pytest.raises(Invalid, match=r"was exported on .*, before the period ended: ask for a"):
        compensation.run_compensation(hospital.ledger, lee, payload, [peer])
    days_on(institute, 3)  # the institute exports once the period is over
    export_ledger(institute.ledger, institute.name, institute.public_key, peer, audience="members")
    own = tmp_path / "hospital.jsonl"
    export_ledger(hospital.ledger, hospital.name, hospital.public_key, own, audience="members")
    with pytest.raises(Invalid, match="is this node's own ledger: it is read directly"):
        compensation.run_compensation(hospital.ledger, lee, payload, [own])
    assert hospital.ledger.size() == size
    body = compensation.run_compensation(hospital.ledger, lee, payload, [peer]).body
    assert [c["origin"] for c in body["checkpoints"]] == sorted([hospital.origin, institute.origin])
    hospital.ledger.checkpoint()
    export_ledger(hospital.ledger, hospital.name, hospital.public_key, own, audience="members")
    keys = Keyring.pinned([hospital.vkey, institute.vkey])
    assert compensation.verify_run(body["run"], [own, peer], keyring=keys)[1] == []
