"""Contribution reports: exact figures, signed JSON and CSV, and `report verify` from bundles."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import scenario
from click.testing import CliRunner
from conftest import add_people, token_for
from forgery import Forgery

from consortium.access import outputs, requests
from consortium.alliance import compensation, contributions, ledgers, report
from consortium.alliance.facts import Facts, fold
from consortium.api import create_app
from consortium.cli import main
from consortium.crypto.keys import NodeKey
from consortium.crypto.note import vkey
from consortium.disclosure.views import export_ledger
from consortium.errors import Conflict, Forbidden, Invalid
from consortium.node import Node
from consortium.registry import datasets
from consortium.registry.keyring import Keyring, UntrustedKey

PROPOSAL = {"event_weights": scenario.CREDIT_WEIGHTS, "method": "shapley"}
World = scenario.CreditWorld


@pytest.fixture
def world(credit_world: World) -> World:
    scenario.accepted_rules(credit_world[0], credit_world[1], PROPOSAL)
    return credit_world


def period(days_before: int = 40) -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"start": str(today - timedelta(days=days_before)), "end": str(today + timedelta(1))}


def build(node: Node, bundles: list[Path] | None = None, **query: str) -> dict[str, Any]:
    lee = scenario.actor(node, "lee")
    return report.contribution_report(
        node.ledger, node.key, lee, {**period(), **query}, bundles or []
    )


def bundle(node: Node, path: Path) -> Path:
    export_ledger(node.ledger, node.name, node.public_key, path, audience="members")
    return path


def by_origin(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["origin"]: r for r in rows}


def test_the_figures_of_a_period(world: World) -> None:
    hospital, institute, ids = world
    h, i = hospital.origin, institute.origin
    signed = build(hospital, by="month")
    s = signed["summary"]
    assert s["totals"] == {
        "worth": "10.000000",
        "events": {
            "cost.recorded": 1, "dataset.published": 2, "grant.issued": 1,
            "output.publication": 1,
        },
    }  # fmt: skip
    inst = by_origin(s["institutions"])
    assert inst[h]["credit"] == {
        "shapley": "9.500000", "proportional": "9.875000", "leave-one-out": "9.090909",
        "equal": "5.000000",
    }  # fmt: skip
    assert inst[h]["share"] == "95.00" and inst[i]["share"] == "5.00"
    assert (inst[h]["datasets_published"], inst[h]["grants_issued"], inst[h]["outputs"]) == (
        2, 1, 1,
    )  # fmt: skip
    assert inst[h]["costs"] == {"EUR": "100"}
    datasets_ = {d["dataset"]: d for d in s["datasets"]}
    assert datasets_[ids["cohort"]]["credit"] == "8.375000"
    assert datasets_[ids["remote"]]["publisher"] == i  # known from what derives from it
    # The cohort and the extract both name Dr Zhang (weight 2) and Ann Curator (weight 1).
    people = {c["name"]: c for c in s["contributors"]}
    assert people["Dr Wei Zhang"]["credit"] == "5.916667"  # ⅔ of 8.875
    assert people["Ann Curator"]["datasets"] == sorted([ids["cohort"], ids["extract"]])
    payees = {p["name"]: p["credit"] for p in s["payees"]}
    assert payees["Patient fund"] == "0.673418"
    assert sum(float(v) for v in payees.values()) == pytest.approx(10)
    part = s["participation"]
    assert part["members"] == 2 and part["share"] == "100.00"
    nodes = by_origin(part["nodes"])
    assert nodes[h]["ledger_read"] and nodes[h]["active_days"] == 1
    assert not nodes[i]["ledger_read"] and nodes[i]["active_days"] is None
    assert s["approvals"]["decided"] == 1 and s["approvals"]["decisions"] == {"approved": 1}
    assert s["uncredited"] == []
    # Trends per calendar month: the last one holds everything.
    assert signed["trends"][-1]["credit"] == {h: "9.500000", i: "0.500000"}
    assert all(t["worth"] == "0.000000" for t in signed["trends"][:-1])
    [cut] = signed["checkpoints"]
    assert cut["origin"] == h and cut["note"] == hospital.ledger.latest_checkpoint()
    assert report.check_signature(signed) == h


def test_reuse_without_credit_and_approval_times(world: World) -> None:
    hospital, _, ids = world
    sam, rita = scenario.actor(hospital, "sam"), scenario.actor(hospital, "rita")
    asked = requests.submit_request(hospital.ledger, rita, scenario.access_request(ids["cohort"]))
    grant = requests.approve_request(hospital.ledger, hospital.key, sam, asked.body["request"], {})
    grant_id = grant[-1].body["grant"]
    software = {"kind": "software", "title": "HbA1c toolkit", "url": "https://example.org/t"}
    outputs.report_output(hospital.ledger, rita, grant_id, software)
    waiting = requests.submit_request(hospital.ledger, rita, scenario.access_request(ids["cohort"]))
    s = build(hospital)["summary"]
    assert [(u["type"], u["ref"]) for u in s["uncredited"]] == [
        ("output.software", next(o["id"] for o in outputs_of(hospital, rita, grant_id)))
    ]
    assert s["uncredited"][0]["reason"] == "the rules give output.software no weight"
    assert s["approvals"]["decided"] == 2 and s["approvals"]["open_at_end"] == 1
    assert float(s["approvals"]["max_days"]) < 0.01  # approved within seconds
    assert waiting.body["request"]


def outputs_of(node: Node, who: Any, grant_id: str) -> list[dict[str, Any]]:
    return outputs.list_outputs(node.engine, who, grant_id)


def test_a_grant_without_output_is_reuse_without_credit(world: World) -> None:
    hospital, _, ids = world
    sam, rita = scenario.actor(hospital, "sam"), scenario.actor(hospital, "rita")
    asked = requests.submit_request(hospital.ledger, rita, scenario.access_request(ids["cohort"]))
    done = requests.approve_request(hospital.ledger, hospital.key, sam, asked.body["request"], {})
    uncredited = build(hospital)["summary"]["uncredited"]
    assert [(u["ref"], u["reason"]) for u in uncredited] == [
        (done[-1].body["grant"], "no output reported for this grant by the end of the period")
    ]


def test_verify_recomputes_every_figure_from_bundles(world: World, tmp_path: Path) -> None:
    hospital, institute, _ = world
    # The institute's own ledger is read too, from a bundle it published.
    peer_file = bundle(institute, tmp_path / "institute.jsonl")
    signed = build(hospital, [peer_file], by="quarter")
    assert [c["origin"] for c in signed["checkpoints"]] == sorted(
        [hospital.origin, institute.origin]
    )
    nodes = by_origin(signed["summary"]["participation"]["nodes"])
    assert nodes[institute.origin]["ledger_read"]
    # The hospital goes on working after the report; its bundle holds more than was read.
    datasets.register_dataset(hospital.ledger, scenario.actor(hospital, "sam"), scenario.metadata())
    hospital.ledger.checkpoint()
    own_file = bundle(hospital, tmp_path / "hospital.jsonl.gz")
    keys = Keyring.pinned([hospital.vkey, institute.vkey])
    assert report.verify(signed, [own_file, peer_file], keyring=keys) == []

    # The hospital signs a report with a figure changed: the recomputation shows it.
    forged = json.loads(json.dumps(signed))
    forged["summary"]["institutions"][0]["share"] = "50.00"
    content = {k: v for k, v in forged.items() if k not in report.UNSIGNED}
    forged = report.sign(content, hospital.key, hospital.origin)
    [difference] = report.verify(forged, [own_file, peer_file], keyring=keys)
    assert difference.startswith("summary.institutions.0.share: it says '50.00'")
    # Anyone else signing in the hospital's name is refused.
    impostor = report.sign(content, NodeKey.generate(), hospital.origin)
    with pytest.raises(report.ReportError, match="but not with that node's key"):
        report.verify(impostor, [own_file, peer_file], keyring=keys)
    # Changed without signing again: refused outright.
    signed["summary"]["totals"]["worth"] = "11.000000"
    with pytest.raises(report.ReportError, match="changed after signing"):
        report.verify(signed, [own_file, peer_file], keyring=keys)


def test_a_report_and_ledger_signed_again_under_the_origin_are_refused(
    world: World, tmp_path: Path
) -> None:
    """Mallory re-signs the hospital's whole ledger with a fresh key under its origin, and a
    report naming those forged cuts: every figure recomputes, so only a trusted key tells."""
    hospital, institute, _ = world
    peer = bundle(institute, tmp_path / "institute.jsonl")
    signed = build(hospital, [peer])
    own = bundle(hospital, tmp_path / "hospital.jsonl")
    mallory = Forgery(NodeKey.generate())
    forged_own = mallory.resign(own, tmp_path / "forged.jsonl")
    content = mallory.rename_cuts({k: v for k, v in signed.items() if k not in report.UNSIGNED})
    forged = report.sign(content, mallory.key, hospital.origin)
    # Consistent in itself: checked with the key it names, every figure holds.
    own_key = Keyring.pinned([vkey(hospital.origin, mallory.key.public_key), institute.vkey])
    assert report.verify(forged, [forged_own, peer], keyring=own_key) == []
    real_keys = Keyring.pinned([hospital.vkey, institute.vkey])
    assert report.verify(signed, [own, peer], keyring=real_keys) == []
    with pytest.raises(ledgers.LedgerReadError, match="not signed by the trusted verifier key"):
        report.verify(forged, [forged_own, peer], keyring=real_keys)
    # At the institute, the key it recorded for the hospital does the same.
    at_institute = Keyring().add_recorded(institute.engine)
    assert at_institute.source(hospital.origin) == "the key this node recorded for the member"
    with pytest.raises(ledgers.LedgerReadError, match="not signed by the trusted verifier key"):
        report.verify(forged, [forged_own, peer], keyring=at_institute)
    # With no key for a ledger it names, nothing is read at all.
    with pytest.raises(UntrustedKey, match=f"no trusted key for {hospital.origin}"):
        report.verify(forged, [forged_own, peer], keyring=Keyring.pinned([institute.vkey]))
    hospital.close()
    untrusted = CliRunner().invoke(
        main, ["report", "verify", str(tmp_path / "forged.json"), "--bundle", str(forged_own),
               "--bundle", str(peer)] if _write(tmp_path / "forged.json", forged) else [],
    )  # fmt: skip
    assert untrusted.exit_code == 1
    both = f"{institute.origin}, {hospital.origin}"  # every ledger without a key, sorted
    assert f"Error: no trusted key for {both}: pin the vkey each node publishes" in untrusted.output


def _write(path: Path, value: dict[str, Any]) -> bool:
    path.write_text(json.dumps(value))
    return True


def test_verify_refuses_bundles_it_cannot_use(world: World, tmp_path: Path) -> None:
    hospital, institute, _ = world
    early = bundle(hospital, tmp_path / "early.jsonl")  # before the report's checkpoint
    datasets.register_dataset(hospital.ledger, scenario.actor(hospital, "sam"), scenario.metadata())
    signed = build(hospital)
    peer = bundle(institute, tmp_path / "institute.jsonl")
    keys = Keyring().add_recorded(hospital.engine)
    with pytest.raises(ledgers.LedgerReadError, match="no bundle given for the ledger of"):
        report.verify(signed, [peer], keyring=keys)
    with pytest.raises(ledgers.LedgerReadError, match="did not read the ledger of"):
        report.verify(signed, [early, peer], keyring=keys)
    with pytest.raises(ledgers.LedgerReadError, match=r"does not verify: .*covers"):
        report.verify(signed, [early], keyring=keys)
    with pytest.raises(ledgers.LedgerReadError, match="not a ledger bundle"):
        report.verify(
            signed, [tmp_path / "nothing.jsonl"] if _touch(tmp_path) else [], keyring=keys
        )


def _touch(tmp_path: Path) -> bool:
    (tmp_path / "nothing.jsonl").write_text("hello\n")
    return True


def test_who_may_build_and_what_is_refused(world: World) -> None:
    hospital, _, _ = world
    with pytest.raises(Forbidden):
        report.contribution_report(
            hospital.ledger, hospital.key, scenario.actor(hospital, "rita"), period()
        )
    size = hospital.ledger.size()
    with pytest.raises(Conflict, match="no benefit rules were in force on 2020-02-01"):
        build(hospital, start="2020-01-01", end="2020-02-01")
    assert hospital.ledger.size() == size  # a report appends nothing


def test_sub_periods() -> None:
    assert report.sub_periods("2026-01-15", "2026-04-02", "month") == [
        ("2026-01-15", "2026-02-01"), ("2026-02-01", "2026-03-01"),
        ("2026-03-01", "2026-04-01"), ("2026-04-01", "2026-04-02"),
    ]  # fmt: skip
    assert report.sub_periods("2025-11-01", "2026-05-01", "quarter") == [
        ("2025-11-01", "2026-01-01"), ("2026-01-01", "2026-04-01"), ("2026-04-01", "2026-05-01"),
    ]  # fmt: skip
    assert report.sub_periods("2025-06-01", "2026-01-01", "year") == [("2025-06-01", "2026-01-01")]


def test_the_api_serves_json_and_csv(world: World) -> None:
    hospital, _, _ = world
    add_people(hospital, {"auditor": "otto"})
    client = create_app(hospital).test_client()
    url = "/api/v1/reports/contributions?start={start}&end={end}".format(**period())
    auditor = {"Authorization": f"Bearer {token_for(hospital, 'otto')}"}
    response = client.get(url, headers=auditor)
    assert response.status_code == 200, response.text
    assert report.check_signature(response.get_json()) == hospital.origin
    sheet = client.get(url + "&format=csv&by=month", headers=auditor)
    assert sheet.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    levels = {r["level"] for r in rows}
    assert levels == {"institution", "dataset", "contributor", "payee", "trend"}
    assert {r["credit"] for r in rows if r["level"] == "institution"} == {"9.500000", "0.500000"}
    bad = client.get(url.split("?")[0] + "?start=2099-01-01&end={end}".format(**period()),
                     headers=auditor)  # fmt: skip
    assert bad.status_code == 422
    researcher = {"Authorization": f"Bearer {token_for(hospital, 'rita')}"}
    assert client.get(url, headers=researcher).status_code == 403
    assert client.get(url).status_code == 401


def test_build_and_verify_at_the_console(world: World, tmp_path: Path) -> None:
    hospital, institute, _ = world
    home, vkey = tmp_path / "hospital", hospital.vkey
    peer = bundle(institute, tmp_path / "institute.jsonl")
    hospital.close()

    def cli(*args: str, ok: bool = True) -> Any:
        result = CliRunner().invoke(main, list(args))
        assert (result.exit_code == 0) is ok, result.output
        return result

    out = tmp_path / "report.json"
    p = period()
    cli("--data-dir", str(home), "report", "build", "--from", p["start"], "--to", p["end"],
        "--bundle", str(peer), "-o", str(out), "--as", "lee")  # fmt: skip
    denied = cli("--data-dir", str(home), "report", "build", "--from", p["start"], "--to",
                 p["end"], "--as", "rita", ok=False).output  # fmt: skip
    assert "needs the role" in denied
    own = tmp_path / "hospital.jsonl"
    cli("--data-dir", str(home), "ledger", "export", str(own), "--for", "members")
    done = cli("report", "verify", str(out), "--bundle", str(own), "--bundle", str(peer),
               "--vkey", vkey, "--vkey", institute.vkey).output  # fmt: skip
    assert "Every figure of the report by" in done
    document = json.loads(out.read_text())
    document["summary"]["institutions"][0]["share"] = "50.00"
    content = {k: v for k, v in document.items() if k not in report.UNSIGNED}
    out.write_text(json.dumps(report.sign(content, hospital.key, hospital.origin)))
    failed = cli("--data-dir", str(home), "report", "verify", str(out), "--bundle", str(own),
                 "--bundle", str(peer), ok=False).output  # fmt: skip
    assert "summary.institutions.0.share" in failed
    assert f"Error: 1 figure of the report by {hospital.origin}" in failed
    assert "does not hold" in failed


def test_compensation_paid_in_the_period(world: World) -> None:
    hospital, institute, _ = world
    hospital.ledger.clock = lambda: datetime.now(UTC) + timedelta(days=3)
    today = datetime.now(UTC).date()
    paid = compensation.run_compensation(
        hospital.ledger, scenario.actor(hospital, "lee"),
        {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=2)),
         "pool": "1000", "currency": "EUR", "minimum": "60"},
    ).body  # fmt: skip
    s = build(hospital, start=str(today - timedelta(days=1)), end=str(today + timedelta(4)))[
        "summary"
    ]
    [run] = s["compensation"]
    assert run == {"run": paid["run"], "period": paid["period"], "pool": "1000.00",
                   "currency": "EUR", "paid": "950.00"}  # fmt: skip
    inst = by_origin(s["institutions"])
    assert inst[hospital.origin]["compensation"] == {"EUR": "950.00"}
    assert inst[institute.origin]["compensation"] == {"EUR": "0.00"}  # 50.00 carried over
    fund = next(p for p in s["payees"] if p["kind"] == "fund")
    assert fund["compensation"] == {"EUR": "67.34"}
    # A report over a period the run only overlaps does not count it.
    assert (
        build(hospital, start=str(today), end=str(today + timedelta(4)))["summary"]["compensation"]
        == []
    )


def test_build_reads_only_members_bundles_under_their_keys(world: World, tmp_path: Path) -> None:
    hospital, institute, _ = world
    own = bundle(hospital, tmp_path / "hospital.jsonl")
    with pytest.raises(Invalid, match="is this node's own ledger: it is read directly"):
        build(hospital, [own])
    stranger = scenario.init_node(tmp_path / "stranger", "Stranger Labs")
    with pytest.raises(Invalid, match=r"stranger.jsonl is the ledger of .*, not a member"):
        build(hospital, [bundle(stranger, tmp_path / "stranger.jsonl")])
    # A bundle claiming to be the institute's but signed by another key.
    impostor = scenario.init_node(tmp_path / "impostor", institute.name, origin=institute.origin)
    with pytest.raises(Invalid, match="not signed by the trusted verifier key"):
        build(hospital, [bundle(impostor, tmp_path / "impostor.jsonl")])
    peer = bundle(institute, tmp_path / "institute.jsonl")
    with pytest.raises(Invalid, match="given twice"):
        build(hospital, [peer, peer])
    stranger.close()
    impostor.close()


def test_declared_effort_names_its_contributor(world: World) -> None:
    hospital, institute, _ = world
    contributions.declare_contribution(
        hospital.ledger, scenario.actor(hospital, "sam"),
        {"kind": "curation", "units": "3", "contributor": "Night shift data team",
         "description": "Re-coded the 2019 visits"},
    )  # fmt: skip
    with hospital.engine.connect() as conn:
        facts = fold(Facts(), hospital.origin, ledgers.own_entries(conn, hospital.ledger.size()))
    rules = {
        "event_weights": {**scenario.CREDIT_WEIGHTS, "contribution.declared": "2"},
        "method": "proportional",
        "members": [{"origin": hospital.origin}, {"origin": institute.origin}],
    }
    p = period()
    people = {
        c["name"]: c for c in report.figures(facts, rules, p["start"], p["end"])["contributors"]
    }
    assert people["Night shift data team"] == {
        "origin": hospital.origin, "name": "Night shift data team", "datasets": [],
        "credit": "6.000000",
    }  # fmt: skip
