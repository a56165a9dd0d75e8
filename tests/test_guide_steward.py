"""The data steward's guide (docs/guide-steward.md), replayed through the CLI.

The guide's example files are read out of the markdown itself (the blocks marked
``<!-- guide-test: NAME -->``), and its main path is run on two SQLite nodes: the steward
profiles the guide's sample CSV, registers the cohort and attaches the profile, the director
approves it, a derived dataset waits for its sources to be published, the two institutions
sign the contract across their nodes, amend it, drop an unwanted amendment and terminate it.
Then, under a new contract, a researcher's request is returned, resubmitted and approved, the
grant is exported and verified, suspended by an incident and reinstated, flagged by a consent
withdrawal, revoked, and its deletion attested; the inbox is read on the console, and
transparency and e-mail through the API. A change to the code that breaks what the guide tells
a steward to do, or to the error messages it quotes, fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask.testing import FlaskClient
from guide import HOSPITAL, INSTITUTE, Guide, PracticeNodes, error, generic, last_line, run

from consortium.access.requests import working_days_after
from consortium.api import create_app
from consortium.node import Node

GUIDE = Guide("guide-steward.md")
guide_text, guide_block, guide_json, assert_quoted = (
    GUIDE.text,
    GUIDE.block,
    GUIDE.json,
    GUIDE.assert_quoted,
)


class Nodes(PracticeNodes):
    """The guide's two practice nodes, with its people, members and settings (sections 2-3)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        vkeys = self.vkeys
        self.h("user", "add", "amira", "--name", "Amira Haddad", "--role", "admin")
        self.h("user", "add", "wei", "--name", "Dr Wei Zhang", "--role", "steward", "--as", "amira")
        self.h(
            "user", "add", "okafor", "--name", "Prof Grace Okafor", "--role", "director",
            "--as", "amira",
        )  # fmt: skip
        self.h("user", "password", "wei", "--password", "correct-horse-battery-staple")
        self.i("user", "add", "jonas", "--name", "Jonas Berg", "--role", "admin")
        self.i(
            "user", "add", "lena", "--name", "Dr Lena Novak", "--role", "steward", "--as", "jonas"
        )
        self.h(
            "member", "add", "--institution", "Northern Genomics Institute",
            "--vkey", vkeys[INSTITUTE], "--as", "amira",
        )  # fmt: skip
        self.i(
            "member", "add", "--institution", "St Mary's Hospital",
            "--vkey", vkeys[HOSPITAL], "--as", "jonas",
        )  # fmt: skip
        settings = self.h("settings", "--director-approval", "--as", "amira")
        assert '"director_approval_required": true' in settings.stdout

    def profile(self) -> Path:
        """Section 5: profile the guide's sample CSV; the guide shows its real fingerprint."""
        visits = self.write("diabetes-visits.csv", guide_block("visits", "csv") + "\n")
        summary = self.root / "profile.json"
        shown = run("profile", visits, "--output", summary).stdout
        first = "diabetes-visits.csv: csv (comma-separated, double-quoted), 12 records"
        assert f"{first}, 12 columns, 963 bytes" in shown
        assert "No direct identifiers found" in shown
        fingerprint = json.loads(summary.read_text(encoding="utf-8"))["sha256"]
        assert fingerprint in guide_text()
        return summary

    def register(self, name: str, value: dict[str, Any], approve: bool = True) -> str:
        registered = self.h("dataset", "register", self.write(name, value), "--as", "wei")
        assert "awaiting-approval" in registered.stdout
        dataset = last_line(registered)
        if approve:
            self.h("dataset", "approve", dataset, "--version", "1", "--as", "okafor")
        return dataset

    def register_cohort(self, profile: Path | None = None) -> str:
        """Section 6: register the guide's metadata, attach the profile; the director
        approves it."""
        dataset = self.register("diabetes-cohort.json", guide_json("metadata"), approve=False)
        if profile is not None:
            attached = self.h("dataset", "attach-profile", dataset, profile, "--as", "wei")
            assert f"Attached the profile to {dataset} version 1" in attached.stdout
        listed = self.h("dataset", "list", "--as", "wei").stdout
        assert f"{dataset}  v1  awaiting-approval  restricted" in listed
        assert "awaiting approval)" not in listed  # nothing published yet, nothing newer
        self.h("dataset", "approve", dataset, "--version", "1", "--as", "okafor")
        listed = self.h("dataset", "list", "--as", "wei").stdout
        assert f"{dataset}  v1  published  restricted" in listed
        return dataset

    def contract_values(self, dataset: str) -> dict[str, Any]:
        """The guide's values file, naming the dataset this node registered."""
        values = guide_json("contract-values")
        assert [p["origin"] for p in values["parties"]] == [HOSPITAL, INSTITUTE]
        assert len(values["datasets"]) == 1
        values["datasets"][0]["id"] = dataset
        return values

    def sign_round(self, contract: str, name: str) -> Result:
        """Sections 10-11: propose, sign, countersign on the institute's node (the two
        digests agree), record the countersignature."""
        proposed = self.h("contract", "propose", contract, "--as", "wei")
        assert f"awaiting signatures: {HOSPITAL}, {INSTITUTE}" in proposed.stdout
        self.h("contract", "sign", contract, "--as", "wei")
        exported = self.h("contract", "export", contract)
        digest = re.search(r"digest (\S+): compare it with the other\s+party", exported.stderr)
        assert digest is not None, exported.stderr
        document = self.root / name
        document.write_text(exported.stdout, encoding="utf-8")
        countersigned = self.i("contract", "countersign", document, "--as", "lena")
        assert f"Signed as {INSTITUTE} the document with digest {digest[1]}." in (
            countersigned.stdout
        )
        return self.h(
            "contract", "add-signature", contract, "--party", INSTITUTE,
            "--signature", last_line(countersigned), "--as", "wei",
        )  # fmt: skip

    def contract_for(self, dataset: str, name: str) -> str:
        """Sections 9-11: the guide's contract for ``dataset``, signed by both institutions."""
        values = self.write(f"{name}-values.json", self.contract_values(dataset))
        contract = last_line(self.h("contract", "draft", values, "--as", "wei"))
        done = self.sign_round(contract, f"{name}-for-ngi.json")
        assert f"{contract} v1 is active" in done.stdout
        return contract

    def token(self, username: str) -> str:
        """An API token, as the operator prints one with `consortium token create`."""
        return self.h("token", "create", "--actor", username, "--days", "1").stdout.strip()

    @contextmanager
    def api(self) -> Iterator[FlaskClient]:
        """The hospital's node served in process (sections 15, 21 and 22 use the API)."""
        node = Node.open(self.hospital)
        try:
            yield create_app(node).test_client()
        finally:
            node.close()

    def verify_both(self) -> None:
        """Section 14: every writing command cut a checkpoint, so verify covers everything."""
        for node in (self.h, self.i):
            verified = node("verify", "--workers", "1").stdout
            assert "OK ledger" in verified
            assert "not yet under a checkpoint" not in verified


