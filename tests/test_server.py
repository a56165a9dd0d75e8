"""A real node: `consortium serve` (gunicorn) on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import add_people

from consortium.auth.tokens import create_token
from consortium.crypto.note import Checkpoint, Verifier
from consortium.ledger import merkle
from consortium.node import Node, init_node


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path, database_url: str | None) -> Iterator[tuple[str, Node, str]]:
    data_dir = tmp_path / "node"
    node = init_node(data_dir, "Served Hospital", database_url=database_url)
    config = data_dir / "node.toml"
    config.write_text(
        config.read_text().replace("checkpoint_interval = 5.0", "checkpoint_interval = 0.2")
    )
    add_people(node)
    token, _ = create_token(node.engine, "sam")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "consortium",
            "--data-dir",
            str(data_dir),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # gunicorn says when its socket is listening
        if "Listening at" in line:
            break
    else:
        pytest.fail("the server did not start")
    try:
        yield f"http://127.0.0.1:{port}/api/v1", Node.open(data_dir), token
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        node.close()


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def _post(url: str, payload: dict, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(payload).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_served_node_records_checkpoints_and_proves(served) -> None:
    base, node, token = served
    status, _, body = _get(f"{base}/node")
    assert status == 200 and json.loads(body)["name"] == "Served Hospital"

    status, problem = _post(f"{base}/attestations", {"statement": "hello"}, None)
    assert status == 401 and problem["status"] == 401

    status, recorded = _post(f"{base}/attestations", {"statement": "copy deleted"}, token)
    i = recorded["index"]
    assert status == 201 and i == node.ledger.size() - 1
    n = i + 1

    # The scheduler cuts a checkpoint covering the new entry within its interval.
    verifier = Verifier.parse(node.vkey)
    deadline = time.monotonic() + 30
    while True:
        status, ctype, note = _get(f"{base}/ledger/checkpoint")
        assert status == 200 and ctype.startswith("text/plain")
        cp = Checkpoint.open(note, verifier, node.origin)
        if cp.size >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert cp.size == n

    status, _, body = _get(f"{base}/ledger/proofs/inclusion?index={i}&tree_size={n}")
    proof = [base64.b64decode(h) for h in json.loads(body)["hashes"]]
    leaf = base64.b64decode(recorded["leaf_hash"])
    assert merkle.verify_inclusion(leaf, i, n, proof, cp.root)

    status, ctype, body = _get(f"{base}/ledger/proofs/inclusion?index={n + 3}&tree_size={n}")
    assert status == 400 and ctype == "application/problem+json"
