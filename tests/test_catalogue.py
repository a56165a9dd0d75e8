"""Finding datasets: words and purposes match only what the reader may see, following the
DUO hierarchy, and each result names the contracts it can be requested under."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import scenario
from click.testing import CliRunner
from conftest import token_for

from consortium.access.catalogue import search
from consortium.api import create_app
from consortium.cli import main
from consortium.node import Node
from consortium.registry import datasets

Catalogue = tuple[Node, dict[str, str]]


@pytest.fixture
def catalogue(tmp_path: Path, database_url: str | None) -> Iterator[Catalogue]:
    """A GRU cohort under an active contract, an HMB one, a DS one, and a highly sensitive
    HMB registry whose metadata researchers may not read."""
    hospital, institute = scenario.pair(tmp_path, database_url)
    sam = scenario.actor(hospital, "sam")

    def register(**changes: object) -> str:
        meta = scenario.metadata(**changes)
        return datasets.register_dataset(hospital.ledger, sam, meta).body["dataset"]

    ids = {
        "gru": register(
            title="Stroke outcomes 2010–2020", keywords=["stroke"],
            description="Adults admitted with a first stroke.",
            duo={"permissions": ["GRU"], "modifiers": []},
        ),
        "hmb": register(),
        "ds": register(
            title="Diabetes eye screening", keywords=["retinopathy"],
            description="Retinal photographs from screening.",
            duo={"permissions": ["DS"], "diseases": ["MONDO:0005015"], "modifiers": []},
        ),
        "secret": register(
            title="HIV diabetes registry", sensitivity="highly-sensitive",
        ),
    }  # fmt: skip
    ids["contract"] = scenario.active(hospital, institute, ids["hmb"])
    yield hospital, ids
    hospital.close()
    institute.close()


def found(node: Node, who: str | None, **criteria: str) -> list[str]:
    reader = scenario.actor(node, who) if who else None
    return [d["id"] for d in search(node.engine, reader, **criteria)]


def test_every_word_must_match_in_any_case(catalogue: Catalogue) -> None:
    hospital, ids = catalogue
    assert found(hospital, "rita", q="diabetes") == [ids["hmb"], ids["ds"]]
    assert found(hospital, "rita", q="DIABETES cohort") == [ids["hmb"]]
    assert found(hospital, "rita", q="hba1c") == [ids["hmb"]]  # a keyword
    assert found(hospital, "rita", q="curator") == [ids["gru"], ids["hmb"], ids["ds"]]  # a name
    assert found(hospital, "rita", q="diabetes stroke") == []


def test_withheld_metadata_never_matches(catalogue: Catalogue) -> None:
    hospital, ids = catalogue
    # Researchers know the registry exists, but a search must not reveal what it says.
    assert ids["secret"] in found(hospital, "rita")
    assert found(hospital, "rita", q="HIV") == []
    assert found(hospital, "rita", purpose="HMB") == [ids["gru"], ids["hmb"]]
    assert found(hospital, "sam", q="HIV") == [ids["secret"]]
    assert found(hospital, None, q="HIV") == []


def test_a_purpose_matches_what_covers_it(catalogue: Catalogue) -> None:
    hospital, ids = catalogue
    assert found(hospital, "sam", purpose="GRU") == [ids["gru"]]
    assert found(hospital, "sam", purpose="HMB") == [ids["gru"], ids["hmb"], ids["secret"]]
    assert found(hospital, "sam", purpose="DUO:0000007") == list(ids.values())[:4]
    assert found(hospital, "sam", purpose="POA") == []


def test_results_name_the_contracts_they_can_be_requested_under(catalogue: Catalogue) -> None:
    hospital, ids = catalogue
    results = {d["id"]: d["contracts"] for d in search(hospital.engine, None)}
    assert results[ids["hmb"]] == [ids["contract"]]
    assert results[ids["gru"]] == results[ids["ds"]] == []


def test_the_api_searches_and_refuses_a_purpose_that_is_not_one(catalogue: Catalogue) -> None:
    hospital, ids = catalogue
    client = create_app(hospital).test_client()
    r = client.get("/api/v1/datasets?q=diabetes&purpose=HMB")
    assert r.status_code == 200, r.text
    assert [(d["id"], d["contracts"]) for d in r.json] == [(ids["hmb"], [ids["contract"]])]
    headers = {"Authorization": f"Bearer {token_for(hospital, 'rita')}"}
    assert len(client.get("/api/v1/datasets?q=HIV", headers=headers).json) == 0
    for bad, message in (("IRB", "is the modifier IRB"), ("XYZ", "unknown DUO code 'XYZ'")):
        r = client.get(f"/api/v1/datasets?purpose={bad}")
        assert r.status_code == 422 and r.content_type == "application/problem+json"
        assert message in r.json["errors"]["query"]["purpose"][0]


def test_the_cli_searches(catalogue: Catalogue) -> None:
    hospital, ids = catalogue
    cli = CliRunner()
    where = ["--data-dir", str(hospital.config.data_dir), "--as", "rita"]
    listed = cli.invoke(main, ["dataset", "list", "Diabetes", "cohort", *where])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        f"{ids['hmb']}  v1  published  public-metadata  Type 2 diabetes cohort 2015–2024"
        f"  [{ids['contract']}]"
    ]
    refused = cli.invoke(main, ["dataset", "list", "--purpose", "IRB", *where])
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: purpose: the purpose code 'IRB' is the modifier IRB")
