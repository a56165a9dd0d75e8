"""Member nodes' signed requests: a member reads the members' documents of a sealed entry;
replayed, expired, future-dated, forged and unknown members' requests are refused with a
401 that says why, and write nothing. Then the client, over real servers on 127.0.0.1."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import token_for
from scenario import actor
from sqlalchemy import func, select
from werkzeug.serving import make_server

from consortium.alliance.contributions import record_cost
from consortium.api import create_app
from consortium.crypto.keys import NodeKey
from consortium.federation.client import NodeClient, PeerError
from consortium.federation.nonces import SEEN
from consortium.federation.signatures import MAX_LIFETIME_S, sign_request
from consortium.node import Node, init_node
from consortium.projections import snapshot


def _cost(hospital: Node) -> int:
    """An entry with a members' document (the amount) and a parties' one (the description)."""
    event = record_cost(
        hospital.ledger,
        actor(hospital, "sam"),
        {"amount": "1200.00", "currency": "EUR", "description": "Secure enclave hosting"},
    )
    return event.index


def _state(node: Node) -> tuple[int, Any, int]:
    with node.engine.connect() as conn:
        seen = conn.execute(select(func.count()).select_from(SEEN)).scalar()
    return node.ledger.size(), snapshot(node.engine), seen


BASE = "http://localhost"


def _signed(caller: NodeKey, keyid: str, path: str, now: float | None = None) -> dict[str, str]:
    return sign_request(caller, keyid, "GET", BASE + path, now=int(now or time.time()))


def test_a_member_reads_the_members_documents(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    index = _cost(hospital)
    path = f"/api/v1/ledger/entries/{index}/sealed"
    client = create_app(hospital).test_client()
    anonymous = client.get(path).get_json()
    assert anonymous["sealed"] == {} and set(anonymous["withheld"]) == {"members", "parties"}

    answer = client.get(path, headers=_signed(institute.key, institute.origin, path))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert set(body["sealed"]) == {"members"} and body["withheld"] == ["parties"]
    assert '"amount":"1200.00"' in body["sealed"]["members"]["document"]


def test_replayed_expired_future_forged_and_unknown_requests_are_refused(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    hospital, institute = pair
    index = _cost(hospital)
    path = f"/api/v1/ledger/entries/{index}/sealed"
    client = create_app(hospital).test_client()
    first = _signed(institute.key, institute.origin, path)
    assert client.get(path, headers=first).status_code == 200
    stranger = init_node(tmp_path / "stranger", "Unknown Institute")
    now = time.time()
    cases = {
        "used before": first,
        "expired": _signed(institute.key, institute.origin, path, now - MAX_LIFETIME_S - 120),
        "dated in the future": _signed(institute.key, institute.origin, path, now + 600),
        "does not verify": _signed(NodeKey.generate(), institute.origin, path),
        "not a member": _signed(stranger.key, stranger.origin, path),
        "no signature labelled sig1": {"Signature-Input": 'other=("@method")', "Signature": ""},
    }
    before = _state(hospital)
    for reason, headers in cases.items():
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, (reason, answer.get_json())
        assert answer.mimetype == "application/problem+json"
        assert reason in answer.get_json()["detail"]
        assert answer.headers["Accept-Signature"].startswith('sig1=("@method" "@target-uri")')
        assert _state(hospital) == before, reason
    # The request is signed for one URI: the same headers elsewhere are refused.
    other = f"/api/v1/ledger/entries/{index - 1}/sealed"
    assert client.get(other, headers=first).status_code == 401
    # A request speaks for a node or for a person, not both.
    both = {**_signed(institute.key, institute.origin, path)}
    both["Authorization"] = f"Bearer {token_for(hospital, 'sam')}"
    assert client.get(path, headers=both).status_code == 400
    assert _state(hospital) == before
    stranger.close()


def test_behind_a_trusted_proxy_the_uri_the_member_called_is_checked(
    pair: tuple[Node, Node],
) -> None:
    hospital, institute = pair
    config = hospital.config.path
    config.write_text(config.read_text().replace("trusted_proxies = 0", "trusted_proxies = 1"))
    proxied = Node.open(hospital.config.data_dir)
    client = create_app(proxied).test_client()
    path = "/api/v1/ledger/entries/0/sealed"
    public = "https://ledger.st-example.example.org" + path
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ledger.st-example.example.org"}
    for host, status in [(forwarded, 200), ({}, 401)]:
        signed = sign_request(institute.key, institute.origin, "GET", public, now=int(time.time()))
        assert client.get(path, headers={**signed, **host}).status_code == status
    proxied.close()


def test_expired_nonces_are_pruned_as_requests_arrive(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    path = "/api/v1/ledger/entries/0/sealed"
    client = create_app(hospital).test_client()
    long_ago = time.time() - 3600
    hospital.ledger.clock = lambda: _at(long_ago)  # the node's "now", an hour ago
    assert (
        client.get(
            path, headers=_signed(institute.key, institute.origin, path, long_ago)
        ).status_code
        == 200
    )
    assert _state(hospital)[2] == 1
    hospital.ledger.clock = lambda: _at(time.time())
    assert (
        client.get(path, headers=_signed(institute.key, institute.origin, path)).status_code == 200
    )
    assert _state(hospital)[2] == 1  # the old one went, the new one is kept


def _at(seconds: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC)


# --- over real HTTP servers ----------------------------------------------------------------------


@contextmanager
def serving(node: Node) -> Iterator[str]:
    """The node's API on a real threaded HTTP server on 127.0.0.1; its base URL."""
    server = make_server("127.0.0.1", 0, create_app(node), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()
        thread.join()


def test_one_nodes_client_reads_anothers_sealed_entry(pair: tuple[Node, Node]) -> None:
    hospital, institute = pair
    index = _cost(hospital)
    with serving(hospital) as base:
        url = f"{base}/ledger/entries/{index}/sealed"
        read = NodeClient.of(institute).get_json(url)
        assert set(read["sealed"]) == {"members"}
        # Another institution's client is told why it is refused.
        with pytest.raises(PeerError, match=r"401: Refused node request: .* not a member") as e:
            NodeClient(NodeKey.generate(), "consortium.example/nobody").get_json(url)
        assert e.value.status == 401


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` GETs, then 200; keeps each request's nonce."""

    failures = 2
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.headers["Signature-Input"])
        status = 503 if len(self.seen) <= self.failures else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    do_POST = do_GET

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def flaky(failures: int) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Flaky,), {"failures": failures, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/x", seen
    finally:
        server.shutdown()
        thread.join()


def _client(waits: list[float], **options: Any) -> NodeClient:
    return NodeClient(
        NodeKey.generate(), "consortium.example/caller", sleep=waits.append, **options
    )


def test_gets_are_retried_with_jittered_backoff_each_signed_afresh() -> None:
    waits: list[float] = []
    with flaky(2) as (url, seen):
        assert _client(waits, backoff=0.5).get_json(url) == {"ok": True}
    assert len(seen) == 3 and len(set(seen)) == 3  # a new nonce each time: never a replay
    assert len(waits) == 2 and 0 <= waits[0] <= 0.5 and 0 <= waits[1] <= 1.0


def test_retries_are_bounded_and_posts_are_not_retried() -> None:
    waits: list[float] = []
    with flaky(10) as (url, seen):
        with pytest.raises(PeerError, match="answered 503") as e:
            _client(waits, attempts=3).get_json(url)
        assert e.value.status == 503 and len(seen) == 3 and len(waits) == 2
        assert _client(waits).post(url, b"{}").status == 503
        assert len(seen) == 4
        assert '"content-digest"' in seen[-1]


def test_an_unreachable_or_silent_peer_fails_within_the_timeout() -> None:
    waits: list[float] = []
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(PeerError, match="cannot reach"):
        _client(waits, attempts=2).get(f"http://127.0.0.1:{port}/x")
    assert len(waits) == 1
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        with pytest.raises(PeerError, match="timed out"):
            _client(waits, attempts=1, timeout=0.5).get(
                f"http://127.0.0.1:{silent.getsockname()[1]}/"
            )
        assert time.monotonic() - started < 5