@pytest.fixture
def nodes(tmp_path: Path) -> Nodes:
    return Nodes(tmp_path)


def test_the_guides_main_path_ends_with_an_active_contract(nodes: Nodes) -> None:
    dataset = nodes.register_cohort(nodes.profile())
    shown = json.loads(nodes.h("dataset", "show", dataset, "--as", "wei").stdout)
    assert [p["records"] for p in shown["profiles"]] == [12]

    # Section 7: a derived dataset waits until its sources are published.
    legacy = nodes.register("legacy-records.json", guide_json("legacy-records"), approve=False)
    extract = guide_json("followup-extract")
    extract["derived_from"][0]["dataset"] = dataset
    extract["derived_from"][1]["dataset"] = legacy
    path = nodes.write("followup-extract.json", extract)
    assert_quoted(nodes.h("dataset", "register", path, "--as", "wei", ok=False))
    nodes.h("dataset", "approve", legacy, "--version", "1", "--as", "okafor")
    nodes.h("dataset", "register", path, "--as", "wei")

    values = nodes.write("contract-values.json", nodes.contract_values(dataset))
    contract = last_line(nodes.h("contract", "draft", values, "--as", "wei"))
    assert contract.startswith("ctr-")
    document = json.loads(nodes.h("contract", "export", contract).stdout)
    # The node describes the dataset from its registry: every party signs what is shared.
    assert document["datasets"] == [
        {
            "id": dataset,
            "provider": HOSPITAL,
            "version": 1,
            "title": guide_json("metadata")["title"],
            "sensitivity": "restricted",
            "duo": {
                "permissions": ["DUO:0000006"],
                "modifiers": [
                    {"code": "DUO:0000046"},
                    {"code": "DUO:0000021"},
                    {"code": "DUO:0000019"},
                    {"code": "DUO:0000022", "regions": ["EU"]},
                ],
            },
        }
    ]
    assert {"code": "DUO:0000022", "regions": ["EU"]} in document["modifiers"]

    done = nodes.sign_round(contract, "contract-for-ngi.json")
    assert f"{contract} v1 is active; awaiting signatures: nobody" in done.stdout
    assert f"{contract}  v1  active" in nodes.h("contract", "list").stdout
    assert f"{contract}  v1  countersigned here" in nodes.i("contract", "list").stdout
    shown = json.loads(nodes.h("contract", "show", contract).stdout)
    assert (shown["status"], shown["awaiting"]) == ("active", [])
    assert [s["party"] for s in shown["signatures"]] == [HOSPITAL, INSTITUTE]
    nodes.verify_both()

    # Section 12: the amendment supersedes version 1 once both institutions signed it.
    changes = nodes.write("amendment.json", guide_json("amendment"))
    nodes.h("contract", "amend", contract, changes, "--as", "wei")
    done = nodes.sign_round(contract, "contract-v2-for-ngi.json")
    assert f"{contract} v2 is active" in done.stdout
    listed = nodes.h("contract", "list").stdout
    assert f"{contract}  v1  superseded" in listed
    assert f"{contract}  v2  active" in listed
    amended = json.loads(nodes.h("contract", "export", contract).stdout)
    assert amended["term"]["end"] == guide_json("amendment")["terms"]["term"]["end"]

    # An amendment nobody wants blocks the next one until that version is terminated.
    unwanted = nodes.write("longer-grants.json", guide_json("longer-grants"))
    nodes.h("contract", "amend", contract, unwanted, "--as", "wei")
    nodes.h("contract", "propose", contract, "--as", "wei")
    assert_quoted(nodes.h("contract", "amend", contract, changes, "--as", "wei", ok=False))
    dropped = nodes.h(
        "contract", "terminate", contract, "--version", "3", "--reason", "declined", "--as", "wei"
    )
    assert f"Terminated {contract} v3 (ledger entry" in dropped.stdout
    listed = nodes.h("contract", "list").stdout
    assert f"{contract}  v2  active" in listed
    assert f"{contract}  v3  terminated" in listed

    # Section 13: terminating ends the version in force.
    ended = nodes.h("contract", "terminate", contract, "--reason", "incident", "--as", "wei")
    assert f"Terminated {contract} v2 (ledger entry" in ended.stdout
    assert "No grant was in force under it." in ended.stdout
    assert f"{contract}  v2  terminated" in nodes.h("contract", "list").stdout
    nodes.verify_both()


