"""The researcher's guide (docs/guide-researcher.md), replayed through the CLI and the API.

The guide's files (the practice datasets and contract, the request, the resubmitted purpose,
the outputs, the derived dataset's description) are read out of the markdown itself, and its
path is run on two SQLite practice nodes in the guide's order, so that the ledger entries,
statuses and messages it shows are the ones a reader gets: search, check, submit, returned,
resubmitted, approved, a second request co-approved by a director, the grant exported,
verified offline and its status asked, a preprint and a derived dataset reported, the inbox,
then a suspension and reinstatement, a consent withdrawal, a revocation and the deletion
attestation. A second test triggers every refusal the guide quotes, and the rules it states
besides: manual review for a refused purpose only, legacy data never granted, a grant for the
version its contract covers, starting no earlier than the contract.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask.testing import FlaskClient
from guide import HOSPITAL, INSTITUTE, Guide, PracticeNodes, error, generic, last_line, run

from consortium.alliance.ledgers import own_entries
from consortium.api import create_app
from consortium.jobs import expiry_job
from consortium.node import Node

GUIDE = Guide("guide-researcher.md")
assert_quoted = GUIDE.assert_quoted
PASSWORD = "retinopathy-and-hba1c"
TITLE = "HbA1c variability and the onset of diabetic retinopathy"
GENOTYPES_TITLE = "Polygenic risk scores for diabetic retinopathy"
# The ids the guide's example files name; the practice nodes of each test make their own.
GUIDE_COHORT, GUIDE_GENOTYPES = "ds-ywndjac6k7", "ds-gtzrekc4na"
CONTRACT_START, CONTRACT_END = date(2026, 11, 1), date(2029, 10, 31)
PARTIES = "St Mary's Hospital, Northern Genomics Institute"
DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?)?)?"
)


def _plain(text: str) -> str:
    """Ids, dates, times and line breaks as they vary between runs and paragraphs."""
    return " ".join(DATE.sub("YYYY-MM-DD", generic(text)).split())


def shown(text: str) -> None:
    """The guide shows this output or quotes this text (ids and dates aside)."""
    assert _plain(text) in _plain(GUIDE.text()), f"the guide does not show: {text}"


def findings(output: str) -> list[tuple[str, str, str]]:
    """The rows of `request check`'s table: term, verdict, why (wrapped reasons joined)."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        if line.startswith("│"):
            term, verdict, why = (cell.strip() for cell in line.strip().strip("│").split("│"))
            if term:
                rows.append([term, verdict, why])
            else:
                rows[-1][2] += f" {why}"
    return [(term, verdict, why) for term, verdict, why in rows]


def working_days_after(start: date, days: int) -> date:
    day = start
    while days:
        day += timedelta(days=1)
        days -= day.weekday() < 5
    return day


