"""The alliance lead's guide (docs/guide-alliance-lead.md), replayed through the CLI, the API
and the credit library.

The guide's files (the practice datasets, contract, request and publications, both rules
proposals) are read out of the markdown itself, and its three practice days are run on two
SQLite nodes in the guide's order, moving the nodes' clock forward so that each day's period
has ended when it is paid: costs and effort recorded, benefit rules proposed, exported and
signed by both members, the worked example's figures by every method (which the guide computes
by hand), a compensation run that reads the institute's bundle and carries an amount over, a
second version of the rules through the API, a second run that pays what was carried, a report
reading the institute's bundle, its verification and the ways it fails, and a revision that
changes an open period's figures but not a closed one's. A second test triggers every refusal
the guide quotes and checks what it says about cycles, the order in which rules are accepted
and a contract's institution payee; a third runs the guide's Python examples and compares what
they print.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask.testing import FlaskClient
from guide import HOSPITAL, INSTITUTE, Guide, PracticeNodes, error, last_line, run

import consortium.node.node as node_module
from consortium.alliance import report
from consortium.alliance.facts import Facts, fold
from consortium.alliance.ledgers import own_entries
from consortium.alliance.shares import compute
from consortium.api import create_app
from consortium.crypto.keys import NodeKey
from consortium.ledger.entry import parse_entry
from consortium.ledger.log import Ledger
from consortium.node import Node

GUIDE = Guide("guide-alliance-lead.md")
# The ids the guide's example files name; the practice nodes of each test make their own.
GUIDE_PANEL, GUIDE_COHORT, GUIDE_EXTRACT = "ds-3qps6sp98m", "ds-3gttiu7ry4", "ds-jmpqzuzuq7"
DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?)?)?"
)
# The worked example (section 5): day 1 under version 1 of the rules, the hospital's ledger.
WORKED = {
    INSTITUTE: {
        "shapley": "3.500000",
        "proportional": "1.750000",
        "leave-one-out": "3.733333",
        "equal": "4.000000",
    },
    HOSPITAL: {
        "shapley": "4.500000",
        "proportional": "6.250000",
        "leave-one-out": "4.266667",
        "equal": "4.000000",
    },
}
SHARES = {INSTITUTE: "43.75", HOSPITAL: "56.25"}
# Section 7: the hospital's 4.5 divided among its payees; the institute's own (section 5).
HOSPITAL_PAYEES = {
    "Diabetes clinic nursing team": "0.432000",
    "Patient benefit fund": "0.216000",
    "St Mary's Hospital": "3.852000",
}


def plain(text: str) -> str:
    """What varies between runs (ids, dates, keys, signatures, tokens) made generic, and line
    breaks as spaces."""
    text = re.sub(r"\b(ds|ctr|req|gr|out|run|cost|con)-[a-z0-9]{10}\b", r"\1-…", text)
    text = re.sub(r"(ledger\.[a-z.-]+)\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}", r"\1+…", text)
    text = re.sub(r"cst_[a-z0-9]{10}_[A-Za-z0-9_-]+", "cst_…", text)
    text = re.sub(r"[A-Za-z0-9+/]{86}==", "SIGNATURE", text)
    text = re.sub(r"[A-Za-z0-9+/]{43}=", "DIGEST", text).replace("(digest …)", "(digest DIGEST)")
    return " ".join(DATE.sub("YYYY-MM-DD", text).split())


def shown(text: str) -> None:
    """The guide shows this output or quotes this text (what varies between runs aside)."""
    assert plain(text) in plain(GUIDE.text()), f"the guide does not show: {text}"


def quoted(result: Result) -> str:
    """The refusal's message, which the guide quotes in full; returns it."""
    message = error(result)
    shown(message)
    return message


def shown_lines(result: Result) -> list[str]:
    """Every line the command printed (on stdout) appears in the guide."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    for line in lines:
        shown(line)
    return lines


def clock_ahead(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    """From now on every node opened stamps its entries, and judges whether a period has
    ended, ``days`` ahead of real time: the guide's next practice day."""

    def ledger(engine: Any, origin: str, key: Any = None) -> Ledger:
        return Ledger(engine, origin, key, clock=lambda: datetime.now(UTC) + timedelta(days=days))

    monkeypatch.setattr(node_module, "Ledger", ledger)


@contextmanager
def api(node_dir: Path) -> Iterator[FlaskClient]:
    """The node's web API in process, as `consortium serve` would serve it."""
    node = Node.open(node_dir)
    try:
        yield create_app(node).test_client()
    finally:
        node.close()


def facts_of(node_dir: Path) -> Facts:
    node = Node.open(node_dir)
    try:
        with node.engine.connect() as conn:
            return fold(Facts(), node.origin, own_entries(conn, node.ledger.size()))
    finally:
        node.close()


def node_key(node_dir: Path) -> NodeKey:
    node = Node.open(node_dir)
    try:
        return node.key
    finally:
        node.close()


