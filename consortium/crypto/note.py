"""C2SP signed notes, verifier keys (vkey) and tlog checkpoints.

A signed note is a text ending in a newline, a blank line, then signature lines
``— <key name> <base64(4-byte key ID ‖ Ed25519 signature)>``. The key ID is the first four
bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key); 0x01 names Ed25519. A verifier key is
``<name>+<hex key ID>+<base64(0x01 ‖ public key)>``. A checkpoint (C2SP tlog-checkpoint) is a
note whose text is the origin line, the decimal tree size and the base64 root hash.

Parsing fails closed: anything malformed raises `NoteError`, and verification succeeds only on
a well-formed note carrying a valid signature by the expected key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from consortium.crypto.keys import NodeKey, b64decode, b64encode, verify_signature

ED25519_ALG = b"\x01"
SIG_PREFIX = "\u2014 "
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, checkpoint or verifier key that is malformed or not validly signed."""


def check_key_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise NoteError(f"invalid key name {name!r}: it must be non-empty, with no spaces or '+'")


def key_id(name: str, public_key: bytes, alg: bytes = ED25519_ALG) -> bytes:
    """The 4-byte key ID; ``alg`` is the signature type (0x01 plain Ed25519 note signatures)."""
    return hashlib.sha256(name.encode() + b"\n" + alg + public_key).digest()[:4]


def vkey(name: str, public_key: bytes, alg: bytes = ED25519_ALG) -> str:
    """The verifier key string a node publishes for its checkpoints (or, with another
    signature type, for another kind of signature by the same kind of key)."""
    check_key_name(name)
    return f"{name}+{key_id(name, public_key, alg).hex()}+{b64encode(alg + public_key)}"


@dataclass(frozen=True)
class Verifier:
    """A plain Ed25519 note verifier (signature type 0x01).

    Subclasses for other signature types set `ALG` and override `verify`; parsing, key IDs
    and `open_note` then serve them unchanged.
    """

    ALG: ClassVar[bytes] = ED25519_ALG

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key, self.ALG)

    @property
    def vkey(self) -> str:
        return vkey(self.name, self.public_key, self.ALG)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (the bytes after the key ID) signs the note ``text``."""
        return verify_signature(self.public_key, text, signature)

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Parse a vkey string, checking that its key ID matches its name and key."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key has the form name+keyid+base64key")
        name, hex_id, key = parts
        check_key_name(name)
        try:
            raw = b64decode(key, 33)
            expected_id = bytes.fromhex(hex_id)
        except ValueError as exc:
            raise NoteError(f"malformed verifier key: {exc}") from exc
        if raw[:1] != cls.ALG:
            raise NoteError(f"verifier key is not of signature type 0x{cls.ALG.hex()}")
        verifier = cls(name, raw[1:])
        if len(hex_id) != 8 or verifier.key_id != expected_id:
            raise NoteError("verifier key ID does not match its name and key")
        return verifier


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise NoteError("note text must be non-empty lines, each ending in a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text contains control characters")


def sign_note(text: str, name: str, key: NodeKey) -> str:
    """Sign ``text`` as a note by ``key`` under the key name ``name``."""
    check_key_name(name)
    _check_text(text)
    sig = key.sign(text.encode())
    return f"{text}\n{SIG_PREFIX}{name} {b64encode(key_id(name, key.public_key) + sig)}\n"


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


def parse_note(note: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines (unverified)."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("note is too large")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    if not sig_block.endswith("\n"):
        raise NoteError("note signatures must end with a newline")
    sigs: list[Signature] = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed signature line")
        name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
        check_key_name(name)
        try:
            raw = b64decode(b64)
        except ValueError as exc:
            raise NoteError(f"malformed signature: {exc}") from exc
        if len(raw) < 5:
            raise NoteError("signature is too short")
        sigs.append(Signature(name, raw[:4], raw[4:]))
    if not sigs or len(sigs) > MAX_SIGNATURES:
        raise NoteError("note must carry between 1 and 100 signatures")
    return text, sigs


def verified_signature(note: str, verifier: Verifier) -> tuple[str, Signature]:
    """The note's text and ``verifier``'s signature on it, checked; raise `NoteError` if the
    note is malformed, lacks that signature or carries a bad one. Signatures by other keys
    are ignored, as the signed-note format requires."""
    text, sigs = parse_note(note)
    for sig in sigs:
        if sig.name == verifier.name and sig.key_id == verifier.key_id:
            if verifier.verify(text.encode(), sig.signature):
                return text, sig
            raise NoteError(f"signature by {verifier.name} does not verify")
    raise NoteError(f"note is not signed by {verifier.name}")


def open_note(note: str, verifier: Verifier) -> str:
    """Return the note's text if ``verifier`` signed it; raise `NoteError` otherwise."""
    return verified_signature(note, verifier)[0]


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint body: this log (origin) had ``size`` entries with this ``root``."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64encode(self.root)}\n"

    def sign(self, key: NodeKey) -> str:
        return sign_note(self.text(), self.origin, key)

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("checkpoint needs an origin, a size and a root hash")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin:
            raise NoteError("checkpoint origin is empty")
        if not size.isdigit() or (size != "0" and size.startswith("0")) or not size.isascii():
            raise NoteError("checkpoint size is not a decimal number")
        try:
            root_hash = b64decode(root, 32)
        except ValueError as exc:
            raise NoteError(f"checkpoint root hash: {exc}") from exc
        return cls(origin, int(size), root_hash)

    @classmethod
    def open(cls, note: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
        """Verify a signed checkpoint note and parse it; the origin must match if given."""
        cp = cls.parse_text(open_note(note, verifier))
        if origin is not None and cp.origin != origin:
            raise NoteError(f"checkpoint is for log {cp.origin!r}, expected {origin!r}")
        return cp
