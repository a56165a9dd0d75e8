"""Party signatures over documents: contracts and benefit rules.

A party signs the RFC 8785 bytes of the whole document with its node key, on the instruction
of someone with the right role there. The bytes are the document and nothing else, so any
implementation that can canonicalise JSON can check a signature with the party's public key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from consortium.crypto.canonical import canonical_bytes
from consortium.crypto.keys import NodeKey, b64decode, b64encode, verify_signature
from consortium.errors import Invalid


def document_digest(document: dict[str, Any]) -> str:
    """Base64 SHA-256 of the canonical bytes: how entries refer to a signed document."""
    return b64encode(hashlib.sha256(canonical_bytes(document)).digest())


def sign_document(key: NodeKey, document: dict[str, Any]) -> str:
    return b64encode(key.sign(canonical_bytes(document)))


def check_signature(public_key: str, document: dict[str, Any], signature: str) -> None:
    """Refuse (422, on the ``signature`` field) a signature that is not the party's."""
    try:
        raw = b64decode(signature, 64)
    except ValueError as exc:
        raise Invalid("malformed signature", {"signature": [str(exc)]}) from exc
    if not verify_signature(b64decode(public_key, 32), canonical_bytes(document), raw):
        raise Invalid(
            "the signature does not verify",
            {"signature": ["not a valid signature of this document by this party's key"]},
        )
