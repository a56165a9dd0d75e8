"""C2SP tlog-cosignature (cosignature/v1, Ed25519) and the node's witness key."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import nacl.signing
import pytest

from consortium.api import create_app
from consortium.crypto.cosignature import (
    CosignatureVerifier,
    cosign,
    cosignature_time,
    witness_vkey,
)
from consortium.crypto.keys import NodeKey
from consortium.crypto.note import Checkpoint, NoteError, Verifier, open_note, parse_note, vkey
from consortium.node import Node, init_node

# The example in C2SP tlog-cosignature: a checkpoint, the log's signature and a witness's
# cosignature made at the time its signed-message example shows.
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_NOTE = (
    SPEC_TEXT + "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRD"
    "e4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2"
    "oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SPEC_TIME = 1679315147
# A witness vkey of signature type 0x04 as published by a running witness (from the test
# vectors of transparency-dev's note package).
NATIVE_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"

SEED = bytes(range(32))
NAME = "witness.example/w1"
TEXT = "example.org/log\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"


def test_the_spec_example_parses_as_a_timestamped_signature() -> None:
    text, sigs = parse_note(SPEC_NOTE)
    assert text == SPEC_TEXT
    witness = sigs[1]
    assert witness.name == "witness.example.com/w1"
    assert len(witness.signature) == 8 + 64
    assert int.from_bytes(witness.signature[:8], "big") == SPEC_TIME


def test_a_published_witness_vkey_has_a_type_4_key_id() -> None:
    verifier = CosignatureVerifier.parse(NATIVE_VKEY)
    assert verifier.vkey == NATIVE_VKEY
    with pytest.raises(NoteError, match="signature type 0x01"):
        Verifier.parse(NATIVE_VKEY)
    plain = vkey("example.org/log", NodeKey.from_seed(SEED).public_key)
    with pytest.raises(NoteError, match="signature type 0x04"):
        CosignatureVerifier.parse(plain)


def test_cosignature_bytes_follow_the_spec_exactly() -> None:
    """Recompute the line from the spec's definitions with the signing library directly."""
    signing = nacl.signing.SigningKey(SEED)
    public = bytes(signing.verify_key)
    message = b"cosignature/v1\ntime " + str(SPEC_TIME).encode() + b"\n" + TEXT.encode()
    key_id = hashlib.sha256(NAME.encode() + b"\n\x04" + public).digest()[:4]
    raw = key_id + SPEC_TIME.to_bytes(8, "big") + signing.sign(message).signature
    expected = f"— {NAME} {base64.b64encode(raw).decode()}\n"
    assert cosign(TEXT, NAME, NodeKey.from_seed(SEED), SPEC_TIME) == expected
    encoded = base64.b64encode(b"\x04" + public).decode()
    assert witness_vkey(NAME, public) == f"{NAME}+{key_id.hex()}+{encoded}"


def test_a_cosigned_checkpoint_still_opens_with_the_plain_note_verifier() -> None:
    log_key, witness_key = NodeKey.from_seed(bytes(32)), NodeKey.from_seed(SEED)
    checkpoint = Checkpoint("example.org/log", 12, bytes(range(32)))
    cosigned = checkpoint.sign(log_key) + cosign(TEXT, NAME, witness_key, SPEC_TIME)
    log = Verifier.parse(vkey("example.org/log", log_key.public_key))
    assert Checkpoint.open(cosigned, log, "example.org/log") == checkpoint
    witness = CosignatureVerifier.parse(witness_vkey(NAME, witness_key.public_key))
    assert cosignature_time(cosigned, witness) == SPEC_TIME
    # The same key as a plain note verifier has another key ID: the cosignature is not its.
    with pytest.raises(NoteError, match="not signed by"):
        open_note(cosigned, Verifier(NAME, witness_key.public_key))


def _later(line: str) -> str:
    """The same cosignature line claiming to be one second later."""
    name, b64 = line[2:-1].split(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[11] ^= 1
    return f"— {name} {base64.b64encode(raw).decode()}\n"


@pytest.mark.parametrize(
    "tamper",
    [_later, lambda line: line.replace(NAME, "witness.example/w2")],
    ids=["timestamp", "name"],
)
def test_a_cosignature_with_another_time_or_name_is_refused(tamper) -> None:
    key = NodeKey.from_seed(SEED)
    line = cosign(TEXT, NAME, key, SPEC_TIME)
    note = Checkpoint.parse_text(TEXT).sign(NodeKey.generate()) + tamper(line)
    with pytest.raises(NoteError):
        cosignature_time(note, CosignatureVerifier(NAME, key.public_key))


def test_extension_lines_are_covered_and_future_times_refused() -> None:
    key = NodeKey.from_seed(SEED)
    verifier = CosignatureVerifier(NAME, key.public_key)
    extended = TEXT + "an extension line\n"
    note = f"{extended}\n" + cosign(extended, NAME, key, SPEC_TIME)
    assert cosignature_time(note, verifier) == SPEC_TIME
    with pytest.raises(NoteError, match="does not verify"):
        cosignature_time(note.replace("an extension", "another extension"), verifier)
    with pytest.raises(NoteError, match="future"):
        cosignature_time(note, verifier, now=SPEC_TIME - 3600)
    with pytest.raises(NoteError):
        cosign(TEXT, NAME, key, 2**63)


def test_the_witness_key_is_separate_owner_only_and_published(sqlite_node: Node) -> None:
    path = sqlite_node.config.witness_key_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sqlite_node.witness_key.public_key != sqlite_node.public_key
    info = create_app(sqlite_node).test_client().get("/api/v1/node").get_json()
    assert info["witness_vkey"] == sqlite_node.witness_vkey
    verifier = CosignatureVerifier.parse(info["witness_vkey"])
    assert verifier.name == f"{sqlite_node.origin}/witness"
    assert verifier.public_key == sqlite_node.witness_key.public_key


def test_a_data_directory_from_before_witnessing_gets_a_witness_key(tmp_path: Path) -> None:
    init_node(tmp_path / "n", "Older Node").close()
    (tmp_path / "n" / "witness.key").unlink()
    node = Node.open(tmp_path / "n")
    first = node.witness_vkey
    assert stat.S_IMODE((tmp_path / "n" / "witness.key").stat().st_mode) == 0o600
    node.close()
    again = Node.open(tmp_path / "n")
    assert again.witness_vkey == first
    again.close()
