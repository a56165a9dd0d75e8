"""The witness endpoint (C2SP tlog-witness add-checkpoint): every answer, with real
checkpoints and consistency proofs from a second node's ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from consortium.api import create_app
from consortium.auth.people import add_person
from consortium.auth.roles import OPERATOR
from consortium.crypto.cosignature import CosignatureVerifier, cosignature_time
from consortium.crypto.keys import NodeKey, b64encode
from consortium.crypto.note import Checkpoint, Verifier
from consortium.errors import DomainError
from consortium.federation.witness import WITNESSED, SizeConflict, add_checkpoint
from consortium.node import Node, init_node
from consortium.registry import members

URL = "/api/v1/witness/add-checkpoint"


@pytest.fixture
def nodes(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Node, Node]]:
    """The witness (on SQLite or PostgreSQL) and a member whose log it witnesses."""
    witness = init_node(tmp_path / "w", "St Example Hospital", database_url=database_url)
    log = init_node(tmp_path / "log", "Northern Genomics Institute")
    members.add_member(witness.ledger, OPERATOR, {"institution": log.name, "vkey": log.vkey})
    yield witness, log
    witness.close()
    log.close()


@pytest.fixture
def client(nodes: tuple[Node, Node]) -> FlaskClient:
    return create_app(nodes[0]).test_client()


def grow(log: Node, count: int) -> str:
    """Append ``count`` entries to the log and return its new signed checkpoint."""
    start = log.ledger.size()
    for i in range(start, start + count):
        add_person(
            log.ledger,
            OPERATOR,
            {"username": f"p{i}", "display_name": "P", "roles": ["researcher"]},
        )
    log.ledger.checkpoint()
    note = log.ledger.latest_checkpoint()
    assert note is not None
    return note


def body(old: int, proof: list[bytes], note: str) -> bytes:
    return (f"old {old}\n" + "".join(b64encode(h) + "\n" for h in proof) + "\n" + note).encode()


def submit(log: Node, old: int, note: str) -> bytes:
    """A correct request: the proof from ``old`` to the note's size, from the log itself."""
    size = Checkpoint.parse_text(note[: note.index("\n\n") + 1]).size
    proof = log.ledger.consistency_proof(old, size) if old else []
    return body(old, proof, note)


def stored(witness: Node) -> list[tuple[Any, ...]]:
    with witness.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(WITNESSED))]


def refused(client: FlaskClient, witness: Node, data: bytes, status: int) -> Any:
    before = stored(witness)
    response = client.post(URL, data=data, content_type="text/plain")
    assert response.status_code == status, response.get_data(as_text=True)
    assert stored(witness) == before
    return response


def test_cosigns_a_first_checkpoint_then_each_consistent_one(
    nodes: tuple[Node, Node], client: FlaskClient
) -> None:
    witness, log = nodes
    info = client.get("/api/v1/node").get_json()
    verifier = CosignatureVerifier.parse(info["witness_vkey"])
    first = grow(log, 3)
    response = client.post(URL, data=submit(log, 0, first), content_type="text/plain")
    assert response.status_code == 200
    lines = response.get_data(as_text=True)
    assert lines.startswith(f"— {witness.witness_name} ") and lines.count("\n") == 1
    cosigned = first + lines
    assert cosignature_time(cosigned, verifier) > 0
    size = Checkpoint.open(cosigned, Verifier.parse(log.vkey), log.origin).size
    second = grow(log, 5)
    response = client.post(URL, data=submit(log, size, second), content_type="text/plain")
    assert response.status_code == 200
    cosignature_time(second + response.get_data(as_text=True), verifier)
    assert [row[:2] for row in stored(witness)] == [(log.origin, log.ledger.size())]
    # The same checkpoint again (old = its size, empty proof) is cosigned again.
    again = client.post(URL, data=submit(log, log.ledger.size(), second))
    assert again.status_code == 200


def test_unknown_origins_are_404(
    nodes: tuple[Node, Node], client: FlaskClient, tmp_path: Path
) -> None:
    witness, _ = nodes
    stranger = init_node(tmp_path / "stranger", "Not A Member")
    refused(client, witness, submit(stranger, 0, grow(stranger, 1)), 404)
    # Its own log is not one a node witnesses.
    refused(client, witness, submit(witness, 0, grow(witness, 1)), 404)
    stranger.close()


def test_a_checkpoint_without_the_members_signature_is_403(
    nodes: tuple[Node, Node], client: FlaskClient
) -> None:
    witness, log = nodes
    grow(log, 2)
    real = Checkpoint(log.origin, log.ledger.size(), log.ledger.root(log.ledger.size()))
    refused(client, witness, body(0, [], real.sign(NodeKey.generate())), 403)


