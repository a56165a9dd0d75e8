"""What a ledger discloses (protocol §13): every field in its class, sealed unless public,
people by pseudonym, and each reader shown exactly the classes the table allows."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import scenario
from sqlalchemy import select, update

from consortium.alliance.ledgers import own_entries
from consortium.api import create_app
from consortium.auth.people import add_person
from consortium.auth.roles import OPERATOR, Actor
from consortium.crypto.canonical import parse
from consortium.demo import create_demo
from consortium.disclosure.readers import Reader, concerned, disclose, visible_classes
from consortium.disclosure.sealing import SEALED, DisclosureError, digest_of, join, split
from consortium.disclosure.store import pseudonym_of, reveal
from consortium.disclosure.table import (
    MEMBERS,
    PARTIES,
    PERSON,
    PERSONAL,
    PUBLIC,
    SEALED_CLASSES,
    TABLE,
)
from consortium.disclosure.views import export_ledger
from consortium.events import record
from consortium.ledger.bundle import entries_with_sealed
from consortium.ledger.log import ENTRY
from consortium.node import Node
from consortium.node.config import NodeConfigError

ALL = {PUBLIC, *SEALED_CLASSES}


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a body by dotted path (lists are leaves)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(leaves(item, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: value}


def class_of(kind: str, path: str) -> str:
    """The class the table gives ``path`` (the longest rule that covers it)."""
    rules = TABLE[kind]
    steps = path.split(".")
    for n in range(len(steps), 0, -1):
        rule = rules.get(".".join(steps[:n]))
        if rule is not None and rule != PERSON:  # a pseudonym takes the class around it
            return rule
        if rule == PERSON and n == 1:
            return PUBLIC
    raise AssertionError(f"{kind}: {path} has no class")


@dataclass
class Demo:
    """The demo node, built once for this module's read-only tests, with its people's tokens."""

    node: Node
    dir: Path
    tokens: dict[str, str]

    def get(self, url: str, who: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        response = create_app(self.node).test_client().get(url, headers=headers)
        assert response.status_code == 200, response.text
        return response.get_json()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    where = tmp_path_factory.mktemp("demo") / "demo"
    node = create_demo(where)
    tokens = dict(line.split("=", 1) for line in (where / "demo-tokens.txt").read_text().split())
    yield Demo(node, where, tokens)
    node.close()


# --- the split itself ---------------------------------------------------------------------------


def test_split_and_join_give_back_the_body() -> None:
    body = {
        "grant": "gr-1",
        "document": {
            "type": "consortium.grant/v1",
            "holder": {"username": "p-aaaaaaaaaa", "investigator": "Dr X", "institution": "UH"},
            "project_title": "Secret project",
            "datasets": [{"id": "ds-1"}],
        },
        "signature": "c2ln",
    }
    clear, groups = split("grant.issued", body)
    assert clear == {
        "grant": "gr-1",
        "document": {
            "type": "consortium.grant/v1",
            "holder": {"institution": "UH"},
            "datasets": [{"id": "ds-1"}],
        },
    }
    assert MEMBERS not in groups
    assert groups[PERSONAL] == {"document": {"holder": {"investigator": "Dr X"}}}
    # A pseudonym stays where the username was, in the class of what surrounds it.
    assert groups[PARTIES] == {
        "document": {"project_title": "Secret project", "holder": {"username": "p-aaaaaaaaaa"}},
        "signature": "c2ln",
    }
    assert join(clear, groups, "grant.issued") == body


def test_a_member_without_a_class_is_refused(sqlite_node: Node) -> None:
    hospital = sqlite_node
    with pytest.raises(DisclosureError, match=r"cost\.recorded: member 'note' has no"):
        split("cost.recorded", {"cost": "c-1", "note": "unclassed"})
    size = hospital.ledger.size()
    with (
        pytest.raises(DisclosureError, match="has no disclosure classes"),
        hospital.ledger.transaction() as tx,
    ):
        record(tx, "invented.kind", "node", {"x": 1})
    assert hospital.ledger.size() == size  # nothing written


# --- every kind, every reader --------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Node, Node, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("disclosure")
    hospital, institute = scenario.pair(tmp)
    ids = scenario.run(hospital, institute)
    add_person(
        hospital.ledger,
        OPERATOR,
        {"username": "otto", "display_name": "Otto", "roles": ["auditor"]},
    )
    yield hospital, institute, ids
    hospital.close()
    institute.close()


def _entries(node: Node) -> list[dict[str, Any]]:
    return [parse(d) for d in node.ledger.entries(0, node.ledger.size())]


def test_every_member_sits_in_its_class_on_the_ledger(world: tuple[Node, Node, Any]) -> None:
    """Public members in clear; each other class only in its sealed document; usernames
    nowhere but as pseudonyms."""
    hospital, institute, _ = world
    kinds = set()
    for node in (hospital, institute):
        with node.engine.connect() as conn:
            usernames = set(conn.execute(select(ENTRY.c.idx)).scalars()) and {
                row for row in conn.exec_driver_sql("SELECT username FROM person").scalars()
            }
            for entry in _entries(node):
                kind, body = entry["kind"], entry["body"]
                kinds.add(kind)
                assert entry["actor"] not in usernames
                for path in leaves({k: v for k, v in body.items() if k != SEALED}):
                    assert class_of(kind, path) == PUBLIC, (kind, path)
                _, full = reveal(conn, kind, entry["actor"], body)
                digests = body.get(SEALED, {})
                for cls in SEALED_CLASSES:
                    if cls not in digests:
                        continue
                    data = conn.exec_driver_sql(
                        "SELECT data FROM sealed_document WHERE digest = ?", (digests[cls],)
                    ).scalar()
                    assert digest_of(bytes(data)) == digests[cls]
                    document = parse(bytes(data))["document"]
                    for path in leaves(document):
                        assert class_of(kind, path) == cls, (kind, path, cls)
                # No sealed text (ids and origins are public anyway) shows in the entry.
                for path, value in leaves(full).items():
                    if class_of(kind, path) != PUBLIC and isinstance(value, str) and " " in value:
                        assert f'"{value}"'.encode() not in entry_bytes(entry), (kind, path)
    # The scenario reaches nearly every kind; those it does not are checked by the split test.
    assert len(kinds) >= 35, sorted(set(TABLE) - kinds)


def entry_bytes(entry: dict[str, Any]) -> bytes:
    from consortium.crypto.canonical import canonical_bytes

    return canonical_bytes(entry)


def _reader(node: Node, username: str | None) -> Reader:
    if username is None:
        return Reader.anonymous()
    with node.engine.connect() as conn:
        roles = conn.exec_driver_sql(
            "SELECT roles FROM person WHERE username = ?", (username,)
        ).scalar()
    roles = parse(roles.encode()) if isinstance(roles, str) else roles
    return Reader(Actor(username, frozenset(roles)))


@pytest.mark.parametrize(
    "who", [None, "researcher", "concerned researcher", "steward", "auditor", "lead", "member"]
)
def test_each_reader_gets_exactly_what_the_table_says(
    world: tuple[Node, Node, Any], who: str | None
) -> None:
    hospital, institute, _ = world
    with hospital.engine.connect() as conn:
        people = dict(conn.exec_driver_sql("SELECT username, roles FROM person").all())
    roles_of = {n: parse(r.encode()) if isinstance(r, str) else r for n, r in people.items()}
    by_role = {roles[0]: name for name, roles in roles_of.items() if len(roles) == 1}
    base = {
        None: {PUBLIC},
        "researcher": {PUBLIC},
        "concerned researcher": {PUBLIC},
        "steward": ALL,
        "auditor": {PUBLIC, MEMBERS},
        "lead": {PUBLIC, MEMBERS},
        "member": {PUBLIC, MEMBERS},
    }[who]
    checked = 0
    for entry in _entries(hospital):
        index, kind = entry["index"], entry["kind"]
        with hospital.engine.connect() as conn:
            actor, full = reveal(conn, kind, entry["actor"], entry["body"])
            concerned_people, origins = concerned(conn, kind, actor, full)
            name = None
            if who == "member":
                reader = Reader(member=institute.origin)
            elif who == "concerned researcher":
                name = by_role["researcher"]
                if name not in concerned_people:
                    continue
                reader = _reader(hospital, name)
            elif who is None:
                reader = Reader.anonymous()
            else:
                name = by_role[who]
                reader = _reader(hospital, name)
            expected = set(base)
            # Whom a record concerns reads all of it; a member node named in it, its parts.
            if name is not None and name in concerned_people:
                expected |= {MEMBERS, PARTIES, PERSONAL}
            if who == "member" and institute.origin in origins:
                expected.add(PARTIES)
            assert visible_classes(reader, concerned_people, origins) == expected
            shown = disclose(conn, reader, index)
        committed = set(shown["committed"])
        assert set(shown["sealed"]) == committed & expected, (kind, who)
        assert set(shown["withheld"]) == committed - expected, (kind, who)
        # What the reader sees is exactly the members of its classes.
        seen = dict(shown["clear"])
        for cls, doc in shown["sealed"].items():
            assert digest_of(doc["document"].encode()) == doc["digest"]
            seen = join(seen, {cls: parse(doc["document"].encode())["document"]}, kind)
        for path in leaves(seen):
            assert class_of(kind, path) in expected, (kind, path, who)
        checked += 1
    assert checked > (0 if who == "concerned researcher" else 30)


# --- the demo, exported for the public ---------------------------------------------------------

DEMO_CONFIDENTIAL = [
    "Ada Admin", "Sam Steward", "Dora Director", "Rita Researcher", "Lee Lead", "Otto Auditor",
    "Pat Partner", "Dr Rita Rossi", "Readmission after heart failure",
    "Model 30-day readmission risk.", "Sex differences in heart failure",
    "Compare outcomes by sex.", "UH-REC-2026-031", "Rare cardiomyopathy registry",
    "Secure enclave hosting", "12000.00", "dpo@uh.demo.consortium.example",
    '"ada"', '"sam"', '"dora"', '"rita"', '"lee"', '"otto"', '"mei"',
]  # fmt: skip
# Personal data never leaves the node, not even for members.
DEMO_PERSONAL = [
    "Ada Admin", "Sam Steward", "Dora Director", "Rita Researcher", "Dr Rita Rossi",
    '"ada"', '"sam"', '"rita"', '"mei"',
]  # fmt: skip


def test_an_anonymous_export_of_the_demo_discloses_nothing_confidential(
    demo: Demo, tmp_path: Path
) -> None:
    node = demo.node
    export_ledger(node.ledger, node.name, node.public_key, tmp_path / "public.jsonl.gz")
    export_ledger(
        node.ledger, node.name, node.public_key, tmp_path / "members.jsonl.gz", audience=MEMBERS
    )
    raw = b"".join(node.ledger.entries(0, node.ledger.size())).decode()
    public = gzip.decompress((tmp_path / "public.jsonl.gz").read_bytes()).decode()
    members = gzip.decompress((tmp_path / "members.jsonl.gz").read_bytes()).decode()
    for text in (raw, public):
        found = [s for s in DEMO_CONFIDENTIAL if s in text]
        assert found == []
    assert [s for s in DEMO_PERSONAL if s.replace('"', '\\"') in members or s in members] == []
    # The members' bundle does carry what members need: the cost, say.
    assert "12000.00" in members
    pairs = list(entries_with_sealed(tmp_path / "members.jsonl.gz"))
    assert sum(len(sealed) for _, sealed in pairs) > 0
    assert all(len(sealed) <= 1 for _, sealed in pairs)


def test_the_members_view_is_the_same_here_and_from_a_bundle(
    world: tuple[Node, Node, Any], tmp_path: Path
) -> None:
    from consortium.alliance.ledgers import bundle_entries

    hospital, _, _ = world
    size = hospital.ledger.size()
    path = tmp_path / "h.jsonl"
    export_ledger(hospital.ledger, hospital.name, hospital.public_key, path, audience=MEMBERS)
    with hospital.engine.connect() as conn:
        here = list(own_entries(conn, size))
    assert list(bundle_entries(path, size)) == here
    assert any("payees" in e.body for e in here if e.kind == "compensation.run") or all(
        e.kind != "compensation.run" for e in here
    )


def test_pseudonyms_stand_for_people(world: tuple[Node, Node, Any]) -> None:
    hospital, _, _ = world
    with hospital.engine.connect() as conn:
        pseudonym = pseudonym_of(conn, "sam")
        assert pseudonym.startswith("p-") and len(pseudonym) == 12
    assert any(e["actor"] == pseudonym for e in _entries(hospital))


# --- a version-1 ledger is not continued ----------------------------------------------------------


def test_db_upgrade_refuses_a_version_1_ledger(tmp_path: Path) -> None:
    from alembic import command

    from consortium.db.migrate import _config

    node = scenario.pair(tmp_path)[0]
    data = node.ledger.entries(0, 1)[0].replace(b'"v":2', b'"v":1')
    cfg = _config()
    with node.engine.begin() as conn:
        conn.execute(update(ENTRY).where(ENTRY.c.idx == 0).values(data=data))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    data_dir = node.config.data_dir
    node.close()
    with pytest.raises(NodeConfigError, match="protocol version 1; this release writes version 2"):
        Node.open(data_dir, migrate=True)


# --- erasure ----------------------------------------------------------------------------------


def test_erasing_a_person_leaves_a_ledger_that_verifies(
    tmp_path: Path, database_url: str | None
) -> None:
    from consortium.auth.people import deactivate_person, get_person
    from consortium.disclosure.erasure import erase_person
    from consortium.errors import Conflict
    from consortium.projections import rebuild, snapshot

    hospital, institute = scenario.pair(tmp_path, database_url)
    scenario.run(hospital, institute)
    ada = scenario.actor(hospital, "ada")
    with hospital.engine.connect() as conn:
        pseudonym = pseudonym_of(conn, "rita")
    root_before = hospital.ledger.latest_checkpoint()
    size = hospital.ledger.size()
    entries_before = hospital.ledger.entries(0, size)
    with pytest.raises(Conflict, match="still active: deactivate them first"):
        erase_person(hospital.ledger, ada, "rita")
    assert hospital.ledger.size() == size  # a refusal writes nothing

    deactivate_person(hospital.ledger, ada, "rita", {"reason": "Left; asked to be forgotten"})
    done = erase_person(hospital.ledger, ada, "rita")
    assert done.pseudonym == pseudonym and done.documents >= 3
    hospital.ledger.checkpoint()

    # The ledger is untouched: every entry, signature and checkpoint verifies as before.
    report = hospital.audit()
    assert report.ok, report.first
    assert hospital.ledger.entries(0, size) == entries_before
    assert root_before in hospital.ledger.checkpoints()
    # The person is their pseudonym now; what was personal reads as erased.
    with hospital.engine.connect() as conn:
        row = get_person(conn, pseudonym)
        assert (row.display_name, row.active) == ("[erased]", False)
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM person WHERE username = 'rita'").scalar()
            == 0
        )
        requested = next(
            e["index"] for e in _entries(hospital)
            if e["kind"] == "access.requested" and e["actor"] == pseudonym
        )  # fmt: skip
        shown = disclose(conn, Reader(scenario.actor(hospital, "sam")), requested)
        assert shown["erased"] == [PERSONAL] and PARTIES in shown["sealed"]
    # No trace of the name or the username in the node's sealed documents.
    with hospital.engine.connect() as conn:
        kept = b"".join(
            bytes(d) for d in conn.exec_driver_sql("SELECT data FROM sealed_document").scalars()
        )
    assert b'"rita"' not in kept and b"Rita" not in kept
    # Rebuilding after the erasure arrives at the same state.
    live = snapshot(hospital.engine)
    rebuild(hospital.ledger)
    assert snapshot(hospital.engine) == live
    hospital.close()
    institute.close()


def test_erase_at_the_console(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from consortium.cli import main

    hospital, institute = scenario.pair(tmp_path)
    data_dir = str(hospital.config.data_dir)
    hospital.close()
    institute.close()

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["--data-dir", data_dir, *args], catch_exceptions=False)

    refused = run("user", "erase", "rita", "--yes", "--as", "ada")
    assert refused.exit_code == 1
    assert "'rita' is still active: deactivate them first" in refused.output
    run("user", "deactivate", "rita", "--reason", "Asked to be forgotten", "--as", "ada")
    erased = run("user", "erase", "rita", "--yes", "--as", "ada")
    assert erased.exit_code == 0, erased.output
    assert "Erased rita: " in erased.output and "the ledger names them p-" in erased.output
    assert run("verify").exit_code == 0
    assert "rita" not in run("user", "list").output


# --- the API shows what the table allows -------------------------------------------------------


def test_views_show_each_reader_what_the_table_allows(demo: Demo) -> None:
    get = demo.get
    anyone = get("/api/v1/contracts")[0]
    assert "benefit_split" not in anyone["document"]
    assert "incidents" not in anyone["document"]
    # The datasets' details are shown as their tiers allow: the demo's is public metadata.
    assert anyone["document"]["datasets"][0]["title"] == "Heart failure cohort 2016–2025"
    assert anyone["document"]["purposes"] and anyone["drafted_by"].startswith("p-")
    lead = get(f"/api/v1/contracts/{anyone['id']}", "lee")
    assert "benefit_split" in lead["document"] and "incidents" not in lead["document"]
    steward = get(f"/api/v1/contracts/{anyone['id']}", "sam")
    assert steward["document"]["incidents"]["contact"] == "dpo@uh.demo.consortium.example"
    assert steward["drafted_by"] == "sam"

    dataset = steward["document"]["datasets"][0]["id"]
    page = get(f"/api/v1/datasets/{dataset}/transparency")
    granted = page["grants"][0]
    assert granted["institution"] == "Demo University Hospital"
    assert "investigator" not in granted and "project_title" not in granted
    mine = get(f"/api/v1/datasets/{dataset}/transparency", "rita")["grants"][0]
    assert mine["investigator"] == "Dr Rita Rossi"
    assert mine["project_title"] == "Readmission after heart failure"
    assert page["outputs"][0]["doi"] == "10.5555/demo.1"  # outputs are public


@pytest.mark.parametrize("kind", sorted(TABLE))
def test_every_path_of_every_kind_lands_in_its_class(kind: str) -> None:
    """A body holding every path the table names: each value is found in its class (and
    nowhere else), and joining the parts gives the body back."""
    body: dict[str, Any] = {}
    for path in sorted(TABLE[kind], key=lambda p: -p.count(".")):  # the deepest first
        node = body
        steps = path.split(".")
        for step in steps[:-1]:
            if step.endswith("[]"):
                items = node.setdefault(step[:-2], [{}])
                node = items[0]
            else:
                node = node.setdefault(step, {})
        leaf = steps[-1]
        if not isinstance(node.get(leaf), dict):
            node[leaf] = f"value of {path}"
    clear, groups = split(kind, body)
    parts = {PUBLIC: clear, **groups}
    for path, value in leaves(body).items():
        if isinstance(value, list):
            continue
        cls = class_of(kind, path.replace("[]", ""))
        holders = [c for c, part in parts.items() if path in leaves(part)]
        assert holders == [cls], (kind, path)
    assert join(clear, groups, kind) == body


def test_a_bundle_with_an_edited_sealed_document_does_not_verify(
    demo: Demo, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from consortium.cli import main

    node, vkey = demo.node, demo.node.vkey
    export_ledger(node.ledger, node.name, node.public_key, tmp_path / "m.jsonl", audience=MEMBERS)

    def verify(name: str) -> Any:
        args = ["ledger", "verify-bundle", "--vkey", vkey, str(tmp_path / name)]
        return CliRunner().invoke(main, args, catch_exceptions=False)

    fine = verify("m.jsonl")
    assert fine.exit_code == 0, fine.output
    assert "sealed documents (for members) are the ones their entries commit to" in fine.output
    text = (tmp_path / "m.jsonl").read_text(encoding="utf-8")
    assert text.count("12000.00") == 1
    (tmp_path / "edited.jsonl").write_text(text.replace("12000.00", "99999.00"), encoding="utf-8")
    edited = verify("edited.jsonl")
    assert edited.exit_code == 1
    assert "sealed: a sealed document after it is not one it commits to" in edited.output


def test_the_people_directory_shows_staff_and_oneself(demo: Demo) -> None:
    def names(who: str) -> set[str]:
        return {p["username"] for p in demo.get("/api/v1/people", who)}

    staff = {"ada", "sam", "dora", "lee"}
    assert names("rita") == staff | {"rita"}  # not mei, another researcher, nor otto
    assert names("ada") == staff | {"rita", "otto", "mei"}