def months_later(start: date, months: int) -> date:
    year, month = divmod(start.month - 1 + months, 12)
    for day in (start.day, 30, 29, 28):
        try:
            return date(start.year + year, month + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


class Practice(PracticeNodes):
    """Section 2: the hospital shares the cohort and its genotyped subset with the institute
    under one contract both have signed, and its admin adds Dr Lindgren as a researcher."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.h("user", "add", "amira", "--name", "Amira Haddad", "--role", "admin")
        self.h("user", "add", "wei", "--name", "Dr Wei Zhang", "--role", "steward", "--as", "amira")
        self.h(
            "user", "add", "okafor", "--name", "Prof Grace Okafor", "--role", "director",
            "--as", "amira",
        )  # fmt: skip
        self.institute_staff_and_members()
        self.cohort = self.register("cohort.json", GUIDE.json("practice-cohort"))
        self.genotypes = self.register("genotypes.json", GUIDE.json("practice-genotypes"))
        values = GUIDE.json("practice-contract")
        assert values["datasets"] == [{"id": GUIDE_COHORT}, {"id": GUIDE_GENOTYPES}]
        values["datasets"] = [{"id": self.cohort}, {"id": self.genotypes}]
        self.contract = self.sign("contract-values.json", values)
        added = self.h(
            "user", "add", "sara", "--name", "Dr Sara Lindgren", "--role", "researcher",
            "--as", "amira",
        )  # fmt: skip
        shown(added.stdout)
        self.h("user", "password", "sara", "--password", PASSWORD)

    def sara(self, *args: str | Path, ok: bool = True) -> Result:
        """A command Dr Lindgren runs on the hospital's node."""
        return self.h(*args, "--as", "sara", ok=ok)

    def register(self, name: str, metadata: dict[str, Any], guided: bool = True) -> str:
        """The steward registers a dataset; ``guided``: as the guide shows, at its entry."""
        registered = self.h("dataset", "register", self.write(name, metadata), "--as", "wei")
        if guided:
            shown(registered.stdout.splitlines()[0])  # "Registered ds-…: published (ledger …)."
        return last_line(registered)

    def sign(self, name: str, values: dict[str, Any]) -> str:
        """The steward's round: draft, propose, sign, countersigned by the institute."""
        contract = last_line(self.h("contract", "draft", self.write(name, values), "--as", "wei"))
        self.h("contract", "propose", contract, "--as", "wei")
        self.h("contract", "sign", contract, "--as", "wei")
        exported = self.h("contract", "export", contract).stdout
        document = self.write("contract-for-ngi.json", exported)
        signature = last_line(self.i("contract", "countersign", document, "--as", "lena"))
        done = self.h(
            "contract", "add-signature", contract, "--party", INSTITUTE,
            "--signature", signature, "--as", "wei",
        )  # fmt: skip
        assert f"{contract} v1 is active; awaiting signatures: nobody" in done.stdout
        return contract

    def request(self, **changes: Any) -> dict[str, Any]:
        """The guide's request file, naming this node's cohort; None removes a field."""
        value = GUIDE.json("request")
        assert value["datasets"] == [{"id": GUIDE_COHORT}]
        value["datasets"] = [{"id": self.cohort}]
        for field, changed in changes.items():
            if changed is None:
                value.pop(field)
            else:
                value[field] = changed
        return value

    def genotypes_request(self) -> dict[str, Any]:
        """Section 6: the second request, for the genotyped subset."""
        return self.request(
            datasets=[{"id": self.genotypes}],
            project_title=GENOTYPES_TITLE,
            purpose_text="Does a polygenic risk score add to HbA1c in predicting retinopathy?",
            ethics_reference="NGI-REC-2026-044",
        )


@pytest.fixture
def practice(tmp_path: Path) -> Practice:
    return Practice(tmp_path)


@contextmanager
def api(node_dir: Path) -> Iterator[FlaskClient]:
    """The node's web API in process, as `consortium serve` would serve it."""
    node = Node.open(node_dir)
    try:
        yield create_app(node).test_client()
    finally:
        node.close()


def signed_in(client: FlaskClient, password: str = PASSWORD) -> dict[str, str]:
    """Section 2: Dr Lindgren signs in; the header that carries her token."""
    login = client.post("/api/v1/auth/login", json={"username": "sara", "password": password})
    assert login.status_code == 201, login.text
    assert login.get_json()["roles"] == ["researcher"]
    return {"Authorization": f"Bearer {login.get_json()['token']}"}


def test_the_researchers_path_from_search_to_deletion(practice: Practice) -> None:
    p = practice
    today = datetime.now(UTC).date()

    # Section 3: words and a purpose find the cohort, with the contract it is requested under.
    found = p.sara("dataset", "list", "diabetes", "--purpose", "HMB").stdout.splitlines()
    cohort_line = (
        f"{p.cohort}  v1  published  restricted  St Mary's type 2 diabetes cohort, 2015-2024  "
        f"[{p.contract}]"
    )
    assert found == [cohort_line]
    listed = p.sara("dataset", "list").stdout.splitlines()
    genotypes_line = (
        f"{p.genotypes}  v1  published  highly-sensitive  (metadata withheld)  [{p.contract}]"
    )
    assert listed == [cohort_line, genotypes_line]
    for line in listed:
        shown(line)
    # A withheld description never matches, though a steward's search finds the same words.
    hidden = p.sara("dataset", "list", "genotyped")
    assert (hidden.stdout, hidden.stderr) == ("", "No datasets match.\n")
    shown(f"`dataset list genotyped` answers `{hidden.stderr.strip()}`")
    assert p.genotypes in p.h("dataset", "list", "genotyped", "--as", "wei").stdout
    assert p.sara("dataset", "list", "--purpose", "POA").stdout == ""
    assert p.cohort in p.sara("dataset", "list", "--purpose", "DS").stdout
    with api(p.hospital) as client:
        wrong = client.post("/api/v1/auth/login", json={"username": "sara", "password": "nope"})
        assert wrong.status_code == 401
        shown(f'{{"detail": "{wrong.get_json(force=True)["detail"]}", "status": 401')
        unsigned = client.get("/api/v1/inbox")
        assert unsigned.status_code == 401
        shown(json.dumps(unsigned.get_json(force=True)["detail"]))
        auth = signed_in(client)
        search = "/api/v1/datasets?q=diabetes+retinopathy&purpose=HMB"
        results = client.get(search, headers=auth).get_json()
        assert [(d["id"], d["contracts"]) for d in results] == [(p.cohort, [p.contract])]
        assert client.get(search).get_json() == []
        # Section 6: the review deadline is a public setting.
        settings = client.get("/api/v1/settings").get_json()
        assert settings["review_deadline_days"] == 3
        assert settings["publication_reminder_months"] == 12
        assert "`review_deadline_days`, 3 unless" in GUIDE.text()
    document = json.loads(p.h("contract", "show", p.contract).stdout)["document"]
    assert document["term"] == {
        "end": CONTRACT_END.isoformat(),
        "max_grant_months": 12,
        "start": CONTRACT_START.isoformat(),
    }
    assert ", ".join(party["institution"] for party in document["parties"]) == PARTIES
    assert document["manual_review_of_incompatible_requests"] is True
    codes = ["DUO:0000046", "DUO:0000019", "DUO:0000021", "DUO:0000022"]
    assert [m["code"] for m in document["modifiers"]] == codes
    assert all(f"`{code}`" in GUIDE.text() for code in codes)

    # Sections 4-5: the guide's request passes every term; its first draft did not.
    request = p.write("request.json", p.request())
    checked = p.sara("request", "check", request).stdout
    rows = findings(checked)
    guide_rows = set(findings(GUIDE.text()))
    assert [term for term, _, _ in rows] == [
        "legal basis", "institution", "HMB", "NCU", "IRB", "duration", "GS", "PUB", "outputs",
        "deletion",
    ]  # fmt: skip
    assert {verdict for _, verdict, _ in rows} == {"allowed", "obligation"}
    assert set(rows) <= guide_rows
    assert checked.endswith("The request is compatible with the contracts.\n")
    with api(p.hospital) as client:
        answer = client.post("/api/v1/access-requests/check", json=p.request(), headers=auth)
        assert (answer.get_json()["compatible"], answer.get_json()["submittable"]) == (True, True)
    # The first draft: refused on terms no review can waive, so it cannot be submitted at all.
    draft = p.write(
        "first-draft.json",
        p.request(commercial=True, ethics_reference=None, duration_months=24, region=None),
    )
    checked = p.sara("request", "check", draft).stdout
    refused = [row for row in findings(checked) if row[1] == "refused"]
    assert [term for term, _, _ in refused] == ["NCU", "IRB", "duration", "GS"]
    assert set(refused) <= guide_rows
    verdict = checked[checked.index("The request is NOT compatible with the contracts.") :]
    assert verdict.startswith(
        "The request is NOT compatible with the contracts.\nIt cannot be submitted: the request "
        "is refused on terms no review can waive: "
    )
    shown(verdict)
    assert generic(error(p.sara("request", "submit", draft, ok=False))).startswith(
        "the request is refused on terms no review can waive (findings: ds-…: commercial request"
    )
    # An institution that is not a party to the contract, by name (any case).
    lower = p.write("lower.json", p.request(institution="northern genomics institute"))
    assert ("institution", "allowed") in {
        row[:2] for row in findings(p.sara("request", "check", lower).stdout)
    }
    ngi = p.write("ngi.json", p.request(institution="NGI"))
    checked = p.sara("request", "check", ngi).stdout
    row = ("institution", "refused", f"NGI is not a party to the contract (parties: {PARTIES})")
    assert row in findings(checked)
    assert "It cannot be submitted: " in checked
    shown(f"`{row[2]}`")
    # A purpose the contract does not cover, wider or apart, is refused, but only that may go
    # to manual review: the check says so, and so does the API.
    for purpose in ("GRU", "POA"):
        other = p.write("purpose.json", p.request(purposes=[{"code": purpose}]))
        checked = p.sara("request", "check", other).stdout
        row = (purpose, "refused", f"{purpose} request on an HMB contract: not covered")
        assert row in findings(checked)
        assert [r for r in findings(checked) if r[1] == "refused"] == [row]
        assert checked.endswith(
            "The request is NOT compatible with the contracts.\n"
            "It can be submitted for manual review: a steward decides on the refused terms.\n"
        )
    assert ("POA", "refused", "POA request on an HMB contract: not covered") in guide_rows
    shown(checked[checked.index("The request is NOT") :])
    with api(p.hospital) as client:
        answer = client.post(
            "/api/v1/access-requests/check",
            json=p.request(purposes=[{"code": "POA"}]),
            headers=auth,
        ).get_json()
        assert (answer["compatible"], answer["submittable"], "refusal" in answer) == (
            False, True, False,
        )  # fmt: skip
        draft_body = json.loads(draft.read_text(encoding="utf-8"))
        answer = client.post("/api/v1/access-requests/check", json=draft_body, headers=auth)
        refusal = answer.get_json()["refusal"]
        assert refusal.startswith("the request is refused on terms no review can waive: ")

    # Section 6: submitted, due three working days later; returned; resubmitted; approved.
    submitted = p.sara("request", "submit", request)
    rid = last_line(submitted)
    due = working_days_after(today, 3).isoformat()
    assert f"Submitted {rid}; decision due {due} (ledger entry 12)." in submitted.stdout
    shown(f"Submitted {rid}; decision due {due} (ledger entry 12).")
    listed_request = f"{rid}  submitted  due {due}  sara  {TITLE}"
    assert p.sara("request", "list").stdout.splitlines() == [listed_request]
    shown(listed_request)
    reason = re.search(r'"reason": "(Please list[^"]+)"', GUIDE.text())
    assert reason is not None
    p.h("request", "return", rid, "--reason", reason[1], "--as", "wei")
    assert f"{rid}  returned  due {due}" in p.sara("request", "list").stdout
    returned = json.loads(p.sara("request", "show", rid).stdout)
    assert [(d["decision"], d["by"], d["reason"]) for d in returned["decisions"]] == [
        ("submitted", "sara", None),
        ("returned", "wei", reason[1]),
    ]
    change = json.loads("{" + GUIDE.block("resubmission").strip().rstrip(",") + "}")
    assert list(change) == ["purpose_text"]
    p.write("request.json", p.request(**change))
    resubmitted = p.sara("request", "resubmit", rid, request).stdout
    assert resubmitted.strip() == f"Resubmitted {rid} (ledger entry 14)."
    shown(resubmitted)
    shown_again = json.loads(p.sara("request", "show", rid).stdout)
    assert (shown_again["status"], shown_again["purpose_text"]) == (
        "submitted",
        change["purpose_text"],
    )
    # Due again three working days after the resubmission: the same day here, so the same date.
    assert shown_again["review_due"] == due
    approved = p.h("request", "approve", rid, "--as", "wei").stdout
    gid = rid.replace("req-", "gr-", 1)
    assert approved.splitlines() == [
        f"access.approved {rid} (ledger entry 15).",
        f"grant.issued {gid} (ledger entry 16).",
    ]
    for line in approved.splitlines():
        shown(line)

    # Highly sensitive, genetic data: the steward approves, a director co-approves.
    second = p.write("genotypes-request.json", p.genotypes_request())
    checked = p.sara("request", "check", second).stdout
    assert checked.splitlines()[-2:] == [
        "The request is compatible with the contracts.",
        "A director must co-approve it (highly sensitive or genetic data).",
    ]
    shown(checked.splitlines()[-1])
    submitted = p.sara("request", "submit", second)
    rid2 = last_line(submitted)
    line = f"Submitted {rid2}; decision due {due} (ledger entry 17)."
    assert line in submitted.stdout
    shown(line)
    p.h("request", "approve", rid2, "--as", "wei")
    waiting = p.sara("request", "list").stdout.splitlines()
    assert waiting == [
        f"{rid}  approved  due {due}  sara  {TITLE}",
        f"{rid2}  awaiting-second-approval  due {due}  sara  {GENOTYPES_TITLE}",
    ]
    for line in waiting:
        shown(line)
    co_approved = p.h("request", "co-approve", rid2, "--as", "okafor").stdout
    gid2 = rid2.replace("req-", "gr-", 1)
    assert co_approved.splitlines() == [
        f"access.co_approved {rid2} (ledger entry 19).",
        f"grant.issued {gid2} (ledger entry 20).",
    ]
    shown(co_approved)

    # Section 7: the grant, exported and verified offline; from today (the contract's term has
    # begun), for the months asked, within the contract's term.
    begins = max(today, CONTRACT_START)
    until = min(months_later(begins, 12), CONTRACT_END).isoformat()
    granted = p.sara("grant", "list").stdout.splitlines()
    assert granted == [
        f"{gid}  active  until {until}  sara  {TITLE}",
        f"{gid2}  active  until {until}  sara  {GENOTYPES_TITLE}",
    ]
    for line in granted:
        shown(line)
    grant_file = p.root / "grant.json"
    assert p.sara("grant", "export", gid, "-o", grant_file).stdout == f"Wrote {grant_file}.\n"
    exported = json.loads(grant_file.read_text(encoding="utf-8"))
    text = GUIDE.text()
    start = text.index("Wrote grant.json.\n") + len("Wrote grant.json.\n")
    example = json.loads(text[start : text.index("\n}\n", start) + 2])
    same = ("commercial", "conditions", "holder", "project_title", "purposes", "type")
    assert {k: exported["document"][k] for k in same} == {k: example["document"][k] for k in same}
    assert exported["document"]["datasets"] == [
        {"contract": p.contract, "contract_version": 1, "id": p.cohort, "version": 1}
    ]
    assert (exported["document"]["valid_from"], exported["document"]["valid_until"]) == (
        begins.isoformat(),
        until,
    )
    assert exported["vkey"] == p.vkeys[HOSPITAL]
    held = json.loads(p.sara("grant", "show", gid).stdout)
    assert held["document"] == exported["document"]
    assert (held["status"], held["review_reason"], held["deletion_attested_at"]) == (
        "active", None, None,
    )  # fmt: skip
    for field in ("status", "ended_at", "end_reason", "review_reason", "deletion_attested_at"):
        assert f"`{field}`" in GUIDE.text()
    pinned = run("grant", "verify", grant_file, "--vkey", p.vkeys[HOSPITAL]).stdout
    assert pinned.splitlines() == [
        f"OK grant {gid} signed by {HOSPITAL} (checked with the key you pinned); valid, "
        f"{begins.isoformat()} to {until}; holder "
        "Dr Sara Lindgren (Northern Genomics Institute)",
        "Revocation cannot be checked offline: ask the issuing node "
        f"(GET /api/v1/grants/{gid}/status, no sign-in needed) or read its ledger.",
        f"The status there names this very document (digest {held['digest']}).",
    ]
    shown(pinned)
    with api(p.hospital) as client:  # anyone may ask, without signing in
        status = client.get(f"/api/v1/grants/{gid}/status")
        assert status.status_code == 200
        assert status.get_json() == {
            "digest": held["digest"],
            "ended_at": None,
            "grant": gid,
            "status": "active",
            "valid_from": begins.isoformat(),
            "valid_until": until,
        }
        compact = json.dumps(status.get_json(), separators=(",", ":"), sort_keys=True)
        shown(compact.replace(held["digest"], "DIGEST").split("DIGEST")[1])
    # The institute's node recorded the hospital's key; with no key and no node: refused.
    at_home = run("grant", "verify", grant_file, "--data-dir", p.institute).stdout
    recorded = "(checked with the key this node recorded for the member)"
    assert recorded in at_home
    shown(recorded)
    shown(error(run("grant", "verify", grant_file, ok=False)))

    # Section 8: a preprint; a derived dataset the steward registers with its provenance.
    preprint = p.write("preprint.json", GUIDE.json("preprint"))
    reported = p.sara("grant", "report-output", gid, preprint).stdout
    assert re.fullmatch(rf"Reported out-[a-z0-9]{{10}} for {gid} \(ledger entry 21\)\.\n", reported)
    shown(reported)
    derived = GUIDE.json("derived-metadata")
    assert [s["dataset"] for s in derived["derived_from"]] == [GUIDE_COHORT]
    derived["derived_from"][0]["dataset"] = p.cohort
    scores = p.register("variability-scores.json", derived)
    output = GUIDE.json("derived-output")
    assert output["kind"] == "derived_dataset"
    output["derived_dataset"] = scores
    derived_output = p.write("derived-output.json", output)
    reported = p.sara("grant", "report-output", gid, derived_output).stdout
    assert reported.endswith(f" for {gid} (ledger entry 23).\n")
    shown(reported)

    # Credit is for the members: the restricted derived dataset's contributors and sources are
    # sealed on the ledger for the members to read (and recompute credit from) ...
    with api(p.hospital) as client:
        entry = client.get("/api/v1/ledger/entries?start=22&end=23").get_json()["entries"][0]
        assert (entry["kind"], entry["body"]["dataset"]) == ("dataset.registered", scores)
        assert "metadata" not in entry["body"] and "credit" not in entry["body"]
        anyone = client.get("/api/v1/ledger/entries/22/sealed").get_json()
        # Credit for the members; which contributor is which account, personal.
        assert (anyone["sealed"], anyone["withheld"]) == ({}, ["members", "personal"])
    node = Node.open(p.hospital)
    try:
        with node.engine.connect() as conn:
            credit = list(own_entries(conn, 23))[22].body["credit"]
    finally:
        node.close()
    # ... all but account names, which are the node's own business.
    assert credit == {
        "contributors": [
            {k: v for k, v in c.items() if k != "username"} for c in derived["contributors"]
        ],
        "derived_from": derived["derived_from"],
    }

    # Section 9: the inbox, at the console and through the API, and e-mail.
    lines = p.sara("inbox").stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["*", "20:sara"], ["*", "19:sara"], ["*", "18:sara"], ["*", "16:sara"], ["*", "15:sara"],
        ["*", "13:sara"],
    ]  # fmt: skip
    for line in lines:
        shown(line)
    assert lines[2].endswith(f"  Access request approved, awaiting co-approval: {GENOTYPES_TITLE}")
    with api(p.hospital) as client:
        auth = signed_in(client)
        inbox = client.get("/api/v1/inbox", headers=auth).get_json()
        assert [n["kind"] for n in inbox] == [
            "grant.issued", "access.co_approved", "access.approved", "grant.issued",
            "access.approved", "access.returned",
        ]  # fmt: skip
        assert reason[1] in inbox[-1]["text"]
        read = client.post("/api/v1/inbox/13:sara/read", headers=auth).get_json()
        assert read["read"] is True
        shown(json.dumps(read, separators=(",", ":"), sort_keys=True))
        unread = client.get("/api/v1/inbox?unread=true", headers=auth).get_json()
        assert [n["id"] for n in unread] == ["20:sara", "19:sara", "18:sara", "16:sara", "15:sara"]
        unread_lines = p.sara("inbox", "--unread").stdout.splitlines()
        assert [line.split()[1] for line in unread_lines] == [n["id"] for n in unread]
        address = {"email": "sara.lindgren@ngi.example.org"}
        mailed = client.put("/api/v1/me/email", json=address, headers=auth).get_json()
        assert mailed == {**address, "username": "sara"}
        assert client.get(f"/api/v1/grants/{gid}", headers=auth).get_json()["status"] == "active"
        file = client.get(f"/api/v1/grants/{gid}/file", headers=auth).get_json()
        assert file == exported
        used = client.get(f"/api/v1/datasets/{p.cohort}/transparency", headers=auth).get_json()
        assert [(g["grant"], g["investigator"]) for g in used["grants"]] == [
            (gid, "Dr Sara Lindgren")
        ]
        assert [o["kind"] for o in used["outputs"]] == ["preprint", "derived_dataset"]

        def inbox_of(username: str) -> list[dict[str, Any]]:
            token = last_line(p.h("token", "create", "--actor", username, "--days", "1"))
            return client.get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"}).json

        # The stewards and the contributor with an account hear of the outputs, the contributor
        # of the grant too (the steward issued it); the stewards, not the director, hear of the
        # resubmission (entry 14).
        outputs = {(21, "output.reported"), (23, "output.reported")}
        resubmission = (14, "access.resubmitted")
        okafor, wei = inbox_of("okafor"), inbox_of("wei")
        assert {(n["entry_index"], n["kind"]) for n in okafor} >= {(16, "grant.issued"), *outputs}
        assert {(n["entry_index"], n["kind"]) for n in wei} >= {resubmission, *outputs}
        assert 14 not in {n["entry_index"] for n in okafor}
        back = next(n for n in wei if n["entry_index"] == 14)
        assert back["subject"] == f"Access request resubmitted: {TITLE}"
        shown(f'("{back["subject"].replace(TITLE, "…")}")')
        issued = next(n for n in okafor if n["entry_index"] == 16)
        shown(issued["text"])
        subjects = [n["subject"] for n in okafor if n["kind"] == "output.reported"]
        assert subjects == [
            f"New derived dataset: {output['title']}",
            f"New preprint: {GUIDE.json('preprint')['title']}",
        ]
        shown(subjects[0])
        texts = [n["text"] for n in okafor if n["kind"] == "output.reported"]
        assert texts[0] == (
            f"sara reported “{output['title']}” from grant {gid} (datasets {p.cohort})."
        )
        shown(f"from grant {gid} (datasets {p.cohort}).")

    # Section 10: an incident suspends the grant; closing it reinstates the grant.
    description = "A laptop with an extract of the cohort was stolen from an NGI office"
    reported = p.h(
        "incident", "report", "--severity", "high", "--kind", "breach",
        "--description", description, "--grant", gid, "--as", "wei",
    )  # fmt: skip
    shown(reported.stdout)
    incident = last_line(reported)
    suspended = p.h("incident", "suspend-grants", incident, "--as", "wei").stdout
    assert suspended.strip() == f"Suspended {gid} (ledger entry 25)."
    shown(suspended)
    line = f"{gid}  suspended  until {until}  sara  {TITLE}"
    assert line in p.sara("grant", "list").stdout
    shown(line)
    assert_quoted(p.sara("grant", "report-output", gid, derived_output, ok=False))
    resolution = re.search(
        r'incident close inc-\S+ --resolution "([^"]+)" --reinstate', GUIDE.text()
    )
    assert resolution is not None
    closed = p.h(
        "incident", "close", incident, "--resolution", resolution[1], "--reinstate", "--as", "wei"
    ).stdout
    assert closed.strip() == f"Closed {incident} (ledger entry 26)."
    shown(closed)
    assert f"{gid}  active" in p.sara("grant", "list").stdout

    # Consent withdrawn on the genotypes: no new grants; the steward revokes; deletion attested.
    why = "The biobank's ethics committee withdrew approval for genetic research on these samples"
    withdrawn = p.h("dataset", "withdraw-consent", p.genotypes, "--reason", why, "--as", "wei")
    assert withdrawn.stdout.strip() == (
        f"Consent withdrawn for {p.genotypes}; grants flagged for review: {gid2} (ledger entry 27)."
    )
    shown(withdrawn.stdout)
    checked = p.sara("request", "check", second).stdout
    refusal = f"It cannot be submitted: consent was withdrawn: {p.genotypes}: no new grants"
    assert refusal in checked
    shown(f"`{refusal}`")
    assert_quoted(p.sara("request", "submit", second, ok=False))
    flagged = json.loads(p.sara("grant", "show", gid2).stdout)
    assert (flagged["status"], flagged["review_reason"]) == (
        "active", f"consent withdrawn for {p.genotypes}: {why}",
    )  # fmt: skip
    revoked = "Consent for the genotypes was withdrawn"
    p.h("grant", "revoke", gid2, "--reason", revoked, "--as", "wei")
    now = p.sara("grant", "list").stdout.splitlines()
    assert now == [
        f"{gid}  active  until {until}  sara  {TITLE}",
        f"{gid2}  revoked  until {until}  sara  {GENOTYPES_TITLE}",
    ]
    for line in now:
        shown(line)
    statement = re.search(r'attest-deletion gr-\S+ --statement "([^"]+)"', GUIDE.text())
    assert statement is not None
    attested = p.sara("grant", "attest-deletion", gid2, "--statement", statement[1]).stdout
    assert attested.strip() == f"Deletion attested for {gid2} (ledger entry 29)."
    shown(attested)
    again = p.sara("grant", "attest-deletion", gid2, "--statement", statement[1], ok=False)
    assert_quoted(again)
    assert json.loads(p.sara("grant", "show", gid2).stdout)["deletion_attested_at"] is not None

    with api(p.hospital) as client:
        auth = signed_in(client)
        told = client.get("/api/v1/inbox?unread=true", headers=auth).get_json()
        assert [(n["kind"], n["link"]) for n in told[:5]] == [
            ("grant.revoked", f"/api/v1/grants/{gid2}"),
            ("dataset.consent_withdrawn", f"/api/v1/datasets/{p.genotypes}"),
            ("incident.closed", f"/api/v1/grants/{gid}"),
            ("incident.grants_suspended", f"/api/v1/grants/{gid}"),
            ("incident.reported", f"/api/v1/grants/{gid}"),  # her grant: she cannot read incidents
        ]
        assert told[4]["subject"] == "Incident (high): breach"
        shown(f'("{told[4]["subject"]}", with a `link`')
        assert told[2]["subject"] == f"Grant reinstated: {TITLE}"
        for n in told[1:4]:
            shown(n["text"])
        # Section 2: Dr Lindgren changes the password the admin gave her.
        new = re.search(r'"new_password": "([^"]+)"', GUIDE.text())
        assert new is not None
        passwords = {"current_password": PASSWORD, "new_password": new[1]}
        assert client.put("/api/v1/me/password", json=passwords, headers=auth).status_code == 204
        signed_in(client, new[1])