def test_the_error_messages_the_guide_quotes_are_real(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A command without --data-dir, outside any node.
    monkeypatch.chdir(nodes.root)
    monkeypatch.delenv("CONSORTIUM_DATA_DIR", raising=False)
    assert_quoted(run("dataset", "list", ok=False))

    # Metadata the node refuses.
    for change in (
        lambda m: m["duo"].update(permissions=["HMR"]),
        lambda m: m.update(genetic_data=True, sensitivity="consortium-only"),
        lambda m: m["duo"].update(modifiers=[{"code": "NCU"}, {"code": "IRB"}]),
        lambda m: m["consent"].update(legal_basis="legacy-without-consent"),
        lambda m: m["contributors"][0].update(weight=0.5),
    ):
        metadata = guide_json("metadata")
        change(metadata)
        bad = nodes.write("bad.json", metadata)
        assert_quoted(nodes.h("dataset", "register", bad, "--as", "wei", ok=False))

    # A director approving a version they registered themselves.
    nodes.h(
        "user", "add", "chen", "--name", "Dr Chen", "--role", "steward", "--role", "director",
        "--as", "amira",
    )  # fmt: skip
    cohort = nodes.write("diabetes-cohort.json", guide_json("metadata"))
    own = last_line(nodes.h("dataset", "register", cohort, "--as", "chen"))
    assert_quoted(nodes.h("dataset", "approve", own, "--version", "1", "--as", "chen", ok=False))

    # A profile that found direct identifiers.
    contacts = nodes.write(
        "visits-with-contacts.csv",
        "study_key,patient_name,email,age_band\n"
        "SK-000184,Mary Jones,mary.jones@example.com,55-59\n",
    )
    summary = nodes.root / "profile-contacts.json"
    assert "Direct identifiers found" in run("profile", contacts, "--output", summary).stdout
    assert_quoted(nodes.h("dataset", "attach-profile", own, summary, "--as", "wei", ok=False))

    dataset = nodes.register_cohort()
    values = nodes.contract_values(dataset)

    # Contracts that allow more than the dataset's metadata does.
    looser = json.loads(json.dumps(values))
    looser["template"] = "open-research-attribution"
    del looser["terms"]["modifiers"]
    loose = nodes.write("open-values.json", looser)
    refused = nodes.h("contract", "draft", loose, "--as", "wei", ok=False)
    assert error(refused).startswith("the contract allows more than its datasets do (purposes: ")
    assert_quoted(refused)
    without_gs = json.loads(json.dumps(values))
    without_gs["terms"]["modifiers"] = [{"code": "NCU"}, {"code": "PUB"}, {"code": "IRB"}]
    no_gs = nodes.write("no-gs-values.json", without_gs)
    assert_quoted(nodes.h("contract", "draft", no_gs, "--as", "wei", ok=False))
    # Section 8: a contract may narrow the dataset's regions, not widen them.
    wider = json.loads(json.dumps(values))
    wider["terms"]["modifiers"][-1] = {"code": "GS", "regions": ["EU", "US"]}
    wide = nodes.write("wider-gs-values.json", wider)
    refused = nodes.h("contract", "draft", wide, "--as", "wei", ok=False)
    assert error(refused).endswith("may be used only in EU; the contract also allows US)")
    assert_quoted(refused)

    # A benefit split that does not add up to 100; an amount that is not text.
    split = [
        {"payee": "institution", "name": "St Mary's Hospital", "percent": "60"},
        {"payee": "contributor", "name": "Diabetes clinic nursing team", "percent": "30"},
    ]
    for name, terms in (
        ("split.json", {"benefit_split": split}),
        ("fee.json", {"compensation": {"fee_per_grant": 250}}),
    ):
        changed = json.loads(json.dumps(values))
        changed["terms"].update(terms)
        refused = nodes.h("contract", "draft", nodes.write(name, changed), "--as", "wei", ok=False)
        assert_quoted(refused)

    # A contract whose term has ended cannot be proposed.
    ended = json.loads(json.dumps(values))
    ended["terms"]["term"] = {"start": "2024-01-01", "end": "2025-12-31"}
    stale = last_line(nodes.h("contract", "draft", nodes.write("ended.json", ended), "--as", "wei"))
    assert_quoted(nodes.h("contract", "propose", stale, "--as", "wei", ok=False))

    # Signing twice, and countersigning the same version twice.
    contract = last_line(nodes.h("contract", "draft", nodes.write("v.json", values), "--as", "wei"))
    nodes.h("contract", "propose", contract, "--as", "wei")
    nodes.h("contract", "sign", contract, "--as", "wei")
    assert_quoted(nodes.h("contract", "sign", contract, "--as", "wei", ok=False))
    document = nodes.write("contract-for-ngi.json", nodes.h("contract", "export", contract).stdout)
    nodes.i("contract", "countersign", document, "--as", "lena")
    assert_quoted(nodes.i("contract", "countersign", document, "--as", "lena", ok=False))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dated(text: str) -> str:
    """Ids and dates as any run writes them: the guide quotes those of its own run."""
    return re.sub(r"\d{4}-\d{2}-\d{2}", "DATE", generic(text))


def assert_quoted_dated(result: Result) -> None:
    """Like ``assert_quoted``, for a message that names a date."""
    message = dated(error(result))
    assert message in dated(guide_text()), f"{GUIDE.path.name} does not quote: {message}"


def request_file(
    nodes: Nodes, dataset: str, name: str = "access-request.json", **changes: Any
) -> tuple[Path, dict[str, Any]]:
    """The guide's request file (section 16), for ``dataset``."""
    request = {**guide_json("access-request"), **changes}
    assert len(request["datasets"]) == 1
    request["datasets"] = [{"id": dataset}]
    return nodes.write(name, request), request


HMB = [{"code": "HMB"}]  # the purpose the guide's researcher resubmits with (section 17)


def test_reviewing_requests_and_looking_after_grants(nodes: Nodes) -> None:
    dataset = nodes.register_cohort()
    # Section 15: requests need an active contract; the admin gives stewards 5 working days.
    contract = nodes.contract_for(dataset, "contract-2")
    assert json.loads(nodes.h("settings").stdout)["review_deadline_days"] == 3
    with nodes.api() as api:
        admin = bearer(nodes.token("amira"))
        changed = api.put("/api/v1/settings", json={"review_deadline_days": 5}, headers=admin)
        assert changed.status_code == 200, changed.text
        assert changed.get_json()["review_deadline_days"] == 5
    assert json.loads(nodes.h("settings").stdout)["review_deadline_days"] == 5

    # Section 16: the researcher asks for GRU on an HMB contract: manual review.
    nodes.h(
        "user", "add", "aisha", "--name", "Dr Aisha Rahman", "--role", "researcher",
        "--as", "amira",
    )  # fmt: skip
    path, request = request_file(nodes, dataset)
    submitted = nodes.h("request", "submit", path, "--as", "aisha")
    due = working_days_after(datetime.now(UTC).date(), 5).isoformat()
    assert f"for manual review; decision due {due}" in submitted.stdout
    req = last_line(submitted)
    title = request["project_title"]
    queue = nodes.h("request", "list", "--as", "wei").stdout
    assert f"{req}  submitted  due {due}  aisha  {title} (manual review)" in queue
    shown = json.loads(nodes.h("request", "show", req, "--as", "wei").stdout)
    assert (shown["manual_review"], shown["second_approval"], shown["compatible"]) == (
        True, False, False,
    )  # fmt: skip
    assert shown["datasets"] == [
        {"contract": contract, "contract_version": 1, "id": dataset, "version": 1}
    ]
    verdicts = {f["term"]: f["verdict"] for f in shown["findings"][dataset]}
    assert [t for t, v in verdicts.items() if v == "refused"] == ["GRU"]
    assert verdicts["IRB"] == verdicts["institution"] == "allowed"
    assert verdicts["PUB"] == verdicts["deletion"] == "obligation"

    # Section 17: approving it needs a reason; return it, she resubmits with HMB, approve.
    assert_quoted(nodes.h("request", "approve", req, "--as", "wei", ok=False))
    returned = nodes.h("request", "return", req, "--reason", "ask for HMB", "--as", "wei")
    assert f"access.returned {req}" in returned.stdout
    assert_quoted(nodes.h("request", "approve", req, "--as", "wei", ok=False))
    request["purposes"] = HMB
    nodes.write("access-request.json", request)
    nodes.h("request", "resubmit", req, path, "--as", "aisha")
    queue = nodes.h("request", "list", "--as", "wei").stdout
    assert f"{req}  submitted  due {due}  aisha  {title}\n" in queue  # no longer manual review
    approved = nodes.h("request", "approve", req, "--as", "wei").stdout
    grant = req.replace("req-", "gr-", 1)
    assert f"access.approved {req}" in approved and f"grant.issued {grant}" in approved
    assert_quoted(nodes.h("request", "approve", req, "--as", "wei", ok=False))

    # An ancestry (POA) request is denied, with a reason.
    ancestry, _ = request_file(
        nodes, dataset, "ancestry-request.json", purposes=[{"code": "POA"}],
        project_title="Ancestry and the risk of diabetic retinopathy",
    )  # fmt: skip
    other = nodes.h("request", "submit", ancestry, "--as", "aisha")
    assert "for manual review" in other.stdout
    other_id = last_line(other)
    assert_quoted(nodes.h("request", "deny", other_id, "--as", "wei", ok=False))
    nodes.h("request", "deny", other_id, "--reason", "HMB excludes ancestry", "--as", "wei")
    listed = nodes.h("request", "list", "--as", "wei").stdout
    assert f"{req}  approved" in listed and f"{other_id}  denied" in listed

    # Section 18: the signed grant starts with the contract's term; verified offline.
    assert f"{grant}  active  until" in nodes.h("grant", "list", "--as", "wei").stdout
    exported = nodes.root / "grant-rahman.json"
    nodes.h("grant", "export", grant, "--output", exported, "--as", "wei")
    document = json.loads(exported.read_text(encoding="utf-8"))["document"]
    assert document["holder"] == {
        "institution": request["institution"],
        "investigator": request["investigator"],
        "username": "aisha",
    }
    assert "report every output within 90 days" in document["conditions"]
    start = guide_json("contract-values")["terms"]["term"]["start"]
    assert document["valid_from"] == max(datetime.now(UTC).date().isoformat(), start)
    verified = run("grant", "verify", exported, "--vkey", nodes.vkeys[HOSPITAL]).stdout
    assert f"OK grant {grant} signed by {HOSPITAL} (checked with the key you pinned); valid, " in (
        verified
    )

    # Section 19: the incident suspends the grant in one action; closing it reinstates it.
    incident = last_line(
        nodes.h(
            "incident", "report", "--severity", "high", "--kind", "breach",
            "--description", "A laptop was stolen.", "--dataset", dataset, "--as", "wei",
        )
    )  # fmt: skip
    suspended = nodes.h("incident", "suspend-grants", incident, "--as", "wei")
    assert f"Suspended {grant} (ledger entry" in suspended.stdout
    assert f"{grant}  suspended" in nodes.h("grant", "list", "--as", "wei").stdout
    assert_quoted(nodes.h("incident", "suspend-grants", incident, "--as", "wei", ok=False))
    nodes.h(
        "incident", "close", incident, "--resolution", "No data exposed.", "--reinstate",
        "--as", "wei",
    )  # fmt: skip
    assert f"{grant}  active" in nodes.h("grant", "list", "--as", "wei").stdout
    assert_quoted(
        nodes.h("incident", "close", incident, "--resolution", "x", "--as", "wei", ok=False)
    )

    # Section 20: consent withdrawal flags the grant and stops new ones; revoke; deletion.
    withdrawn = nodes.h(
        "dataset", "withdraw-consent", dataset, "--reason", "letter", "--as", "wei"
    ).stdout
    assert f"Consent withdrawn for {dataset}; grants flagged for review: {grant}" in withdrawn
    checked = last_line(nodes.h("request", "check", path, "--as", "wei"))
    assert checked.startswith("It cannot be submitted: consent was withdrawn")
    assert dated(checked) in dated(guide_text())
    flagged = json.loads(nodes.h("grant", "show", grant, "--as", "wei").stdout)
    assert flagged["review_reason"] == f"consent withdrawn for {dataset}: letter"
    assert_quoted(
        nodes.h("dataset", "withdraw-consent", dataset, "--reason", "x", "--as", "wei", ok=False)
    )
    nodes.h("grant", "revoke", grant, "--reason", "consent withdrawn", "--as", "wei")
    assert f"{grant}  revoked" in nodes.h("grant", "list", "--as", "wei").stdout
    assert_quoted(nodes.h("grant", "revoke", grant, "--reason", "x", "--as", "wei", ok=False))
    statement = ("--statement", "All copies were deleted.")
    assert_quoted(nodes.h("grant", "attest-deletion", grant, *statement, "--as", "wei", ok=False))
    attested = nodes.h("grant", "attest-deletion", grant, *statement, "--as", "aisha")
    assert f"Deletion attested for {grant}" in attested.stdout
    ended = json.loads(nodes.h("grant", "show", grant, "--as", "wei").stdout)
    assert ended["deletion_attested_at"] is not None

    # Section 22: the inbox; a contributor named with a username hears of the grant.
    inbox = nodes.h("inbox", "--as", "wei").stdout.splitlines()
    assert [line.split("  ")[-1] for line in inbox] == [
        "New access request: Ancestry and the risk of diabetic retinopathy",
        f"Access request resubmitted: {title}",
        f"New access request: {title}",
    ]
    first = inbox[-1].split()[1]
    assert f"Marked {first} read." in nodes.h("inbox", "--read", first, "--as", "wei").stdout
    assert len(nodes.h("inbox", "--unread", "--as", "wei").stdout.splitlines()) == 2
    told = nodes.h("inbox", "--as", "okafor").stdout.splitlines()
    assert [line.split("  ")[-1] for line in told] == [
        f"Grant issued: {title}",
        "Dataset awaiting your approval: St Mary's type 2 diabetes cohort, 2015-2024",
    ]

    # Sections 21 and 22 through the API: transparency, statistics, e-mail.
    wei = bearer(nodes.token("wei"))
    with nodes.api() as api:
        seen = api.get(f"/api/v1/datasets/{dataset}/transparency", headers=wei)
        assert [(g["grant"], g["status"]) for g in seen.get_json()["grants"]] == [
            (grant, "revoked")
        ]
        assert api.get(f"/api/v1/datasets/{dataset}/transparency").status_code == 404
        summary = api.get("/api/v1/transparency").get_json()
        assert (summary["grants_by_status"], summary["grants_by_purpose"]) == (
            {"revoked": 1}, {"HMB": 1},
        )  # fmt: skip
        times = api.get("/api/v1/statistics/approval-times").get_json()
        assert (times["decided"], times["open"], times["overdue"]) == (2, 0, 0)
        unread = api.get("/api/v1/inbox?unread=true", headers=wei).get_json()
        assert [n["link"] for n in unread] == [
            f"/api/v1/access-requests/{r}" for r in (other_id, req)
        ]
        address = {"email": "wei.zhang@st-marys.example.org"}
        mail = api.put("/api/v1/me/email", json=address, headers=wei)
        assert mail.get_json() == {**address, "username": "wei"}
    nodes.verify_both()


def test_the_access_error_messages_the_guide_quotes_are_real(nodes: Nodes) -> None:
    nodes.h(
        "user", "add", "aisha", "--name", "Dr Aisha Rahman", "--role", "researcher",
        "--as", "amira",
    )  # fmt: skip
    nodes.h(
        "user", "add", "noor", "--name", "Dr Noor", "--role", "steward", "--role", "researcher",
        "--as", "amira",
    )  # fmt: skip
    nodes.h(
        "user", "add", "chen", "--name", "Dr Chen", "--role", "steward", "--role", "director",
        "--as", "amira",
    )  # fmt: skip

    # A contributor's username must be a person on this node.
    metadata = guide_json("metadata")
    assert metadata["contributors"][3]["username"] == "okafor"
    metadata["contributors"][3]["username"] = "okafr"
    bad = nodes.write("bad.json", metadata)
    assert_quoted(nodes.h("dataset", "register", bad, "--as", "wei", ok=False))

    # No request before a contract covers the dataset.
    dataset = nodes.register_cohort()
    path, _ = request_file(nodes, dataset, purposes=HMB)
    assert_quoted(nodes.h("request", "check", path, "--as", "wei", ok=False))
    nodes.contract_for(dataset, "contract")
    assert "The request is compatible" in nodes.h("request", "check", path, "--as", "wei").stdout

    # Nobody approves their own request.
    own = last_line(nodes.h("request", "submit", path, "--as", "noor"))
    assert_quoted(nodes.h("request", "approve", own, "--as", "noor", ok=False))

    # Highly sensitive data: a director co-approves, after a steward, and not the same person.
    sensitive = guide_json("metadata")
    sensitive.update(sensitivity="highly-sensitive", title="Genotyped subset of the cohort")
    subset = nodes.register("subset.json", sensitive)
    nodes.contract_for(subset, "subset-contract")
    subset_path, _ = request_file(nodes, subset, "subset-request.json", purposes=HMB)
    checked = nodes.h("request", "check", subset_path, "--as", "wei").stdout
    assert "A director must co-approve it" in checked
    first = last_line(nodes.h("request", "submit", subset_path, "--as", "aisha"))
    assert_quoted(nodes.h("request", "co-approve", first, "--as", "okafor", ok=False))
    approved = nodes.h("request", "approve", first, "--as", "chen").stdout
    assert f"access.approved {first}" in approved and "grant.issued" not in approved
    assert f"{first}  awaiting-second-approval" in nodes.h("request", "list", "--as", "wei").stdout
    assert_quoted(nodes.h("request", "co-approve", first, "--as", "wei", ok=False))
    assert_quoted(nodes.h("request", "deny", first, "--reason", "x", "--as", "wei", ok=False))
    assert_quoted(nodes.h("request", "co-approve", first, "--as", "chen", ok=False))
    co_approved = nodes.h("request", "co-approve", first, "--as", "okafor").stdout
    assert f"access.co_approved {first}" in co_approved
    assert f"grant.issued {first.replace('req-', 'gr-', 1)}" in co_approved

    # The subset is withdrawn while a request for it waits: it can no longer be granted.
    late = last_line(nodes.h("request", "submit", subset_path, "--as", "aisha"))
    nodes.h("dataset", "withdraw", subset, "--reason", "error found", "--as", "wei")
    assert_quoted(nodes.h("request", "approve", late, "--as", "chen", ok=False))

    # Consent withdrawn while a request waits: it can no longer be granted either.
    waiting = last_line(nodes.h("request", "submit", path, "--as", "aisha"))
    nodes.h("dataset", "withdraw-consent", dataset, "--reason", "letter", "--as", "wei")
    refused = nodes.h("request", "approve", waiting, "--as", "wei", ok=False)
    assert datetime.now(UTC).date().isoformat() in error(refused)
    assert_quoted_dated(refused)
    nodes.h("request", "deny", waiting, "--reason", "consent withdrawn", "--as", "wei")
