"""Text that may enter a signed entry: valid Unicode, no control characters.

A lone UTF-16 surrogate survives JSON parsing but cannot be written as UTF-8, so it cannot be
canonicalised, hashed or signed; a NUL cannot be stored in PostgreSQL text. Both are refused
at the edge with a field message rather than failing deep inside a transaction.
"""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import ValidationError, fields

_ALLOWED_CONTROLS = frozenset("\t\n\r")
MAX_ID = 2**31 - 1  # versions and indexes stored in 32-bit integer columns


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be signed and stored, or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    if any((ord(c) < 0x20 and c not in _ALLOWED_CONTROLS) or ord(c) == 0x7F for c in value):
        return "must not contain control characters"
    return None


def bad_text_path(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first string (key or value) in a JSON value that `text_problem` refuses."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = bad_text_path(key, where) if isinstance(key, str) else None
            found = found or bad_text_path(item, where)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = bad_text_path(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


class Text(fields.String):
    """A string field that refuses what cannot be signed or stored (see module doc)."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "write it as text in quotes"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        result = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(result)
        if problem:
            raise ValidationError(problem)
        return result


class PlainDict(fields.Dict):
    """A JSON object whose every string, key or value, is acceptable text."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        result = super()._deserialize(value, attr, data, **kwargs)
        found = bad_text_path(result)
        if found:
            raise ValidationError(f"{found[0]}: {found[1]}")
        return result
