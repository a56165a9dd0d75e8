"""Access requests and grants from the console, through to `consortium grant verify`."""

from __future__ import annotations

import json
from pathlib import Path

import scenario
from click.testing import CliRunner

from consortium.cli import main
from consortium.contracts.signing import sign_document
from consortium.crypto.keys import NodeKey
from consortium.crypto.note import vkey
from consortium.registry import datasets


def run(data_dir: Path | None, *args: str, ok: bool = True):
    prefix = ["--data-dir", str(data_dir)] if data_dir else []
    result = CliRunner().invoke(main, [*prefix, *args])
    assert (result.exit_code == 0) is ok, result.output
    if not ok:
        assert "Traceback" not in result.output and result.output.startswith("Error: ")
    return result


def test_request_to_verified_grant(tmp_path: Path) -> None:
    hospital, institute = scenario.pair(tmp_path)
    sam = scenario.actor(hospital, "sam")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    scenario.active(hospital, institute, ds)
    other_vkey, hospital_vkey, origin = institute.vkey, hospital.vkey, hospital.origin
    hospital.close()
    institute.close()
    home = tmp_path / "hospital"

    ask = tmp_path / "request.json"
    ask.write_text(json.dumps(scenario.access_request(ds, commercial=True)))
    checked = run(home, "request", "check", str(ask), "--as", "rita").output
    ncu = next(line for line in checked.splitlines() if "│ NCU" in line)
    assert "refused" in ncu and "commercial request" in ncu  # the table wraps long reasons
    assert "NOT compatible" in checked
    ask.write_text(json.dumps(scenario.access_request(ds)))
    submitted = run(home, "request", "submit", str(ask), "--as", "rita").output
    rid = submitted.strip().splitlines()[-1]
    assert rid.startswith("req-") and "decision due" in submitted
    assert rid in run(home, "request", "list", "--as", "sam").output
    assert run(home, "request", "list", "--as", "sue").output  # stewards see the queue

    denied = run(home, "request", "approve", rid, "--as", "rita", ok=False).output
    assert "needs the role 'steward'" in denied
    approved = run(home, "request", "approve", rid, "--as", "sam").output
    assert "grant.issued" in approved
    again = run(home, "request", "approve", rid, "--as", "sam", ok=False).output
    assert "is approved; it cannot be approved" in again

    grant_id = json.loads(run(home, "request", "show", rid, "--as", "rita").output)["grant_id"]
    file = tmp_path / "grant.json"
    run(home, "grant", "export", grant_id, "--output", str(file), "--as", "rita")
    verified = run(None, "grant", "verify", str(file), "--vkey", hospital_vkey).output
    assert f"OK grant {grant_id}" in verified and "valid" in verified
    assert "checked with the key you pinned" in verified
    # A node that recorded the issuer (as a member, or its own key) needs no --vkey.
    at_institute = run(tmp_path / "institute", "grant", "verify", str(file)).output
    assert "checked with the key this node recorded for the member" in at_institute
    assert "this node's own key" in run(home, "grant", "verify", str(file)).output
    # No key and no node: nothing to check against, so no OK.
    untrusted = run(None, "grant", "verify", str(file), ok=False).output
    assert f"Error: no trusted key for {origin}: pin the vkey each node publishes" in untrusted
    wrong = run(None, "grant", "verify", str(file), "--vkey", other_vkey, ok=False).output
    assert f"no trusted key for {origin}" in wrong

    # Mallory signs a grant to herself with a fresh key under the hospital's origin, and puts
    # that key in the file: refused whichever way the issuer's key is trusted.
    grant = json.loads(file.read_text())
    holder = {"username": "mallory", "investigator": "Mallory", "institution": "Nowhere"}
    document = {**grant["document"], "holder": holder}
    mallory = NodeKey.generate()
    forged = {"document": document, "signature": sign_document(mallory, document),
              "vkey": vkey(origin, mallory.public_key)}  # fmt: skip
    forged_file = tmp_path / "mallory.json"
    forged_file.write_text(json.dumps(forged))
    for where, pin in ((None, ["--vkey", hospital_vkey]), (tmp_path / "institute", []),
                       (home, [])):  # fmt: skip
        refused = run(where, "grant", "verify", str(forged_file), *pin, ok=False).output
        assert "the signature does not verify" in refused and "Mallory" not in refused
    assert "no trusted key" in run(None, "grant", "verify", str(forged_file), ok=False).output

    edited = json.loads(file.read_text())
    edited["document"]["valid_until"] = "2099-12-31"
    file.write_text(json.dumps(edited))
    refused = run(None, "grant", "verify", str(file), "--vkey", hospital_vkey, ok=False).output
    assert "does not verify" in refused

    output = tmp_path / "output.json"
    output.write_text(json.dumps({"kind": "publication", "title": "HbA1c", "doi": "10.1000/j.1"}))
    run(home, "grant", "report-output", grant_id, str(output), "--as", "rita")
    refused = run(home, "grant", "report-output", grant_id, str(output), "--as", "sue", ok=False)
    assert "needs the role 'researcher'" in refused.output or "holder" in refused.output

    incident = run(
        home, "incident", "report", "--severity", "high", "--kind", "misuse",
        "--description", "Shared by e-mail.", "--grant", grant_id, "--as", "sam",
    ).output.strip().splitlines()[-1]  # fmt: skip
    assert grant_id in run(home, "incident", "suspend-grants", incident, "--as", "sam").output
    assert "suspended" in run(home, "grant", "list", "--as", "rita").output
    run(home, "incident", "close", incident, "--resolution", "Contained.", "--reinstate",
        "--as", "sam")  # fmt: skip
    assert "active" in run(home, "grant", "list", "--as", "rita").output

    withdrawn = run(home, "dataset", "withdraw-consent", ds, "--reason", "withdrawn", "--as", "sam")
    assert f"grants flagged for review: {grant_id}" in withdrawn.output
    run(home, "grant", "revoke", grant_id, "--reason", "study stopped", "--as", "sam")
    assert "revoked" in run(home, "grant", "list", "--as", "rita").output
    run(home, "grant", "attest-deletion", grant_id, "--statement", "All copies deleted.",
        "--as", "rita")  # fmt: skip
    again = run(home, "grant", "attest-deletion", grant_id, "--statement", "x", "--as", "rita",
                ok=False)  # fmt: skip
    assert "attested" in again.output

    shown = json.loads(run(home, "grant", "show", grant_id, "--as", "rita").output)
    assert shown["status"] == "revoked" and shown["deletion_attested_at"]
    assert shown["review_reason"]  # consent was withdrawn while it was active

    # The inbox at the console: newest first, unread marked, and marked read one by one.
    listed = run(home, "inbox", "--as", "rita").output.splitlines()
    first = listed[0].split()
    assert first[0] == "*" and first[1].endswith(":rita") and "Grant revoked" in listed[0]
    run(home, "inbox", "--read", first[1], "--as", "rita")
    assert first[1] not in run(home, "inbox", "--unread", "--as", "rita").output
    assert run(home, "inbox", "--read", "0:nobody", "--as", "rita", ok=False).output.startswith(
        "Error: "
    )


