"""The consortium's membership document: founded, grown, shrunk by the members' threshold, and
never accepted on less."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import scenario

from consortium.auth.roles import OPERATOR
from consortium.errors import Conflict, Invalid
from consortium.federation import document as rules
from consortium.federation import membership
from consortium.node import Node, init_node
from consortium.projections import rebuild, snapshot
from consortium.registry.members import list_members


def entry_for(node: Node, url: str) -> dict[str, str]:
    return {"institution": node.name, "origin": node.origin, "url": url, "vkey": node.vkey}


def next_version(node: Node, change: Any) -> dict[str, Any]:
    """The node's current document, changed by ``change``, as the next version."""
    with node.engine.connect() as conn:
        now = membership.current(conn)
    assert now is not None
    following = copy.deepcopy(now)
    following["version"] = now["version"] + 1
    following["previous"] = rules.digest(now)
    change(following)
    return following


def founded_and_proposed(hospital: Node, institute: Node) -> dict[str, Any]:
    """The hospital founds "NHDA" and proposes version 2, admitting the institute."""
    ada = scenario.actor(hospital, "ada")
    membership.create(
        hospital.ledger, hospital.key, ada, {"consortium": "NHDA", "url": "https://h.example.org"}
    )
    v2 = next_version(
        hospital, lambda d: d["members"].append(entry_for(institute, "https://i.example.org"))
    )
    membership.propose(hospital.ledger, ada, v2)
    return v2


@pytest.fixture
def three(tmp_path: Path, database_url: str | None) -> tuple[Node, Node, Node]:
    hospital, institute = scenario.pair(tmp_path, database_url)
    university = init_node(tmp_path / "university", "Northern University")
    yield hospital, institute, university
    for node in (hospital, institute, university):
        node.close()


def test_founding_growing_and_shrinking(three: tuple[Node, Node, Node]) -> None:
    hospital, institute, university = three
    ada = scenario.actor(hospital, "ada")
    membership.create(
        hospital.ledger, hospital.key, ada,
        {"consortium": "Northern Health Data Alliance", "url": "https://h.example.org"},
    )  # fmt: skip
    [v1] = membership.versions(hospital.engine)
    assert (v1["version"], v1["status"], len(v1["signatures"])) == (1, "accepted", 1)

    # Version 2 admits the institute: the hospital alone is the threshold of version 1, and
    # the newcomer's own signature proves the key the document names for it.
    v2 = next_version(
        hospital, lambda d: d["members"].append(entry_for(institute, "https://i.example.org"))
    )
    membership.propose(hospital.ledger, ada, v2)
    membership.sign(hospital.ledger, hospital.key, ada, v2)
    waiting = membership.versions(hospital.engine)[0]
    assert waiting["status"] == "proposed"
    assert waiting["awaiting"] == [f"{institute.origin} (it is new, its signature proves its key)"]
    theirs = membership.sign(institute.ledger, institute.key, OPERATOR, v2)
    accepted = membership.add_signature(hospital.ledger, ada, 2, institute.origin, theirs)
    assert accepted is not None and accepted.kind == "membership.accepted"
    # The institute takes the history from the hospital.
    chain = [membership.exported(hospital.engine, v) for v in (1, 2)]
    assert membership.accept(institute.ledger, OPERATOR, chain) == [1, 2]

    # Version 3 admits the university: 2/3 of version 2's two members is two.
    v3 = next_version(
        hospital, lambda d: d["members"].append(entry_for(university, "https://u.example.org"))
    )
    membership.propose(hospital.ledger, ada, v3)
    membership.sign(hospital.ledger, hospital.key, ada, v3)
    univ = membership.sign(university.ledger, university.key, OPERATOR, v3)
    assert membership.add_signature(hospital.ledger, ada, 3, university.origin, univ) is None
    assert membership.versions(hospital.engine)[0]["awaiting"] == [
        "1 more of the 2 members of version 2 (1 of the 2 needed have signed)"
    ]
    inst = membership.sign(institute.ledger, institute.key, OPERATOR, v3)
    assert membership.add_signature(hospital.ledger, ada, 3, institute.origin, inst) is not None

    # Version 4 removes the institute: two of three is the threshold, without it.
    v4 = next_version(
        hospital,
        lambda d: d["members"].__setitem__(
            slice(None), [m for m in d["members"] if m["origin"] != institute.origin]
        ),
    )
    membership.propose(hospital.ledger, ada, v4)
    membership.sign(hospital.ledger, hospital.key, ada, v4)
    # The university signs version 4 from the file it was sent (it never accepted version 3).
    univ = _sign(university, v4)
    assert membership.add_signature(hospital.ledger, ada, 4, university.origin, univ)
    trusted = {m.origin for m in list_members(hospital.engine)}
    assert institute.origin not in trusted and university.origin in trusted

    # Everything above is on the ledger: a rebuild arrives at the same state.
    live = snapshot(hospital.engine)
    rebuild(hospital.ledger)
    assert snapshot(hospital.engine) == live


def _sign(node: Node, document: dict[str, Any]) -> str:
    from consortium.contracts.signing import sign_document

    return sign_document(node.key, document)


