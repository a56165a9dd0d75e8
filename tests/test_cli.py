"""The `consortium` command, run in process through click's runner."""

from __future__ import annotations

import gzip
import stat
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from forgery import Forgery
from sqlalchemy import update

from consortium.cli import main
from consortium.crypto.keys import NodeKey
from consortium.crypto.note import vkey
from consortium.ledger.log import ENTRY
from consortium.node import Node


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert (result.exit_code == 0) is ok, result.output
    return result


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "node"
    run(
        "init",
        "--data-dir",
        str(d),
        "--name",
        "St Mary's Hospital",
        "--origin",
        "ledger.stm.example",
    )
    return d


def test_init_creates_a_private_node(data_dir: Path) -> None:
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("node.key", "node.toml", "node.db"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    node = Node.open(data_dir)
    assert node.origin == "ledger.stm.example"
    assert node.ledger.size() == 1
    node.close()


def test_init_refuses_to_overwrite_and_changes_nothing(data_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.name != "node.db"}
    result = run("init", "--data-dir", str(data_dir), "--name", "Other", ok=False)
    assert "already holds a node" in result.output
    assert {p.name: p.read_bytes() for p in data_dir.iterdir() if p.name != "node.db"} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "X", "--origin", "has space"], "invalid origin"),
        (["--name", "X", "--origin", "a+b"], "invalid origin"),
        (["--name", "   "], "node name"),
        (["--name", "X", "--database-url", "mysql://x"], "database URL"),
    ],
)
def test_bad_init_leaves_no_trace(tmp_path: Path, args: list[str], message: str) -> None:
    target = tmp_path / "new"
    result = run("init", "--data-dir", str(target), *args, ok=False)
    assert message in result.output
    assert not target.exists()


def test_unreachable_database_rolls_back_init(tmp_path: Path) -> None:
    target = tmp_path / "new"
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = run("init", "--data-dir", str(target), "--name", "X", "--database-url", url, ok=False)
    assert "cannot initialise the database" in result.output
    assert not target.exists()


def test_commands_on_a_missing_node_say_how_to_create_one(tmp_path: Path) -> None:
    result = run("--data-dir", str(tmp_path / "none"), "verify", ok=False)
    assert "consortium init" in result.output


def test_world_readable_key_is_refused(data_dir: Path) -> None:
    (data_dir / "node.key").chmod(0o644)
    result = run("--data-dir", str(data_dir), "verify", ok=False)
    assert "chmod 600" in result.output


def test_attest_verify_and_tamper(data_dir: Path) -> None:
    run("--data-dir", str(data_dir), "attest", "--statement", "Copy deleted.", "--subject", "c:1")
    result = run("--data-dir", str(data_dir), "verify")
    assert "2 entries intact" in result.output
    bad = run("--data-dir", str(data_dir), "attest", "--statement", " ", ok=False)
    assert "statement" in bad.output
    node = Node.open(data_dir)
    assert node.ledger.size() == 2
    from sqlalchemy import update

    from consortium.ledger.log import ENTRY

    data = node.ledger.entries(1, 2)[0].replace(b"Copy deleted.", b"Copy retained")
    with node.engine.begin() as conn:
        conn.execute(update(ENTRY).where(ENTRY.c.idx == 1).values(data=data))
    node.close()
    result = run("--data-dir", str(data_dir), "verify", ok=False)
    assert "entry 1: edited" in result.output
    result = run("--data-dir", str(data_dir), "verify", "--quick", ok=False)
    assert "NOT intact" in result.output


def test_tokens_lifecycle(data_dir: Path) -> None:
    run("--data-dir", str(data_dir), "user", "add", "alice", "--name", "Alice", "--role", "steward")
    created = run("--data-dir", str(data_dir), "token", "create", "--actor", "alice")
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("cst_")
    listed = run("--data-dir", str(data_dir), "token", "list").output
    assert "alice" in listed and "active" in listed and secret not in listed
    token_id = secret.split("_")[1]
    run("--data-dir", str(data_dir), "token", "revoke", token_id)
    assert "revoked" in run("--data-dir", str(data_dir), "token", "list").output
    again = run("--data-dir", str(data_dir), "token", "revoke", token_id, ok=False)
    assert "no active token" in again.output
    bad = run("--data-dir", str(data_dir), "token", "create", "--actor", "no spaces", ok=False)
    assert "no person 'no spaces'" in bad.output
    bad = run(
        "--data-dir",
        str(data_dir),
        "token",
        "create",
        "--actor",
        "alice",
        "--role",
        "admin",
        ok=False,
    )
    assert "does not hold the role(s) admin" in bad.output


@pytest.mark.parametrize("name", ["ledger.jsonl", "ledger.jsonl.gz"])
def test_bundle_round_trip_offline(data_dir: Path, tmp_path: Path, name: str) -> None:
    for i in range(30):
        run("--data-dir", str(data_dir), "attest", "--statement", f"s{i}")
    bundle = tmp_path / name
    run("--data-dir", str(data_dir), "ledger", "export", str(bundle), "--for", "members")
    node = Node.open(data_dir)
    pinned = node.vkey
    node.close()
    # Offline: the node's data directory is gone.
    for p in data_dir.iterdir():
        p.unlink()
    result = run("ledger", "verify-bundle", str(bundle), "--vkey", pinned)
    assert "31 entries intact" in result.output
    assert f"checked with the key you pinned: {pinned}" in result.output
    other = vkey("ledger.stm.example", NodeKey.generate().public_key)
    refused = run("ledger", "verify-bundle", str(bundle), "--vkey", other, ok=False)
    assert "not signed by the trusted verifier key" in refused.output


