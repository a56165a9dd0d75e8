"""RFC 8785 (JSON Canonicalization Scheme) bytes: what every signature and hash covers.

`rfc8785` is the exact implementation, but it is pure Python and sits on the hot paths of
appending and auditing. orjson's sorted compact output is byte-identical to JCS for values made
only of objects with string keys, arrays, ASCII strings, booleans, null and integers of at most
2^53 in magnitude: the member order, string escapes and integer digits agree. So both
functions below take orjson's output when the value is of that plain kind and the output is
ASCII, and the exact implementation for everything else (fractions, large integers, non-ASCII
text, where the two may differ).
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

_SAFE_INT = 2**53 - 1
_SORTED = orjson.OPT_SORT_KEYS


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON-compatible value."""
    if is_plain(value):
        fast = orjson.dumps(value, option=_SORTED)
        if fast.isascii():
            return fast
    return rfc8785.dumps(value)


def parse(data: bytes) -> Any:
    """Parse JSON bytes (fast; the caller decides whether canonical form matters)."""
    return orjson.loads(data)


def is_canonical(data: bytes, value: Any, *, plain: bool | None = None) -> bool:
    """Whether ``data`` (which parsed to ``value``) is exactly the RFC 8785 form of ``value``.

    A caller that has already checked every part of ``value`` with `is_plain` may say so.
    """
    if data.isascii() and (is_plain(value) if plain is None else plain):
        return orjson.dumps(value, option=_SORTED) == data
    try:
        return rfc8785.dumps(value) == data
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError):
        return False


def is_plain(value: Any) -> bool:
    """True if ``value`` holds only types on which orjson and JCS agree (see module doc)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is not int or not -_SAFE_INT <= item <= _SAFE_INT:
            return False
    return True
