"""Sign-in throttling: waits after wrong passwords, per account and per client address.

The node's clock is moved by hand (`Clock`), so no test waits for a throttle to pass.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import add_people, token_for
from flask.testing import FlaskClient

from consortium.api import create_app
from consortium.auth.people import set_password
from consortium.auth.throttle import ACCOUNT, ADDRESS
from consortium.node import Node, NodeConfigError
from consortium.node.config import NodeConfig

LOGIN = "/api/v1/auth/login"
PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"


class Clock:
    """The node's clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(node: Node) -> Clock:
    add_people(node)
    set_password(node.engine, "sam", PASSWORD)
    node.ledger.clock = Clock()
    return node.ledger.clock


@pytest.fixture
def client(node: Node, clock: Clock) -> FlaskClient:
    return create_app(node).test_client()


def login(client: FlaskClient, password: str, address: str, username: str = "sam") -> int:
    body = {"username": username, "password": password}
    return client.post(LOGIN, json=body, environ_base={"REMOTE_ADDR": address}).status_code


def retry_after(client: FlaskClient, address: str, username: str = "sam") -> int:
    """The wait a throttled sign-in names, checking that it is a proper 429 problem."""
    body = {"username": username, "password": PASSWORD}
    response = client.post(LOGIN, json=body, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 429, response.text
    assert response.content_type == "application/problem+json"
    problem = response.get_json(force=True)
    assert problem["status"] == 429 and "try again in" in problem["detail"]
    return int(response.headers["Retry-After"])


def test_wrong_passwords_make_the_account_wait_then_the_right_one_works(
    client: FlaskClient, clock: Clock
) -> None:
    assert [login(client, WRONG, f"10.0.0.{i}") for i in range(ACCOUNT.free)] == [401] * 5
    # Even the right password, from an address that failed nothing, waits now.
    assert retry_after(client, "10.0.1.1") == 1
    clock.advance(1)
    assert login(client, PASSWORD, "10.0.1.1") == 201
    # A success starts the count again.
    assert login(client, WRONG, "10.0.1.1") == 401
    assert login(client, PASSWORD, "10.0.1.1") == 201


def test_waits_double_up_to_the_accounts_cap(client: FlaskClient, clock: Clock) -> None:
    for i in range(ACCOUNT.free):
        assert login(client, WRONG, f"10.0.0.{i}") == 401
    waits = []
    for i in range(12):
        waits.append(retry_after(client, "10.0.9.9"))
        clock.advance(waits[-1])
        assert login(client, WRONG, f"10.0.1.{i}") == 401
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert ACCOUNT.cap == timedelta(seconds=300)


def test_refused_tries_do_not_extend_a_wait(client: FlaskClient, clock: Clock) -> None:
    for i in range(ACCOUNT.free + 3):
        clock.advance(ACCOUNT.wait(i).total_seconds())
        assert login(client, WRONG, f"10.0.0.{i}") == 401
    assert retry_after(client, "10.0.9.9") == 8
    for _ in range(50):
        assert login(client, WRONG, "10.0.9.9") == 429
    clock.advance(8)
    assert login(client, PASSWORD, "10.0.9.9") == 201


def test_unknown_usernames_are_throttled_alike(client: FlaskClient) -> None:
    """Nobody learns whether an account exists from when it starts to wait."""
    for name in ("sam", "nobody"):
        for i in range(ACCOUNT.free):
            assert login(client, WRONG, f"10.{len(name)}.0.{i}", name) == 401
        assert retry_after(client, "10.0.9.9", name) == 1


def test_one_address_guessing_waits_for_every_account(client: FlaskClient) -> None:
    names = ["ada", "sam", "dora", "rita", "nobody"]
    assert [login(client, WRONG, "192.0.2.7", name) for name in names] == [401] * 5
    assert retry_after(client, "192.0.2.7", "otto") == 1
    # Others are not held up by that address's failures.
    assert login(client, PASSWORD, "192.0.2.8") == 201


def test_an_attacker_cannot_lock_the_owner_out(client: FlaskClient, clock: Clock) -> None:
    """One address guessing at sam's password for hours: the address ends up waiting an
    hour a guess, the account never more than its cap after the last one."""
    attacker, failures = "203.0.113.5", 0
    while failures < 20:
        if login(client, WRONG, attacker) == 429:
            clock.advance(retry_after(client, attacker))
        else:
            failures += 1
    assert retry_after(client, attacker) == ADDRESS.cap.total_seconds()
    assert retry_after(client, "198.51.100.1") == ACCOUNT.cap.total_seconds()
    clock.advance(ACCOUNT.cap.total_seconds())
    assert login(client, PASSWORD, "198.51.100.1") == 201
    assert retry_after(client, attacker) > 0


def test_a_wrong_current_password_is_throttled_too(
    client: FlaskClient, node: Node, clock: Clock
) -> None:
    auth = {"Authorization": f"Bearer {token_for(node, 'sam')}"}

    def change(current: str) -> tuple[int, str | None]:
        body = {"current_password": current, "new_password": "a brand new password"}
        response = client.put("/api/v1/me/password", json=body, headers=auth)
        return response.status_code, response.headers.get("Retry-After")

    assert [change(WRONG) for _ in range(ACCOUNT.free)] == [(403, None)] * ACCOUNT.free
    assert change(PASSWORD) == (429, "1")
    clock.advance(1)
    assert change(PASSWORD) == (204, None)


def test_workers_share_the_counts(node: Node, clock: Clock) -> None:
    """Each gunicorn worker has its own app and engine; the counts are in the database."""
    workers = [Node.open(node.config.data_dir) for _ in range(2)]
    try:
        for worker in workers:
            worker.ledger.clock = clock
        clients = [create_app(w).test_client() for w in workers]
        for i in range(ACCOUNT.free):
            assert login(clients[i % 2], WRONG, f"10.0.0.{i}") == 401
        assert retry_after(clients[0], "10.0.9.9") == retry_after(clients[1], "10.0.9.9") == 1
    finally:
        for worker in workers:
            worker.close()


def test_concurrent_failures_are_all_counted(client: FlaskClient, node: Node) -> None:
    app = client.application

    def guess(thread: int) -> list[int]:
        own = app.test_client()
        return [login(own, WRONG, f"10.1.{thread}.{i}") for i in range(3)]

    with ThreadPoolExecutor(6) as pool:
        statuses = [s for chunk in pool.map(guess, range(6)) for s in chunk]
    failed = statuses.count(401)
    assert set(statuses) <= {401, 429} and failed >= ACCOUNT.free
    # Every failure counted, none lost to a concurrent one: the wait is the one they earn.
    assert retry_after(client, "10.0.9.9") == ACCOUNT.wait(failed).total_seconds()


def test_behind_a_proxy_the_forwarded_address_counts(node: Node, clock: Clock) -> None:
    node.config = replace(node.config, trusted_proxies=1)
    client = create_app(node).test_client()

    def via_proxy(client_address: str, username: str) -> int:
        body = {"username": username, "password": WRONG}
        headers = {"X-Forwarded-For": client_address}
        environ = {"REMOTE_ADDR": "127.0.0.1"}
        return client.post(LOGIN, json=body, headers=headers, environ_base=environ).status_code

    names = ["ada", "sam", "dora", "rita", "nobody"]
    assert [via_proxy("192.0.2.7", name) for name in names] == [401] * 5
    assert via_proxy("192.0.2.7", "otto") == 429
    # Another client behind the same proxy is not held up.
    assert via_proxy("192.0.2.8", "otto") == 401


@pytest.mark.parametrize("value", ["-1", '"1"', "true", "6"])
def test_trusted_proxies_must_be_a_small_count(tmp_path: Path, value: str) -> None:
    config = NodeConfig(tmp_path, "St Example Hospital", "consortium.example/st-example")
    config.write()
    text = config.path.read_text().replace("trusted_proxies = 0", f"trusted_proxies = {value}")
    config.path.write_text(text)
    with pytest.raises(NodeConfigError, match="trusted_proxies must be a number from 0 to 5"):
        NodeConfig.load(tmp_path)
    config.path.write_text(text.replace(f"trusted_proxies = {value}", "trusted_proxies = 1"))
    assert NodeConfig.load(tmp_path).trusted_proxies == 1