def test_a_bundle_signed_again_under_the_origin_is_refused(data_dir: Path, tmp_path: Path) -> None:
    """Mallory re-signs every entry and checkpoint with a fresh key under the hospital's origin
    and names that key in the header: consistent in itself, so only a trusted key tells."""
    for i in range(5):
        run("--data-dir", str(data_dir), "attest", "--statement", f"s{i}")
    real = tmp_path / "real.jsonl.gz"
    run("--data-dir", str(data_dir), "ledger", "export", str(real))
    forged = Forgery(NodeKey.generate()).resign(real, tmp_path / "forged.jsonl.gz")
    node = Node.open(data_dir)
    pinned = node.vkey
    node.close()
    for where in (("--vkey", pinned), ("--data-dir", str(data_dir))):
        refused = run("ledger", "verify-bundle", str(forged), *where, ok=False)
        assert "not signed by the trusted verifier key" in refused.output
        assert "6 entries intact" in run("ledger", "verify-bundle", str(real), *where).output
    assert "this node's own key" in run("ledger", "verify-bundle", str(real), "--data-dir",
                                        str(data_dir)).output  # fmt: skip
    for bundle in (real, forged):  # no key and no node: nothing to check against
        refused = run("ledger", "verify-bundle", str(bundle), ok=False)
        assert refused.output.startswith(
            "Error: no trusted key for ledger.stm.example: pin the vkey each node publishes with "
            "--vkey"
        )


def _rewrite(path: Path, edit) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    with opener(path, "wb") as fh:
        fh.write(b"\n".join(edit(lines)))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda ls: [*ls[:9], ls[9].replace(b"s6", b"s7"), *ls[10:]], "entry 7: edited"),
        (lambda ls: [*ls[:9], *ls[10:]], "entry 7: missing"),
        (lambda ls: ls[:-3], "missing"),
        (lambda ls: [b"{}", *ls[1:]], "not a ledger bundle"),
    ],
    ids=["edited", "deleted-line", "truncated", "no-header"],
)
def test_tampered_bundles_fail(data_dir: Path, tmp_path: Path, edit, expected: str) -> None:
    for i in range(10):
        run("--data-dir", str(data_dir), "attest", "--statement", f"s{i}")
    bundle = tmp_path / "b.jsonl"
    run("--data-dir", str(data_dir), "ledger", "export", str(bundle), "--for", "members")
    _rewrite(bundle, edit)
    result = run("ledger", "verify-bundle", str(bundle), "--data-dir", str(data_dir), ok=False)
    assert expected in result.output


def test_bundle_header_is_self_describing(data_dir: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.jsonl"
    run("--data-dir", str(data_dir), "ledger", "export", str(bundle), "--for", "members")
    header, cps, *entries = bundle.read_bytes().splitlines()
    h = orjson.loads(header)
    assert h["format"] == "consortium-ledger-bundle" and h["size"] == 1 == len(entries)
    assert len(orjson.loads(cps)["checkpoints"]) == 1


def test_missing_bundle_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run("ledger", "verify-bundle", str(tmp_path / "nope.jsonl"), ok=False)
    assert "cannot open" in result.output


def test_damaged_compressed_bundle_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    for i in range(50):
        run("--data-dir", str(data_dir), "attest", "--statement", f"s{i}")
    bundle = tmp_path / "b.jsonl.gz"
    run("--data-dir", str(data_dir), "ledger", "export", str(bundle), "--for", "members")
    raw = bundle.read_bytes()
    bundle.write_bytes(raw[: len(raw) - 40])
    result = run("ledger", "verify-bundle", str(bundle), "--data-dir", str(data_dir), ok=False)
    assert "cannot read" in result.output


def test_checkpoint_refuses_to_sign_over_an_edited_row(data_dir: Path) -> None:
    run("--data-dir", str(data_dir), "attest", "--statement", "first")
    node = Node.open(data_dir)
    with node.ledger.transaction() as tx:  # appended, not yet under a checkpoint
        tx.append("attestation", "operator", {"statement": "second"})
    [data] = node.ledger.entries(2, 3)
    with node.engine.begin() as conn:
        conn.execute(
            update(ENTRY).where(ENTRY.c.idx == 2).values(data=data.replace(b"second", b"SECOND"))
        )
    node.close()
    refused = run("--data-dir", str(data_dir), "checkpoint", ok=False)
    assert refused.output == (
        "Error: refusing to sign a checkpoint at size 3: entry 2 was changed after it was "
        "signed; run `consortium verify` to see what else\n"
    )
    node = Node.open(data_dir)
    assert node.ledger.latest_checkpoint().split("\n")[1] == "2"  # nothing signed
    node.close()
