"""Domain errors: why a command was refused, independent of how it arrived.

The API turns them into problem+json with the status below; the CLI into a one-line reason
and a non-zero exit. A command raises them before it appends anything, so a refused command
leaves no trace on the ledger or in the projections.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command that the rules refuse. ``status`` is the HTTP status that fits."""

    status = 400
    title = "Bad Request"

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


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