class Alliance(PracticeNodes):
    """Section 2: two practice nodes; the institute publishes its panel, the hospital the
    cohort and the extract derived from both, shares the extract under a contract with a
    benefit split, and Dr Lindgren is granted it and publishes from it. ``institution_line``
    renames the contract's institution payee."""

    def __init__(self, root: Path, institution_line: str | None = None) -> None:
        super().__init__(root)
        for vkey in self.vkeys.values():
            shown(f"  vkey        {vkey}")
        self.h("user", "add", "amira", "--name", "Amira Haddad", "--role", "admin")
        self.h("user", "add", "wei", "--name", "Dr Wei Zhang", "--role", "steward", "--as", "amira")
        lead = self.h(
            "user", "add", "nadia", "--name", "Prof Nadia Rahman", "--role", "lead",
            "--as", "amira",
        )  # fmt: skip
        shown(lead.stdout)
        self.h(
            "user", "add", "sara", "--name", "Dr Sara Lindgren", "--role", "researcher",
            "--as", "amira",
        )  # fmt: skip
        self.h("user", "add", "ole", "--name", "Ole Hansen", "--role", "auditor", "--as", "amira")
        self.institute_staff_and_members()
        self.panel = self.register(self.i, "lena", "panel.json", GUIDE.json("practice-panel"))
        self.cohort = self.register(self.h, "wei", "cohort.json", GUIDE.json("practice-cohort"))
        self.extract = self.register(self.h, "wei", "extract.json", self.extract_metadata())
        self.contract = self.sign_contract(institution_line)
        request = GUIDE.json("practice-request")
        assert request["datasets"] == [{"id": GUIDE_EXTRACT}]
        request["datasets"] = [{"id": self.extract}]
        submitted = self.h("request", "submit", self.write("request.json", request), "--as", "sara")
        self.grant = last_line(submitted).replace("req-", "gr-", 1)
        shown(submitted.stdout.splitlines()[-2])  # Submitted req-…; decision due … (entry 13)
        shown_lines(self.h("request", "approve", last_line(submitted), "--as", "wei"))
        publication = self.write("publication.json", GUIDE.json("practice-publication"))
        shown(self.h("grant", "report-output", self.grant, publication, "--as", "sara").stdout)

    @staticmethod
    def init(path: Path, name: str, origin: str) -> str:
        """`consortium init`; returns the vkey it prints."""
        created = run("init", "--data-dir", path, "--name", name, "--origin", origin).stdout
        found = re.search(r"^  vkey +(\S+)$", created, re.MULTILINE)
        assert found is not None, created
        return found[1]

    def lead(self, *args: str | Path, ok: bool = True) -> Result:
        """A command Prof Rahman runs on the hospital's node."""
        return self.h(*args, "--as", "nadia", ok=ok)

    def register(self, node: Any, steward: str, name: str, metadata: dict[str, Any]) -> str:
        registered = node("dataset", "register", self.write(name, metadata), "--as", steward)
        shown(registered.stdout.splitlines()[0])  # "Registered ds-…: published (ledger …)."
        return last_line(registered)

    def extract_metadata(self, panel_weight: str = "1") -> dict[str, Any]:
        """The guide's extract, derived from this alliance's cohort and panel."""
        extract = GUIDE.json("practice-extract")
        sources = [s["dataset"] for s in extract["derived_from"]]
        assert sources == [GUIDE_COHORT, GUIDE_PANEL]
        extract["derived_from"][0]["dataset"] = self.cohort
        extract["derived_from"][1]["dataset"] = self.panel
        extract["derived_from"][1]["weight"] = panel_weight
        return extract

    def sign_contract(self, institution_line: str | None) -> str:
        """The steward's round: draft, propose, sign, countersigned by the institute."""
        values = GUIDE.json("practice-contract")
        assert values["datasets"] == [{"id": GUIDE_EXTRACT}]
        values["datasets"] = [{"id": self.extract}]
        split = values["terms"]["benefit_split"]
        assert split[0] == {"payee": "institution", "name": "St Mary's Hospital", "percent": "70"}
        if institution_line is not None:
            split[0]["name"] = institution_line
        drafted = self.h(
            "contract", "draft", self.write("contract-values.json", values), "--as", "wei"
        )
        contract = last_line(drafted)
        self.h("contract", "propose", contract, "--as", "wei")
        self.h("contract", "sign", contract, "--as", "wei")
        document = self.write(
            "contract-for-ngi.json", self.h("contract", "export", contract).stdout
        )
        signature = last_line(self.i("contract", "countersign", document, "--as", "lena"))
        shown(signature)
        done = self.h(
            "contract", "add-signature", contract, "--party", INSTITUTE,
            "--signature", signature, "--as", "wei",
        )  # fmt: skip
        shown(done.stdout)
        return contract

    def claims(self, index: int = 0, declare: bool = True, guided: bool = True) -> None:
        """Section 3 (day 1) or 8 (day 2): Dr Zhang records a cost, and on day 1 his effort."""
        cost = re.findall(
            r'consortium contribution cost --amount (\S+) --currency (\S+) --description "([^"]+)"',
            GUIDE.text(),
        )[index]
        recorded = self.h(
            "contribution", "cost", "--amount", cost[0], "--currency", cost[1],
            "--description", cost[2], "--dataset", self.cohort, "--as", "wei",
        )  # fmt: skip
        if guided:  # at the guide's entry
            shown(recorded.stdout)
        if not declare:
            return
        effort = re.search(
            r'contribution declare --kind (\S+) --units (\S+) --description "([^"]+)"'
            r' --dataset \S+ --contributor "([^"]+)"',
            GUIDE.text(),
        )
        assert effort is not None
        declared = self.h(
            "contribution", "declare", "--kind", effort[1], "--units", effort[2],
            "--description", effort[3], "--dataset", self.extract, "--contributor", effort[4],
            "--as", "wei",
        )  # fmt: skip
        shown(declared.stdout)

    def propose(self, version: int) -> None:
        """Section 4: the lead proposes version 1 at the console."""
        assert version == 1
        proposal = self.write("rules-proposal.json", GUIDE.json("rules-proposal"))
        shown(self.lead("rules", "propose", proposal).stdout)

    def hospital_signs(self, version: int, entry: int | None = None) -> None:
        signed = self.h("rules", "sign", str(version), "--as", "amira")
        if entry is not None:
            assert signed.stdout.strip() == (
                f"Signed benefit rules version {version} (ledger entry {entry})."
            )
        if version == 1:
            shown(signed.stdout)

    def institute_signs(self, version: int, entry: int | None = None) -> None:
        """The hospital's node exports the document, the institute's admin countersigns it,
        and the lead records the signature."""
        exported = self.h("rules", "export", str(version))
        with api(self.hospital) as client:
            view = client.get(f"/api/v1/benefit-rules/{version}").get_json()
        assert json.loads(exported.stdout) == view["document"]
        assert exported.stderr.split() == (
            f"digest {view['digest']}: members compare it before they sign".split()
        )
        rules_file = self.write(f"rules-v{version}.json", exported.stdout)
        countersigned = self.i("rules", "countersign", rules_file, "--as", "jonas")
        recorded = self.lead(
            "rules", "add-signature", str(version), "--member", INSTITUTE,
            "--signature", last_line(countersigned),
        )  # fmt: skip
        if entry is not None:
            assert recorded.stdout.strip() == (
                f"Recorded {INSTITUTE}'s signature on version {version} (ledger entry {entry})."
            )
        if version == 1:  # the guide shows the first round
            shown(exported.stderr)
            shown_lines(countersigned)
            shown(recorded.stdout)


def institutions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["origin"]: i for i in document["summary"]["institutions"]}


def excerpt(row: dict[str, Any]) -> str:
    """A report's institution as the guide shows it: its credit by every method, its share."""
    credit = ", ".join(f'"{method}": "{value}"' for method, value in row["credit"].items())
    return f'"credit": {{ {credit} }}, "share": "{row["share"]}",'