def test_nothing_is_accepted_on_less(three: tuple[Node, Node, Node]) -> None:
    hospital, institute, university = three
    ada = scenario.actor(hospital, "ada")
    v2 = founded_and_proposed(hospital, institute)
    size = hospital.ledger.size()

    # A signature by the wrong key, or by someone who is not a member: refused, nothing written.
    forged = _sign(university, v2)
    with pytest.raises(Invalid, match="does not verify"):
        membership.add_signature(hospital.ledger, ada, 2, institute.origin, forged)
    with pytest.raises(Invalid, match="is not a member of this version"):
        membership.add_signature(hospital.ledger, ada, 2, university.origin, forged)
    # One document per version: the hospital will not sign another version 2.
    membership.sign(hospital.ledger, hospital.key, ada, v2)
    size = hospital.ledger.size()
    other = copy.deepcopy(v2)
    other["members"][1]["url"] = "https://elsewhere.example.org"
    with pytest.raises(Conflict, match="signed another document as version 2"):
        membership.sign(hospital.ledger, hospital.key, ada, other)
    # A chain short of signatures is not taken.
    short = [membership.exported(hospital.engine, 1), membership.exported(hospital.engine, 2)]
    with pytest.raises(Invalid, match="version 2 is not accepted yet: it needs"):
        membership.accept(institute.ledger, OPERATOR, short)
    assert hospital.ledger.size() == size

    # Documents that break the rules are refused field by field.
    bad = copy.deepcopy(v2)
    bad["threshold"] = {"numerator": 1, "denominator": 2}
    bad["witnesses"] = {"members": ["nobody.example"], "quorum": 3}
    with pytest.raises(Invalid) as refused:
        rules.check(bad)
    assert set(refused.value.errors) == {"threshold", "witnesses.members", "witnesses.quorum"}
    skipping = copy.deepcopy(v2)
    skipping["version"] = 3
    with pytest.raises(Invalid, match="the next version is 2, not 3"):
        membership.propose(hospital.ledger, ada, skipping)
    with pytest.raises(Conflict, match="already belongs to a consortium"):
        membership.create(
            hospital.ledger, hospital.key, ada, {"consortium": "X", "url": "https://x.org"}
        )
    assert hospital.ledger.size() == size


def test_at_the_console(three: tuple[Node, Node, Node], tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from consortium.cli import main

    hospital, institute, _ = three

    def run(node: Node, *args: str, ok: bool = True) -> Any:
        result = CliRunner().invoke(
            main, ["--data-dir", str(node.config.data_dir), *args], catch_exceptions=False
        )
        assert (result.exit_code == 0) is ok, result.output
        return result

    run(hospital, "federation", "members")
    created = run(hospital, "federation", "create", "--name", "NHDA", "--url",
                  "https://h.example.org", "--as", "ada")  # fmt: skip
    assert "Founded 'NHDA': membership version 1" in created.output
    refused = run(hospital, "federation", "create", "--name", "X", "--url", "nope", "--as", "ada",
                  ok=False)  # fmt: skip
    assert "already belongs to a consortium" in refused.output
    v2 = next_version(
        hospital, lambda d: d["members"].append(entry_for(institute, "https://i.example.org"))
    )
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    run(hospital, "federation", "propose", str(tmp_path / "v2.json"), "--as", "ada")
    run(hospital, "federation", "sign", str(tmp_path / "v2.json"), "--as", "ada")
    signed = json.loads(run(institute, "federation", "sign", str(tmp_path / "v2.json")).stdout
                        .splitlines()[-1])  # fmt: skip
    shown = run(hospital, "federation", "members").output
    assert f"version 2 proposed, awaiting {institute.origin}" in shown
    accepted = run(hospital, "federation", "add-signature", "2", "--origin", signed["origin"],
                   "--signature", signed["signature"], "--as", "ada")  # fmt: skip
    assert "Version 2 is accepted" in accepted.output
    for v in (1, 2):
        run(hospital, "federation", "export", str(v), "-o", str(tmp_path / f"m{v}.json"))
    joined = run(institute, "federation", "accept", str(tmp_path / "m1.json"),
                 str(tmp_path / "m2.json"))  # fmt: skip
    assert "Accepted versions 1, 2." in joined.output
    listed = run(institute, "federation", "members").output
    assert "NHDA, version 2 (accepted; changes need 2/3 of the members):" in listed
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**v2, "threshold": {"numerator": 1, "denominator": 3}}))
    refused = run(hospital, "federation", "propose", str(bad), "--as", "ada", ok=False)
    assert "threshold: a fraction p/q above 1/2 and at most 1" in refused.output


def test_anyone_reads_the_membership_over_the_api(three: tuple[Node, Node, Node]) -> None:
    from consortium.api import create_app

    hospital, institute, _ = three
    client = create_app(hospital).test_client()
    assert client.get("/api/v1/federation/membership").get_json() == []
    founded_and_proposed(hospital, institute)
    shown = client.get("/api/v1/federation/membership").get_json()
    assert [(v["version"], v["status"]) for v in shown] == [(2, "proposed"), (1, "accepted")]
    assert shown[0]["awaiting"]
    # Anyone can check a signature against the document it names, with the member's key.
    founders = rules.valid_signers(
        None, shown[1]["document"],
        [rules.Signature(s["origin"], s["signature"]) for s in shown[1]["signatures"]],
    )  # fmt: skip
    assert founders == {hospital.origin}
