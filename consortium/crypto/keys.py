"""Ed25519 node keys: creation with owner-only permissions, loading, signing, verifying."""

from __future__ import annotations

import base64
import binascii
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

KEY_FILE_MODE = 0o600
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


class KeyFileError(Exception):
    """The key file is missing, unreadable, malformed or readable by others."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, size: int | None = None) -> bytes:
    """Strict standard base64 (RFC 4648 section 4); raises ValueError on anything else."""
    if not isinstance(text, str):
        raise ValueError("expected a base64 string")
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc
    if binascii.b2a_base64(raw, newline=False).decode("ascii") != text:
        raise ValueError("not canonical base64")
    if size is not None and len(raw) != size:
        raise ValueError(f"expected {size} bytes, got {len(raw)}")
    return raw


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification that answers False instead of raising."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class NodeKey:
    """A node's Ed25519 signing key. The seed never leaves this object except to its file."""

    _signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> NodeKey:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeKey:
        return cls(nacl.signing.SigningKey(seed))

    @property
    def public_key(self) -> bytes:
        return bytes(self._signing_key.verify_key)

    def sign(self, message: bytes) -> bytes:
        return self._signing_key.sign(message).signature

    def write(self, path: Path) -> None:
        """Write the seed to a new file created with mode 0600; never overwrites a key."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(b64encode(bytes(self._signing_key)) + "\n")

    @classmethod
    def read_or_create(cls, path: Path) -> NodeKey:
        """Load the key at ``path``, creating it (mode 0600) if there is none yet.

        Safe when several processes start at once: the key is written whole to a temporary
        file and linked into place, which fails if another process got there first; then
        everyone reads the one key that won.
        """
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
            cls.generate().write(tmp)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return cls.read(path)

    @classmethod
    def read(cls, path: Path) -> NodeKey:
        """Load a key file, refusing one that group or others can read."""
        try:
            mode = path.stat().st_mode
            text = path.read_text().strip()
        except OSError as exc:
            raise KeyFileError(f"cannot read node key {path}: {exc.strerror}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"node key {path} is accessible by other users (mode {mode & 0o777:o}); "
                "run: chmod 600 " + str(path)
            )
        try:
            return cls.from_seed(b64decode(text, 32))
        except ValueError as exc:
            raise KeyFileError(f"node key {path} is not a valid key file: {exc}") from exc