def test_old_beyond_the_checkpoint_is_400(nodes: tuple[Node, Node], client: FlaskClient) -> None:
    witness, log = nodes
    note = grow(log, 2)
    refused(client, witness, body(log.ledger.size() + 1, [], note), 400)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"old 0\n",
        b"old 01\n\n{note}",
        b"old -1\n\n{note}",
        b"new 0\n\n{note}",
        b"old 0\nnot base64!\n\n{note}",
        b"old 0\nAAAA\n\n{note}",
        b"old 0\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\n{note}",
        b"old 0\n\n\xff{note}",
        b"old 0\n\nno checkpoint here\n",
        b"old 0\n\n{text}",
    ],
    ids=[
        "empty",
        "no-checkpoint",
        "leading-zero",
        "negative",
        "no-old-line",
        "bad-base64",
        "short-hash",
        "64-proof-lines",
        "not-utf8",
        "not-a-note",
        "unsigned",
    ],
)
def test_malformed_bodies_are_400_with_a_reason(
    nodes: tuple[Node, Node], client: FlaskClient, data: bytes
) -> None:
    witness, log = nodes
    note = grow(log, 1)
    data = data.replace(b"{note}", note.encode()).replace(b"{text}", note.split("\n\n")[0].encode())
    problem = refused(client, witness, data, 400).get_json()
    assert problem["status"] == 400 and problem["detail"]


def test_old_not_the_latest_is_409_with_the_latest_size(
    nodes: tuple[Node, Node], client: FlaskClient
) -> None:
    witness, log = nodes
    first = grow(log, 2)
    assert client.post(URL, data=submit(log, 0, first)).status_code == 200
    size = log.ledger.size()
    second = grow(log, 2)
    for old in (0, 1, size + 1):
        response = refused(client, witness, submit(log, old, second), 409)
        assert response.content_type == "text/x.tlog.size"
        assert response.get_data() == f"{size}\n".encode()


def test_the_same_size_with_another_root_is_409(
    nodes: tuple[Node, Node], client: FlaskClient
) -> None:
    witness, log = nodes
    assert client.post(URL, data=submit(log, 0, grow(log, 2))).status_code == 200
    size = log.ledger.size()
    # A fork: the member's own key signs another root for the size already cosigned.
    fork = Checkpoint(log.origin, size, bytes(32)).sign(log.key)
    response = refused(client, witness, body(size, [], fork), 409)
    assert response.content_type == "text/x.tlog.size"
    assert response.get_data() == f"{size}\n".encode()


def test_a_proof_that_does_not_verify_is_422(nodes: tuple[Node, Node], client: FlaskClient) -> None:
    witness, log = nodes
    # From size 0 the proof must be empty.
    refused(client, witness, body(0, [bytes(32)], grow(log, 1)), 422)
    assert client.post(URL, data=submit(log, 0, grow(log, 2))).status_code == 200
    old = log.ledger.size()
    note = grow(log, 3)
    proof = log.ledger.consistency_proof(old, log.ledger.size())
    for bad in ([bytes(32), *proof[1:]], proof[:-1], [*proof, proof[0]], []):
        refused(client, witness, body(old, bad, note), 422)
    # A checkpoint that is signed but whose root no append-only log can reach from the
    # stored one: the proof of the real log does not take the witness there.
    forged = Checkpoint(log.origin, log.ledger.size(), bytes(32)).sign(log.key)
    refused(client, witness, body(old, proof, forged), 422)
    assert client.post(URL, data=body(old, proof, note)).status_code == 200


def test_concurrent_requests_for_one_origin_advance_it_once(nodes: tuple[Node, Node]) -> None:
    """Requests from the same old size race; exactly one may win, and what is stored is the
    winner's checkpoint (the spec's rollback race cannot happen)."""
    witness, log = nodes
    add_checkpoint(witness.engine, witness.witness_key, "w", submit(log, 0, grow(log, 2)))
    old = log.ledger.size()
    requests = [submit(log, old, grow(log, 1)) for _ in range(6)]
    start = threading.Barrier(len(requests))
    outcomes: dict[int, str] = {}

    def send(i: int) -> None:
        start.wait()
        try:
            add_checkpoint(witness.engine, witness.witness_key, "w", requests[i])
            outcomes[i] = "cosigned"
        except SizeConflict as exc:
            outcomes[i] = f"conflict {exc.latest}"
        except DomainError as exc:  # pragma: no cover - reported by the assertion below
            outcomes[i] = f"{exc.status} {exc.message}"

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, outcome in outcomes.items() if outcome == "cosigned"]
    assert len(winners) == 1, outcomes
    size = old + 1 + winners[0]
    assert sorted(o for o in outcomes.values() if o != "cosigned") == [f"conflict {size}"] * 5
    assert [row[:2] for row in stored(witness)] == [(log.origin, size)]
