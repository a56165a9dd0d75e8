"""C2SP tlog-cosignature, ``cosignature/v1`` with Ed25519: a witness's word on a checkpoint.

A cosignature is an ordinary signed-note signature line on a checkpoint, made by a witness's
key under the witness's name. What the witness signs is not the note text itself but

    cosignature/v1
    time <POSIX seconds, decimal, no leading zeros>
    <the checkpoint's text, every line, with its final newline>

and the signature bytes are the timestamped_signature structure: the 8-byte big-endian
timestamp followed by the 64-byte Ed25519 signature. The key ID commits to signature type
0x04, so a cosignature can never be mistaken for the log's own (type 0x01) signature, and a
witness key is published as a vkey of type 0x04. The statement it makes: as of that time, the
largest consistent tree the witness has seen for that origin has that root.

Because a cosignature is just one more signature line, a cosigned checkpoint still opens with
the plain signed-note verifier for the log's key (`consortium.crypto.note.open_note`), which
ignores signatures by keys it was not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from consortium.crypto.keys import SIGNATURE_SIZE, NodeKey, b64encode, verify_signature
from consortium.crypto.note import (
    SIG_PREFIX,
    Checkpoint,
    NoteError,
    Verifier,
    check_key_name,
    key_id,
    verified_signature,
)

COSIGNATURE_ALG = b"\x04"
HEADER = "cosignature/v1\n"
TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**63 - 1
FUTURE_SKEW_S = 300


def signed_message(text: str, timestamp: int) -> bytes:
    """The exact bytes a cosignature/v1 signature covers for checkpoint ``text``."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError("a cosignature timestamp must be from 0 to 2^63 - 1")
    return f"{HEADER}time {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class CosignatureVerifier(Verifier):
    """Verifies cosignature/v1 signatures by one witness (a vkey of signature type 0x04)."""

    ALG: ClassVar[bytes] = COSIGNATURE_ALG

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != TIMESTAMP_SIZE + SIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        try:
            message = signed_message(text.decode(), timestamp)
        except UnicodeDecodeError:
            return False
        return verify_signature(self.public_key, message, signature[TIMESTAMP_SIZE:])


def witness_vkey(name: str, public_key: bytes) -> str:
    """The vkey a witness publishes: its name, key ID and key under signature type 0x04."""
    return CosignatureVerifier(name, public_key).vkey


def cosign(text: str, name: str, key: NodeKey, timestamp: int) -> str:
    """The cosignature line (ending in a newline) by witness ``name`` on checkpoint ``text``.

    ``text`` must be a checkpoint body (origin, size, root, any extension lines), which the
    signature covers whole.
    """
    check_key_name(name)
    Checkpoint.parse_text(text)
    signature = key.sign(signed_message(text, timestamp))
    raw = key_id(name, key.public_key, COSIGNATURE_ALG) + timestamp.to_bytes(8, "big") + signature
    return f"{SIG_PREFIX}{name} {b64encode(raw)}\n"


def cosignature_time(note: str, verifier: CosignatureVerifier, *, now: int | None = None) -> int:
    """Check ``verifier``'s cosignature on a checkpoint note and return its timestamp.

    With ``now``, a cosignature dated more than `FUTURE_SKEW_S` seconds later is refused
    (the spec lets verifiers do so: a witness's clock cannot vouch for the future). Raises
    `NoteError` if the note is malformed, not a checkpoint, or lacks a valid cosignature.
    """
    text, sig = verified_signature(note, verifier)
    Checkpoint.parse_text(text)
    timestamp = int.from_bytes(sig.signature[:TIMESTAMP_SIZE], "big")
    if now is not None and timestamp > now + FUTURE_SKEW_S:
        raise NoteError(f"the cosignature by {verifier.name} is dated in the future")
    return timestamp