def test_every_refusal_the_guide_quotes_is_real(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = practice
    monkeypatch.chdir(p.root)
    monkeypatch.delenv("CONSORTIUM_DATA_DIR", raising=False)
    assert_quoted(run("dataset", "list", "--as", "sara", ok=False))

    # The account, and the search.
    request = p.write("request.json", p.request())
    assert_quoted(p.h("dataset", "list", "--as", "sarah", ok=False))
    assert_quoted(p.h("request", "submit", request, "--as", "wei", ok=False))
    for purpose in ("HMR", "NCU"):
        assert_quoted(p.sara("dataset", "list", "--purpose", purpose, ok=False))

    # Request files.
    broken = GUIDE.block("request").replace(GUIDE_COHORT, p.cohort)
    broken = broken.replace('"region": "SE"\n}', '"region": "SE",\n}')
    p.write("request.json", broken)  # the message names the file as given: we are in p.root
    assert_quoted(p.sara("request", "check", "request.json", ok=False))
    for changes in (
        {"commercial": None},
        {"duration_months": "12"},
        {"purposes": [{"code": "NCU"}]},
        {"purposes": [{"code": "HMR"}]},
        {"purposes": [{"code": "DS"}]},
        {"region": "Sweden"},
        {"datasets": [{"id": "ds-xxxxxxxxxx"}]},
    ):
        bad = p.write("bad.json", p.request(**changes))
        assert_quoted(p.sara("request", "check", bad, ok=False))

    # A dataset with no contract yet; then a contract that allows no manual review.
    spare_metadata = GUIDE.json("practice-cohort")
    spare_metadata["title"] = "St Mary's diabetes cohort, second extract"
    spare = p.register("spare.json", spare_metadata, guided=False)
    ask = p.write("spare-request.json", p.request(datasets=[{"id": spare}]))
    assert_quoted(p.sara("request", "check", ask, ok=False))
    under = p.write("under.json", p.request(datasets=[{"id": spare, "contract": p.contract}]))
    refused = p.sara("request", "check", under, ok=False)
    assert generic(error(refused)).endswith("no active contract covers 'ds-…' under 'ctr-…')")
    assert "under 'ctr-…'" in GUIDE.text()
    strict = GUIDE.json("practice-contract")
    strict["datasets"] = [{"id": spare}]
    strict["terms"]["manual_review_of_incompatible_requests"] = False
    p.sign("strict-values.json", strict)
    # A term no review can waive, then a purpose this contract lets no one overrule: the check
    # says it cannot be submitted, and submitting is refused with the same reason.
    commercial = p.write("commercial.json", p.request(datasets=[{"id": spare}], commercial=True))
    poa = p.write(
        "strict-poa.json", p.request(datasets=[{"id": spare}], purposes=[{"code": "POA"}])
    )
    for refused_file in (commercial, poa):
        assert "\nIt cannot be submitted: " in p.sara("request", "check", refused_file).stdout
        assert_quoted(p.sara("request", "submit", refused_file, ok=False))
    # A dataset withdrawn while a request for it waits is not granted.
    waiting = p.write("spare-request.json", p.request(datasets=[{"id": spare}]))
    waiting_id = last_line(p.sara("request", "submit", waiting))
    p.h("dataset", "withdraw", spare, "--reason", "Superseded by the full cohort", "--as", "wei")
    assert_quoted(p.h("request", "approve", waiting_id, "--as", "wei", ok=False))

    # Legacy data collected without consent: never granted, even under a contract that allows
    # manual review.
    legacy_metadata = GUIDE.json("practice-cohort")
    legacy_metadata["title"] = "St Mary's diabetes clinic records, 2005-2014"
    legacy_metadata["consent"] = {
        "legal_basis": "legacy-without-consent",
        "secondary_use_consent": False,
    }
    legacy = p.register("legacy.json", legacy_metadata, guided=False)
    legacy_values = GUIDE.json("practice-contract")
    legacy_values["datasets"] = [{"id": legacy}]
    p.sign("legacy-values.json", legacy_values)
    old = p.write("legacy-request.json", p.request(datasets=[{"id": legacy}]))
    assert "\nIt cannot be submitted: " in p.sara("request", "check", old).stdout
    assert_quoted(p.sara("request", "submit", old, ok=False))

    # Manual review: a refused purpose alone goes to the steward, who approves only with a
    # reason.
    ancestry = p.write("poa.json", p.request(purposes=[{"code": "POA"}]))
    submitted = p.sara("request", "submit", ancestry).stdout
    review = submitted.strip().splitlines()[-1]
    assert f"Submitted {review} for manual review; decision due " in submitted
    shown(f"`Submitted {review} for manual review; decision due")
    assert p.sara("request", "list").stdout.splitlines()[-1].endswith(f"{TITLE} (manual review)")
    p.h("request", "approve", review, "--as", "wei", ok=False)
    because = "Ancestry is used only to adjust the retinopathy risk model."
    p.h("request", "approve", review, "--reason", because, "--as", "wei")

    # Following a request: resubmit only when returned, and only your own; withdraw once.
    p.h(
        "user", "add", "mikael", "--name", "Dr Mikael Berg", "--role", "researcher",
        "--as", "amira",
    )  # fmt: skip
    request = p.write("request.json", p.request())
    rid = last_line(p.sara("request", "submit", request))
    assert_quoted(p.sara("request", "resubmit", rid, request, ok=False))
    p.h("request", "return", rid, "--reason", "Name the variables.", "--as", "wei")
    assert_quoted(p.h("request", "resubmit", rid, request, "--as", "mikael", ok=False))
    assert_quoted(p.h("request", "show", rid, "--as", "mikael", ok=False))
    withdrawn = p.sara("request", "withdraw", rid, "--reason", "Project cancelled").stdout
    shown(re.sub(r"ledger entry \d+", "ledger entry N", withdrawn))
    assert_quoted(p.sara("request", "withdraw", rid, ok=False))
    assert_quoted(p.sara("request", "show", "req-xxxxxxxxxx", ok=False))

    # Grants: for the version the contract covers, though the steward has published a newer one.
    newer = GUIDE.json("practice-cohort")
    newer["record_count"] = 49877
    p.h("dataset", "revise", p.cohort, p.write("cohort-v2.json", newer), "--as", "wei")
    assert f"{p.cohort}  v2  published" in p.sara("dataset", "list").stdout
    rid = last_line(p.sara("request", "submit", request))
    p.h("request", "approve", rid, "--as", "wei")
    gid = rid.replace("req-", "gr-", 1)
    document = json.loads(p.sara("grant", "show", gid).stdout)["document"]
    assert [(d["id"], d["version"]) for d in document["datasets"]] == [(p.cohort, 1)]
    assert_quoted(p.sara("grant", "export", "gr-xxxxxxxxxx", ok=False))
    grant_file = p.root / "grant.json"
    p.sara("grant", "export", gid, "-o", grant_file)
    assert_quoted(run("grant", "verify", grant_file, "--vkey", p.vkeys[INSTITUTE], ok=False))
    edited = json.loads(grant_file.read_text(encoding="utf-8"))
    edited["document"]["valid_until"] = "2099-12-31"
    assert_quoted(run("grant", "verify", p.write("edited.json", edited), "--vkey",
                      p.vkeys[HOSPITAL], ok=False))  # fmt: skip
    assert_quoted(run("grant", "verify", p.root / "contract-for-ngi.json", ok=False))

    # Outputs.
    for body in (
        {"kind": "publication", "title": "HbA1c variability"},
        {"kind": "publication", "title": "HbA1c variability", "doi": "https://doi.org/10.1/x"},
        {"kind": "preprint", "title": "HbA1c", "doi": "10.1101/x", "date": "12/05/2027"},
        {"kind": "paper", "title": "HbA1c variability"},
        {"kind": "derived_dataset", "title": "Scores"},
        {"kind": "derived_dataset", "title": "Scores", "derived_dataset": "ds-xxxxxxxxxx"},
        {"kind": "derived_dataset", "title": "Scores", "derived_dataset": p.genotypes},
    ):
        output = p.write("output.json", body)
        assert_quoted(p.sara("grant", "report-output", gid, output, ok=False))
    preprint = p.write("preprint.json", GUIDE.json("preprint"))
    assert_quoted(p.h("grant", "report-output", gid, preprint, "--as", "mikael", ok=False))
    p.sara("grant", "report-output", gid, preprint)
    linked = {**GUIDE.json("preprint"), "doi": "https://doi.org/10.1101/2027.05.12.27012345"}
    assert_quoted(p.sara("grant", "report-output", gid, p.write("again.json", linked), ok=False))
    later = {**GUIDE.json("preprint"), "doi": "10.1101/later", "date": "2999-01-01"}
    assert_quoted(p.sara("grant", "report-output", gid, p.write("later.json", later), ok=False))

    # Deletion: the node's job reminds the holder of an ended grant once; she attests once.
    p.h("grant", "revoke", gid, "--reason", "Project ended early", "--as", "wei")
    node = Node.open(p.hospital)
    try:
        expiry_job(node)
        expiry_job(node)
    finally:
        node.close()
    with api(p.hospital) as client:
        inbox = client.get("/api/v1/inbox", headers=signed_in(client)).get_json()
    [reminder] = [n for n in inbox if n["kind"] == "grant.deletion_reminder"]
    assert reminder["text"].startswith(f"Your grant {gid} for “{TITLE}” has ended, ")
    shown(reminder["text"].split(f"“{TITLE}” ", 1)[1])
    p.sara("grant", "attest-deletion", gid, "--statement", "All copies deleted.")
    assert_quoted(p.sara("grant", "attest-deletion", gid, "--statement", "Again.", ok=False))

    # A contract whose term starts later: the grant starts with it, and runs from then.
    later_metadata = GUIDE.json("practice-cohort")
    later_metadata["title"] = "St Mary's diabetes cohort, 2025 extract"
    later = p.register("later.json", later_metadata, guided=False)
    later_values = GUIDE.json("practice-contract")
    later_values["datasets"] = [{"id": later}]
    begins = max(datetime.now(UTC).date(), CONTRACT_START) + timedelta(days=40)
    later_values["terms"]["term"]["start"] = begins.isoformat()
    p.sign("later-values.json", later_values)
    early = p.write("later-request.json", p.request(datasets=[{"id": later}]))
    rid = last_line(p.sara("request", "submit", early))
    p.h("request", "approve", rid, "--as", "wei")
    document = json.loads(p.sara("grant", "show", rid.replace("req-", "gr-", 1)).stdout)["document"]
    assert (document["valid_from"], document["valid_until"]) == (
        begins.isoformat(),
        min(months_later(begins, 12), CONTRACT_END).isoformat(),
    )

    # Consent withdrawn: no new grants on the dataset.
    p.h("dataset", "withdraw-consent", p.genotypes, "--reason", "withdrawn", "--as", "wei")
    genotypes = p.write("genotypes-request.json", p.genotypes_request())
    assert "\nIt cannot be submitted: " in p.sara("request", "check", genotypes).stdout
    assert_quoted(p.sara("request", "submit", genotypes, ok=False))
