"""Costs and declared contributions: signed entries the benefit rules can weigh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import scenario
from click.testing import CliRunner
from conftest import refused, token_for

from consortium.alliance import contributions
from consortium.api import create_app
from consortium.cli import main
from consortium.errors import Forbidden, Invalid
from consortium.node import Node
from consortium.registry import datasets

COST = {"amount": "18000.00", "currency": "EUR", "description": "Secure enclave hosting"}
EFFORT = {"kind": "curation", "units": "12.5", "description": "Cleaned the visit records"}


@pytest.fixture
def hospital(tmp_path: Path, database_url: str | None) -> Iterator[Node]:
    hospital, institute = scenario.pair(tmp_path, database_url)
    yield hospital
    hospital.close()
    institute.close()


def test_costs_and_effort_are_recorded_and_listed(hospital: Node) -> None:
    sam, ada = scenario.actor(hospital, "sam"), scenario.actor(hospital, "ada")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    cost = contributions.record_cost(hospital.ledger, sam, {**COST, "dataset": ds})
    assert cost.kind == "cost.recorded" and cost.body["cost"].startswith("cost-")
    effort = contributions.declare_contribution(
        hospital.ledger, ada, {**EFFORT, "contributor": "Ann Curator"}
    )
    listed = contributions.list_contributions(hospital.engine, scenario.actor(hospital, "lee"))
    assert [(c["kind"], c["units"], c["currency"], c["dataset"]) for c in listed] == [
        ("cost", "18000.00", "EUR", ds),
        ("curation", "12.5", None, None),
    ]
    assert listed[1]["contributor"] == "Ann Curator" and listed[1]["recorded_by"] == "ada"
    assert listed[1]["id"] == effort.body["contribution"]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({**COST, "amount": "0"}, "amount", "must be more than zero"),
        ({**COST, "amount": "12.345"}, "amount", "an amount such as 1200 or 1200.50"),
        ({**COST, "amount": 12}, "amount", "write it as text in quotes"),
        ({**COST, "currency": "eur"}, "currency", "an ISO 4217 code such as EUR"),
        ({**COST, "dataset": "ds-nothere000"}, "dataset", "no dataset 'ds-nothere000'"),
        ({**COST, "description": ""}, "description", "Length must be between 1 and 2000."),
    ],
)
def test_bad_costs_change_nothing(
    hospital: Node, payload: dict[str, Any], field: str, message: str
) -> None:
    sam = scenario.actor(hospital, "sam")
    err = refused(hospital, lambda: contributions.record_cost(hospital.ledger, sam, payload))
    messages = getattr(err, "errors", None) or err.messages  # Invalid, or a ValidationError
    assert any(message in m for m in messages[field]), messages


def test_bad_declarations_and_wrong_roles_change_nothing(hospital: Node) -> None:
    sam, rita = scenario.actor(hospital, "sam"), scenario.actor(hospital, "rita")
    for bad in ({**EFFORT, "kind": "lobbying"}, {**EFFORT, "units": "-1"}, {**EFFORT, "x": 1}):
        refused(hospital, lambda b=bad: contributions.declare_contribution(hospital.ledger, sam, b))
    refused(
        hospital, lambda: contributions.record_cost(hospital.ledger, rita, COST), kind=Forbidden
    )
    with pytest.raises(Forbidden):
        contributions.list_contributions(hospital.engine, rita)
    with pytest.raises(Invalid):
        contributions.declare_contribution(hospital.ledger, sam, {**EFFORT, "dataset": "ds-x"})


def test_the_api_and_the_cli(hospital: Node) -> None:
    client = create_app(hospital).test_client()
    headers = {"Authorization": f"Bearer {token_for(hospital, 'sam')}"}
    r = client.post("/api/v1/costs", json=COST, headers=headers)
    assert r.status_code == 201 and r.json["kind"] == "cost" and r.json["entry"] > 0
    r = client.post("/api/v1/contributions", json={**EFFORT, "units": "0"}, headers=headers)
    assert r.status_code == 422 and r.json["errors"]["json"]["units"] == ["must be more than zero"]

    where = ["--data-dir", str(hospital.config.data_dir), "--as", "sam"]
    cli = CliRunner()
    done = cli.invoke(
        main, ["contribution", "declare", "--kind", "expertise", "--units", "3",
               "--description", "Statistical advice", *where],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.output.startswith("Declared con-")
    bad = cli.invoke(
        main, ["contribution", "cost", "--amount", "12,50", "--currency", "EUR",
               "--description", "Storage", *where],
    )  # fmt: skip
    assert bad.exit_code == 1
    assert bad.output.strip() == "Error: amount: an amount such as 1200 or 1200.50"
    listed = cli.invoke(main, ["contribution", "list", *where])
    assert listed.output.splitlines()[-1].endswith("expertise  3  Statistical advice")
