"""A real node: `consortium serve` (gunicorn) on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
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


def _served_node(tmp_path: Path, database_url: str | None = None) -> tuple[Node, str]:
    """A node with people and a steward's token, checkpointing every 0.2 s when served."""
    data_dir = tmp_path / "node"
    node = init_node(data_dir, "Served Hospital", database_url=database_url)
    config = data_dir / "node.toml"
    config.write_text(
        config.read_text().replace("checkpoint_interval = 5.0", "checkpoint_interval = 0.2")
    )
    add_people(node)
    token, _ = create_token(node.engine, "sam")
    return node, token


class Served:
    """`consortium serve` in a process of its own; its output (standard output and error
    together) is read line by line as it comes, so a test can wait for what it logs."""

    def __init__(self, data_dir: Path, *options: str) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "consortium", "--data-dir", str(data_dir), "serve"),
                *("--port", str(self.port), "--workers", "2", *options),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for(lambda line: "Listening at" in line)  # gunicorn's socket is open

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, wanted: Callable[[str], bool], count: int = 1, within: float = 60) -> None:
        """Until ``count`` more lines satisfy ``wanted``; fail if the output ends first."""
        deadline = time.monotonic() + within
        while count:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                pytest.fail("the server stopped:\n" + "".join(self.lines))
            count -= wanted(line)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM, then the seconds until the process had exited and said all it had to."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        return time.monotonic() - started


@pytest.fixture
def served(tmp_path: Path, database_url: str | None) -> Iterator[tuple[str, Node, str]]:
    node, token = _served_node(tmp_path, database_url)
    server = Served(node.config.data_dir)
    try:
        yield server.base, Node.open(node.config.data_dir), token
    finally:
        server.stop()
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


def _post_chunked(base: str, path: str, token: str, chunks: Iterable[bytes]) -> tuple[int, dict]:
    """POST a JSON body with ``Transfer-Encoding: chunked`` (no length given up front).

    A server may answer and stop reading before the body ends, so sending may fail while
    the answer is there to read.
    """
    url = urllib.parse.urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        head = (
            f"POST {url.path}{path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        try:
            conn.sendall(head.encode())
            for chunk in chunks:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(conn)
        response.begin()
        return response.status, json.loads(response.read())


def test_a_chunked_body_over_the_limit_is_413(served) -> None:
    base, node, token = served
    size = node.ledger.size()
    megabyte = b"x" * (1 << 20)
    chunks = [b'{"statement": "', *[megabyte] * 10, b'"}']
    status, problem = _post_chunked(base, "/attestations", token, chunks)
    assert status == 413 and problem["status"] == 413
    assert problem["detail"] == "The request body is over the limit of 1048576 bytes."
    # A chunked body within the limit is read whole.
    status, recorded = _post_chunked(base, "/attestations", token, [b'{"statement": ', b'"ok"}'])
    assert status == 201 and recorded["index"] == size
    assert node.ledger.size() == size + 1


def test_serve_stops_cleanly_within_seconds_and_idle_jobs_keep_quiet(tmp_path: Path) -> None:
    node, token = _served_node(tmp_path)
    node.ledger.checkpoint()  # nothing for the jobs to do until the test writes
    server = Served(node.config.data_dir, "--log-level", "debug")
    try:
        idle = "[jobs] DEBUG checkpoint: nothing to do"
        server.wait_for(lambda line: idle in line, count=3)
        status, recorded = _post(f"{server.base}/attestations", {"statement": "x"}, token)
        assert status == 201
        done = f"[jobs] INFO checkpoint at size {recorded['index'] + 1}"
        server.wait_for(lambda line: done in line)
        server.wait_for(lambda line: idle in line, count=3)
    finally:
        took = server.stop()
        node.close()
    output = "".join(server.lines)
    assert "Traceback" not in output and "Exception" not in output, output
    assert took < 5, f"took {took:.1f} s to stop"
    assert server.proc.returncode == 0
    # At INFO, the jobs said only that they started and the one thing they did.
    said = [line.split("INFO ", 1)[1].strip() for line in server.lines if "[jobs] INFO" in line]
    assert said == ["jobs started (checkpoint every 0.2s)", done.split("INFO ", 1)[1]]
    assert not [line for line in server.lines if "apscheduler" in line or "Running job" in line]


def _ignores_sigint(pid: int) -> bool:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        ignored = next(line for line in status if line.startswith("SigIgn:"))
    return bool(int(ignored.split()[1], 16) & (1 << (signal.SIGINT - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_ctrl_c_while_the_jobs_start_is_no_traceback(tmp_path: Path, capfd) -> None:
    """A terminal's Ctrl-C reaches every process of the group, the jobs process too, maybe
    while it still imports: it ignores SIGINT until its own handler is in place, and waits
    for the server's SIGTERM instead of dying mid-import with a traceback."""
    from consortium.jobs import start_jobs_process, stop_jobs_process

    node, _ = _served_node(tmp_path)
    node.close()
    jobs = start_jobs_process(node.config.data_dir)
    try:
        deadline = time.monotonic() + 10
        while not _ignores_sigint(jobs.pid) and jobs.poll() is None:
            assert time.monotonic() < deadline, "the jobs process never ignored SIGINT"
            time.sleep(0.002)  # polling what the kernel reports, bounded by the deadline
        jobs.send_signal(signal.SIGINT)  # while it imports: ignored
        assert jobs.poll() is None
    finally:
        stop_jobs_process(jobs)
    # Stopped by the SIGTERM: during its imports by the signal itself, after them by its handler.
    assert jobs.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in capfd.readouterr().err
