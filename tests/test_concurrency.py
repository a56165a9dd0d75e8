"""Many writers at once (threads and processes, SQLite and PostgreSQL) and killed writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import add_people, token_for

from consortium import notifications
from consortium.api import create_app
from consortium.attestations import record_attestation
from consortium.auth.people import set_password
from consortium.auth.roles import OPERATOR
from consortium.db.engine import writer
from consortium.events import event_from_entry
from consortium.ledger.entry import parse_entry
from consortium.ledger.log import iter_entries
from consortium.node import Node

WORKER = Path(__file__).parent.parent / "scripts" / "append_worker.py"
PASSWORD = "correct horse battery"


def _assert_intact(node: Node, expected: int) -> None:
    node.ledger.checkpoint()
    entries = [parse_entry(d) for _, d in iter_entries(node.engine)]
    assert [e.index for e in entries] == list(range(expected))
    report = node.audit(workers=1)
    assert report.ok, report.problems


def test_threads_never_fork_duplicate_or_skip(node: Node) -> None:
    def writer(w: int) -> list[int]:
        out = []
        for i in range(25):
            out.append(node.ledger.append("attestation", f"t{w}", {"statement": str(i)}).index)
            if i % 10 == 0:
                node.ledger.checkpoint()
        return out

    with ThreadPoolExecutor(8) as pool:
        indexes = [i for chunk in pool.map(writer, range(8)) for i in chunk]
    assert sorted(indexes) == list(range(1, 201))
    _assert_intact(node, 201)


def _spawn(data_dir: Path, count: int, actor: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), str(count), actor],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_processes_never_fork_duplicate_or_skip(node: Node) -> None:
    procs = [_spawn(node.config.data_dir, 40, f"p{w}") for w in range(4)]
    acked = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        acked += [int(line.split()[1]) for line in out.splitlines()]
    assert sorted(acked) == list(range(1, 161))
    _assert_intact(node, 161)


@pytest.mark.parametrize("kill_after", [5, 37])
def test_killed_writer_leaves_a_verifiable_ledger(node: Node, kill_after: int) -> None:
    proc = _spawn(node.config.data_dir, 100_000, "doomed")
    acked: list[int] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acked.append(int(line.split()[1]))
        if len(acked) == kill_after:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    size = node.ledger.size()
    # Every acknowledged entry survived; at most the one in flight was lost or committed.
    assert size - 1 >= len(acked)
    assert max(acked) < size
    _assert_intact(node, size)
    # And the log carries on from where the dead writer left it.
    assert node.ledger.append("attestation", "next", {"statement": "after"}).index == size


def test_audit_of_a_growing_ledger_is_clean(node: Node) -> None:
    """`verify` on a live node: entries and checkpoints keep arriving while it reads."""
    with node.ledger.transaction() as tx:
        for i in range(3000):
            tx.append("attestation", "a", {"statement": str(i)})
        tx.checkpoint()
    writer = _spawn(node.config.data_dir, 300, "live")
    try:
        for _ in range(3):
            node.ledger.checkpoint()
            report = node.audit(workers=2)
            assert report.ok, report.problems[:3]
    finally:
        writer.communicate(timeout=120)
    assert writer.returncode == 0
    _assert_intact(node, node.ledger.size())


def test_node_local_writes_wait_for_the_ledger_writers(node: Node) -> None:
    """Sign-in, passwords, e-mail addresses and read marks are written beside the ledger, not
    on it; while ledger writers commit all the time, each must queue for the lock, not fail."""
    add_people(node)
    set_password(node.engine, "sam", PASSWORD)
    set_password(node.engine, "rita", PASSWORD)
    tokens = {name: token_for(node, name) for name in ("rita", "dora", "otto")}
    keys = []
    for i in range(30):
        done = record_attestation(node.ledger, OPERATOR, {"statement": f"checked {i}"})
        with writer(node.engine).begin() as conn:
            event = event_from_entry(conn, done.index, done.data)
            notifications.notify(conn, event, ["otto"], "Checked", "Attested.", "/api/v1/ledger")
        keys.append(f"{event.index}:otto")
    app = create_app(node)

    def login() -> list[int]:
        client = app.test_client()
        body = {"username": "sam", "password": PASSWORD}
        return [client.post("/api/v1/auth/login", json=body).status_code for _ in range(6)]

    def change_password() -> list[int]:
        client, auth = app.test_client(), {"Authorization": f"Bearer {tokens['rita']}"}
        statuses, current = [], PASSWORD
        for i in range(3):
            new = f"{PASSWORD} {i}"
            body = {"current_password": current, "new_password": new}
            statuses.append(client.put("/api/v1/me/password", json=body, headers=auth).status_code)
            current = new
        return statuses

    def set_email() -> list[int]:
        client, auth = app.test_client(), {"Authorization": f"Bearer {tokens['dora']}"}
        return [
            client.put(
                "/api/v1/me/email", json={"email": f"d{i}@rgh.example"}, headers=auth
            ).status_code
            for i in range(40)
        ]

    def mark_read() -> list[int]:
        client, auth = app.test_client(), {"Authorization": f"Bearer {tokens['otto']}"}
        return [client.post(f"/api/v1/inbox/{k}/read", headers=auth).status_code for k in keys]

    stop = threading.Event()

    def append() -> int:
        count = 0
        while not stop.is_set():
            node.ledger.append("attestation", "writer", {"statement": str(count)})
            count += 1
        return count

    with ThreadPoolExecutor(6) as pool:
        writers = [pool.submit(append) for _ in range(2)]
        calls = [pool.submit(f) for f in (login, change_password, set_email, mark_read)]
        try:
            statuses = {
                f.__name__: call.result()
                for f, call in zip(
                    (login, change_password, set_email, mark_read), calls, strict=True
                )
            }
        finally:
            stop.set()
        appended = sum(w.result() for w in writers)
    assert appended > 0
    assert statuses == {
        "login": [201] * 6,
        "change_password": [204] * 3,
        "set_email": [200] * 40,
        "mark_read": [200] * len(keys),
    }
