"""The data steward's guide (docs/guide-steward.md), replayed through the CLI.

The guide's example files are read out of the markdown itself (the blocks marked
``<!-- guide-test: NAME -->``), and its main path is run on two SQLite nodes: the steward
profiles the guide's sample CSV, registers the cohort and attaches the profile, the director
approves it, a derived dataset waits for its sources to be published, the two institutions
sign the contract across their nodes, amend it, drop an unwanted amendment and terminate it.
A change to the code that breaks what the guide tells a steward to do, or to the error
messages it quotes, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from guide import Guide, error, last_line, run

GUIDE = Guide("guide-steward.md")
HOSPITAL = "ledger.st-marys.example.org"
INSTITUTE = "ledger.ngi.example.org"
guide_text, guide_block, guide_json, assert_quoted = (
    GUIDE.text,
    GUIDE.block,
    GUIDE.json,
    GUIDE.assert_quoted,
)


class Nodes:
    """The guide's two practice nodes, with its people, members and settings (sections 2-3)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hospital = root / "hospital"
        self.institute = root / "institute"
        vkeys = {}
        for path, name, origin in (
            (self.hospital, "St Mary's Hospital", HOSPITAL),
            (self.institute, "Northern Genomics Institute", INSTITUTE),
        ):
            out = run("init", "--data-dir", path, "--name", name, "--origin", origin).stdout
            vkeys[origin] = next(
                line.split()[1] for line in out.splitlines() if line.split()[:1] == ["vkey"]
            )
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

    def h(self, *args: str | Path, ok: bool = True) -> Result:
        """A command on the hospital's node."""
        return run(*args, "--data-dir", self.hospital, ok=ok)

    def i(self, *args: str | Path, ok: bool = True) -> Result:
        """A command on the institute's node."""
        return run(*args, "--data-dir", self.institute, ok=ok)

    def write(self, name: str, value: dict[str, Any] | str) -> Path:
        path = self.root / name
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        return path

    def profile(self) -> Path:
        """Section 5: profile the guide's sample CSV; the guide shows its real fingerprint."""
        visits = self.write("diabetes-visits.csv", guide_block("visits", "csv") + "\n")
        summary = self.root / "profile.json"
        shown = run("profile", visits, "--output", summary).stdout
        assert "diabetes-visits.csv: csv, 12 records, 12 columns, 963 bytes" in shown
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
    assert document["datasets"] == [{"id": dataset, "provider": HOSPITAL, "version": 1}]
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
