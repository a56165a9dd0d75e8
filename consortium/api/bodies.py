"""Request bodies, checked before any route sees them: within the size limit, chunked or
not, and JSON that names each key of an object once.

Werkzeug refuses a body whose ``Content-Length`` is over ``MAX_CONTENT_LENGTH`` with 413,
but a chunked body has no length: it is read up to the limit and the rest silently left
unread, so the route would parse a truncated body (and answer a puzzling 400). Here the
first byte past the limit makes the request a 413.

Python's JSON parser keeps the last of two equal keys. A client (or something between it and
the node) that sends ``{"reason": "a", "reason": "b"}`` would have one value displayed and the
other signed onto the ledger; what the node signs must be what the sender unambiguously
said, so such a body is refused, naming the key, whatever route it is for.

Both are checks of form, made for every request before anything else (credentials
included): they say nothing about a route's rules or the caller's rights.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from flask_smorest import abort
from werkzeug.exceptions import RequestEntityTooLarge


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


def check_body() -> None:
    """Refuse an oversized body with 413 and a JSON body with a repeated key with 400."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    too_large = RequestEntityTooLarge(f"The request body is over the limit of {limit} bytes.")
    if (request.content_length or 0) > limit:
        raise too_large
    data = request.get_data(cache=True)  # Werkzeug stops at the limit, chunked or not
    if request.content_length is None and len(data) >= limit and request.input_stream.read(1):
        raise too_large
    if not (data and request.is_json):
        return
    try:
        json.loads(data, object_pairs_hook=_unique_keys)
    except DuplicateKey as exc:
        abort(
            400,
            message=f"The JSON body names {exc.key!r} more than once in one object.",
            errors={"json": {exc.key: ["Given more than once; send each key once."]}},
        )
    except ValueError:
        pass  # not JSON at all: the route's own parser says so, as for any malformed body
