"""Domain errors: why a command was refused, independent of how it arrived.

The API turns them into problem+json with the status below; the CLI into a one-line reason
and a non-zero exit. A command raises them before it appends anything, so a refused command
leaves no trace on the ledger or in the projections.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A command that the rules refuse. ``status`` is the HTTP status that fits."""

    status = 400
    title = "Bad Request"

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the refusal needs beside its status (``Retry-After``…)."""
        return {}


class Forbidden(DomainError):
    """The actor is known but lacks a role the command needs."""

    status = 403
    title = "Forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not Found"


class Conflict(DomainError):
    """The command is illegal in the current state (approve twice, sign a draft…)."""

    status = 409
    title = "Conflict"


class Invalid(DomainError):
    """Well-formed input that breaks a domain rule; ``errors`` names the fields."""

    status = 422
    title = "Unprocessable Entity"


UNKNOWN_FIELD = "Unknown field."


def flatten_messages(messages: Any, path: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages keyed by dotted path (``duo.permissions.0``), the shape
    every refusal uses for its field errors."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        # Marshmallow reports unknown fields from a set: put them last, in name order, so a
        # refusal reads the same every time; other fields keep the order the rules give.
        unknown = sorted(k for k, v in messages.items() if v == [UNKNOWN_FIELD])
        ordered = [k for k in messages if k not in unknown] + unknown
        for key, value in ((k, messages[k]) for k in ordered):
            flat.update(flatten_messages(value, f"{path}.{key}" if path else str(key)))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {path: list(messages)}
    if isinstance(messages, list):
        flat = {}
        for i, value in enumerate(messages):
            flat.update(flatten_messages(value, f"{path}.{i}" if path else str(i)))
        return flat
    return {path: [str(messages)]}