def test_terminating_a_contract_says_which_grants_it_ended(tmp_path: Path) -> None:
    from consortium.access import requests

    hospital, institute = scenario.pair(tmp_path)
    sam, rita = scenario.actor(hospital, "sam"), scenario.actor(hospital, "rita")
    ds = datasets.register_dataset(hospital.ledger, sam, scenario.metadata()).body["dataset"]
    contract = scenario.active(hospital, institute, ds)
    rid = requests.submit_request(hospital.ledger, rita, scenario.access_request(ds))
    grant = requests.approve_request(hospital.ledger, hospital.key, sam, rid.body["request"], {})
    document = grant[1].body["document"]
    hospital.close()
    institute.close()
    home = tmp_path / "hospital"

    said = run(home, "contract", "terminate", contract, "--reason", "breach", "--as", "sam")
    lines = said.output.splitlines()
    assert lines[0].startswith(f"Terminated {contract} v1 (ledger entry ")
    assert lines[1:] == [
        f"Ended grant {document['id']} of rita (valid until {document['valid_until']}) "
        f"(ledger entry {int(lines[0].split()[-1].rstrip(').')) + 1})."
    ]
    shown = json.loads(run(home, "grant", "show", document["id"], "--as", "rita").output)
    assert (shown["status"], shown["end_reason"]) == (
        "revoked",
        f"contract {contract} was terminated: breach",
    )
