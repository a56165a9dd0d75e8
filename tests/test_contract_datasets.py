"""A contract describes each dataset it covers (title, version, tier, DUO terms), so every
party signs what is shared, and those words reach no one the dataset's tier excludes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import scenario
from click.testing import CliRunner
from conftest import refused

from consortium.api import create_app
from consortium.auth.tokens import create_token
from consortium.cli import main
from consortium.contracts import lifecycle
from consortium.disclosure.table import MEMBERS
from consortium.disclosure.views import export_ledger
from consortium.errors import Invalid
from consortium.node import Node
from consortium.registry import datasets

RARE = "Familial cardiomyopathy registry, St Example"
HMB, IRB, PUB, GS = "DUO:0000006", "DUO:0000021", "DUO:0000019", "DUO:0000022"


def _register(node: Node, **changes: Any) -> str:
    sam = scenario.actor(node, "sam")
    return datasets.register_dataset(node.ledger, sam, scenario.metadata(**changes)).body["dataset"]


def _rare(node: Node, *modifiers: dict[str, Any]) -> str:
    duo = {"permissions": ["HMB"], "modifiers": [{"code": "IRB"}, {"code": "PUB"}, *modifiers]}
    return _register(node, title=RARE, sensitivity="restricted", duo=duo)


def _draft(hospital: Node, values: dict[str, Any]) -> dict[str, Any]:
    event = lifecycle.draft_contract(hospital.ledger, scenario.actor(hospital, "sam"), values)
    return event.body["document"]


def test_the_drafted_document_describes_each_dataset(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    ds = _rare(hospital)
    document = _draft(hospital, scenario.contract_values(hospital, institute, ds))
    assert document["datasets"] == [
        {
            "id": ds,
            "version": 1,
            "provider": hospital.origin,
            "title": RARE,
            "sensitivity": "restricted",
            "duo": {"permissions": [HMB], "modifiers": [{"code": IRB}, {"code": PUB}]},
        }
    ]
    # The steward does not type what the registry knows: a title for our dataset is refused.
    values = scenario.contract_values(hospital, institute, ds)
    values["datasets"] = [{"id": ds, "title": "Something else"}]
    sam = scenario.actor(hospital, "sam")
    exc = refused(hospital, lambda: lifecycle.draft_contract(hospital.ledger, sam, values))
    assert "datasets" in str(getattr(exc, "messages", exc))


def test_a_dataset_revised_between_draft_and_proposal_is_refused(
    pair: tuple[Node, Node],
) -> None:
    hospital, institute = pair
    sam = scenario.actor(hospital, "sam")
    ds = _register(hospital)
    cid = lifecycle.draft_contract(
        hospital.ledger, sam, scenario.contract_values(hospital, institute, ds)
    ).body["contract"]
    narrower = {
        "permissions": ["HMB"],
        "modifiers": [{"code": "IRB"}, {"code": "PUB"}, {"code": "GS", "regions": ["EU"]}],
    }
    datasets.revise_dataset(
        hospital.ledger, sam, ds, scenario.metadata(title="Cohort, second release", duo=narrower)
    )
    exc = refused(hospital, lambda: lifecycle.propose_contract(hospital.ledger, sam, cid), Invalid)
    assert exc.errors == {
        "datasets.0": [
            f"{ds!r} was revised: version 2 is published, the contract names version 1; "
            "name the dataset again in the draft to cover version 2"
        ]
    }
    # Named again, the dataset is described as its new version; the contract must then
    # carry the GS restriction the new version declares.
    changes = {
        "datasets": [{"id": ds}],
        "terms": {
            "modifiers": [
                {"code": "NCU"},
                {"code": "PUB"},
                {"code": "IRB"},
                {"code": "GS", "regions": ["EU"]},
            ]
        },
    }
    revised = lifecycle.revise_draft(hospital.ledger, sam, cid, changes).body["document"]
    assert revised["datasets"][0]["version"] == 2
    assert revised["datasets"][0]["title"] == "Cohort, second release"
    assert {"code": GS, "regions": ["EU"]} in revised["datasets"][0]["duo"]["modifiers"]
    lifecycle.propose_contract(hospital.ledger, sam, cid)


def test_another_institutions_dataset_is_kept_as_written(pair: tuple[Node, Node]) -> None:
    """The drafting node invents nothing about a dataset it does not hold; the provider's
    node checks what the document says before it countersigns."""
    hospital, institute = pair
    theirs = _rare(institute)
    values = scenario.contract_values(hospital, institute, theirs)
    values["parties"][1]["role"] = "provider"
    values["datasets"] = [{"id": theirs, "version": 1, "provider": institute.origin}]
    bare = _draft(hospital, values)
    assert bare["datasets"] == [{"id": theirs, "version": 1, "provider": institute.origin}]

    described = {
        "title": RARE,
        "sensitivity": "restricted",
        "duo": {"permissions": ["HMB"], "modifiers": [{"code": "IRB"}, {"code": "PUB"}]},
    }
    values["datasets"][0].update(described)
    document = _draft(hospital, values)
    assert document["datasets"][0]["duo"] == {
        "permissions": [HMB],
        "modifiers": [{"code": IRB}, {"code": PUB}],
    }
    lena = scenario.actor(institute, "sam")
    wrong = json.loads(json.dumps(document).replace(RARE, "Heart failure cohort"))
    exc = refused(
        institute,
        lambda: lifecycle.countersign(institute.ledger, institute.key, lena, wrong),
        Invalid,
    )
    assert exc.errors == {
        "datasets.0.title": [f"is not the title of version 1 of {theirs!r} here: {RARE!r}"]
    }
    # Described in part is not described: the tier and DUO terms must come with the title.
    partial = {**document, "datasets": [{**document["datasets"][0]}]}
    del partial["datasets"][0]["duo"]
    exc = refused(
        institute,
        lambda: lifecycle.countersign(institute.ledger, institute.key, lena, partial),
        Invalid,
    )
    assert exc.errors == {
        "datasets.0.duo": [
            f"is missing: the DUO terms of version 1 of {theirs!r} here must be stated too"
        ]
    }
    lifecycle.countersign(institute.ledger, institute.key, lena, document)


def _cli(data_dir: Path, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_countersigner_sees_what_it_signs(tmp_path: Path) -> None:
    hospital, institute = scenario.pair(tmp_path)
    ds = _rare(hospital, {"code": "TS", "months": 24})
    values = scenario.contract_values(hospital, institute, ds)
    values["terms"]["modifiers"] = [
        {"code": "NCU"},
        {"code": "PUB"},
        {"code": "IRB"},
        {"code": "TS", "months": 24},
    ]
    cid = scenario.proposed(hospital, institute, ds, values)
    hospital.close()
    institute.close()

    home, away = tmp_path / "hospital", tmp_path / "institute"
    shown = _cli(home, "contract", "show", cid)
    assert json.loads(shown.stdout)["document"]["datasets"][0]["title"] == RARE
    described = (
        f'{ds} v1 from {hospital.origin}: "{RARE}", restricted; permits HMB; '
        "conditions IRB, PUB, TS 24 months"
    )
    assert described in shown.stderr

    document = tmp_path / "contract.json"
    document.write_text(_cli(home, "contract", "export", cid).stdout)
    # Before signing: the digest to compare by phone, and what the document says it shares.
    before = _cli(away, "contract", "digest", str(document))
    assert described in before.stderr
    signed = _cli(away, "contract", "countersign", str(document), "--as", "sam").stdout
    lines = signed.splitlines()
    assert lines[0] == "It covers:"
    assert lines[1].strip() == described
    assert lines[2].startswith(f"Signed as {institute.origin}")


def test_a_restricted_title_stays_with_the_parties(tmp_path: Path) -> None:
    """Not on the ledger in clear, not in a bundle for members, not in the public API."""
    hospital, institute = scenario.pair(tmp_path)
    try:
        ds = _rare(hospital)
        cid = scenario.active(hospital, institute, ds)
        export_ledger(hospital.ledger, hospital.name, hospital.public_key, tmp_path / "p.gz")
        export_ledger(
            hospital.ledger,
            hospital.name,
            hospital.public_key,
            tmp_path / "m.gz",
            audience=MEMBERS,
        )
        raw = b"".join(hospital.ledger.entries(0, hospital.ledger.size())).decode()
        client = create_app(hospital).test_client()
        anonymous = client.get(f"/api/v1/contracts/{cid}").get_json()
        listed = client.get("/api/v1/contracts").get_json()
        token = create_token(hospital.engine, "rita")[0]
        researcher = client.get(
            f"/api/v1/contracts/{cid}", headers={"Authorization": f"Bearer {token}"}
        ).get_json()
    finally:
        hospital.close()
        institute.close()
    for text in (
        raw,
        gzip.decompress((tmp_path / "p.gz").read_bytes()).decode(),
        gzip.decompress((tmp_path / "m.gz").read_bytes()).decode(),
        json.dumps(anonymous),
        json.dumps(listed),
    ):
        assert RARE not in text
    assert anonymous["document"]["datasets"] == [
        {
            "id": ds,
            "version": 1,
            "provider": hospital.origin,
            "sensitivity": "restricted",
            "details_withheld": True,
        }
    ]
    # A researcher may read restricted metadata, and so the contract's words about it.
    assert researcher["document"]["datasets"][0]["title"] == RARE