def payees(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {p["name"]: p["credit"] for p in rows}


def amounts(lines: list[str]) -> list[list[str]]:
    """A run's payee table as printed: credit, allocated, carried in, paid, carried on."""
    assert lines[0].split() == [
        "payee", "kind", "credit", "allocated", "carried", "in", "paid", "carried", "on",
    ]  # fmt: skip
    return [line.split()[-5:] for line in lines[1:]]


@pytest.fixture
def alliance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Alliance:
    monkeypatch.chdir(tmp_path)  # the guide's files are named as given: we are in its folder
    # The practice ledgers are tiny: one process audits them faster than a pool starts.
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    return Alliance(tmp_path)


def test_the_leads_path_from_rules_to_a_verified_report(
    alliance: Alliance, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a = alliance
    today = datetime.now(UTC).date()
    # The guide's days, each as wide as the test may take (it may cross midnight): day 1 holds
    # what happens at real time, day 2 what happens three days ahead.
    day1 = (str(today - timedelta(days=1)), str(today + timedelta(days=2)))
    day2 = (day1[1], str(today + timedelta(days=5)))

    # Section 3: costs and effort, read by the lead.
    a.claims()
    listed = a.lead("contribution", "list").stdout.splitlines()
    assert [line.split("  ")[2:4] for line in listed] == [["cost", "1200 EUR"], ["curation", "12"]]
    for line in listed:
        shown(line)

    # Section 4: version 1 proposed, signed by the hospital, exported and countersigned by the
    # institute.
    a.propose(1)
    awaiting = a.h("rules", "list").stdout.splitlines()
    assert awaiting == [f"v1  shapley  awaiting {INSTITUTE}, {HOSPITAL}", "in force: none yet"]
    for line in awaiting:
        shown(line)
    a.hospital_signs(1, entry=20)
    a.institute_signs(1, entry=21)
    accepted = a.h("rules", "list").stdout.splitlines()
    assert accepted == ["v1  shapley  accepted", "in force: v1"]
    for line in accepted:
        shown(line)
    with api(a.hospital) as client:
        in_force = client.get("/api/v1/benefit-rules/in-force").get_json()
    assert in_force["document"]["derived_keep"] == "0.5"
    assert in_force["document"]["proposer"] == HOSPITAL
    assert [m["origin"] for m in in_force["document"]["members"]] == [INSTITUTE, HOSPITAL]

    # Section 5: the worked example, as the guide computes it by hand.
    built = a.lead("report", "build", "--from", day1[0], "--to", day1[1], "-o", "figures.json")
    assert built.stderr.strip() == f"Wrote figures.json (ledgers read: {HOSPITAL} at 22)."
    shown(built.stderr)
    figures = json.loads((tmp_path / "figures.json").read_text(encoding="utf-8"))
    rows = institutions(figures)
    for origin, credit in WORKED.items():
        assert rows[origin]["credit"] == credit
        assert rows[origin]["share"] == SHARES[origin]
        shown(excerpt(rows[origin]))
    assert figures["summary"]["totals"]["worth"] == "8.000000"
    assert figures["rules"]["version"] == 1
    for by_hand in (
        "**St Mary's 6.25, NGI 1.75**",
        "**St Mary's (1 + 8) / 2 = 4.5, NGI (7 + 0) / 2 = 3.5**",
        "**St Mary's 8 × 8/15 = 4.266667, NGI 8 × 7/15 = 3.733333**",
        "**4 each**",
    ):
        shown(by_hand)
    # Section 7: the hospital's 4.5 divided in the mix its own 6.25 came in.
    assert payees(figures["summary"]["payees"]) == {
        "Northern Genomics Institute": "3.500000", **HOSPITAL_PAYEES,
    }  # fmt: skip
    assert all(f"**{v}**" in GUIDE.text() for v in ("5.35", "3.852", "0.432", "0.216"))
    # Section 9: what day 1 left uncredited, and whom it recognises.
    reasons = [(u["type"], u["reason"]) for u in figures["summary"]["uncredited"]]
    assert reasons == [
        ("cost.recorded", "the rules give cost.recorded no weight"),
        ("contribution.declared", "the rules give contribution.declared no weight"),
    ]
    for _, reason in reasons:
        shown(f'"{reason}"')
    recognised = {c["name"]: c["credit"] for c in figures["summary"]["contributors"]}
    assert recognised == {"Diabetes clinic nursing team": "2.062500", "Dr Wei Zhang": "4.187500"}
    shown('the nursing team with ¾ of the cohort\'s 2.75 (`"2.062500"`)')
    shown('all of the extract\'s 3.5 (`"4.187500"`)')
    nodes = {n["origin"]: n for n in figures["summary"]["participation"]["nodes"]}
    assert nodes[INSTITUTE]["ledger_read"] is False and nodes[INSTITUTE]["active_days"] is None

    # Sections 3 and 6: under rules weighing declarations, the twelve person-days declared on
    # the extract are the hospital's alone, and recognise Dr Zhang with 12.
    facts = facts_of(a.hospital)
    in_force_v1 = facts.rules_in_force(day1[1])
    assert in_force_v1 is not None
    effort = {**in_force_v1[2], "event_weights": {"contribution.declared": "1"}}
    assert compute(facts, effort, *day1).institutions["proportional"] == {
        HOSPITAL: 12, INSTITUTE: 0,
    }  # fmt: skip
    shown("would earn the hospital 12, and the institute nothing")
    shown("would be the hospital's alone")
    with_effort = report.figures(facts, effort, *day1)["contributors"]
    assert [(c["name"], c["credit"]) for c in with_effort] == [("Dr Wei Zhang", "12.000000")]
    shown("days would add 12 to Dr Zhang's line there")

    # Section 8: day 1 cannot be paid on day 1.
    pay_day1 = ("compensation", "run", "--from", day1[0], "--to", day1[1], "--pool", "10000.00",
                "--currency", "EUR", "--minimum", "300")  # fmt: skip
    quoted(a.lead(*pay_day1, ok=False))
    token = a.h("token", "create", "--actor", "nadia", "--role", "lead", "--days", "7").stdout
    lead = {"Authorization": f"Bearer {token.strip()}"}
    by_api = {"start": day1[0], "end": day1[1], "pool": "10000.00", "currency": "EUR"}
    with api(a.hospital) as client:
        assert (
            client.post("/api/v1/compensation/runs", json=by_api, headers=lead).status_code == 422
        )

    # Day 2: the institute's bundle, and the first run, which reads it; a small amount is
    # carried.
    clock_ahead(monkeypatch, 3)
    exported = a.i("ledger", "export", "ngi.jsonl.gz", "--for", "members")
    assert exported.stdout.strip() == "Exported 7 entries to ngi.jsonl.gz, for members."
    shown(exported.stdout)
    first = a.lead(*pay_day1, "--bundle", "ngi.jsonl.gz")
    lines = shown_lines(first)
    assert lines[0].startswith("Run run-") and lines[0].endswith(
        f"by shapley (benefit rules 1 of {HOSPITAL}) (ledger entry 22)."
    )
    run1 = lines[0].split()[1].rstrip(":")
    assert amounts(lines[1:]) == [
        ["4.500000", "5000.00", "0.00", "5000.00", "0.00"],
        ["0.432000", "480.00", "0.00", "480.00", "0.00"],
        ["0.216000", "240.00", "0.00", "0.00", "240.00"],
        ["3.852000", "4280.00", "0.00", "4280.00", "0.00"],
    ]
    shown("day 1 is worth 9")
    shown("Shapley gives each institution (1 + 8) / 2 = 4.5")
    shown("the fund's 0.216 of 9 is 240.00 EUR")
    quoted(a.lead(*pay_day1, ok=False))  # a period is paid once
    with api(a.hospital) as client:
        assert (
            client.post("/api/v1/compensation/runs", json=by_api, headers=lead).status_code == 409
        )
    listed = shown_lines(a.h("compensation", "list", "--as", "ole"))
    assert listed == [
        f"{run1}  {day1[0]} to {day1[1]}  10000.00 EUR  shapley  paid 9760.00 to 4 payees"
    ]
    details = shown_lines(a.h("compensation", "show", run1, "--as", "ole"))
    assert details[0].endswith("; minimum payout 300.00, paid in steps of 0.01")
    assert details[1].startswith(f"  read {INSTITUTE} up to 7 entries, root ")
    assert details[2].startswith(f"  read {HOSPITAL} up to 22 entries, root ")
    assert amounts(details[3:]) == amounts(lines[1:])
    whole = json.loads(a.h("compensation", "show", run1, "--json", "--as", "ole").stdout)
    assert (whole["quantum"], whole["minimum"]) == ("0.01", "300.00")
    fund = next(p for p in whole["payees"] if p["kind"] == "fund")
    assert (fund["allocated"], fund["carried_in"], fund["paid"], fund["carried"]) == (
        "240.00", "0.00", "0.00", "240.00",
    )  # fmt: skip
    # The run read its ledger up to the entry before its own, and the institute's bundle up to
    # its checkpoint; the entry records it all.
    node = Node.open(a.hospital)
    try:
        raw = parse_entry(node.ledger.entries(22, 23)[0])
        with node.engine.connect() as conn:
            entry = list(own_entries(conn, 23))[22]
    finally:
        node.close()
    # Amounts are for members: sealed on the ledger, read in the members' view.
    assert "payees" not in raw.body and set(raw.body["sealed"]) == {"members"}
    assert entry.kind == "compensation.run"
    assert (entry.body["quantum"], entry.body["minimum"]) == ("0.01", "300.00")
    assert [(c["origin"], c["size"]) for c in entry.body["checkpoints"]] == [
        (INSTITUTE, 7), (HOSPITAL, 22),
    ]  # fmt: skip
    with api(a.hospital) as client:
        view = client.get(f"/api/v1/compensation/runs/{run1}", headers=lead).get_json()
    assert (view["quantum"], view["minimum"]) == ("0.01", "300.00")

    # Day 2: version 2 proposed through the API, then signed by both members.
    with api(a.hospital) as client:
        answer = client.post(
            "/api/v1/benefit-rules", json=GUIDE.json("rules-proposal-v2"), headers=lead
        )
    assert answer.status_code == 201, answer.text
    body = answer.get_json()
    assert (body["entry"], body["version"], body["awaiting"]) == (23, 2, [INSTITUTE, HOSPITAL])
    assert body["document"]["event_weights"]["cost.recorded"] == "0.001"
    shown('"entry":23,')
    a.hospital_signs(2, entry=24)
    a.institute_signs(2, entry=25)
    assert a.h("rules", "list").stdout.splitlines()[-1] == "in force: v2"
    assert "`rules list` ends `in force: v2`" in GUIDE.text()
    second = a.write("publication-2.json", GUIDE.json("practice-publication-2"))
    shown(a.h("grant", "report-output", a.grant, second, "--as", "sara").stdout)
    a.claims(index=1, declare=False)
    # Day 1 keeps version 1, however late it is reported.
    late = json.loads(a.lead("report", "build", "--from", day1[0], "--to", day1[1]).stdout)
    assert (
        late["rules"]["version"] == 1 and institutions(late)[HOSPITAL]["credit"] == WORKED[HOSPITAL]
    )

    # Day 3: a fresh bundle; the second run pays what was carried, and carries what is small.
    clock_ahead(monkeypatch, 6)
    exported = a.i("ledger", "export", "ngi.jsonl.gz", "--for", "members")
    assert exported.stdout.strip() == "Exported 8 entries to ngi.jsonl.gz, for members."
    shown(exported.stdout)
    pay_day2 = ("compensation", "run", "--from", day2[0], "--to", day2[1], "--pool", "3000.00",
                "--currency", "EUR", "--minimum", "300", "--bundle", "ngi.jsonl.gz")  # fmt: skip
    lines = shown_lines(a.lead(*pay_day2))
    assert lines[0].endswith(f"by shapley (benefit rules 2 of {HOSPITAL}) (ledger entry 28).")
    run2 = lines[0].split()[1].rstrip(":")
    assert amounts(lines[1:]) == [
        ["2.000000", "1000.00", "0.00", "1000.00", "0.00"],
        ["0.320000", "160.00", "0.00", "0.00", "160.00"],
        ["0.160000", "80.00", "240.00", "320.00", "0.00"],
        ["3.520000", "1760.00", "0.00", "1760.00", "0.00"],
    ]
    shown("with the 240.00 carried in from day 1 it is owed 320.00")
    assert shown_lines(a.h("compensation", "list", "--as", "ole"))[1] == (
        f"{run2}  {day2[0]} to {day2[1]}  3000.00 EUR  shapley  paid 3080.00 to 4 payees"
    )
    quiet = (day2[1], str(today + timedelta(days=6)))
    quoted(a.lead("compensation", "run", "--from", quiet[0], "--to", quiet[1], "--pool", "100",
                  "--currency", "EUR", ok=False))  # fmt: skip
    # Checking a run: a report over its period, from the same ledgers, gives each payee the
    # credit the run recorded, and what the run paid them.
    for run_id, period in ((run1, day1), (run2, day2)):
        recorded = json.loads(a.h("compensation", "show", run_id, "--json", "--as", "ole").stdout)
        again = json.loads(
            a.lead("report", "build", "--from", period[0], "--to", period[1],
                   "--bundle", "ngi.jsonl.gz").stdout
        )  # fmt: skip
        assert payees(again["summary"]["payees"]) == payees(recorded["payees"])
        paid = {p["name"]: p["compensation"].get("EUR", "0.00") for p in again["summary"]["payees"]}
        assert paid == {p["name"]: p["paid"] for p in recorded["payees"]}
    # A report over both days applies version 2 to both, the first cost included.
    both = json.loads(a.lead("report", "build", "--from", day1[0], "--to", day2[1]).stdout)
    assert both["rules"]["version"] == 2 and both["summary"]["totals"]["worth"] == "15.200000"
    # The API: runs for the auditor, the report as CSV.
    ole = a.h("token", "create", "--actor", "ole", "--days", "1").stdout.strip()
    with api(a.hospital) as client:
        auth = {"Authorization": f"Bearer {ole}"}
        runs = client.get("/api/v1/compensation/runs", headers=auth).get_json()
        assert [r["id"] for r in runs] == [run1, run2]
        url = f"/api/v1/reports/contributions?start={day1[0]}&end={day2[1]}&by=month"
        sheet = client.get(url + "&format=csv", headers=auth)
        assert sheet.status_code == 200 and sheet.mimetype == "text/csv"
        levels = {line.split(",")[2] for line in sheet.text.splitlines()[1:]}
        assert levels == {"institution", "dataset", "contributor", "payee", "trend"}

    # Section 9: the report reads the institute's bundle too.
    read = ("report", "build", "--from", day1[0], "--to", day1[1], "--bundle", "ngi.jsonl.gz")
    built = a.lead(*read, "-o", "report.json")
    assert (
        built.stderr.split()
        == (f"Wrote report.json (ledgers read: {INSTITUTE} at 8, {HOSPITAL} at 29).").split()
    )
    shown(built.stderr)
    full = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    rows = institutions(full)
    assert rows[HOSPITAL]["credit"] == {
        "shapley": "4.500000", "proportional": "6.250000", "leave-one-out": "4.500000",
        "equal": "4.500000",
    }  # fmt: skip
    assert rows[INSTITUTE]["credit"]["proportional"] == "2.750000"
    assert rows[INSTITUTE]["compensation"] == {"EUR": "5000.00"}
    shown("the institute's `compensation` shows the 5000.00 EUR it was paid")
    assert full["summary"]["totals"]["worth"] == "9.000000"
    nodes = {n["origin"]: n for n in full["summary"]["participation"]["nodes"]}
    assert (nodes[INSTITUTE]["ledger_read"], nodes[INSTITUTE]["active_days"]) == (True, 1)
    csv_built = a.lead(*read, "--format", "csv", "-o", "report.csv")
    assert "Wrote report.csv" in csv_built.stderr
    sheet_rows = (tmp_path / "report.csv").read_text(encoding="utf-8").splitlines()
    assert sheet_rows[0].startswith("period_start,period_end,level,origin,id,name,kind,")
    assert {r.split(",")[2] for r in sheet_rows[1:]} == {
        "institution", "dataset", "contributor", "payee",
    }  # fmt: skip

    # Section 10: the auditor verifies it from both bundles, with the vkeys pinned.
    own = a.h("ledger", "export", "st-marys.jsonl.gz", "--for", "members")
    shown(own.stdout)
    bundles = ("--bundle", "st-marys.jsonl.gz", "--bundle", "ngi.jsonl.gz")
    pinned = ("--vkey", a.vkeys[HOSPITAL], "--vkey", a.vkeys[INSTITUTE])
    verified = run("report", "verify", "report.json", *bundles, *pinned)
    assert verified.stderr == ""
    shown(verified.stdout)
    assert verified.stdout.startswith(f"Every figure of the report by {HOSPITAL} for ")
    # The keys in the bundles are never trusted on their own: with none pinned and no node,
    # refused before anything is read; on the institute's node, the keys it recorded serve.
    quoted(run("report", "verify", "report.json", *bundles, ok=False))
    at_institute = run("report", "verify", "report.json", *bundles, "--data-dir", a.institute)
    recorded = f"{HOSPITAL} checked with the key this node recorded for the member"
    assert recorded in at_institute.stdout
    shown(f"{INSTITUTE} checked with the key this node recorded for the member")
    # Both runs, paid again from both bundles: the institute's holds one entry more than the
    # first run read.
    for run_id in (run1, run2):
        paid_again = run("compensation", "verify", run_id, *bundles, *pinned)
        assert paid_again.stdout.startswith(f"Every amount of the run {run_id} (")
        if run_id == run1:
            assert f"(ledgers: {INSTITUTE} at 7, {HOSPITAL} at 22)" in paid_again.stdout
            shown(paid_again.stdout)
    quoted(run("compensation", "verify", "run-xxxxxxxxxx", *bundles, ok=False))
    quoted(run("compensation", "verify", run1, "--bundle", "st-marys.jsonl.gz", ok=False))
    # What a failure looks like: edited after signing; re-signed with another key in the
    # hospital's name; doctored figures signed with the hospital's own key.
    edited = json.loads(json.dumps(full))
    edited["summary"]["institutions"][0]["share"] = "60.00"
    a.write("edited.json", edited)
    quoted(run("report", "verify", "edited.json", *bundles, ok=False))
    content = {k: v for k, v in edited.items() if k not in report.UNSIGNED}
    a.write("forged.json", report.sign(content, NodeKey.generate(), HOSPITAL))
    quoted(run("report", "verify", "forged.json", *bundles, *pinned, ok=False))
    unchanged = {k: v for k, v in full.items() if k not in report.UNSIGNED}
    a.write("resigned.json", report.sign(unchanged, NodeKey.generate(), HOSPITAL))
    quoted(run("report", "verify", "resigned.json", *bundles, *pinned, ok=False))
    a.write("doctored.json", report.sign(content, node_key(a.hospital), HOSPITAL))
    doctored = run("report", "verify", "doctored.json", *bundles, *pinned, ok=False)
    quoted(doctored)
    assert doctored.stderr.split("Error:")[0].strip() == (
        "summary.institutions.0.share: it says '60.00', the ledgers give '50.00'"
    )
    shown(doctored.stderr.split("Error:")[0])  # the figure that differs, and how
    # The signer may be any node whose ledger the report read, with that node's key.
    a.write("by-ngi.json", report.sign(unchanged, node_key(a.institute), INSTITUTE))
    assert run("report", "verify", "by-ngi.json", *bundles, *pinned).stdout.startswith(
        f"Every figure of the report by {INSTITUTE} for "
    )
    quoted(run("report", "verify", "report.json", "--bundle", "st-marys.jsonl.gz", ok=False))
    quoted(run("report", "verify", "figures.json", *bundles, ok=False))  # did not read NGI's
    shutil.copy(tmp_path / "ngi.jsonl.gz", tmp_path / "ngi-copy.jsonl.gz")
    quoted(run("report", "verify", "report.json", *bundles, "--bundle", "ngi-copy.jsonl.gz",
               ok=False))  # fmt: skip
    impostor = Alliance.init(tmp_path / "impostor", "Impostor", INSTITUTE)
    quoted(run("report", "verify", "report.json", *bundles, "--vkey", a.vkeys[HOSPITAL],
               "--vkey", impostor, ok=False))  # fmt: skip
    # A vkey whose parts do not belong together (the hospital's name, the institute's key).
    _, key_id, key = a.vkeys[INSTITUTE].split("+", 2)
    mixed = f"{HOSPITAL}+{key_id}+{key}"
    quoted(run("report", "verify", "report.json", *bundles, "--vkey", mixed, ok=False))
    # A bundle changed after its node signed it: refused when building and when verifying.
    with gzip.open(tmp_path / "ngi.jsonl.gz", "rt", encoding="utf-8") as source:
        lines_ = [line.replace(r"\"weight\":\"1\"", r"\"weight\":\"9\"") for line in source]
    a.write("ngi-edited.jsonl", "".join(lines_))
    quoted(a.lead("report", "build", "--from", day1[0], "--to", day1[1],
                  "--bundle", "ngi-edited.jsonl", ok=False))  # fmt: skip
    quoted(run("report", "verify", "report.json", "--bundle", "st-marys.jsonl.gz",
               "--bundle", "ngi-edited.jsonl", ok=False))  # fmt: skip
    # The same for the entry itself: its signature and the chain after it fail.
    with gzip.open(tmp_path / "ngi.jsonl.gz", "rt", encoding="utf-8") as source:
        lines_ = [
            line.replace('"version":1', '"version":7') if '"index":4,' in line else line
            for line in source
        ]
    a.write("ngi-edited.jsonl", "".join(lines_))
    quoted(a.lead("report", "build", "--from", day1[0], "--to", day1[1],
                  "--bundle", "ngi-edited.jsonl", ok=False))  # fmt: skip
    # A bundle exported for the public carries no members documents: refused, with the reason.
    a.i("ledger", "export", "ngi-public.jsonl.gz")
    quoted(a.lead("report", "build", "--from", day1[0], "--to", day1[1],
                  "--bundle", "ngi-public.jsonl.gz", ok=False))  # fmt: skip

    # Sections 6 and 12: a revision published during a period applies to all of it; one
    # published after a period has ended does not reach back. Naming the institute's panel
    # with weight 0.1 instead of 1 moves proportional credit towards the hospital, and leaves
    # the Shapley values where they were.
    still_open = ("report", "build", "--from", day1[0], "--to", str(today + timedelta(days=9)))
    before = institutions(json.loads(a.lead(*still_open).stdout))
    revised = a.write("extract-v2.json", a.extract_metadata(panel_weight="0.1"))
    a.h("dataset", "revise", a.extract, revised, "--as", "wei")
    after = institutions(json.loads(a.lead(*still_open).stdout))
    for origin in (HOSPITAL, INSTITUTE):
        assert after[origin]["credit"]["shapley"] == before[origin]["credit"]["shapley"]
    assert Decimal(after[HOSPITAL]["credit"]["proportional"]) > Decimal(
        before[HOSPITAL]["credit"]["proportional"]
    )
    shown("had the extract named the institute's panel with weight 0.1 instead of 1")
    closed = json.loads(a.lead("report", "build", "--from", day1[0], "--to", day1[1]).stdout)
    for part in ("datasets", "contributors"):
        assert closed["summary"][part] == figures["summary"][part]
    assert {o: row["credit"] for o, row in institutions(closed).items()} == WORKED
    assert payees(closed["summary"]["payees"]) == payees(figures["summary"]["payees"])
    shown("one published after the period has ended never reaches back")


def test_every_refusal_the_guide_quotes_is_real(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    # The contract's institution line keeps the templates' name: it is still the hospital's.
    a = Alliance(tmp_path, institution_line="Data providers")
    contract = json.loads(a.h("contract", "show", a.contract).stdout)
    assert contract["document"]["benefit_split"][0] == {
        "payee": "institution", "name": "Data providers", "percent": "70",
    }  # fmt: skip
    shown("Had the contract kept the templates' default name, `Data providers`, its 70 % would")
    today = datetime.now(UTC).date()
    day1 = (str(today - timedelta(days=1)), str(today + timedelta(days=2)))

    # Costs and effort.
    for changes in ({"--amount": "1,200"}, {"--dataset": "ds-xxxxxxxxxx"}):
        options = {"--amount": "1200", "--currency": "EUR", "--description": "Hosting", **changes}
        flat = [part for pair in options.items() for part in pair]
        quoted(a.h("contribution", "cost", *flat, "--as", "wei", ok=False))
    quoted(a.lead("contribution", "cost", "--amount", "1200", "--currency", "EUR",
                  "--description", "Hosting", ok=False))  # fmt: skip
    a.claims()

    # Benefit rules: bad proposals, and the wrong people.
    good = GUIDE.json("rules-proposal")
    for changes in (
        {"event_weights": {"output.paper": "1"}},
        {"event_weights": {"grant.issued": 2}},
        {"method": "nash"},
        {"derived_keep": "1.5"},
    ):
        bad = a.write("bad-rules.json", {**good, **changes})
        quoted(a.lead("rules", "propose", bad, ok=False))
    proposal = a.write("rules-proposal.json", good)
    quoted(a.h("rules", "propose", proposal, "--as", "wei", ok=False))
    # No rules in force yet: nothing can be paid or reported.
    past = ("--from", "2026-10-01", "--to", "2026-11-01")
    quoted(a.lead("compensation", "run", *past, "--pool", "100", "--currency", "EUR", ok=False))
    quoted(a.lead("report", "build", *past, ok=False))
    a.propose(1)
    quoted(a.h("rules", "sign", "1", "--as", "nadia", ok=False))
    a.hospital_signs(1)
    quoted(a.h("rules", "sign", "1", "--as", "amira", ok=False))
    with api(a.hospital) as client:
        view = client.get("/api/v1/benefit-rules/1").get_json()
    whole = a.i("rules", "countersign", a.write("rules-view.json", view), "--as", "jonas", ok=False)
    # The field errors come in no fixed order: the guide quotes two of them.
    beginning = "not a valid benefit-rules document ("
    assert error(whole).startswith(beginning) and error(whole).endswith(")")
    listed = error(whole).removeprefix(beginning).removesuffix(")").split("; ")
    for field in ("awaiting: Unknown field.", "event_weights: Missing data for required field."):
        assert field in listed
        shown(f"(`{field}`")
    a.write("rules-v1.json", view["document"])
    quoted(a.h("rules", "countersign", "rules-v1.json", "--as", "amira", ok=False))
    # The hospital's bundle, exported before the report below was built.
    a.h("ledger", "export", "st-marys-early.jsonl.gz", "--for", "members")
    a.institute_signs(1)
    again = a.i("rules", "countersign", "rules-v1.json", "--as", "jonas", ok=False)
    message = error(again)
    assert message.startswith(f"this node already signed version 1 of '{HOSPITAL}' (digest ")
    shown(message)
    built = a.lead("report", "build", "--from", day1[0], "--to", day1[1], "-o", "figures.json")
    quoted(run("report", "verify", "figures.json", "--bundle", "st-marys-early.jsonl.gz",
               "--vkey", a.vkeys[HOSPITAL], ok=False))  # fmt: skip
    # The institution line, "Data providers", is paid to the hospital under its own name.
    figures = json.loads((tmp_path / "figures.json").read_text(encoding="utf-8"))
    assert "Wrote figures.json" in built.stderr
    assert [(p["kind"], p["name"], p["credit"]) for p in figures["summary"]["payees"]] == [
        ("institution", "Northern Genomics Institute", "3.500000"),
        *(
            (kind, name, HOSPITAL_PAYEES[name])
            for kind, name in (
                ("contributor", "Diabetes clinic nursing team"),
                ("fund", "Patient benefit fund"),
                ("institution", "St Mary's Hospital"),
            )
        ),
    ]

    # Runs and reports: the wrong people, and malformed runs.
    quoted(a.h("compensation", "run", "--from", day1[0], "--to", day1[1], "--pool", "100",
               "--currency", "EUR", "--as", "wei", ok=False))  # fmt: skip
    quoted(a.h("report", "build", "--from", day1[0], "--to", day1[1], "--as", "sara", ok=False))
    quoted(a.h("compensation", "list", "--as", "sara", ok=False))
    quoted(a.lead("compensation", "show", "run-xxxxxxxxxx", ok=False))
    clock_ahead(monkeypatch, 3)
    pay_day1 = ("compensation", "run", "--from", day1[0], "--to", day1[1])
    for options in (
        ("--pool", "100.50", "--quantum", "1", "--currency", "EUR"),
        ("--pool", "100", "--quantum", "0.05", "--currency", "EUR"),
        ("--pool", "100", "--currency", "euro"),
    ):
        quoted(a.lead(*pay_day1, *options, ok=False))
    quoted(a.lead("compensation", "run", "--from", day1[0], "--to", day1[0], "--pool", "100",
                  "--currency", "EUR", ok=False))  # fmt: skip

    # Members' bundles: only members', each signed with the key this node recorded, not this
    # node's own, and each once; for runs and reports alike.
    a.i("ledger", "export", "ngi.jsonl.gz", "--for", "members")
    a.h("ledger", "export", "st-marys.jsonl.gz", "--for", "members")
    shutil.copy(tmp_path / "ngi.jsonl.gz", tmp_path / "ngi-copy.jsonl.gz")
    other = tmp_path / "other"
    Alliance.init(other, "Other Institute", "ledger.other.example.org")
    run("ledger", "export", tmp_path / "other.jsonl.gz", "--data-dir", other, "--for", "members")
    impostor = tmp_path / "impostor"
    Alliance.init(impostor, "Impostor", INSTITUTE)
    (tmp_path / "elsewhere").mkdir()
    run(
        "ledger",
        "export",
        tmp_path / "elsewhere" / "ngi.jsonl.gz",
        "--data-dir",
        impostor,
        "--for",
        "members",
    )
    pay = (*pay_day1, "--pool", "100", "--currency", "EUR")
    build = ("report", "build", "--from", day1[0], "--to", day1[1])
    for given in (
        ("st-marys.jsonl.gz",),
        ("other.jsonl.gz",),
        (str(Path("elsewhere") / "ngi.jsonl.gz"),),
        ("ngi.jsonl.gz", "ngi-copy.jsonl.gz"),
    ):
        flat = [part for name in given for part in ("--bundle", name)]
        refused = (quoted(a.lead(*pay, *flat, ok=False)), quoted(a.lead(*build, *flat, ok=False)))
        assert refused[0] == refused[1]
    # A run made without the institute's bundle read only the hospital's ledger.
    alone = a.lead(*pay).stdout.split()[1].rstrip(":")
    a.h("ledger", "export", "st-marys.jsonl.gz", "--for", "members")
    bundles = ("--bundle", "st-marys.jsonl.gz", "--bundle", "ngi.jsonl.gz")
    quoted(run("compensation", "verify", alone, *bundles, ok=False))

    # Version 2 weighs costs: costs in two currencies in one period are refused.
    with api(a.hospital) as client:
        token = a.h("token", "create", "--actor", "nadia", "--days", "1").stdout.strip()
        answer = client.post(
            "/api/v1/benefit-rules",
            json=GUIDE.json("rules-proposal-v2"),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 201, answer.text
    a.hospital_signs(2)
    a.institute_signs(2)
    a.h("contribution", "cost", "--amount", "800", "--currency", "CHF", "--description",
        "Backup storage in Zurich", "--as", "wei")  # fmt: skip
    a.claims(index=1, declare=False, guided=False)
    clock_ahead(monkeypatch, 6)
    day2 = (day1[1], str(today + timedelta(days=5)))
    pay_day2 = ("compensation", "run", "--from", day2[0], "--to", day2[1], "--pool", "100",
                "--currency", "EUR")  # fmt: skip
    quoted(a.lead(*pay_day2, ok=False))
    quoted(a.lead("report", "build", "--from", day2[0], "--to", day2[1], ok=False))

    # A steward revises the cohort to derive from its own derivative: refused, with the path.
    cohort = GUIDE.json("practice-cohort")
    cohort["derived_from"] = [{"dataset": a.extract, "weight": "1"}]
    cycle = quoted(
        a.h("dataset", "revise", a.cohort, a.write("cohort-v2.json", cohort), "--as", "wei",
            ok=False)
    )  # fmt: skip
    assert cycle == (
        "unusable source datasets (derived_from: a dataset cannot be derived, however"
        " indirectly, from itself (each derived from the next): "
        f"{a.cohort} → {a.extract} → {a.cohort})"
    )

    # A cycle through both members' datasets: the institute's node takes it; reports and runs
    # that read both ledgers refuse it for the periods that end after it, even once mended.
    days = [str(today + timedelta(days=n)) for n in (9, 10, 13)]
    clock_ahead(monkeypatch, 9)
    panel = GUIDE.json("practice-panel")
    panel["derived_from"] = [{"dataset": a.extract, "publisher": HOSPITAL, "weight": "1"}]
    a.i("dataset", "revise", a.panel, a.write("panel-v2.json", panel), "--as", "lena")
    visits = {**cohort, "derived_from": [], "title": "St Mary's diabetes clinic visits, 2025"}
    a.h("dataset", "register", a.write("visits.json", visits), "--as", "wei")  # credit to flow
    a.i("ledger", "export", "ngi.jsonl.gz", "--for", "members")
    looped = ("--from", days[0], "--to", days[1], "--bundle", "ngi.jsonl.gz")
    loop = quoted(a.lead("report", "build", *looped, ok=False))
    assert loop == (
        "the derivation graph has a cycle (each derived from the next): "
        f"{a.panel} → {a.extract} → {a.panel}"
    )
    # Day 1 ended before the cycle: its figures stand.
    a.lead("report", "build", "--from", day1[0], "--to", day1[1], "--bundle", "ngi.jsonl.gz")
    clock_ahead(monkeypatch, 12)
    a.i("dataset", "revise", a.panel, a.write("panel-v3.json", GUIDE.json("practice-panel")),
        "--as", "lena")  # fmt: skip
    a.i("ledger", "export", "ngi.jsonl.gz", "--for", "members")
    assert quoted(a.lead("compensation", "run", *looped, "--pool", "100", "--currency", "EUR",
                         ok=False)) == loop  # fmt: skip
    a.lead("report", "build", "--from", days[0], "--to", days[2], "--bundle", "ngi.jsonl.gz")

    # The rules accepted last apply, whatever their number, and `rules list` names them.
    clock_ahead(monkeypatch, 15)
    for method in ("equal", "proportional"):
        a.lead("rules", "propose", a.write(f"rules-{method}.json", {**good, "method": method}))
    for version in (4, 3):
        a.hospital_signs(version)
        a.institute_signs(version)
    assert a.h("rules", "list").stdout.splitlines()[-1] == "in force: v3"
    shown("`GET /api/v1/benefit-rules/in-force` then name version 2")
    later = ("report", "build", "--from", str(today + timedelta(days=15)),
             "--to", str(today + timedelta(days=16)))  # fmt: skip
    applied = json.loads(a.lead(*later).stdout)["rules"]
    assert (applied["proposer"], applied["version"], applied["method"]) == (HOSPITAL, 3, "equal")
    shown("a version 2 whose last signature arrives after version 3 was accepted replaces")
    # Rules proposed on the institute's node, and accepted last, apply where its ledger is read.
    a.i("rules", "propose", a.write("rules-ngi.json", {**good, "method": "leave-one-out"}))
    a.i("rules", "sign", "1", "--as", "jonas")
    ngi_rules = a.write("rules-ngi-v1.json", run("rules", "export", "1", "--data-dir",
                                                 a.institute).stdout)  # fmt: skip
    signature = last_line(a.h("rules", "countersign", ngi_rules, "--as", "amira"))
    a.i("rules", "add-signature", "1", "--member", HOSPITAL, "--signature", signature,
        "--as", "jonas")  # fmt: skip
    a.i("ledger", "export", "ngi.jsonl.gz", "--for", "members")
    applied = json.loads(a.lead(*later, "--bundle", "ngi.jsonl.gz").stdout)["rules"]
    assert (applied["proposer"], applied["version"]) == (INSTITUTE, 1)
    assert json.loads(a.lead(*later).stdout)["rules"]["version"] == 3
    shown("rules proposed on another member's node apply to a run or a report only if it")


@pytest.mark.parametrize("example", ["methods", "flow", "pay-out", "coverage"])
def test_the_library_examples_print_what_the_guide_shows(example: str) -> None:
    code = GUIDE.block(example, "python")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"guide-alliance-lead.md: {example}", "exec"), {"__name__": example})
    assert printed.getvalue() == GUIDE.block(f"{example}-output", "text") + "\n"


def test_the_guides_sums() -> None:
    """The figures the guide works out by hand."""
    # Section 7: the hospital's payees, day 1.
    own = {"institution": Decimal("5.35"), "contributor": Decimal("0.6"), "fund": Decimal("0.3")}
    assert sum(own.values()) == Decimal("6.25")
    assert {k: v * Decimal("4.5") / Decimal("6.25") for k, v in own.items()} == {
        "institution": Decimal("3.852"), "contributor": Decimal("0.432"), "fund": Decimal("0.216"),
    }  # fmt: skip
    # Section 5: leave-one-out.
    assert (Fraction(64, 15), Fraction(56, 15)) == (8 * Fraction(8, 15), 8 * Fraction(7, 15))
    # Section 8: the fund's share of day 1's pool, and what it is owed after day 2.
    assert Decimal("0.216") / 9 * 10000 == Decimal("240")
    assert Decimal("0.16") / 6 * 3000 + 240 == Decimal("320")
